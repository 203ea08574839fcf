package provenance

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// inTotoPayloadType is the DSSE payload type of in-toto statements.
const inTotoPayloadType = "application/vnd.in-toto+json"

// binding ties a signature to the thing verified (an image digest or an
// artifact): sigstore-go checks the cryptography, these check the subject.
type binding struct {
	// artifact is given to sigstore-go for message signatures.
	artifact verify.ArtifactPolicyOption
	// messageDigest reports whether a message signature's claimed digest is
	// the subject's (checked first, for a precise step).
	messageDigest func(alg string, digest []byte) bool
	// subject reports whether an in-toto subject digest set names the subject.
	subject func(digests map[string]string) bool
	// payload checks a legacy simple-signing payload after its signature verified.
	payload func(payload []byte) (Step, string)
	what    string // "image sha256:..." or "artifact sha256:...", for messages
}

// statement is the part of an in-toto statement read here.
type statement struct {
	Type    string `json:"_type"`
	Subject []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// outcome is the result of checking one signed entity.
type outcome struct {
	ok        bool
	step      Step
	detail    string
	authority string
	signer    *Signer
	stmt      *statement
	logIndex  *int64
	logTime   *time.Time
}

func fail(step Step, format string, args ...any) outcome {
	return outcome{step: step, detail: fmt.Sprintf(format, args...)}
}

func furthest(a, b outcome) outcome {
	if a.step == "" || stepRank[b.step] > stepRank[a.step] {
		return b
	}
	return a
}

// checkEntity verifies entity under each authority in turn (OR), returning
// the first success or the failure that got furthest.
func checkEntity(trust *Trust, entity verify.SignedEntity, bind binding, auths []*Authority) outcome {
	sc, err := entity.SignatureContent()
	if err != nil {
		return fail(StepMalformed, "signature content: %v", err)
	}
	vc, err := entity.VerificationContent()
	if err != nil {
		return fail(StepMalformed, "verification material: %v", err)
	}
	var stmt *statement
	if env := sc.EnvelopeContent(); env != nil {
		raw := env.RawEnvelope()
		if raw == nil || raw.PayloadType != inTotoPayloadType {
			return fail(StepMalformed, "DSSE payload type is not %s", inTotoPayloadType)
		}
		if stmt, err = decodeStatement(raw); err != nil {
			return fail(StepMalformed, "%v", err)
		}
		if !subjectMatches(stmt, bind) {
			return fail(StepDigestMismatch, "the in-toto statement's subjects (%s) do not include %s", subjectList(stmt), bind.what)
		}
	} else if msg := sc.MessageSignatureContent(); msg != nil && bind.messageDigest != nil {
		if !bind.messageDigest(msg.DigestAlgorithm(), msg.Digest()) {
			return fail(StepDigestMismatch, "the message signature is over %s:%x, not %s", strings.ToLower(msg.DigestAlgorithm()), msg.Digest(), bind.what)
		}
	}
	if bind.artifact == nil {
		return fail(StepSignature, "nothing to verify the signature against (no artifact given)")
	}
	keyless := vc.Certificate() != nil
	best := outcome{}
	tried := 0
	for _, a := range auths {
		if a.keyless() != keyless {
			continue
		}
		tried++
		o := checkAuthority(trust, entity, vc, bind, a)
		if o.ok {
			o.stmt = stmt
			return o
		}
		best = furthest(best, o)
	}
	if tried == 0 {
		if keyless {
			s := summarize(vc.Certificate())
			return fail(StepIdentity, "signed keyless by %s (issuer %s), but the policy trusts only keys", s.SubjectAlternativeName, s.Extensions.Issuer)
		}
		return fail(StepUntrustedKey, "signed with a key, but the policy trusts only keyless identities")
	}
	return best
}

func checkAuthority(trust *Trust, entity verify.SignedEntity, vc verify.VerificationContent, bind binding, a *Authority) outcome {
	entries, err := entity.TlogEntries()
	if err != nil {
		return fail(StepMalformed, "transparency-log entries: %v", err)
	}
	if a.TlogThreshold > 0 && len(entries) == 0 {
		return fail(StepNoTlogProof, "no transparency-log proof: the signature carries no log entry, and authority %s requires %d", a.Name, a.TlogThreshold)
	}
	opts := []verify.VerifierOption{verify.WithoutStatementPredicate()}
	tlogN := a.TlogThreshold
	if tlogN == 0 && len(entries) > 0 {
		tlogN = 1 // an entry that is present must verify, even when not required
	}
	if tlogN > 0 {
		opts = append(opts, verify.WithTransparencyLog(tlogN), verify.WithObserverTimestamps(1))
	} else if a.keyless() {
		ts, _ := entity.Timestamps()
		if len(ts) == 0 {
			return fail(StepTimestamp, "a keyless certificate needs a trusted time, and there is neither a log entry nor a signed timestamp")
		}
		opts = append(opts, verify.WithSignedTimestamps(1))
	} else if ts, _ := entity.Timestamps(); len(ts) > 0 {
		// A signed timestamp dates the signature: the key must have been
		// valid then, and the timestamp itself must verify.
		opts = append(opts, verify.WithSignedTimestamps(1))
	} else {
		opts = append(opts, verify.WithCurrentTime())
	}
	if a.keyless() {
		n := a.SCTThreshold
		if n < 0 {
			n = 0
			if trust.hasCTLogs() {
				n = 1
			}
		}
		if n > 0 {
			opts = append(opts, verify.WithSignedCertificateTimestamps(n))
		}
		return checkKeyless(trust, entity, vc, bind, a, opts)
	}
	return checkKeys(trust, entity, bind, a, opts, entries)
}

func checkKeyless(trust *Trust, entity verify.SignedEntity, vc verify.VerificationContent, bind binding, a *Authority, opts []verify.VerifierOption) outcome {
	v, err := verify.NewVerifier(trust.material, opts...)
	if err != nil {
		return fail(StepSignature, "configure verifier: %v", err)
	}
	res, err := v.Verify(entity, verify.NewPolicy(bind.artifact, verify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return classify(err, entity, vc, a)
	}
	if res.Signature == nil || res.Signature.Certificate == nil {
		return fail(StepSignature, "verified without a certificate summary")
	}
	summary := *res.Signature.Certificate
	signer := signerFromSummary(summary)
	ids := make(verify.CertificateIdentities, 0, len(a.Identities))
	for _, id := range a.Identities {
		ci, err := verify.NewShortCertificateIdentity(id.Issuer, id.IssuerRegexp, id.Subject, id.SubjectRegexp)
		if err != nil {
			return fail(StepIdentity, "identity %s: %v", id, err)
		}
		ids = append(ids, ci)
	}
	if _, err := ids.Verify(summary); err != nil {
		return outcome{step: StepIdentity, signer: signer, detail: fmt.Sprintf("signed by %s (issuer %s), which matches none of authority %s's identities (%s)",
			signer.Subject, signer.Issuer, a.Name, identityList(a.Identities))}
	}
	return finish(res, entity, bind, a, signer)
}

func checkKeys(trust *Trust, entity verify.SignedEntity, bind binding, a *Authority, opts []verify.VerifierOption, entries []*tlog.Entry) outcome {
	best := outcome{}
	for _, k := range a.Keys {
		tm := root.TrustedMaterialCollection{trust.material, keyMaterial(k)}
		v, err := verify.NewVerifier(tm, opts...)
		if err != nil {
			return fail(StepSignature, "configure verifier: %v", err)
		}
		res, err := v.Verify(entity, verify.NewPolicy(bind.artifact, verify.WithKey()))
		if err != nil {
			best = furthest(best, classify(err, entity, nil, a))
			continue
		}
		signer := &Signer{Kind: "key", KeyID: k.ID, Algorithm: k.Algorithm}
		return finish(res, entity, bind, a, signer)
	}
	if best.step == StepSignature || best.step == StepUntrustedKey {
		// Did it fail because another key signed, or because the content
		// changed? A log entry names the key that signed.
		if logged := loggedKey(entries); logged != "" {
			for _, k := range a.Keys {
				if k.ID == logged {
					return fail(StepSignature, "the signature does not match the signed content under trusted key %s: the content changed after signing", k.ID)
				}
			}
			return fail(StepUntrustedKey, "signed by key %s (named by its log entry), which authority %s does not trust", logged, a.Name)
		}
		return fail(StepUntrustedKey, "the signature verifies under none of authority %s's %d keys (%s): another key signed it, or the content changed", a.Name, len(a.Keys), keyList(a.Keys))
	}
	return best
}

// finish applies the checks that follow a cryptographic success.
func finish(res *verify.VerificationResult, entity verify.SignedEntity, bind binding, a *Authority, signer *Signer) outcome {
	o := outcome{ok: true, authority: a.Name, signer: signer}
	if bind.payload != nil {
		sc, _ := entity.SignatureContent()
		if msg := sc.MessageSignatureContent(); msg != nil {
			if legacy, ok := entity.(*legacyEntity); ok {
				if step, detail := bind.payload(legacy.payload); step != "" {
					return outcome{step: step, detail: detail, authority: a.Name, signer: signer}
				}
			}
		}
	}
	for _, ts := range res.VerifiedTimestamps {
		if ts.Type == "Tlog" {
			t := ts.Timestamp.UTC()
			o.logTime = &t
			break
		}
	}
	if entries, _ := entity.TlogEntries(); len(entries) > 0 && o.logTime != nil {
		idx := entries[0].LogIndex()
		o.logIndex = &idx
	}
	return o
}

// classify maps a sigstore-go error to the step that failed. sigstore-go
// wraps each step with a fixed prefix (pkg/verify/signed_entity.go).
func classify(err error, entity verify.SignedEntity, vc verify.VerificationContent, a *Authority) outcome {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "does not match artifact") || strings.Contains(msg, "does not match envelope payload hash"):
		return fail(StepDigestMismatch, "the signed content changed after it was logged: %s", msg)
	case strings.Contains(msg, "transparency log certificate does not match") && !a.keyless():
		return fail(StepUntrustedKey, "the log entry names another key than authority %s's: %s", a.Name, msg)
	case strings.Contains(msg, "outside certificate validity"):
		return fail(StepExpired, "the certificate was not valid when the transparency log recorded the signature: %s", msg)
	case strings.HasPrefix(msg, "failed to verify log inclusion"):
		return fail(StepTlog, "%s", msg)
	case strings.HasPrefix(msg, "failed to verify timestamps"):
		return fail(StepTimestamp, "%s", msg)
	case strings.HasPrefix(msg, "failed to verify leaf certificate"):
		return diagnoseCertificate(entity, vc, msg)
	case strings.Contains(msg, "outside of public key validity window"):
		return fail(StepExpired, "%s", msg)
	case strings.HasPrefix(msg, "failed to verify signed certificate timestamp"), strings.Contains(msg, "SCT"):
		return fail(StepCTLog, "%s", msg)
	case strings.HasPrefix(msg, "failed to fetch"), strings.HasPrefix(msg, "failed to build policy"):
		return fail(StepMalformed, "%s", msg)
	}
	return fail(StepSignature, "%s", msg)
}

// diagnoseCertificate tells an expired certificate (signed outside its
// validity, per the log's time) from one that chains to no trusted CA:
// sigstore-go reports both as one error.
func diagnoseCertificate(entity verify.SignedEntity, vc verify.VerificationContent, msg string) outcome {
	if vc != nil && vc.Certificate() != nil {
		c := vc.Certificate()
		entries, _ := entity.TlogEntries()
		for _, e := range entries {
			t := e.IntegratedTime()
			if t.IsZero() || t.Unix() == 0 {
				continue
			}
			if t.Before(c.NotBefore) || t.After(c.NotAfter) {
				return fail(StepExpired, "the certificate was valid %s to %s, but the transparency log recorded the signature at %s",
					c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
			}
		}
	}
	return fail(StepChain, "the certificate does not chain to a trusted certificate authority at the signing time (%s)", msg)
}

func decodeStatement(env *dsse.Envelope) (*statement, error) {
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("DSSE payload is not base64: %w", err)
	}
	var s statement
	if err := json.Unmarshal(payload, &s); err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	if !strings.HasPrefix(s.Type, "https://in-toto.io/Statement/") {
		return nil, fmt.Errorf("in-toto statement _type %q", s.Type)
	}
	if len(s.Subject) == 0 || s.PredicateType == "" {
		return nil, errors.New("in-toto statement without subject or predicateType")
	}
	return &s, nil
}

func subjectMatches(s *statement, bind binding) bool {
	if bind.subject == nil {
		return true
	}
	for _, sub := range s.Subject {
		if bind.subject(sub.Digest) {
			return true
		}
	}
	return false
}

func subjectList(s *statement) string {
	var parts []string
	for i, sub := range s.Subject {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(s.Subject)-3))
			break
		}
		for alg, d := range sub.Digest {
			parts = append(parts, alg+":"+d)
			break
		}
	}
	return strings.Join(parts, ", ")
}

func summarize(c *x509.Certificate) certificate.Summary {
	s, err := certificate.SummarizeCertificate(c)
	if err != nil {
		return certificate.Summary{}
	}
	return s
}

func signerFromSummary(s certificate.Summary) *Signer {
	return &Signer{
		Kind:                   "keyless",
		Issuer:                 s.Extensions.Issuer,
		Subject:                s.SubjectAlternativeName,
		SourceRepositoryURI:    s.Extensions.SourceRepositoryURI,
		SourceRepositoryRef:    s.Extensions.SourceRepositoryRef,
		SourceRepositoryDigest: s.Extensions.SourceRepositoryDigest,
		BuildSignerURI:         s.Extensions.BuildSignerURI,
		BuildConfigURI:         s.Extensions.BuildConfigURI,
		RunnerEnvironment:      s.Extensions.RunnerEnvironment,
		BuildTrigger:           s.Extensions.BuildTrigger,
	}
}

func identityList(ids []Identity) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id.String()
	}
	return strings.Join(parts, "; ")
}

func keyList(keys []PublicKey) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.ID
	}
	return strings.Join(parts, ", ")
}

// loggedKey returns the ID of the public key a log entry names, if any.
func loggedKey(entries []*tlog.Entry) string {
	for _, e := range entries {
		switch k := e.PublicKey().(type) {
		case *x509.Certificate:
			continue
		case crypto.PublicKey:
			if k == nil {
				continue
			}
			pk, err := NewPublicKey(k)
			if err == nil {
				return pk.ID
			}
		}
	}
	return ""
}

// legacyEntity is a cosign tag-stored signature or attestation presented to
// sigstore-go as a SignedEntity.
type legacyEntity struct {
	payload    []byte
	sig        verify.SignatureContent
	vc         verify.VerificationContent
	entries    []*tlog.Entry
	timestamps [][]byte
}

var _ verify.SignedEntity = (*legacyEntity)(nil)

func (e *legacyEntity) HasInclusionPromise() bool {
	for _, t := range e.entries {
		if t.HasInclusionPromise() {
			return true
		}
	}
	return false
}
func (e *legacyEntity) HasInclusionProof() bool                            { return false }
func (e *legacyEntity) SignatureContent() (verify.SignatureContent, error) { return e.sig, nil }
func (e *legacyEntity) Timestamps() ([][]byte, error)                      { return e.timestamps, nil }
func (e *legacyEntity) TlogEntries() ([]*tlog.Entry, error)                { return e.entries, nil }
func (e *legacyEntity) VerificationContent() (verify.VerificationContent, error) {
	return e.vc, nil
}

// Version lets sigstore-go's compatibility verifier accept the ECDSA hash
// choices cosign made before bundles existed.
func (e *legacyEntity) Version() (string, error) { return "v0.3", nil }

// certContent is a leaf certificate with the intermediates a cosign chain
// annotation gave (roots there are ignored: only the trust root's count).
type certContent struct {
	leaf          *x509.Certificate
	intermediates []*x509.Certificate
}

func (c *certContent) CompareKey(key any, _ root.TrustedMaterial) bool {
	x, ok := key.(*x509.Certificate)
	return ok && c.leaf.Equal(x)
}
func (c *certContent) ValidAtTime(t time.Time, _ root.TrustedMaterial) bool {
	return !c.leaf.NotAfter.Before(t) && !c.leaf.NotBefore.After(t)
}
func (c *certContent) Certificate() *x509.Certificate      { return c.leaf }
func (c *certContent) Intermediates() []*x509.Certificate  { return c.intermediates }
func (c *certContent) PublicKey() verify.PublicKeyProvider { return nil }

// keyContent stands for "the key the trusted material offers": a legacy
// signature names no key, so each trusted key is tried in turn.
type keyContent struct{}

func (keyContent) Hint() string { return "" }
func (keyContent) CompareKey(key any, tm root.TrustedMaterial) bool {
	v, err := tm.PublicKeyVerifier("")
	if err != nil {
		return false
	}
	pub, err := v.PublicKey()
	if err != nil {
		return false
	}
	eq, ok := key.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(pub)
}
func (keyContent) ValidAtTime(t time.Time, tm root.TrustedMaterial) bool {
	v, err := tm.PublicKeyVerifier("")
	return err == nil && v.ValidAtTime(t)
}
func (keyContent) Certificate() *x509.Certificate        { return nil }
func (keyContent) Intermediates() []*x509.Certificate    { return nil }
func (k keyContent) PublicKey() verify.PublicKeyProvider { return k }
