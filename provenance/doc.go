// Package provenance verifies where an image came from: sigstore bundles and
// cosign signatures and attestations found in its registry, checked against
// trusted roots, keys and keyless identities, and returned as a Verdict.
//
// The API follows sigstore-go: NewVerifier(trust, opts...) states what the
// deployment trusts and how it reaches registries; Verify(ctx, imageDigest,
// policy) states what the caller demands of one image. The image digest is
// required; opt-outs end in Unsafe; contradictory options are errors. Every
// outcome is a value: Verdict says verified, unsigned, failed (with the step
// that failed), error (transient: never cache it as unverified) or
// not-checked, and lists each signature and attestation with its signer.
package provenance
