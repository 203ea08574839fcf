package policy_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/provenance"
)

// Each built-in pack on the sample cluster's four workloads. The expected
// outcomes follow from the manifests in testdata/cluster and the sample
// data (see sample), not from this package.
func TestBuiltinPacks(t *testing.T) {
	a := sample(t)
	type want struct {
		outcome policy.Outcome
		result  policy.Result // of the pack's failing rule
		has     []string      // in the failure's message or evidence
	}
	allow := want{outcome: policy.Allow}
	for _, tc := range []struct {
		pack, params string
		base         policy.Baseline
		wants        map[string]want
	}{
		{pack: "credence-pss-baseline@v1", wants: map[string]want{
			"shop/web": allow, "payments/ledger": allow,
			"shop/api":    {policy.Deny, policy.Fail, []string{"privileged", "below baseline"}},
			"shop/worker": {policy.Deny, policy.Fail, []string{"hostPathVolumes: volume", "containerd"}},
		}},
		{pack: "credence-pss-restricted@v1", wants: map[string]want{
			"shop/web": allow, "payments/ledger": allow,
			"shop/api":    {policy.Deny, policy.Fail, []string{"privileged (baseline)", "below restricted"}},
			"shop/worker": {policy.Deny, policy.Fail, []string{"runAsNonRoot (restricted)", "seccompProfile_restricted"}},
		}},
		{pack: "credence-no-kev@v1", wants: map[string]want{
			"shop/api": allow, "payments/ledger": allow,
			"shop/web":    {policy.Deny, policy.Fail, []string{"CVE-2021-44228", "CVE-2021-45046", "2 vulnerabilities exploited in the wild"}},
			"shop/worker": {policy.Deny, policy.Unknown, []string{"not scanned", "unknown is not a pass"}},
		}},
		{pack: "credence-no-fixable-critical@v1", wants: map[string]want{
			"shop/api": allow, "payments/ledger": allow,
			"shop/web":    {policy.Deny, policy.Fail, []string{"GHSA-jfh8-c2jp-5v3q (critical) in log4j-core 2.14.1, fixed in 2.15.0"}},
			"shop/worker": {policy.Deny, policy.Unknown, []string{"not scanned"}},
		}},
		// No verifier in the sample run: provenance was never checked, which
		// is unknown, and unknown fails.
		{pack: "credence-signed@v1", wants: map[string]want{
			"shop/web":        {policy.Deny, policy.Unknown, []string{"provenance of registry.example.com/shop/web:1.4 not checked"}},
			"payments/ledger": {policy.Deny, policy.Unknown, []string{"not checked"}},
		}},
		{pack: "credence-slsa@v1", params: `{builders: ["https://github.com/actions/"], repositories: ["https://github.com/example/"]}`, wants: map[string]want{
			"shop/api": {policy.Deny, policy.Unknown, []string{"not checked"}},
		}},
		{pack: "credence-image-source@v1", params: `{registries: [registry.example.com/shop]}`, wants: map[string]want{
			"shop/web":        {policy.Deny, policy.Fail, []string{"is named by tag: pin it by digest (shop/web@sha256:5872df9159cc"}},
			"payments/ledger": {policy.Deny, policy.Fail, []string{"registry.example.com/payments/ledger@sha256:eb2c", "not from a trusted registry"}},
		}},
		{pack: "credence-image-source@v1", params: `{registries: [registry.example.com], requireDigest: false}`, wants: map[string]want{
			"shop/web": allow, "payments/ledger": allow, "shop/worker": allow,
		}},
		// Against no path at all, every path to a critical asset is new.
		{pack: "credence-no-new-critical-path@v1", wants: map[string]want{
			"shop/web": {policy.Deny, policy.Fail, []string{"Secret payments/ledger-db at 1: shop/web/web → ServiceAccount shop/web (TOKEN_STEAL) → every secret in namespace payments (RBAC_SECRETS)",
				"baseline: no path at all"}},
			"shop/api":        {policy.Deny, policy.Fail, []string{"a worker node"}},
			"payments/ledger": {policy.Deny, policy.Fail, []string{"Secret payments/ledger-db"}},
		}},
		// Against the same cluster, nothing is new.
		{pack: "credence-no-new-critical-path@v1", base: policy.BaselineFromAssessment(a, "the sample"), wants: map[string]want{
			"shop/web": allow, "shop/api": allow, "payments/ledger": allow, "shop/worker": allow,
		}},
		{pack: "credence-no-new-critical-path@v1", params: `{minLikelihood: 0.99}`, wants: map[string]want{
			"shop/api": allow, // its path to the node is 0.95
			"shop/web": {policy.Deny, policy.Fail, []string{"Secret payments/ledger-db"}},
		}},
	} {
		e := compile(t, packPolicy(tc.pack, tc.params))
		for ref, w := range tc.wants {
			t.Run(tc.pack+tc.params+"/"+ref, func(t *testing.T) {
				d := decide(t, e, a, ref, tc.base)
				if d.Outcome != w.outcome {
					t.Fatalf("decision %s, want %s: %s", d.Outcome, w.outcome, dump(d))
				}
				if w.outcome == policy.Allow {
					if len(d.Failures) != 0 {
						t.Errorf("allowed with failures: %s", dump(d))
					}
					return
				}
				if len(d.Failures) != 1 || d.Failures[0].Result != w.result || d.Failures[0].Pack != tc.pack {
					t.Fatalf("want one %s failure of %s: %s", w.result, tc.pack, dump(d))
				}
				text := dump(d)
				for _, s := range w.has {
					if !strings.Contains(text, s) {
						t.Errorf("decision lacks %q: %s", s, text)
					}
				}
			})
		}
	}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// withProvenance copies a sample Subject with its container's provenance
// evidence replaced.
func withProvenance(t *testing.T, ref string, e assess.Evidence) (*assess.Assessment, string) {
	t.Helper()
	a := sample(t)
	var s assess.Subject
	b, _ := json.Marshal(subject(t, a, ref))
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s.Containers[0].Provenance = e
	return &assess.Assessment{Subjects: []assess.Subject{s}, Images: a.Images}, ref
}

func verdict(status provenance.Status, step provenance.Step, authority string, atts ...provenance.Attestation) assess.Evidence {
	vd := &provenance.Verdict{APIVersion: provenance.VerdictAPIVersion, Status: status, Step: step, Detail: "detail of " + string(status),
		Signatures: []provenance.SignatureResult{}, Attestations: atts}
	if authority != "" {
		vd.Authority, vd.Signer = authority, &provenance.Signer{Kind: "key", KeyID: "sha256:abc"}
	}
	st := map[provenance.Status]assess.EvidenceStatus{provenance.Verified: assess.Verified, provenance.Unsigned: assess.Unsigned,
		provenance.Failed: assess.Failed, provenance.Error: assess.CheckError, provenance.NotChecked: assess.NotChecked}[status]
	return assess.Evidence{Status: st, Reason: string(status), Verdict: vd}
}

// Signed and SLSA packs over each provenance outcome; error (transient)
// follows the failure mode and is never read as unsigned.
func TestProvenanceRules(t *testing.T) {
	slsa := func(builder, repo string) provenance.Attestation {
		return provenance.Attestation{PredicateType: provenance.PredicateSLSAv1, Authority: "release", Signer: &provenance.Signer{Kind: "key"},
			SLSA: &provenance.SLSAProvenance{Version: "v1", BuilderID: builder, SourceRepository: repo}}
	}
	good := slsa("https://github.com/actions/runner/github-hosted", "git+https://github.com/example/shop@refs/heads/main")
	slsaParams := `{builders: ["https://github.com/actions/runner/"], repositories: ["git+https://github.com/example/", "^https://gitlab\\.example\\.com/"]}`
	for _, tc := range []struct {
		name, pack, params string
		failureMode        string
		ev                 assess.Evidence
		outcome            policy.Outcome
		result             policy.Result
		has                string
	}{
		{"verified", "credence-signed@v1", "", "", verdict(provenance.Verified, "", "release"), policy.Allow, "", ""},
		{"verified by a named authority", "credence-signed@v1", `{authorities: [release]}`, "", verdict(provenance.Verified, "", "release"), policy.Allow, "", ""},
		{"verified by another authority", "credence-signed@v1", `{authorities: [prod]}`, "", verdict(provenance.Verified, "", "release"), policy.Deny, policy.Fail, "signed by authority release, not by one of prod"},
		{"unsigned", "credence-signed@v1", "", "", verdict(provenance.Unsigned, provenance.StepNoSignature, ""), policy.Deny, policy.Fail, "not signed by a trusted identity: unsigned (no-signature)"},
		{"failed identity", "credence-signed@v1", "", "", verdict(provenance.Failed, provenance.StepIdentity, ""), policy.Deny, policy.Fail, "failed (identity)"},
		{"error fail-closed", "credence-signed@v1", "", "", verdict(provenance.Error, provenance.StepRegistry, ""), policy.Deny, policy.Errored, "could not be verified (transient)"},
		{"error fail-open warns", "credence-signed@v1", "", "fail-open", verdict(provenance.Error, provenance.StepRegistry, ""), policy.WarnOutcome, policy.Errored, "could not be verified (transient)"},
		{"not checked", "credence-signed@v1", "", "fail-open", verdict(provenance.NotChecked, "", ""), policy.Deny, policy.Unknown, "not checked"},
		{"slsa trusted", "credence-slsa@v1", slsaParams, "", verdict(provenance.Verified, "", "release", good), policy.Allow, "", ""},
		{"slsa regexp repository", "credence-slsa@v1", slsaParams, "", verdict(provenance.Verified, "", "release", slsa("https://github.com/actions/runner/x", "https://gitlab.example.com/g/app")), policy.Allow, "", ""},
		{"slsa untrusted builder", "credence-slsa@v1", slsaParams, "", verdict(provenance.Verified, "", "release", slsa("https://evil.example/builder", "git+https://github.com/example/shop")), policy.Deny, policy.Fail, "built by https://evil.example/builder"},
		{"slsa untrusted repository", "credence-slsa@v1", slsaParams, "", verdict(provenance.Verified, "", "release", slsa("https://github.com/actions/runner/x", "git+https://github.com/examples/shop")), policy.Deny, policy.Fail, "not built by a trusted builder"},
		{"slsa absent, unsigned", "credence-slsa@v1", slsaParams, "", verdict(provenance.Unsigned, provenance.StepNoSignature, ""), policy.Deny, policy.Fail, "has no verified SLSA provenance (unsigned)"},
		{"slsa authority not named", "credence-slsa@v1", `{builders: ["https://github.com/"], repositories: ["git+"], authorities: [prod]}`, "", verdict(provenance.Verified, "", "release", good), policy.Deny, policy.Fail, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := packPolicy(tc.pack, tc.params)
			if tc.failureMode != "" {
				src = strings.Replace(src, "spec:\n", "spec:\n  failureMode: "+tc.failureMode+"\n", 1)
			}
			a, ref := withProvenance(t, "shop/api", tc.ev)
			d := decide(t, compile(t, src), a, ref, nil)
			if d.Outcome != tc.outcome {
				t.Fatalf("decision %s, want %s: %s", d.Outcome, tc.outcome, dump(d))
			}
			if tc.outcome == policy.Allow {
				return
			}
			if d.Failures[0].Result != tc.result || !strings.Contains(dump(d), tc.has) {
				t.Errorf("want result %s mentioning %q: %s", tc.result, tc.has, dump(d))
			}
		})
	}
}
