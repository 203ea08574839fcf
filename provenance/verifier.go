package provenance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/credence-dev/credence/provenance/cosign"
)

// Defaults of a Verifier.
const (
	DefaultCallTimeout   = 10 * time.Second
	DefaultMaxSignatures = 32
	// MaxBlob bounds one bundle, payload or envelope read from a registry.
	MaxBlob = 4 << 20
	// maxManifest bounds one manifest or referrers index.
	maxManifest = 4 << 20
)

// BundleMediaTypes are the sigstore bundle media types looked for among an
// image's referrers (artifact type, config media type or layer media type).
var BundleMediaTypes = []string{
	"application/vnd.dev.sigstore.bundle.v0.3+json",
	"application/vnd.dev.sigstore.bundle+json;version=0.3",
	"application/vnd.dev.sigstore.bundle+json;version=0.2",
	"application/vnd.dev.sigstore.bundle+json;version=0.1",
}

// emptyConfigType is the OCI empty descriptor's media type.
const emptyConfigType = "application/vnd.oci.empty.v1+json"

func isBundleMediaType(s string) bool {
	for _, m := range BundleMediaTypes {
		if s == m {
			return true
		}
	}
	return false
}

// Verifier checks images in their registries against a Trust.
type Verifier struct {
	trust         *Trust
	remote        []remote.Option
	callTimeout   time.Duration
	maxSignatures int
	referrers     bool
	cosignTags    bool
	now           func() time.Time
}

// VerifierOption configures a Verifier.
type VerifierOption func(*Verifier) error

// WithRemoteOptions passes options (credentials, transport, platform) to
// every go-containerregistry call.
func WithRemoteOptions(opts ...remote.Option) VerifierOption {
	return func(v *Verifier) error { v.remote = append(v.remote, opts...); return nil }
}

// WithCallTimeout bounds each registry call (default 10 s). The caller's
// context bounds the whole verification.
func WithCallTimeout(d time.Duration) VerifierOption {
	return func(v *Verifier) error {
		if d <= 0 {
			return fmt.Errorf("call timeout %v: must be positive", d)
		}
		v.callTimeout = d
		return nil
	}
}

// WithMaxSignatures caps how many candidate signatures and attestations one
// image may cost (default 32): an image with hundreds is truncated, and the
// verdict says so.
func WithMaxSignatures(n int) VerifierOption {
	return func(v *Verifier) error {
		if n < 1 || n > 1000 {
			return fmt.Errorf("max signatures %d: must be 1 to 1000", n)
		}
		v.maxSignatures = n
		return nil
	}
}

// WithoutReferrers skips the OCI referrers (sigstore bundles).
func WithoutReferrers() VerifierOption {
	return func(v *Verifier) error { v.referrers = false; return nil }
}

// WithoutCosignTags skips cosign's .sig and .att tags.
func WithoutCosignTags() VerifierOption {
	return func(v *Verifier) error { v.cosignTags = false; return nil }
}

// WithClock sets the clock written into verdicts (CheckedAt).
func WithClock(now func() time.Time) VerifierOption {
	return func(v *Verifier) error { v.now = now; return nil }
}

// NewVerifier states what the deployment trusts and how it reaches
// registries. trust may hold no root (keys without a transparency log).
func NewVerifier(trust *Trust, opts ...VerifierOption) (*Verifier, error) {
	if trust == nil {
		return nil, errors.New("nil trust: use LoadTrustedRoots()")
	}
	v := &Verifier{trust: trust, callTimeout: DefaultCallTimeout, maxSignatures: DefaultMaxSignatures,
		referrers: true, cosignTags: true, now: time.Now}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, fmt.Errorf("verifier: %w", err)
		}
	}
	if !v.referrers && !v.cosignTags {
		return nil, errors.New("verifier: WithoutReferrers and WithoutCosignTags leave nowhere to look for signatures")
	}
	return v, nil
}

func (v *Verifier) newVerdict(ref string, p *Policy) *Verdict {
	return &Verdict{APIVersion: VerdictAPIVersion, Reference: ref, Signatures: []SignatureResult{}, Attestations: []Attestation{},
		TrustDigest: v.trust.Digest(), PolicyDigest: p.Digest(), CheckedAt: v.now().UTC(),
		Discovery: Discovery{Limit: v.maxSignatures}}
}

// VerifyReference verifies an image named by tag or digest. A tag is
// refused (failed, step not-pinned) when the policy requires digests, and
// otherwise resolved once in the registry; the verdict then records
// Pinned false. Errors are returned only for a nil policy.
func (v *Verifier) VerifyReference(ctx context.Context, ref string, p *Policy) (*Verdict, error) {
	if p == nil {
		return nil, errors.New("nil policy")
	}
	vd := v.newVerdict(ref, p)
	r, err := name.ParseReference(ref)
	if err != nil {
		vd.Status, vd.Step, vd.Detail = Failed, StepReference, err.Error()
		return vd, nil
	}
	vd.Image = r.Name()
	if !p.registryTrusted(r.Context()) {
		vd.Status, vd.Step, vd.Detail = Failed, StepUntrustedRegistry, fmt.Sprintf("%s is not under a trusted registry (%s)", r.Context().Name(), strings.Join(p.registries, ", "))
		return vd, nil
	}
	d, ok := r.(name.Digest)
	if !ok {
		if p.requireDigest {
			vd.Status, vd.Step, vd.Detail = Failed, StepNotPinned, fmt.Sprintf("%s names a tag; the policy requires a digest (NAME@sha256:...)", ref)
			return vd, nil
		}
		cctx, cancel := context.WithTimeout(ctx, v.callTimeout)
		desc, err := remote.Head(r, append(v.remote, remote.WithContext(cctx))...)
		cancel()
		if err != nil {
			vd.Status, vd.Step, vd.Detail = Error, StepRegistry, fmt.Sprintf("resolve tag %s: %v", ref, err)
			return vd, nil
		}
		d = r.Context().Digest(desc.Digest.String())
	}
	out := v.verify(ctx, d, p, vd)
	out.Pinned = ok
	if out.Reference == out.Image {
		out.Reference = ""
	}
	return out, nil
}

// Verify verifies the image repository@digest under policy p. The digest is
// required (ErrNotDigest otherwise). The outcome, including registry
// failures (Status error), is in the Verdict; the error is for bad
// arguments only.
func (v *Verifier) Verify(ctx context.Context, imageDigest string, p *Policy) (*Verdict, error) {
	if p == nil {
		return nil, errors.New("nil policy")
	}
	d, err := name.NewDigest(imageDigest)
	if err != nil {
		if _, terr := name.NewTag(imageDigest); terr == nil {
			return nil, fmt.Errorf("%w: %s", ErrNotDigest, imageDigest)
		}
		return nil, fmt.Errorf("image reference %q: %w", imageDigest, err)
	}
	vd := v.newVerdict("", p)
	vd.Pinned = true
	if !p.registryTrusted(d.Context()) {
		vd.Image, vd.Digest = d.Name(), d.DigestStr()
		vd.Status, vd.Step, vd.Detail = Failed, StepUntrustedRegistry, fmt.Sprintf("%s is not under a trusted registry (%s)", d.Context().Name(), strings.Join(p.registries, ", "))
		return vd, nil
	}
	return v.verify(ctx, d, p, vd), nil
}

// candidate is one signature or attestation found in the registry.
type candidate struct {
	source Source
	ref    string
	entity verify.SignedEntity
	kind   string
	err    error // malformed: could not build an entity
	pred   string
}

func (v *Verifier) verify(ctx context.Context, d name.Digest, p *Policy, vd *Verdict) *Verdict {
	vd.Image, vd.Digest = d.Name(), d.DigestStr()
	hexDigest := strings.TrimPrefix(d.DigestStr(), "sha256:")
	if !strings.HasPrefix(d.DigestStr(), "sha256:") {
		vd.Status, vd.Step, vd.Detail = Failed, StepReference, "only sha256 image digests are supported"
		return vd
	}
	// The manifest itself: proves the digest exists here, and is the
	// artifact that bundle message signatures sign.
	manifest, err := v.getManifest(ctx, d)
	if err != nil {
		vd.Status, vd.Step, vd.Detail = Error, StepRegistry, fmt.Sprintf("read %s: %v", d.Name(), err)
		return vd
	}
	cands, err := v.discover(ctx, d, vd)
	if err != nil {
		vd.Status, vd.Step, vd.Detail = Error, StepRegistry, err.Error()
		return vd
	}
	if len(cands) == 0 {
		vd.Status, vd.Step, vd.Detail = Unsigned, StepNoSignature, fmt.Sprintf("no signature or attestation for %s (looked in: %s)", d.DigestStr(), v.lookedIn())
		return vd
	}
	imageBinding := func() binding {
		return binding{what: "image " + d.DigestStr(),
			subject: func(dg map[string]string) bool { return strings.EqualFold(dg["sha256"], hexDigest) },
		}
	}
	for _, c := range cands {
		sr := SignatureResult{Source: c.source, Ref: c.ref, Kind: c.kind, PredicateType: c.pred}
		var o outcome
		if c.err != nil {
			o = fail(StepMalformed, "%v", c.err)
		} else {
			b := imageBinding()
			switch {
			case c.source == SourceCosignSig:
				le := c.entity.(*legacyEntity)
				b.artifact = verify.WithArtifact(bytes.NewReader(le.payload))
				b.payload = func(payload []byte) (Step, string) {
					ss, err := cosign.ParseSimpleSigning(payload)
					if err != nil {
						return StepMalformed, err.Error()
					}
					if ss.ManifestDigest != d.DigestStr() {
						return StepDigestMismatch, fmt.Sprintf("the signed payload is for %s, not %s", ss.ManifestDigest, d.DigestStr())
					}
					return "", ""
				}
			case c.kind == "dsse":
				b.artifact = verify.WithoutArtifactUnsafe()
			default:
				b.artifact = verify.WithArtifact(bytes.NewReader(manifest))
				b.messageDigest = func(alg string, dg []byte) bool {
					return strings.EqualFold(alg, "SHA2_256") && hex.EncodeToString(dg) == hexDigest
				}
			}
			o = checkEntity(v.trust, c.entity, b, p.authorities)
		}
		sr.Verified, sr.Step, sr.Detail, sr.Authority, sr.Signer = o.ok, o.step, o.detail, o.authority, o.signer
		sr.LogIndex, sr.IntegratedTime = o.logIndex, o.logTime
		if o.stmt != nil {
			sr.PredicateType = o.stmt.PredicateType
		}
		vd.Signatures = append(vd.Signatures, sr)
		if o.ok && o.stmt != nil && o.stmt.PredicateType != PredicateCosignSign {
			a := Attestation{PredicateType: o.stmt.PredicateType, Authority: o.authority, Signer: o.signer, Source: c.source, Ref: c.ref}
			if err := readPredicate(&a, o.stmt.Predicate); err != nil {
				// Verified, but unreadable: keep the signature, drop the predicate.
				vd.Signatures[len(vd.Signatures)-1].Detail = "predicate unreadable: " + err.Error()
			} else {
				vd.Attestations = append(vd.Attestations, a)
			}
		}
	}
	vd.Discovery.Examined = len(cands)
	return fold(vd, p)
}

// fold turns the per-signature results into the verdict's status.
func fold(vd *Verdict, p *Policy) *Verdict {
	var best *SignatureResult
	for i := range vd.Signatures {
		s := &vd.Signatures[i]
		if s.Verified {
			// Prefer an image signature over an attestation for Signer.
			if vd.Signer == nil || (vd.Signatures[indexOf(vd, vd.Signer)].PredicateType != "" && s.PredicateType == "") {
				vd.Signer, vd.Authority = s.Signer, s.Authority
			}
			continue
		}
		if best == nil || stepRank[s.Step] > stepRank[best.Step] {
			best = s
		}
	}
	if vd.Signer == nil {
		vd.Status, vd.Step = Failed, best.Step
		vd.Detail = fmt.Sprintf("%d signature(s) found, none verified; furthest: %s", len(vd.Signatures), best.Detail)
		if vd.Discovery.Truncated {
			vd.Step = StepTooMany
			vd.Detail = fmt.Sprintf("examined the first %d of more candidates (cap %d) and none verified; furthest: %s", vd.Discovery.Examined, vd.Discovery.Limit, best.Detail)
		}
		return vd
	}
	var missing []string
	for _, want := range p.attestations {
		found := false
		for _, a := range vd.Attestations {
			if a.PredicateType == want {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		vd.Status, vd.Step = Failed, StepAttestation
		vd.Detail = "no verified attestation of type " + strings.Join(missing, ", ")
		if vd.Discovery.Truncated {
			vd.Detail += fmt.Sprintf(" among the first %d candidates (cap reached)", vd.Discovery.Examined)
		}
		return vd
	}
	vd.Status = Verified
	return vd
}

func indexOf(vd *Verdict, s *Signer) int {
	for i := range vd.Signatures {
		if vd.Signatures[i].Signer == s {
			return i
		}
	}
	return 0
}

func (v *Verifier) lookedIn() string {
	var w []string
	if v.referrers {
		w = append(w, "OCI referrers")
	}
	if v.cosignTags {
		w = append(w, "cosign .sig/.att tags")
	}
	return strings.Join(w, ", ")
}

func (v *Verifier) opts(ctx context.Context) []remote.Option {
	return append(append([]remote.Option{}, v.remote...), remote.WithContext(ctx))
}

// getManifest reads the raw manifest of d, bounded, and checks its digest.
func (v *Verifier) getManifest(ctx context.Context, d name.Digest) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, v.callTimeout)
	defer cancel()
	desc, err := remote.Get(d, v.opts(cctx)...)
	if err != nil {
		return nil, err
	}
	if len(desc.Manifest) > maxManifest {
		return nil, fmt.Errorf("manifest of %d bytes is over the %d limit", len(desc.Manifest), maxManifest)
	}
	sum := sha256.Sum256(desc.Manifest)
	if "sha256:"+hex.EncodeToString(sum[:]) != d.DigestStr() {
		return nil, fmt.Errorf("the registry returned a manifest whose digest is not %s", d.DigestStr())
	}
	return desc.Manifest, nil
}

// notFound reports a definitive "no such tag" answer.
func notFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// discover lists candidates: referrers holding sigstore bundles, then the
// layers of cosign's .sig and .att tags, up to the cap. A registry failure
// (anything but "not found" for a cosign tag) is an error: the caller
// cannot tell "unsigned" then.
func (v *Verifier) discover(ctx context.Context, d name.Digest, vd *Verdict) ([]candidate, error) {
	var out []candidate
	room := func() bool {
		if len(out) >= v.maxSignatures {
			vd.Discovery.Truncated = true
			return false
		}
		return true
	}
	if v.referrers {
		cctx, cancel := context.WithTimeout(ctx, v.callTimeout)
		idx, err := remote.Referrers(d, v.opts(cctx)...)
		var im *v1.IndexManifest
		if err == nil {
			im, err = idx.IndexManifest()
		}
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list referrers of %s: %w", d.DigestStr(), err)
		}
		vd.Discovery.Referrers = len(im.Manifests)
		for _, desc := range im.Manifests {
			// Registries that predate artifactType report the config media
			// type instead, often the empty descriptor: read those to see.
			if at := desc.ArtifactType; at != "" && at != emptyConfigType && !isBundleMediaType(at) {
				continue // an SBOM or other artifact, not a sigstore bundle
			}
			if !room() {
				break
			}
			cs, err := v.referrerBundles(ctx, d.Context().Digest(desc.Digest.String()))
			if err != nil {
				return nil, err
			}
			for _, c := range cs {
				if !room() {
					break
				}
				out = append(out, c)
			}
		}
	}
	if v.cosignTags {
		for _, t := range []struct {
			tag    name.Tag
			source Source
			count  *int
		}{{cosign.SignatureTag(d), SourceCosignSig, &vd.Discovery.CosignSigs}, {cosign.AttestationTag(d), SourceCosignAtt, &vd.Discovery.CosignAtts}} {
			cs, n, err := v.cosignLayers(ctx, t.tag, t.source, func() bool { return len(out) < v.maxSignatures })
			if err != nil {
				return nil, err
			}
			*t.count = n
			if n > len(cs) {
				vd.Discovery.Truncated = true
			}
			out = append(out, cs...)
		}
	}
	return out, nil
}

// referrerBundles reads one referrer manifest and the sigstore bundles in
// its layers. A referrer that is not a bundle yields nothing.
func (v *Verifier) referrerBundles(ctx context.Context, ref name.Digest) ([]candidate, error) {
	cctx, cancel := context.WithTimeout(ctx, v.callTimeout)
	defer cancel()
	desc, err := remote.Get(ref, v.opts(cctx)...)
	if err != nil {
		return nil, fmt.Errorf("read referrer %s: %w", ref.DigestStr(), err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return []candidate{{source: SourceReferrers, ref: ref.DigestStr(), err: fmt.Errorf("referrer manifest: %w", err)}}, nil
	}
	isBundle := isBundleMediaType(string(m.Config.MediaType))
	var raw struct {
		ArtifactType string `json:"artifactType"`
	}
	_ = json.Unmarshal(desc.Manifest, &raw)
	isBundle = isBundle || isBundleMediaType(raw.ArtifactType)
	var out []candidate
	for i, l := range m.Layers {
		if !isBundleMediaType(string(l.MediaType)) {
			continue
		}
		c := candidate{source: SourceReferrers, ref: fmt.Sprintf("%s#%d", ref.DigestStr(), i)}
		data, err := v.readBlob(cctx, ref.Context().Digest(l.Digest.String()), l.Size)
		if err != nil {
			if !errors.Is(err, errTooBig) {
				return nil, fmt.Errorf("read bundle %s: %w", l.Digest, err)
			}
			c.err = err
		} else {
			b := &bundle.Bundle{}
			if err := b.UnmarshalJSON(data); err != nil {
				c.err = fmt.Errorf("sigstore bundle: %w", err)
			} else {
				c.entity = b
				c.kind = "message-signature"
				if b.GetDsseEnvelope() != nil {
					c.kind = "dsse"
				}
			}
		}
		if p := l.Annotations["dev.sigstore.bundle.predicateType"]; p != "" {
			c.pred = p
		}
		out = append(out, c)
	}
	if len(out) == 0 && isBundle {
		out = append(out, candidate{source: SourceReferrers, ref: ref.DigestStr(), err: errors.New("a sigstore bundle referrer without a bundle layer")})
	}
	return out, nil
}

var errTooBig = errors.New("blob too large")

func (v *Verifier) readBlob(ctx context.Context, d name.Digest, size int64) ([]byte, error) {
	if size > MaxBlob {
		return nil, fmt.Errorf("%w: %d bytes, over the %d limit", errTooBig, size, MaxBlob)
	}
	l, err := remote.Layer(d, v.opts(ctx)...)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxBlob+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxBlob {
		return nil, fmt.Errorf("%w: over the %d limit", errTooBig, MaxBlob)
	}
	sum := sha256.Sum256(data)
	if "sha256:"+hex.EncodeToString(sum[:]) != d.DigestStr() {
		return nil, fmt.Errorf("blob digest mismatch: the registry returned other bytes than %s", d.DigestStr())
	}
	return data, nil
}

// cosignLayers reads the layers of a cosign .sig or .att tag; n is how many
// layers the tag has (more than returned when the cap cut it).
func (v *Verifier) cosignLayers(ctx context.Context, tag name.Tag, source Source, room func() bool) ([]candidate, int, error) {
	cctx, cancel := context.WithTimeout(ctx, v.callTimeout)
	defer cancel()
	desc, err := remote.Get(tag, v.opts(cctx)...)
	if notFound(err) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", tag, err)
	}
	if len(desc.Manifest) > maxManifest {
		return []candidate{{source: source, ref: tag.String(), err: fmt.Errorf("manifest over %d bytes", maxManifest)}}, 1, nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return []candidate{{source: source, ref: tag.String(), err: fmt.Errorf("cosign manifest: %w", err)}}, 1, nil
	}
	var out []candidate
	for i, l := range m.Layers {
		if !room() || len(out) >= v.maxSignatures {
			break
		}
		c := candidate{source: source, ref: fmt.Sprintf("%s@%s#%d", tag.TagStr(), desc.Digest, i), pred: l.Annotations[cosign.PredicateAnnotation]}
		c.kind = "message-signature"
		if source == SourceCosignAtt {
			c.kind = "dsse"
		}
		data, err := v.readBlob(cctx, tag.Context().Digest(l.Digest.String()), l.Size)
		if err != nil && !errors.Is(err, errTooBig) {
			return nil, 0, fmt.Errorf("read %s layer %d: %w", tag, i, err)
		}
		if err != nil {
			c.err = err
		} else {
			c.entity, c.err = legacyFromLayer(string(l.MediaType), l.Annotations, data)
		}
		out = append(out, c)
	}
	return out, len(m.Layers), nil
}

// legacyFromLayer turns a cosign layer into a SignedEntity.
func legacyFromLayer(mediaType string, ann map[string]string, payload []byte) (*legacyEntity, error) {
	l, err := cosign.ParseLayer(mediaType, ann, payload)
	if err != nil {
		return nil, err
	}
	e := &legacyEntity{payload: payload, vc: keyContent{}}
	if l.Certificate != nil {
		cc := &certContent{leaf: l.Certificate}
		for _, c := range l.Chain {
			if c.IsCA && !bytes.Equal(c.RawIssuer, c.RawSubject) && !c.Equal(l.Certificate) {
				cc.intermediates = append(cc.intermediates, c)
			}
		}
		e.vc = cc
	}
	if l.Rekor != nil {
		entry, err := tlog.NewEntry(l.Rekor.Body, l.Rekor.IntegratedTime, l.Rekor.LogIndex, l.Rekor.LogID, l.Rekor.SignedEntryTimestamp, nil) //nolint:staticcheck // cosign's bundle annotation is a Rekor v1 entry
		if err != nil {
			return nil, fmt.Errorf("%w: rekor bundle body: %v", cosign.ErrMalformed, err)
		}
		e.entries = []*tlog.Entry{entry}
	}
	if l.RFC3161 != nil {
		e.timestamps = [][]byte{l.RFC3161}
	}
	switch mediaType {
	case cosign.SimpleSigningMediaType:
		if _, err := cosign.ParseSimpleSigning(payload); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(payload)
		e.sig = bundle.NewMessageSignature(sum[:], "SHA2_256", l.Signature)
	case cosign.DSSEMediaType:
		var env dsse.Envelope
		if err := json.Unmarshal(payload, &env); err != nil {
			return nil, fmt.Errorf("%w: DSSE envelope: %v", cosign.ErrMalformed, err)
		}
		if len(env.Signatures) == 0 {
			return nil, fmt.Errorf("%w: DSSE envelope without signatures", cosign.ErrMalformed)
		}
		e.sig = &bundle.Envelope{Envelope: &env}
	}
	return e, nil
}
