package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/singleflight"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/policy"
)

// ImageStore holds what earlier scans found, by image digest: assessments
// written by 'credence assess -o json' (inventories and findings computed
// ahead, because scanning inline is far too slow for admission). An image
// it does not hold is "not scanned": unknown, and the policy decides. Safe
// for concurrent use; Load replaces the content atomically.
type ImageStore struct {
	state atomic.Pointer[imageState]
}

type imageState struct {
	byDigest map[string]*assess.Image
	byRef    map[string]string // spec reference → digest it resolved to when assessed
	index    *policy.ImageIndex
	sources  []string
}

// NewImageStore returns an empty store.
func NewImageStore() *ImageStore {
	s := &ImageStore{}
	s.state.Store(&imageState{byDigest: map[string]*assess.Image{}, byRef: map[string]string{}, index: policy.NewImageIndex()})
	return s
}

// Load replaces the store's content with the scanned images of the
// assessments (later ones win for the same digest).
func (s *ImageStore) Load(as ...*assess.Assessment) {
	st := &imageState{byDigest: map[string]*assess.Image{}, byRef: map[string]string{}}
	for _, a := range as {
		st.sources = append(st.sources, a.Source)
		for _, img := range a.Images {
			if img == nil || img.Digest == "" || img.Status != assess.Scanned {
				continue
			}
			st.byDigest[img.Digest] = img
			for _, r := range img.References {
				st.byRef[r] = img.Digest
			}
		}
	}
	imgs := make([]*assess.Image, 0, len(st.byDigest))
	for _, img := range st.byDigest {
		imgs = append(imgs, img)
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Digest < imgs[j].Digest })
	st.index = policy.NewImageIndex(imgs...)
	s.state.Store(st)
}

// Get returns the scanned image of a digest, or nil.
func (s *ImageStore) Get(digest string) *assess.Image { return s.state.Load().byDigest[digest] }

// Assessed returns the digest a spec reference resolved to when it was
// assessed ("" if never): a tag may have moved since.
func (s *ImageStore) Assessed(ref string) string { return s.state.Load().byRef[ref] }

// Index is the policy view of the stored images (built once per Load).
func (s *ImageStore) Index() *policy.ImageIndex { return s.state.Load().index }

// Len is the number of scanned images held.
func (s *ImageStore) Len() int { return len(s.state.Load().byDigest) }

// MaxAssessmentBytes bounds one assessment file.
const MaxAssessmentBytes = 512 << 20

// ReadAssessment reads a 'credence assess -o json' file.
func ReadAssessment(path string) (*assess.Assessment, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("assessment: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, MaxAssessmentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("assessment %s: %w", path, err)
	}
	if len(b) > MaxAssessmentBytes {
		return nil, fmt.Errorf("assessment %s is over %d bytes", path, MaxAssessmentBytes)
	}
	var a assess.Assessment
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("assessment %s: not 'credence assess -o json' output: %w", path, err)
	}
	if a.Version != assess.SchemaVersion {
		return nil, fmt.Errorf("assessment %s: version %q, want %s", path, a.Version, assess.SchemaVersion)
	}
	return &a, nil
}

// Resolver turns an image reference by tag into the digest it names now.
type Resolver interface {
	Resolve(ctx context.Context, ref name.Reference) (digest string, err error)
}

// RegistryResolver resolves tags in their registry (one HEAD request),
// keeps answers for a short TTL (a tag moves), never keeps failures, and
// coalesces look-ups of the same tag in flight.
type RegistryResolver struct {
	opts  []remote.Option
	ttl   time.Duration
	now   func() time.Time
	mu    sync.Mutex
	cache map[string]resolved
	sf    singleflight.Group
	calls atomic.Int64
}

type resolved struct {
	digest  string
	expires time.Time
}

// DefaultTagTTL is how long a tag's digest is kept.
const DefaultTagTTL = 30 * time.Second

// NewRegistryResolver resolves with opts (credentials, transport); ttl 0
// means DefaultTagTTL.
func NewRegistryResolver(ttl time.Duration, opts ...remote.Option) *RegistryResolver {
	if ttl <= 0 {
		ttl = DefaultTagTTL
	}
	return &RegistryResolver{opts: opts, ttl: ttl, now: time.Now, cache: map[string]resolved{}}
}

// Resolve returns the digest ref names now.
func (r *RegistryResolver) Resolve(ctx context.Context, ref name.Reference) (string, error) {
	if d, ok := ref.(name.Digest); ok {
		return d.DigestStr(), nil
	}
	key := ref.Name()
	r.mu.Lock()
	if c, ok := r.cache[key]; ok && r.now().Before(c.expires) {
		r.mu.Unlock()
		return c.digest, nil
	}
	r.mu.Unlock()
	ch := r.sf.DoChan(key, func() (any, error) {
		hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.calls.Add(1)
		desc, err := remote.Head(ref, append(append([]remote.Option{}, r.opts...), remote.WithContext(hctx))...)
		if err != nil {
			return "", err
		}
		d := desc.Digest.String()
		r.mu.Lock()
		r.cache[key] = resolved{digest: d, expires: r.now().Add(r.ttl)}
		if len(r.cache) > 100_000 {
			for k, v := range r.cache {
				if !r.now().Before(v.expires) {
					delete(r.cache, k)
				}
			}
		}
		r.mu.Unlock()
		return d, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("resolve %s: %w", key, ctx.Err())
	}
}

// Calls is the number of registry look-ups made.
func (r *RegistryResolver) Calls() int64 { return r.calls.Load() }
