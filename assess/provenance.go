package assess

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/credence-dev/credence/provenance"
)

// DefaultVerifyTimeout bounds the verification of one image (every registry
// call for its signatures and attestations) unless WithVerifyTimeout says
// otherwise.
const DefaultVerifyTimeout = 60 * time.Second

// WithProvenance verifies where each container's image came from: every
// distinct repository@digest the run resolved is verified once with v under
// p (at most WithJobs at a time, each under WithVerifyTimeout), and the
// Verdict fills Container.Provenance. Images that were not resolved to a
// digest are never verified (their provenance stays not-checked, with the
// reason). The verifier checks p's trusted registries before any registry
// call. Whether the pod spec pinned the digest is the Subject's to say
// (Image.Reference), so a policy can require it: what is verified is the
// digest credence resolved and scanned, never a tag resolved again.
//
// Without this option provenance stays "not-checked": unknown, never fine.
func WithProvenance(v *provenance.Verifier, p *provenance.Policy) Option {
	return func(o *options) error {
		if v == nil || p == nil {
			return errors.New("provenance: a verifier and a policy are both required")
		}
		o.verifier, o.provPolicy = v, p
		return nil
	}
}

// WithVerifyTimeout bounds the verification of one image (default
// DefaultVerifyTimeout). An image whose verification takes longer gets
// provenance "error" (transient), never "unsigned".
func WithVerifyTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return errors.New("verify timeout must be positive")
		}
		o.verifyTimeout = d
		return nil
	}
}

// evidenceOf maps a verdict to the Subject's evidence slot. A transient
// failure (the registry could not be read) is "error", never "unsigned":
// only a registry that answered can say an image is unsigned.
func evidenceOf(vd *provenance.Verdict) Evidence {
	e := Evidence{Verdict: vd}
	switch vd.Status {
	case provenance.Verified:
		e.Status = Verified
		who := vd.Authority
		if vd.Signer != nil {
			who = vd.Authority + ": " + signerString(vd.Signer)
		}
		e.Reason = "signed by " + who
	case provenance.Unsigned:
		e.Status, e.Reason = Unsigned, vd.Detail
	case provenance.Failed:
		e.Status, e.Reason = Failed, string(vd.Step)+": "+vd.Detail
	case provenance.Error:
		e.Status, e.Reason = CheckError, vd.Detail
	default:
		e.Status, e.Reason = NotChecked, vd.Detail
	}
	return e
}

func signerString(s *provenance.Signer) string {
	if s.Kind == "key" {
		return "key " + s.KeyID
	}
	return s.Subject + " (issuer " + s.Issuer + ")"
}

// provenanceTarget is one repository@digest to verify.
type provenanceTarget struct {
	ref     string // repository@digest
	verdict *provenance.Verdict
}

// verifyAll verifies every distinct repository@digest of the run's
// containers once and returns the evidence of each container, keyed by
// group and container index.
func (a *run) verifyAll(ctx context.Context) error {
	a.provenance = map[*groupContainer]Evidence{}
	if a.o.verifier == nil {
		return nil
	}
	targets := map[string]*provenanceTarget{}
	var order []*provenanceTarget
	want := map[*groupContainer]*provenanceTarget{}
	for _, g := range a.groups {
		for i := range g.containers {
			gc := &g.containers[i]
			ref, why := a.verifiable(gc)
			if ref == "" {
				a.provenance[gc] = Evidence{Status: NotChecked, Reason: why, Verdict: provenance.NotCheckedVerdict(gc.ref.Reference, why)}
				continue
			}
			t := targets[ref]
			if t == nil {
				t = &provenanceTarget{ref: ref}
				targets[ref] = t
				order = append(order, t)
			}
			want[gc] = t
		}
	}
	sem := make(chan struct{}, a.o.jobs)
	var wg sync.WaitGroup
	var done int
	var mu sync.Mutex
	for _, t := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			vctx, cancel := context.WithTimeout(ctx, a.o.verifyTimeout)
			defer cancel()
			vd, err := a.o.verifier.Verify(vctx, t.ref, a.o.provPolicy)
			if err != nil {
				// Only bad arguments: the reference was checked above.
				vd = provenance.NotCheckedVerdict(t.ref, "cannot verify: "+err.Error())
			} else if vd.Status == provenance.Error && errors.Is(vctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
				vd.Detail = fmt.Sprintf("verification took longer than %s: %s", a.o.verifyTimeout, vd.Detail)
			}
			t.verdict = vd
			mu.Lock()
			done++
			a.o.progress("verify", done, len(order))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for gc, t := range want {
		a.provenance[gc] = evidenceOf(t.verdict)
	}
	a.out.Stats.Verified = len(order)
	return nil
}

// verifiable returns the repository@digest to verify for a container, or
// why there is none.
func (a *run) verifiable(gc *groupContainer) (string, string) {
	if gc.ref.Digest == "" {
		return "", "image not resolved to a digest: " + firstNonEmpty(gc.ref.Reason, "unknown reason")
	}
	if img := a.images[gc.key]; img != nil && img.Status == Scanned && img.ManifestDigest == "" {
		return "", "only the image's config digest is known (read from a docker-archive); signatures are looked up by manifest digest"
	}
	r, err := name.ParseReference(gc.ref.Reference)
	if err != nil {
		return "", "the image reference does not parse: " + err.Error()
	}
	return r.Context().Name() + "@" + gc.ref.Digest, ""
}
