//go:build !node && !scan

package cli

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/provenance"
)

// trustFlags are the flags that say whom to trust, shared by verify and
// verify-bundle.
type trustFlags struct {
	keys                     []string
	identity, identityRegexp string
	issuer, issuerRegexp     string
	trustedRoots             []string
	ignoreTlog               bool
}

func (f *trustFlags) addIdentity(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.identity, "certificate-identity", "", "keyless: the certificate's subject (SAN) must equal this")
	fl.StringVar(&f.identityRegexp, "certificate-identity-regexp", "", "keyless: the subject must match this RE2 regexp (anchor it: ^...$)")
	fl.StringVar(&f.issuer, "certificate-oidc-issuer", "", "keyless: the certificate's OIDC issuer must equal this")
	fl.StringVar(&f.issuerRegexp, "certificate-oidc-issuer-regexp", "", "keyless: the issuer must match this RE2 regexp")
}

// authorities builds the key authority (all --key files) and the keyless
// authority (the identity flags); at least one is required.
func (f *trustFlags) authorities() ([]*provenance.Authority, error) {
	var opts []provenance.AuthorityOption
	if f.ignoreTlog {
		opts = append(opts, provenance.WithoutTransparencyLogUnsafe())
	}
	var out []*provenance.Authority
	if len(f.keys) > 0 {
		var keys []provenance.PublicKey
		for _, path := range f.keys {
			k, err := provenance.LoadPublicKey(path)
			if err != nil {
				return nil, usageErr(err)
			}
			keys = append(keys, k)
		}
		a, err := provenance.NewKeyAuthority("key", keys, opts...)
		if err != nil {
			return nil, usageErr(err)
		}
		out = append(out, a)
	}
	anyID := f.identity != "" || f.identityRegexp != "" || f.issuer != "" || f.issuerRegexp != ""
	if anyID {
		if (f.identity == "") == (f.identityRegexp == "") || (f.issuer == "") == (f.issuerRegexp == "") {
			return nil, usagef("keyless verification needs one of --certificate-identity/--certificate-identity-regexp and one of --certificate-oidc-issuer/--certificate-oidc-issuer-regexp")
		}
		a, err := provenance.NewKeylessAuthority("identity", []provenance.Identity{{Issuer: f.issuer, IssuerRegexp: f.issuerRegexp, Subject: f.identity, SubjectRegexp: f.identityRegexp}}, opts...)
		if err != nil {
			return nil, usageErr(err)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, usagef("say whom to trust: --key FILE, or --certificate-identity and --certificate-oidc-issuer")
	}
	return out, nil
}

func (f *trustFlags) trust() (*provenance.Trust, error) {
	t, err := provenance.LoadTrustedRoots(f.trustedRoots...)
	if err != nil {
		return nil, usageErr(err)
	}
	return t, nil
}

func newVerifyCmd() *cobra.Command {
	var f trustFlags
	var registries, attestations []string
	var requireDigest bool
	var maxSigs int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "verify IMAGE",
		Short: "Verify an image's signatures and attestations in its registry",
		Long: `Find the signatures and attestations of an image in its registry, both ways
they are published (sigstore bundles as OCI 1.1 referrers, with the
referrers tag fallback; cosign's sha256-<digest>.sig and .att tags), and
verify them against the keys or keyless identities you trust.

Trust comes from files only, never from the network: --trusted-root reads a
sigstore trusted_root.json (Fulcio CAs, Rekor logs, timestamp authorities,
CT logs; get it once with 'cosign trusted-root create' or from your TUF
mirror, and keep it with your policy). Keyless identities need it; keys
need it too unless --insecure-ignore-tlog.

A signature counts when its cryptography verifies, its certificate (keyless)
chains to a trusted CA at the time a trusted log or timestamp recorded, its
identity matches, a transparency-log entry proves it was published, and the
signed content names this image's digest. Attestations (in-toto statements)
count only when signed the same way; their predicates are read: SLSA
provenance (builder, source repository, build type), vulnerability scans,
test results, SARIF.

The result names the step that failed: no-signature, untrusted-key,
identity, no-transparency-log-proof, transparency-log, certificate-chain,
expired, digest-mismatch, signature, malformed, missing-attestation,
untrusted-registry, not-pinned, too-many-signatures. At most --max-signatures
candidates are examined per image.

Exit codes: 0 verified; 1 unsigned or failed; 2 bad input, or the registry
could not be read (a transient error: retry, never treat it as unsigned).

IMAGE is a registry reference, NAME[:TAG|@DIGEST] (also registry:NAME or
docker://NAME); a tag is resolved once unless --require-digest refuses it.
Credentials come from the Docker config (~/.docker/config.json).

Examples:
  # a key-signed image (cosign sign --key, or a sigstore bundle referrer)
  credence verify --key cosign.pub --trusted-root trusted_root.json ghcr.io/org/app@sha256:…

  # keyless, from a GitHub Actions workflow of one repository, with provenance
  credence verify --trusted-root trusted_root.json \
    --certificate-oidc-issuer https://token.actions.githubusercontent.com \
    --certificate-identity-regexp '^https://github\.com/org/app/\.github/workflows/' \
    --require-attestation https://slsa.dev/provenance/v1 ghcr.io/org/app:v1.2.3

  # only pinned images from your registry, as JSON for a pipeline
  credence verify --key release.pub --trusted-root trusted_root.json \
    --trusted-registry ghcr.io/org --require-digest -o json ghcr.io/org/app@sha256:…`,
		Args: oneArg("IMAGE"),
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.keys, "key", nil, "trust signatures by this PEM public key (ECDSA, Ed25519, RSA); repeatable")
	f.addIdentity(cmd)
	fl.StringArrayVar(&f.trustedRoots, "trusted-root", nil, "sigstore trusted_root.json to trust (repeatable); no network is used")
	fl.StringArrayVar(&registries, "trusted-registry", nil, "accept only images under this registry or registry/path prefix (repeatable)")
	fl.BoolVar(&requireDigest, "require-digest", false, "refuse references by tag: the image must be named by digest")
	fl.StringArrayVar(&attestations, "require-attestation", nil, "also require a verified attestation of this predicate type (repeatable)")
	fl.BoolVar(&f.ignoreTlog, "insecure-ignore-tlog", false, "accept signatures with no transparency-log entry (air-gapped keys only)")
	fl.IntVar(&maxSigs, "max-signatures", provenance.DefaultMaxSignatures, "examine at most this many signatures and attestations")
	fl.DurationVar(&timeout, "timeout", provenance.DefaultCallTimeout, "deadline of each registry call")
	out := addOutputFlag(cmd, "table", "table", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		auths, err := f.authorities()
		if err != nil {
			return err
		}
		trust, err := f.trust()
		if err != nil {
			return err
		}
		opts := []provenance.PolicyOption{}
		for _, a := range auths {
			opts = append(opts, provenance.WithAuthority(a))
		}
		if len(registries) > 0 {
			opts = append(opts, provenance.WithTrustedRegistries(registries...))
		}
		if requireDigest {
			opts = append(opts, provenance.RequireDigest())
		}
		for _, a := range attestations {
			opts = append(opts, provenance.RequireAttestation(a))
		}
		pol, err := provenance.NewPolicy(opts...)
		if err != nil {
			return usageErr(err)
		}
		v, err := provenance.NewVerifier(trust, provenance.WithMaxSignatures(maxSigs), provenance.WithCallTimeout(timeout),
			provenance.WithRemoteOptions(remote.WithAuthFromKeychain(authn.DefaultKeychain)))
		if err != nil {
			return usageErr(err)
		}
		ref := strings.TrimPrefix(strings.TrimPrefix(args[0], "registry:"), "docker://")
		vd, err := v.VerifyReference(cmd.Context(), ref, pol)
		if err != nil {
			return err
		}
		if out.format == "json" {
			err = writeJSON(cmd.OutOrStdout(), vd)
		} else {
			err = renderVerdict(cmd.OutOrStdout(), vd)
		}
		if err != nil {
			return err
		}
		switch vd.Status {
		case provenance.Verified:
			return nil
		case provenance.Error:
			return fmt.Errorf("could not verify %s: %s", ref, vd.Detail)
		}
		return &policyFailure{fmt.Sprintf("%s: %s (%s)", vd.Status, vd.Step, ref)}
	}
	return cmd
}

func signerString(s *provenance.Signer) string {
	if s == nil {
		return ""
	}
	if s.Kind == "key" {
		return "key " + s.KeyID + " (" + s.Algorithm + ")"
	}
	return s.Subject + " (issuer " + s.Issuer + ")"
}

func renderVerdict(w io.Writer, vd *provenance.Verdict) error {
	t := newTable(w)
	t.row("image", vd.Image)
	if vd.Reference != "" {
		t.row("reference", fmt.Sprintf("%s (pinned: %v)", vd.Reference, vd.Pinned))
	}
	t.row("status", string(vd.Status))
	if vd.Status != provenance.Verified {
		t.row("step", string(vd.Step))
		t.row("detail", oneLine(vd.Detail))
	} else {
		t.row("signer", signerString(vd.Signer))
		t.row("authority", vd.Authority)
	}
	d := vd.Discovery
	trunc := ""
	if d.Truncated {
		trunc = fmt.Sprintf(" (cap %d reached: the rest were not examined)", d.Limit)
	}
	t.row("found", fmt.Sprintf("%s, %s, %s; examined %d%s", count(d.Referrers, "referrer", "referrers"), count(d.CosignSigs, "cosign .sig layer", "cosign .sig layers"), count(d.CosignAtts, ".att layer", ".att layers"), d.Examined, trunc))
	if err := t.flush(); err != nil {
		return err
	}
	if len(vd.Signatures) > 0 {
		fmt.Fprintln(w)
		t = newTable(w, "SOURCE", "KIND", "PREDICATE", "RESULT", "SIGNER / REASON")
		for _, s := range vd.Signatures {
			res, who := "verified", signerString(s.Signer)
			if !s.Verified {
				res, who = string(s.Step), oneLine(s.Detail)
			}
			t.row(string(s.Source), s.Kind, s.PredicateType, res, who)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(vd.Attestations) > 0 {
		fmt.Fprintln(w)
		t = newTable(w, "ATTESTATION", "SIGNED BY", "SAYS")
		for _, a := range vd.Attestations {
			t.row(a.PredicateType, signerString(a.Signer), attestationSummary(a))
		}
		return t.flush()
	}
	return nil
}

func attestationSummary(a provenance.Attestation) string {
	switch {
	case a.SLSA != nil:
		return fmt.Sprintf("built by %s from %s (%s)", a.SLSA.BuilderID, a.SLSA.SourceRepository, a.SLSA.BuildType)
	case a.Vuln != nil:
		if !a.Vuln.Counted {
			return "scanned by " + a.Vuln.ScannerURI + " (result not read)"
		}
		return "scanned by " + a.Vuln.ScannerURI + ": " + countString(a.Vuln.Severities)
	case a.Test != nil:
		return fmt.Sprintf("%s: %d passed, %d warned, %d failed", a.Test.Result, a.Test.Passed, a.Test.Warned, a.Test.Failed)
	case a.SARIF != nil:
		return fmt.Sprintf("SARIF from %s: %s (%s)", strings.Join(a.SARIF.Tools, ", "), count(a.SARIF.Results, "result", "results"), countString(a.SARIF.Levels))
	}
	return ""
}

func countString(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

func newVerifyBundleCmd() *cobra.Command {
	var f trustFlags
	var bundlePath string
	cmd := &cobra.Command{
		Use:   "verify-bundle --bundle FILE (--certificate-identity ID --certificate-oidc-issuer URL | --key FILE) [--trusted-root FILE] FILE_OR_DIGEST",
		Short: "Verify one sigstore bundle over a file or digest (sigstore-conformance protocol)",
		Long: `Verify a sigstore bundle over an artifact, given as a file or as
sha256:HEX: the command line the sigstore-conformance suite drives, so the
official suite can test credence where Python is available. Exit code 0
when the bundle verifies, 1 when it does not (the failed step is printed),
2 on bad input.

No network is used: --trusted-root is required (the suite passes it; for
Sigstore's public-good instance use its trusted_root.json).

Examples:
  credence verify-bundle --bundle a.txt.sigstore.json --trusted-root trusted_root.json \
    --certificate-identity https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main \
    --certificate-oidc-issuer https://token.actions.githubusercontent.com a.txt
  credence verify-bundle --bundle b.json --key key.pub --trusted-root trusted_root.json sha256:9f86d0…`,
		Args: oneArg("FILE_OR_DIGEST"),
	}
	fl := cmd.Flags()
	fl.StringVar(&bundlePath, "bundle", "", "the sigstore bundle (JSON) to verify (required)")
	fl.StringArrayVar(&f.keys, "key", nil, "verify with this PEM public key instead of an identity")
	f.addIdentity(cmd)
	fl.StringArrayVar(&f.trustedRoots, "trusted-root", nil, "sigstore trusted_root.json (required; repeatable)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if bundlePath == "" {
			return usagef("--bundle is required")
		}
		if len(f.trustedRoots) == 0 {
			return usagef("--trusted-root is required: credence fetches nothing from the network")
		}
		if len(f.keys) > 0 {
			// The conformance protocol passes identity flags with --key; the key decides.
			f.identity, f.identityRegexp, f.issuer, f.issuerRegexp = "", "", "", ""
		}
		auths, err := f.authorities()
		if err != nil {
			return err
		}
		trust, err := f.trust()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(bundlePath)
		if err != nil {
			return usageErr(err)
		}
		var art provenance.Artifact
		if strings.HasPrefix(args[0], "sha256:") {
			if art, err = provenance.ArtifactDigest(args[0]); err != nil {
				return usageErr(err)
			}
		} else {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return usageErr(err)
			}
			art = provenance.ArtifactBytes(data)
		}
		res := provenance.VerifyBundle(b, art, trust, auths...)
		if !res.Verified {
			return &policyFailure{fmt.Sprintf("bundle rejected at step %s: %s", res.Step, oneLine(res.Detail))}
		}
		fmt.Fprintf(cmd.OutOrStdout(), "verified: %s\n", signerString(res.Signer))
		return nil
	}
	return cmd
}
