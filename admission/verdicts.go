package admission

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/credence-dev/credence/provenance"
)

// Defaults of a VerdictCache.
const (
	// DefaultVerifiedTTL keeps a verified verdict. A digest names immutable
	// content and the key names the trust root and the authorities, so the
	// TTL only bounds how long a revoked key or an expiring certificate
	// goes unnoticed.
	DefaultVerifiedTTL = time.Hour
	// DefaultNegativeTTL keeps a definitive "unsigned" or "failed" verdict
	// briefly: the image may be signed a minute later.
	DefaultNegativeTTL = 30 * time.Second
	// DefaultVerifyTimeout bounds one verification run in the background:
	// it goes on after the request that started it gave up, so that the
	// next request finds the verdict.
	DefaultVerifyTimeout = 60 * time.Second
	// DefaultMaxVerdicts bounds the cache (least recently used go first).
	DefaultMaxVerdicts = 50_000
)

// VerdictKey is what a cached verdict is valid for: the image
// (repository@digest: signatures live in the repository), the trust root
// and the authorities and requirements of the provenance policy. The CEL
// policy is not in it: it is evaluated on every request, so a cache hit can
// never change a decision.
type VerdictKey struct {
	Image       string // repository@sha256:...
	Trust       string // provenance.Trust.Digest()
	Authorities string // provenance.Policy.Digest()
}

func (k VerdictKey) String() string { return k.Image + "|" + k.Trust + "|" + k.Authorities }

// Served says how a verdict was obtained.
type Served string

// How verdicts are served.
const (
	ServedCache     Served = "cache"     // a cached definitive verdict
	ServedVerified  Served = "verified"  // this request ran the verification
	ServedCoalesced Served = "coalesced" // another request's verification in flight
	ServedDeadline  Served = "deadline"  // the request's deadline came first: transient
)

// VerdictCache verifies images once and keeps definitive verdicts. Only
// verified, unsigned and failed verdicts are kept (failed and unsigned for
// a short TTL); an error (registry down, timeout) is never kept, so the
// next request verifies again. Verifications of the same key in flight are
// coalesced: the 8 containers of a pod with one image, and 50 pods arriving
// together, cost one verification. Safe for concurrent use.
type VerdictCache struct {
	verifier    *provenance.Verifier
	policy      *provenance.Policy
	trust       string
	verifiedTTL time.Duration
	negativeTTL time.Duration
	timeout     time.Duration
	max         int
	now         func() time.Time

	mu  sync.Mutex
	lru *list.List // of *verdictEntry, most recent first
	m   map[VerdictKey]*list.Element
	sf  singleflight.Group

	verifications, hits, coalesced atomic.Int64
}

type flight struct {
	vd     *provenance.Verdict
	cached bool
}

type verdictEntry struct {
	key     VerdictKey
	verdict *provenance.Verdict
	expires time.Time
}

// VerdictOption configures a VerdictCache.
type VerdictOption func(*VerdictCache) error

// WithVerifiedTTL sets how long a verified verdict is kept.
func WithVerifiedTTL(d time.Duration) VerdictOption {
	return func(c *VerdictCache) error {
		if d <= 0 {
			return fmt.Errorf("verified TTL %s: must be positive", d)
		}
		c.verifiedTTL = d
		return nil
	}
}

// WithNegativeTTL sets how long an unsigned or failed verdict is kept (0:
// never kept).
func WithNegativeTTL(d time.Duration) VerdictOption {
	return func(c *VerdictCache) error {
		if d < 0 {
			return fmt.Errorf("negative TTL %s: must not be negative", d)
		}
		c.negativeTTL = d
		return nil
	}
}

// WithVerifyTimeout bounds one background verification.
func WithVerifyTimeout(d time.Duration) VerdictOption {
	return func(c *VerdictCache) error {
		if d <= 0 {
			return fmt.Errorf("verify timeout %s: must be positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithMaxVerdicts bounds the number of cached verdicts.
func WithMaxVerdicts(n int) VerdictOption {
	return func(c *VerdictCache) error {
		if n < 1 {
			return fmt.Errorf("max verdicts %d: must be positive", n)
		}
		c.max = n
		return nil
	}
}

// WithVerdictClock sets the clock for TTLs (tests).
func WithVerdictClock(now func() time.Time) VerdictOption {
	return func(c *VerdictCache) error { c.now = now; return nil }
}

// NewVerdictCache verifies with v under p; trust must be the Trust v was
// made with (its digest is part of every key).
func NewVerdictCache(v *provenance.Verifier, trust *provenance.Trust, p *provenance.Policy, opts ...VerdictOption) (*VerdictCache, error) {
	if v == nil || trust == nil || p == nil {
		return nil, errors.New("verdict cache: a verifier, its trust and a provenance policy are required")
	}
	c := &VerdictCache{verifier: v, policy: p, trust: trust.Digest(), verifiedTTL: DefaultVerifiedTTL, negativeTTL: DefaultNegativeTTL,
		timeout: DefaultVerifyTimeout, max: DefaultMaxVerdicts, now: time.Now, lru: list.New(), m: map[VerdictKey]*list.Element{}}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, fmt.Errorf("verdict cache: %w", err)
		}
	}
	return c, nil
}

// Key is the cache key of an image (repository@digest).
func (c *VerdictCache) Key(image string) VerdictKey {
	return VerdictKey{Image: image, Trust: c.trust, Authorities: c.policy.Digest()}
}

// Verdict returns the verdict of image (repository@sha256:...): from the
// cache, from a verification in flight, or by verifying now. When ctx ends
// first, the verdict is a transient error (the verification goes on in the
// background, bounded by its own timeout, and its result is cached if
// definitive).
func (c *VerdictCache) Verdict(ctx context.Context, image string) (*provenance.Verdict, Served) {
	k := c.Key(image)
	if vd := c.get(k); vd != nil {
		c.hits.Add(1)
		return vd, ServedCache
	}
	var ran atomic.Bool
	ch := c.sf.DoChan(k.String(), func() (any, error) {
		ran.Store(true)
		if vd := c.get(k); vd != nil {
			return flight{vd, true}, nil // a flight that ended between our look-up and this one
		}
		// Detached from the request: a deadline cut short must not throw
		// away work the next request needs.
		vctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		c.verifications.Add(1)
		vd, err := c.verifier.Verify(vctx, image, c.policy)
		if err != nil {
			// Only bad arguments (not a digest): definitive for this reference.
			vd = &provenance.Verdict{APIVersion: provenance.VerdictAPIVersion, Image: image, Status: provenance.Failed,
				Step: provenance.StepReference, Detail: err.Error(), Signatures: []provenance.SignatureResult{}, Attestations: []provenance.Attestation{}}
			return flight{vd, false}, nil
		}
		if vd.Status == provenance.Error && errors.Is(vctx.Err(), context.DeadlineExceeded) {
			vd.Detail = fmt.Sprintf("verification took longer than %s: %s", c.timeout, vd.Detail)
		}
		c.put(k, vd)
		return flight{vd, false}, nil
	})
	select {
	case res := <-ch:
		f := res.Val.(flight)
		switch {
		case f.cached:
			c.hits.Add(1)
			return f.vd, ServedCache
		case ran.Load():
			return f.vd, ServedVerified
		}
		c.coalesced.Add(1)
		return f.vd, ServedCoalesced
	case <-ctx.Done():
		return &provenance.Verdict{APIVersion: provenance.VerdictAPIVersion, Image: image, Status: provenance.Error, Step: provenance.StepRegistry,
			Detail:     "verification did not finish before the admission deadline (it goes on in the background; a retry will find it)",
			Signatures: []provenance.SignatureResult{}, Attestations: []provenance.Attestation{}, TrustDigest: k.Trust, PolicyDigest: k.Authorities}, ServedDeadline
	}
}

func (c *VerdictCache) get(k VerdictKey) *provenance.Verdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		return nil
	}
	e := el.Value.(*verdictEntry)
	if !c.now().Before(e.expires) {
		c.lru.Remove(el)
		delete(c.m, k)
		return nil
	}
	c.lru.MoveToFront(el)
	return e.verdict
}

// put keeps a definitive verdict whose trust and policy digests are those
// of the key; anything else (an error, a verdict for other trust) is
// dropped.
func (c *VerdictCache) put(k VerdictKey, vd *provenance.Verdict) {
	if !vd.Status.Definitive() || vd.TrustDigest != k.Trust || vd.PolicyDigest != k.Authorities {
		return
	}
	ttl := c.verifiedTTL
	if vd.Status != provenance.Verified {
		ttl = c.negativeTTL
	}
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		c.lru.Remove(el)
	}
	c.m[k] = c.lru.PushFront(&verdictEntry{key: k, verdict: vd, expires: c.now().Add(ttl)})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*verdictEntry).key)
	}
}

// Forget drops every cached verdict (a trust root or key rotated).
func (c *VerdictCache) Forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Init()
	c.m = map[VerdictKey]*list.Element{}
}

// VerdictStats count what the cache did.
type VerdictStats struct {
	// Verifications is the number of verifications run (registry work).
	Verifications int64 `json:"verifications"`
	Hits          int64 `json:"hits"`
	Coalesced     int64 `json:"coalesced"`
	Cached        int   `json:"cached"`
}

// Stats returns the counters.
func (c *VerdictCache) Stats() VerdictStats {
	c.mu.Lock()
	n := c.lru.Len()
	c.mu.Unlock()
	return VerdictStats{Verifications: c.verifications.Load(), Hits: c.hits.Load(), Coalesced: c.coalesced.Load(), Cached: n}
}
