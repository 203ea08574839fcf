package assess

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/inventory"
)

// request is one container's image as a pod asks for it.
type request struct {
	namespace string
	reference string
	imageID   string // status.containerStatuses[].imageID of a live pod
	secrets   []string
	platform  string
}

// target is one distinct image to scan.
type target struct {
	img      *Image
	source   string // reference for image.Open; empty when there is nothing to read
	platform string
	keychain []authn.Keychain
}

// scanner resolves references to digests and reads each distinct digest once.
type scanner struct {
	o          options
	extractors []inventory.Extractor
	extSet     string
	targets    map[string]*target
	order      []string
	mu         sync.Mutex
	openMemo   map[string]*image.Image
	reads      atomic.Int64
	hits       atomic.Int64
	secretMemo map[string]authn.Keychain
	warnings   []string
}

func newScanner(o options, exts []inventory.Extractor) *scanner {
	return &scanner{o: o, extractors: exts, extSet: inventory.SetVersion(exts), targets: map[string]*target{},
		openMemo: map[string]*image.Image{}, secretMemo: map[string]authn.Keychain{}}
}

// resolve turns one container's request into an ImageRef and registers the
// image to scan. It never fails: what cannot be resolved is unknown, with
// the reason.
func (s *scanner) resolve(ctx context.Context, r request) ImageRef {
	ref := ImageRef{Reference: r.reference}
	kcs := s.keychains(ctx, r)
	digest, source, by, reason := s.locate(ctx, r, kcs)
	if digest == "" {
		ref.Status, ref.Reason = NotScanned, reason
		key := "unresolved:" + r.reference
		t := s.target(key, r.platform)
		t.img.Status, t.img.Reason = NotScanned, reason
		t.img.addReference(r.reference)
		return ref
	}
	ref.Digest, ref.ResolvedBy = digest, by
	t := s.target(s.keyOf(digest, r.platform), r.platform)
	t.img.Digest = digest
	t.img.addReference(r.reference)
	if t.source == "" {
		t.source = source
		if source == "" {
			t.img.Reason = reason
		}
	}
	t.keychain = append(t.keychain, kcs...)
	return ref
}

func (s *scanner) keyOf(digest, platform string) string {
	if platform == s.o.platform {
		return digest
	}
	return digest + " " + platform
}

func (s *scanner) target(key, platform string) *target {
	if t, ok := s.targets[key]; ok {
		return t
	}
	t := &target{img: &Image{Digest: key, Status: NotScanned}, platform: platform}
	s.targets[key] = t
	s.order = append(s.order, key)
	return t
}

func (img *Image) addReference(r string) {
	for _, x := range img.References {
		if x == r {
			return
		}
	}
	img.References = append(img.References, r)
}

// locate finds the digest of a request and where to read it.
func (s *scanner) locate(ctx context.Context, r request, kcs []authn.Keychain) (digest, source, by, reason string) {
	// 1. What the node pulled.
	if repo, d := digestOf(r.imageID); d != "" {
		src, why := s.sourceFor(d, firstNonEmpty(repo, repoOf(r.reference)))
		return d, src, "status.imageID", why
	}
	// 2. A reference pinned by digest.
	if i := strings.LastIndex(r.reference, "@"); i >= 0 && validDigest(r.reference[i+1:]) {
		d := r.reference[i+1:]
		src, why := s.sourceFor(d, repoOf(r.reference))
		return d, src, "pinned", why
	}
	// 3. Images on disk.
	if open, d, ok := s.o.dirs.byReference(r.reference); ok {
		if d == "" {
			img, err := s.open(ctx, open, r.platform, nil)
			if err != nil {
				return "", "", "", fmt.Sprintf("--image %s: %v", open, err)
			}
			d = img.ID()
		}
		return d, open, "images " + open, ""
	}
	// 4. The registry.
	if !s.o.registry {
		why := "not found in --images and registry access is off (--offline)"
		if s.o.dirs == nil || s.o.dirs.Len() == 0 {
			why = "no --images given and registry access is off (--offline)"
		}
		return "", "", "", why
	}
	rctx, cancel := context.WithTimeout(ctx, min(s.o.imageTimeout, 30*time.Second))
	defer cancel()
	nref, err := name.ParseReference(r.reference)
	if err != nil {
		return "", "", "", fmt.Sprintf("not a valid image reference: %v", err)
	}
	desc, err := remote.Head(nref, remote.WithContext(rctx), remote.WithAuthFromKeychain(authn.NewMultiKeychain(kcs...)))
	if err != nil {
		return "", "", "", "registry: " + shortErr(err)
	}
	d := desc.Digest.String()
	return d, "registry:" + nref.Context().Name() + "@" + d, "registry", ""
}

// sourceFor finds where to read an image known by digest: on disk, else in
// the registry of repo.
func (s *scanner) sourceFor(digest, repo string) (string, string) {
	if open, ok := s.o.dirs.byDigest(digest); ok {
		return open, ""
	}
	if !s.o.registry {
		return "", "digest " + digest + " is not in --images and registry access is off (--offline)"
	}
	if repo == "" {
		return "", "no repository to fetch digest " + digest + " from"
	}
	return "registry:" + repo + "@" + digest, ""
}

func repoOf(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return ""
	}
	return r.Context().Name()
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// keychains are the credentials for a pod's images: its pull secrets (when
// readable) before the default keychain.
func (s *scanner) keychains(ctx context.Context, r request) []authn.Keychain {
	if !s.o.registry {
		return nil
	}
	var out []authn.Keychain
	if s.o.pullSecrets != nil {
		for _, sec := range r.secrets {
			k := r.namespace + "/" + sec
			kc, ok := s.secretMemo[k]
			if !ok {
				b, err := s.o.pullSecrets(ctx, r.namespace, sec)
				if err != nil {
					s.warnings = append(s.warnings, fmt.Sprintf("pull secret %s: %v (using the default credentials)", k, shortErr(err)))
				} else if kc, err = dockerConfigKeychain(b); err != nil {
					s.warnings = append(s.warnings, fmt.Sprintf("pull secret %s: %v", k, err))
				}
				s.secretMemo[k] = kc
			}
			if kc != nil {
				out = append(out, kc)
			}
		}
	}
	return append(out, s.o.keychain)
}

// open opens an image, remembering explicit --image targets.
func (s *scanner) open(ctx context.Context, ref, platform string, kcs []authn.Keychain) (*image.Image, error) {
	opts := []image.Option{image.WithPlatform(platform), image.WithMaxExpansion(s.o.maxExpansion)}
	if len(kcs) > 0 {
		opts = append(opts, image.WithKeychain(authn.NewMultiKeychain(kcs...)))
	}
	return image.Open(ctx, ref, opts...)
}

// scanAll reads every target that has a source, at most jobs at a time.
func (s *scanner) scanAll(ctx context.Context) error {
	var todo []*target
	for _, k := range s.order {
		if t := s.targets[k]; t.source != "" {
			todo = append(todo, t)
		}
	}
	tmp, err := os.MkdirTemp("", "credence-assess-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.o.jobs)
	var done atomic.Int64
	for _, t := range todo {
		g.Go(func() error {
			s.scanOne(gctx, t, tmp)
			s.o.progress("scan", int(done.Add(1)), len(todo))
			return gctx.Err()
		})
	}
	return g.Wait()
}

// scanOne fills t.img from the cache or by reading the image. Failures make
// the image unknown with the reason; they do not stop the assessment.
func (s *scanner) scanOne(ctx context.Context, t *target, tmp string) {
	img := t.img
	key := CacheKey{Digest: img.Digest, Platform: t.platform, Extractors: s.extSet}
	if s.o.cache != nil {
		c, err := s.o.cache.Get(ctx, key)
		if err != nil {
			s.warn("inventory cache: %v", err)
		} else if c != nil {
			s.hits.Add(1)
			s.fill(img, c, true)
			return
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.imageTimeout)
	defer cancel()
	opened, err := s.open(ctx, t.source, t.platform, t.keychain)
	if err != nil {
		img.Status, img.Reason, img.Source = NotScanned, "open "+t.source+": "+shortErr(err), t.source
		return
	}
	var size int64
	for _, l := range opened.Layers {
		size += l.Size
	}
	if size > s.o.maxImageSize {
		img.Status, img.Source = NotScanned, t.source
		img.Reason = fmt.Sprintf("%s of layers is over --max-image-size %s: not read", mib(size), mib(s.o.maxImageSize))
		return
	}
	dir, err := os.MkdirTemp(tmp, "img-")
	if err != nil {
		img.Status, img.Reason = NotScanned, err.Error()
		return
	}
	defer os.RemoveAll(dir)
	s.reads.Add(1)
	inv, err := inventory.Run(ctx, opened, s.extractors, inventory.WithTempDir(dir))
	if err != nil {
		img.Status, img.Source = NotScanned, t.source
		img.Reason = "read " + t.source + ": " + shortErr(err)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			img.Reason = fmt.Sprintf("read %s: took longer than --image-timeout %s", t.source, s.o.imageTimeout)
		}
		return
	}
	c := &CachedInventory{Source: t.source, ManifestDigest: opened.ManifestDigest, ConfigDigest: opened.ConfigDigest,
		ScannedAt: s.o.now().UTC(), Inventory: inv}
	if s.o.cache != nil {
		if err := s.o.cache.Put(ctx, key, c); err != nil {
			s.warn("inventory cache: %v", err)
		}
	}
	s.fill(img, c, false)
}

func (s *scanner) fill(img *Image, c *CachedInventory, cached bool) {
	inv := c.Inventory
	img.Status, img.Reason = Scanned, ""
	img.Source, img.ManifestDigest, img.ConfigDigest = c.Source, c.ManifestDigest, c.ConfigDigest
	img.Cached, img.ScannedAt, img.Extractors = cached, c.ScannedAt, s.extSet
	sum := &Summary{Distro: inv.Distro, Packages: len(inv.Packages), ByType: map[string]int{}, Layers: len(inv.Layers),
		State: inv.Status.State, FileErrors: len(inv.Status.FileErrors)}
	for _, p := range inv.Packages {
		sum.ByType[p.Type]++
	}
	img.Inventory, img.inv = sum, inv
}

func (s *scanner) warn(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.warnings = append(s.warnings, fmt.Sprintf(format, args...))
}

// images returns every target's image, sorted by digest.
func (s *scanner) images() []*Image {
	out := make([]*Image, 0, len(s.targets))
	for _, k := range s.order {
		out = append(out, s.targets[k].img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// shortErr keeps the first line of an error.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
