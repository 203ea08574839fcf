package provenance_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/credence-dev/credence/provenance"
	"github.com/credence-dev/credence/provenance/cosign"
)

func verify(t testing.TB, v *provenance.Verifier, d name.Digest, p *provenance.Policy) *provenance.Verdict {
	t.Helper()
	vd, err := v.Verify(context.Background(), d.String(), p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(vd); err != nil {
		t.Fatalf("verdict does not serialise: %v", err)
	}
	return vd
}

func wantVerdict(t testing.TB, vd *provenance.Verdict, status provenance.Status, step provenance.Step) {
	t.Helper()
	if vd.Status != status || vd.Step != step {
		b, _ := json.MarshalIndent(vd, "", "  ")
		t.Fatalf("status %s step %q, want %s %q\n%s", vd.Status, vd.Step, status, step, b)
	}
}

// TestKeySignedEveryWay: each key algorithm, each place a signature lives.
func TestKeySignedEveryWay(t *testing.T) {
	for _, api := range []bool{true, false} {
		e := newEnv(t, api)
		for _, alg := range []string{"ecdsa", "ed25519", "rsa"} {
			k := newKey(t, alg)
			p := policy(t, provenance.WithAuthority(keyAuthority(t, "release", newKey(t, "ecdsa"), k)))
			mode := map[bool]string{true: "referrers API", false: "referrers tag fallback"}[api]

			// Rekor v1 logs Ed25519 message signatures only as Ed25519ph
			// over SHA-512 (its hashedrekord type refuses anything else),
			// while sigstore verifies Ed25519 keys as pure Ed25519: such a
			// signature cannot carry a log entry, so it needs the explicit
			// opt-out. DSSE envelopes (below) log fine with Ed25519.
			logged, msgPolicy := alg != "ed25519", p
			if !logged {
				a, err := provenance.NewKeyAuthority("release", []provenance.PublicKey{k.pub}, provenance.WithoutTransparencyLogUnsafe())
				if err != nil {
					t.Fatal(err)
				}
				msgPolicy = policy(t, provenance.WithAuthority(a))
			}
			t.Run(mode+"/"+alg+"/bundle message signature", func(t *testing.T) {
				d, manifest := e.pushImage("msg-" + alg)
				e.pushReferrer(d, e.keyBundle(k, &sign.PlainData{Data: manifest}, logged), "")
				vd := verify(t, e.verifier(), d, msgPolicy)
				wantVerdict(t, vd, provenance.Verified, "")
				if vd.Signer.KeyID != k.pub.ID || vd.Authority != "release" || vd.Signatures[0].Source != provenance.SourceReferrers {
					t.Errorf("signer %+v authority %s source %s", vd.Signer, vd.Authority, vd.Signatures[0].Source)
				}
				if logged && (vd.Signatures[0].LogIndex == nil || vd.Signatures[0].IntegratedTime == nil) {
					t.Error("verified signature lacks its log entry")
				}
			})
			t.Run(mode+"/"+alg+"/bundle DSSE statement", func(t *testing.T) {
				d, _ := e.pushImage("dsse-" + alg)
				stmt := statementFor(d, provenance.PredicateSLSAv1, slsaV1("https://github.com/actions/runner/github-hosted"))
				e.pushReferrer(d, e.keyBundle(k, &sign.DSSEData{Data: stmt, PayloadType: "application/vnd.in-toto+json"}, true), provenance.PredicateSLSAv1)
				vd := verify(t, e.verifier(), d, policy(t, provenance.WithAuthority(keyAuthority(t, "release", k)), provenance.RequireAttestation(provenance.PredicateSLSAv1)))
				wantVerdict(t, vd, provenance.Verified, "")
				if len(vd.Attestations) != 1 || vd.Attestations[0].SLSA == nil || vd.Attestations[0].Signer.KeyID != k.pub.ID {
					t.Fatalf("attestations %+v", vd.Attestations)
				}
			})
			t.Run(mode+"/"+alg+"/cosign .sig", func(t *testing.T) {
				d, _ := e.pushImage("sig-" + alg)
				e.pushCosign(d, "sig", e.keySig(k, simpleSigning(d), logged))
				vd := verify(t, e.verifier(), d, msgPolicy)
				wantVerdict(t, vd, provenance.Verified, "")
				if vd.Signatures[0].Source != provenance.SourceCosignSig || vd.Signer.KeyID != k.pub.ID {
					t.Errorf("%+v", vd.Signatures[0])
				}
			})
		}
	}
}

func slsaV1(builder string) map[string]any {
	return map[string]any{
		"buildDefinition": map[string]any{
			"buildType":          "https://actions.github.io/buildtypes/workflow/v1",
			"externalParameters": map[string]any{"workflow": map[string]any{"repository": "https://github.com/example/app", "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}},
			"resolvedDependencies": []any{map[string]any{"uri": "git+https://github.com/example/app@refs/heads/main",
				"digest": map[string]string{"gitCommit": "0123456789abcdef0123456789abcdef01234567"}}},
		},
		"runDetails": map[string]any{"builder": map[string]any{"id": builder}},
	}
}

// TestKeyless: a Fulcio certificate from the test CA, logged in its Rekor;
// signature in .sig, SLSA provenance as a referrer, a vulnerability scan in
// .att: every predicate typed and bound to the identity that signed it.
func TestKeyless(t *testing.T) {
	e := newEnv(t, true)
	d, _ := e.pushImage("app")
	e.pushCosign(d, "sig", e.keylessSig(testSubject, simpleSigning(d), time.Now().Add(5*time.Minute)))
	e.pushReferrer(d, e.keylessBundle(e.vs, testSubject, testIssuer, statementFor(d, provenance.PredicateSLSAv1, slsaV1("https://github.com/actions/runner/github-hosted")), time.Now().Add(5*time.Minute)), provenance.PredicateSLSAv1)
	vuln := map[string]any{"scanner": map[string]any{"uri": "pkg:github/aquasecurity/trivy@v0.60.0", "version": "0.60.0",
		"db": map[string]any{"uri": "pkg:github/aquasecurity/trivy-db", "version": "2"},
		"result": map[string]any{"Results": []any{map[string]any{"Vulnerabilities": []any{
			map[string]any{"Severity": "CRITICAL"}, map[string]any{"Severity": "HIGH"}, map[string]any{"Severity": "HIGH"}}}}}},
		"metadata": map[string]any{"scanFinishedOn": "2026-11-01T00:00:00Z"}}
	sarif := map[string]any{"version": "2.1.0", "runs": []any{map[string]any{"tool": map[string]any{"driver": map[string]any{"name": "semgrep"}},
		"results": []any{map[string]any{"level": "error"}, map[string]any{}, map[string]any{"level": "note"}}}}}
	tests := map[string]any{"result": "PASSED", "passedTests": []string{"a", "b"}, "configuration": []any{map[string]any{"uri": "https://example.com/pentest.yml"}}}
	e.pushCosign(d, "att",
		e.keylessAtt(testSubject, statementFor(d, provenance.PredicateVuln, vuln), provenance.PredicateVuln),
		e.keylessAtt(testSubject, statementFor(d, "https://example.com/sarif/v1", sarif), "https://example.com/sarif/v1"),
		e.keylessAtt(testSubject, statementFor(d, provenance.PredicateTestResult, tests), provenance.PredicateTestResult),
	)
	id := provenance.Identity{Issuer: testIssuer, SubjectRegexp: `^https://github\.com/example/app/`}
	p := policy(t, provenance.WithAuthority(keylessAuthority(t, id)), provenance.RequireAttestation(provenance.PredicateSLSAv1), provenance.RequireAttestation(provenance.PredicateVuln))
	vd := verify(t, e.verifier(), d, p)
	wantVerdict(t, vd, provenance.Verified, "")
	if vd.Signer.Subject != testSubject || vd.Signer.Issuer != testIssuer {
		t.Errorf("signer %+v", vd.Signer)
	}
	for _, s := range vd.Signatures {
		if !s.Verified {
			t.Errorf("%s %s not verified: %s %s", s.Source, s.Ref, s.Step, s.Detail)
		}
	}
	byType := map[string]provenance.Attestation{}
	for _, a := range vd.Attestations {
		if a.Signer == nil || a.Signer.Subject != testSubject || a.Authority != "ci" {
			t.Errorf("attestation %s not bound to its signer: %+v", a.PredicateType, a.Signer)
		}
		byType[a.PredicateType] = a
	}
	if s := byType[provenance.PredicateSLSAv1].SLSA; s == nil || s.BuilderID != "https://github.com/actions/runner/github-hosted" ||
		s.SourceRepository != "git+https://github.com/example/app@refs/heads/main" || s.BuildType != "https://actions.github.io/buildtypes/workflow/v1" {
		t.Errorf("SLSA %+v", s)
	}
	if v := byType[provenance.PredicateVuln].Vuln; v == nil || !v.Counted || v.Severities["critical"] != 1 || v.Severities["high"] != 2 {
		t.Errorf("vuln %+v", v)
	}
	if s := byType["https://example.com/sarif/v1"].SARIF; s == nil || s.Results != 3 || s.Levels["error"] != 1 || s.Levels["warning"] != 1 || s.Levels["note"] != 1 || s.Tools[0] != "semgrep" {
		t.Errorf("SARIF %+v", s)
	}
	if r := byType[provenance.PredicateTestResult].Test; r == nil || r.Result != "PASSED" || r.Passed != 2 {
		t.Errorf("test result %+v", r)
	}

	// A required predicate nobody attested: failed, and the step says so.
	p2 := policy(t, provenance.WithAuthority(keylessAuthority(t, id)), provenance.RequireAttestation("https://example.com/pentest/v1"))
	wantVerdict(t, verify(t, e.verifier(), d, p2), provenance.Failed, provenance.StepAttestation)
}

// TestAttestationIdentityBound (kyverno #4668): an attestation signed by
// another identity is never exposed, even when the image signature is good.
func TestAttestationIdentityBound(t *testing.T) {
	e := newEnv(t, true)
	d, _ := e.pushImage("app")
	e.pushCosign(d, "sig", e.keylessSig(testSubject, simpleSigning(d), time.Now().Add(5*time.Minute)))
	e.pushCosign(d, "att", e.keylessAtt("https://github.com/mallory/fork/.github/workflows/x.yml@refs/heads/main",
		statementFor(d, provenance.PredicateSLSAv1, slsaV1("https://github.com/actions/runner/github-hosted")), provenance.PredicateSLSAv1))
	p := policy(t, provenance.WithAuthority(keylessAuthority(t, provenance.Identity{Issuer: testIssuer, Subject: testSubject})), provenance.RequireAttestation(provenance.PredicateSLSAv1))
	vd := verify(t, e.verifier(), d, p)
	wantVerdict(t, vd, provenance.Failed, provenance.StepAttestation)
	if len(vd.Attestations) != 0 {
		t.Fatalf("an attestation by another identity was exposed: %+v", vd.Attestations)
	}
	if vd.Signatures[1].Step != provenance.StepIdentity {
		t.Errorf("the foreign attestation failed at %s, want identity", vd.Signatures[1].Step)
	}
}

// TestNegative: each way a signature can be wrong fails at its own step.
func TestNegative(t *testing.T) {
	e := newEnv(t, true)
	k, other := newKey(t, "ecdsa"), newKey(t, "rsa")
	keyPolicy := policy(t, provenance.WithAuthority(keyAuthority(t, "release", k)))
	keylessPolicy := policy(t, provenance.WithAuthority(keylessAuthority(t, provenance.Identity{Issuer: testIssuer, Subject: testSubject})))
	soon := time.Now().Add(5 * time.Minute)

	cases := []struct {
		name   string
		setup  func(d, other name.Digest)
		policy *provenance.Policy
		status provenance.Status
		step   provenance.Step
	}{
		{"unsigned", func(d, _ name.Digest) {}, keyPolicy, provenance.Unsigned, provenance.StepNoSignature},
		{"wrong identity", func(d, _ name.Digest) {
			e.pushCosign(d, "sig", e.keylessSig("https://github.com/mallory/app/.github/workflows/x.yml@refs/heads/main", simpleSigning(d), soon))
		}, keylessPolicy, provenance.Failed, provenance.StepIdentity},
		{"wrong key (logged)", func(d, _ name.Digest) { e.pushCosign(d, "sig", e.keySig(other, simpleSigning(d), true)) }, keyPolicy, provenance.Failed, provenance.StepUntrustedKey},
		{"wrong key (bundle referrer)", func(d, _ name.Digest) {
			_, m := e.pushImage("x")
			_ = m
			raw, _ := remoteManifest(t, d)
			e.pushReferrer(d, e.keyBundle(other, &sign.PlainData{Data: raw}, true), "")
		}, keyPolicy, provenance.Failed, provenance.StepUntrustedKey},
		{"keyless signature, key policy", func(d, _ name.Digest) { e.pushCosign(d, "sig", e.keylessSig(testSubject, simpleSigning(d), soon)) }, keyPolicy, provenance.Failed, provenance.StepIdentity},
		{"payload tampered after signing", func(d, _ name.Digest) {
			l := e.keySig(k, simpleSigning(d), true)
			l.payload = []byte(strings.Replace(string(l.payload), `"optional":null`, `"optional":{"tampered":"yes"}`, 1))
			e.pushCosign(d, "sig", l)
		}, keyPolicy, provenance.Failed, provenance.StepDigestMismatch},
		{"signature copied from another image", func(d, o name.Digest) { e.pushCosign(d, "sig", e.keySig(k, simpleSigning(o), true)) }, keyPolicy, provenance.Failed, provenance.StepDigestMismatch},
		{"attestation about another image", func(d, o name.Digest) {
			e.pushReferrer(d, e.keyBundle(k, &sign.DSSEData{Data: statementFor(o, provenance.PredicateSLSAv1, slsaV1("b")), PayloadType: "application/vnd.in-toto+json"}, true), "")
		}, keyPolicy, provenance.Failed, provenance.StepDigestMismatch},
		{"certificate expired at log time", func(d, _ name.Digest) {
			e.pushCosign(d, "sig", e.keylessSig(testSubject, simpleSigning(d), time.Now().Add(30*time.Minute)))
		}, keylessPolicy, provenance.Failed, provenance.StepExpired},
		{"no transparency-log proof", func(d, _ name.Digest) { e.pushCosign(d, "sig", e.keySig(k, simpleSigning(d), false)) }, keyPolicy, provenance.Failed, provenance.StepNoTlogProof},
		{"bundle without log entry", func(d, _ name.Digest) {
			raw, _ := remoteManifest(t, d)
			e.pushReferrer(d, e.keyBundle(k, &sign.PlainData{Data: raw}, false), "")
		}, keyPolicy, provenance.Failed, provenance.StepNoTlogProof},
		{"certificate from an untrusted CA", func(d, _ name.Digest) {
			rogue, err := ca.NewVirtualSigstore()
			if err != nil {
				t.Fatal(err)
			}
			// Logged in the trusted log, so only the chain is wrong.
			e.pushReferrer(d, e.keylessBundle(rogue, testSubject, testIssuer, statementFor(d, provenance.PredicateSLSAv1, slsaV1("b")), soon), "")
		}, keylessPolicy, provenance.Failed, provenance.StepChain},
		{"malformed bundle", func(d, _ name.Digest) {
			e.pushReferrer(d, []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","content":`), "")
		}, keyPolicy, provenance.Failed, provenance.StepMalformed},
		{"malformed simple-signing payload", func(d, _ name.Digest) {
			e.pushCosign(d, "sig", e.keySig(k, []byte(`{"critical":{"type":"cosign container image signature"}}`), true))
		}, keyPolicy, provenance.Failed, provenance.StepMalformed},
		{"garbage certificate annotation", func(d, _ name.Digest) {
			l := e.keySig(k, simpleSigning(d), true)
			l.ann[cosign.CertificateAnnotation] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
			e.pushCosign(d, "sig", l)
		}, keyPolicy, provenance.Failed, provenance.StepMalformed},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := e.pushImage("neg" + string(rune('a'+i)))
			o, _ := e.pushImage("other" + string(rune('a'+i)))
			tc.setup(d, o)
			vd := verify(t, e.verifier(), d, tc.policy)
			wantVerdict(t, vd, tc.status, tc.step)
			if vd.Detail == "" {
				t.Error("no detail")
			}
		})
	}

	t.Run("no transparency-log proof, explicitly allowed", func(t *testing.T) {
		d, _ := e.pushImage("unlogged")
		e.pushCosign(d, "sig", e.keySig(k, simpleSigning(d), false))
		a, err := provenance.NewKeyAuthority("airgap", []provenance.PublicKey{k.pub}, provenance.WithoutTransparencyLogUnsafe())
		if err != nil {
			t.Fatal(err)
		}
		wantVerdict(t, verify(t, e.verifier(), d, policy(t, provenance.WithAuthority(a))), provenance.Verified, "")
	})
}

func remoteManifest(t *testing.T, d name.Digest) ([]byte, error) {
	t.Helper()
	desc, err := remoteGet(d)
	if err != nil {
		t.Fatal(err)
	}
	return desc, nil
}

// TestHundredsOfSignatures: work is capped; the verdict says how many were
// found and that the rest were ignored.
func TestHundredsOfSignatures(t *testing.T) {
	var requests atomic.Int64
	reg := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	e := newEnv(t, true)
	e.reg = strings.TrimPrefix(srv.URL, "http://")
	k := newKey(t, "ecdsa")
	p := policy(t, provenance.WithAuthority(keyAuthority(t, "release", k)))

	d, _ := e.pushImage("many")
	junk := newKey(t, "ecdsa")
	var layers []cosignLayer
	for i := 0; i < 300; i++ {
		layers = append(layers, e.keySig(junk, simpleSigning(d), false))
	}
	e.pushCosign(d, "sig", layers...)
	requests.Store(0)
	vd := verify(t, e.verifier(provenance.WithMaxSignatures(16)), d, p)
	wantVerdict(t, vd, provenance.Failed, provenance.StepTooMany)
	if !vd.Discovery.Truncated || vd.Discovery.CosignSigs != 300 || vd.Discovery.Examined != 16 || len(vd.Signatures) != 16 {
		t.Fatalf("discovery %+v, %d signatures", vd.Discovery, len(vd.Signatures))
	}
	// One manifest, referrers, the tags, and one blob per examined layer.
	// Each blob costs a ping and a GET (go-containerregistry pings per call).
	if n := requests.Load(); n > 3*16+10 {
		t.Errorf("%d registry requests for 16 examined signatures", n)
	}
	t.Logf("300 signatures, cap 16: %d registry requests", requests.Load())

	// The good signature among the examined ones still verifies, truncated.
	d2, _ := e.pushImage("many-good")
	layers = []cosignLayer{e.keySig(k, simpleSigning(d2), true)}
	for i := 0; i < 300; i++ {
		layers = append(layers, e.keySig(junk, simpleSigning(d2), false))
	}
	e.pushCosign(d2, "sig", layers...)
	vd = verify(t, e.verifier(provenance.WithMaxSignatures(16)), d2, p)
	wantVerdict(t, vd, provenance.Verified, "")
	if !vd.Discovery.Truncated {
		t.Error("truncation not reported")
	}
}

// TestRegistryTimeout: a registry that hangs gives a transient error after
// the per-call deadline, never "unsigned" or "failed".
func TestRegistryTimeout(t *testing.T) {
	reg := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	var slow atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() && strings.Contains(r.URL.Path, "/referrers/") {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	e := newEnv(t, true)
	e.reg = strings.TrimPrefix(srv.URL, "http://")
	k := newKey(t, "ecdsa")
	d, _ := e.pushImage("slow")
	e.pushCosign(d, "sig", e.keySig(k, simpleSigning(d), true))
	slow.Store(true)
	start := time.Now()
	vd := verify(t, e.verifier(provenance.WithCallTimeout(200*time.Millisecond)), d, policy(t, provenance.WithAuthority(keyAuthority(t, "release", k))))
	wantVerdict(t, vd, provenance.Error, provenance.StepRegistry)
	if vd.Status.Definitive() {
		t.Error("a timeout is definitive")
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("took %v: the per-call deadline did not hold", el)
	}
	// Unreachable registry.
	srv.Close()
	vd = verify(t, e.verifier(provenance.WithCallTimeout(time.Second)), d, policy(t, provenance.WithAuthority(keyAuthority(t, "release", k))))
	wantVerdict(t, vd, provenance.Error, provenance.StepRegistry)
}

// TestReferenceRules: registries and pinning are decided before any I/O.
func TestReferenceRules(t *testing.T) {
	k := newKey(t, "ecdsa")
	e := newEnv(t, true)
	v := e.verifier(provenance.WithCallTimeout(100 * time.Millisecond))
	p := policy(t, provenance.WithAuthority(keyAuthority(t, "release", k)), provenance.WithTrustedRegistries("ghcr.io/example", "docker.io/library"), provenance.RequireDigest())
	ctx := context.Background()
	for _, tc := range []struct {
		ref    string
		status provenance.Status
		step   provenance.Step
	}{
		{"ghcr.io/examplevil/app@sha256:" + strings.Repeat("a", 64), provenance.Failed, provenance.StepUntrustedRegistry},
		{"quay.io/example/app:v1", provenance.Failed, provenance.StepUntrustedRegistry},
		{"ghcr.io/example/app:v1", provenance.Failed, provenance.StepNotPinned},
		{"nginx:1.27", provenance.Failed, provenance.StepNotPinned},
		{"ghcr.io/example/app@sha256:" + strings.Repeat("a", 64), provenance.Error, provenance.StepRegistry}, // trusted, pinned: reaches the (unreachable) registry
		{"not a reference!", provenance.Failed, provenance.StepReference},
	} {
		vd, err := v.VerifyReference(ctx, tc.ref, p)
		if err != nil {
			t.Fatal(err)
		}
		if vd.Status != tc.status || vd.Step != tc.step {
			t.Errorf("%s: %s %s (%s), want %s %s", tc.ref, vd.Status, vd.Step, vd.Detail, tc.status, tc.step)
		}
	}
	if _, err := v.Verify(ctx, "ghcr.io/example/app:v1", p); !errors.Is(err, provenance.ErrNotDigest) {
		t.Errorf("Verify of a tag: %v, want ErrNotDigest", err)
	}
	// A tag resolves when digests are not required, and Pinned says false.
	d, _ := e.pushImage("tagged")
	e.pushCosign(d, "sig", e.keySig(k, simpleSigning(d), true))
	vd, err := e.verifier().VerifyReference(ctx, d.Context().Tag("v1").String(), policy(t, provenance.WithAuthority(keyAuthority(t, "release", k))))
	if err != nil {
		t.Fatal(err)
	}
	if vd.Status != provenance.Verified || vd.Pinned || vd.Digest != d.DigestStr() {
		t.Errorf("tag: %s pinned=%v digest=%s", vd.Status, vd.Pinned, vd.Digest)
	}
}

// BenchmarkVerify measures one image's verification against the in-process
// registry: discovery (manifest, referrers, .sig, .att) plus sigstore-go.
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b, true)
	for _, tc := range []string{"key-sig", "keyless-sig-att"} {
		d, _ := e.pushImage("bench-" + tc)
		var p *provenance.Policy
		if tc == "key-sig" {
			k := newKey(b, "ecdsa")
			e.pushCosign(d, "sig", e.keySig(k, simpleSigning(d), true))
			p = policy(b, provenance.WithAuthority(keyAuthority(b, "release", k)))
		} else {
			e.pushCosign(d, "sig", e.keylessSig(testSubject, simpleSigning(d), time.Now().Add(5*time.Minute)))
			e.pushCosign(d, "att", e.keylessAtt(testSubject, statementFor(d, provenance.PredicateSLSAv1, slsaV1("b")), provenance.PredicateSLSAv1))
			p = policy(b, provenance.WithAuthority(keylessAuthority(b, provenance.Identity{Issuer: testIssuer, Subject: testSubject})))
		}
		v := e.verifier()
		b.Run(tc, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				vd, err := v.Verify(context.Background(), d.String(), p)
				if err != nil || vd.Status != provenance.Verified {
					b.Fatalf("%v %s %s", err, vd.Status, vd.Detail)
				}
			}
		})
	}
}
