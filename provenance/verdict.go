package provenance

import (
	"time"
)

// VerdictAPIVersion is written into every Verdict. Field names below are a
// stable contract read by policies (CEL) and stored by assess: a rename or a
// change of meaning bumps this version.
const VerdictAPIVersion = "provenance.credence.dev/v1"

// Status is the outcome of verifying one image.
type Status string

const (
	// Verified: at least one signature or attestation over this digest
	// verified under an authority of the policy, and every attestation the
	// policy requires verified too.
	Verified Status = "verified"
	// Unsigned: the registry answered and holds no signature and no
	// attestation for this digest, in referrers or in cosign tags. Definitive.
	Unsigned Status = "unsigned"
	// Failed: signatures exist but none satisfied the policy, or the
	// reference itself broke a rule (registry, pinning). Step says which
	// check failed. Definitive for this trust root and policy.
	Failed Status = "failed"
	// Error: verification could not complete (registry unreachable, timeout,
	// credentials refused). Transient: retry, never cache as unverified.
	Error Status = "error"
	// NotChecked: nobody tried (no authority applies, or the policy exempts
	// the image). Unknown, never safe.
	NotChecked Status = "not-checked"
)

// Definitive reports whether the status may be cached: verified, unsigned
// and failed are; error and not-checked are not.
func (s Status) Definitive() bool { return s == Verified || s == Unsigned || s == Failed }

// Step names the check that decided a failure. Steps are listed in the
// order verification runs them.
type Step string

const (
	StepReference         Step = "reference"                 // the image reference does not parse or has no digest
	StepUntrustedRegistry Step = "untrusted-registry"        // the repository is not under a trusted registry
	StepNotPinned         Step = "not-pinned"                // the reference names a tag, and digests are required
	StepRegistry          Step = "registry"                  // the registry could not be read (Status error)
	StepNoSignature       Step = "no-signature"              // nothing signed this digest (Status unsigned)
	StepTooMany           Step = "too-many-signatures"       // more candidates than the cap; none of those examined verified
	StepMalformed         Step = "malformed"                 // a bundle, payload or annotation does not parse
	StepUntrustedKey      Step = "untrusted-key"             // signed by a key the policy does not trust
	StepNoTlogProof       Step = "no-transparency-log-proof" // no transparency-log entry, and the authority requires one
	StepTlog              Step = "transparency-log"          // the log entry does not verify against a trusted log
	StepTimestamp         Step = "timestamp"                 // no trusted time for the signature
	StepChain             Step = "certificate-chain"         // the certificate does not chain to a trusted CA
	StepExpired           Step = "expired"                   // the certificate (or key) was not valid when the signature was made
	StepCTLog             Step = "certificate-transparency"  // no valid SCT from a trusted CT log
	StepSignature         Step = "signature"                 // the signature does not match the signed content
	StepDigestMismatch    Step = "digest-mismatch"           // the signed content names another image digest
	StepIdentity          Step = "identity"                  // the certificate's issuer/subject is not one the policy trusts
	StepAttestation       Step = "missing-attestation"       // a required attestation type is absent or unverified
)

// stepRank orders failures by how far verification got: the furthest one
// is the most telling when several signatures fail.
var stepRank = map[Step]int{
	StepMalformed: 1, StepUntrustedKey: 2, StepNoTlogProof: 3, StepTlog: 4, StepTimestamp: 5,
	StepChain: 6, StepExpired: 7, StepCTLog: 8, StepSignature: 9, StepDigestMismatch: 10, StepIdentity: 11,
}

// Source says where a signature or attestation was found.
type Source string

const (
	SourceReferrers  Source = "referrers"   // an OCI 1.1 referrer (API or tag-schema fallback) holding a sigstore bundle
	SourceCosignSig  Source = "cosign-sig"  // a layer of cosign's sha256-<hex>.sig tag
	SourceCosignAtt  Source = "cosign-att"  // a layer of cosign's sha256-<hex>.att tag
	SourceBundleFile Source = "bundle-file" // a bundle given directly (verify-bundle)
)

// Verdict is the provenance of one image digest under one trust root and
// policy. It is JSON-serialisable evidence; see VerdictAPIVersion.
type Verdict struct {
	APIVersion string `json:"apiVersion"`
	// Image is repository@digest, the thing verified.
	Image string `json:"image"`
	// Reference is the reference as given (may be a tag), when it differs.
	Reference string `json:"reference,omitempty"`
	Digest    string `json:"digest"`
	// Pinned is true when the given reference named the digest itself.
	Pinned bool   `json:"pinned"`
	Status Status `json:"status"`
	// Step and Detail say why, whenever Status is not verified.
	Step   Step   `json:"step,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Authority and Signer name the first verified image signature (or, if
	// only attestations verified, the first verified attestation).
	Authority string  `json:"authority,omitempty"`
	Signer    *Signer `json:"signer,omitempty"`
	// Signatures lists every candidate examined, verified or not.
	Signatures []SignatureResult `json:"signatures"`
	// Attestations lists only verified in-toto statements about this digest,
	// each bound to the authority and signer that verified it.
	Attestations []Attestation `json:"attestations"`
	Discovery    Discovery     `json:"discovery"`
	// TrustDigest and PolicyDigest identify the trust root and the policy's
	// authorities: with Digest they key a cache of verdicts.
	TrustDigest  string    `json:"trustDigest,omitempty"`
	PolicyDigest string    `json:"policyDigest,omitempty"`
	CheckedAt    time.Time `json:"checkedAt"`
}

// Discovery reports what the registry held and how much was examined.
type Discovery struct {
	Referrers  int `json:"referrers"`  // referrers of the digest (all artifact types)
	CosignSigs int `json:"cosignSigs"` // layers under the .sig tag
	CosignAtts int `json:"cosignAtts"` // layers under the .att tag
	// Examined is how many candidates were verified; Truncated says the cap
	// (Limit) was hit and the rest were ignored.
	Examined  int  `json:"examined"`
	Limit     int  `json:"limit"`
	Truncated bool `json:"truncated"`
}

// SignatureResult is the outcome for one candidate signature or attestation.
type SignatureResult struct {
	Source Source `json:"source"`
	// Ref locates it: the referrer manifest digest, or the tag and layer.
	Ref string `json:"ref"`
	// Kind is "message-signature" (signs the image or a simple-signing
	// payload) or "dsse" (an envelope, usually an in-toto statement).
	Kind          string  `json:"kind"`
	PredicateType string  `json:"predicateType,omitempty"`
	Verified      bool    `json:"verified"`
	Step          Step    `json:"step,omitempty"`
	Detail        string  `json:"detail,omitempty"`
	Authority     string  `json:"authority,omitempty"`
	Signer        *Signer `json:"signer,omitempty"`
	// LogIndex and IntegratedTime of the verified transparency-log entry.
	LogIndex       *int64     `json:"logIndex,omitempty"`
	IntegratedTime *time.Time `json:"integratedTime,omitempty"`
}

// Signer is who signed: a key (by fingerprint) or a keyless identity (the
// certificate's OIDC issuer and subject, plus the Fulcio build extensions).
type Signer struct {
	// Kind is "key" or "keyless".
	Kind string `json:"kind"`
	// KeyID is "sha256:" + hex of the public key's DER (SubjectPublicKeyInfo).
	KeyID     string `json:"keyID,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Issuer    string `json:"issuer,omitempty"`
	Subject   string `json:"subject,omitempty"`
	// Fulcio certificate extensions (empty when absent).
	SourceRepositoryURI    string `json:"sourceRepositoryURI,omitempty"`
	SourceRepositoryRef    string `json:"sourceRepositoryRef,omitempty"`
	SourceRepositoryDigest string `json:"sourceRepositoryDigest,omitempty"`
	BuildSignerURI         string `json:"buildSignerURI,omitempty"`
	BuildConfigURI         string `json:"buildConfigURI,omitempty"`
	RunnerEnvironment      string `json:"runnerEnvironment,omitempty"`
	BuildTrigger           string `json:"buildTrigger,omitempty"`
}

// Attestation is a verified in-toto statement whose subject includes the
// image digest. Authority and Signer are always set: a predicate is never
// exposed without the identity that vouched for it.
type Attestation struct {
	PredicateType string  `json:"predicateType"`
	Authority     string  `json:"authority"`
	Signer        *Signer `json:"signer"`
	Source        Source  `json:"source"`
	Ref           string  `json:"ref"`
	// At most one of the typed predicates is set, by PredicateType.
	SLSA      *SLSAProvenance `json:"slsa,omitempty"`
	Vuln      *VulnScan       `json:"vuln,omitempty"`
	Test      *TestResult     `json:"test,omitempty"`
	SARIF     *SARIFSummary   `json:"sarif,omitempty"`
	Predicate map[string]any  `json:"predicate,omitempty"` // other predicate types, raw (bounded size)
}

// NotCheckedVerdict is the verdict for an image nobody verified, with the
// reason: callers embed it so "not checked" is explicit, never absent.
func NotCheckedVerdict(image, reason string) *Verdict {
	return &Verdict{APIVersion: VerdictAPIVersion, Image: image, Status: NotChecked, Detail: reason,
		Signatures: []SignatureResult{}, Attestations: []Attestation{}}
}
