package provenance_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/provenance"
)

// The conformance identity (sigstore-conformance test/client.py defaults,
// quoted in ../shared/fixtures/sigstore/README.md).
const (
	conformanceSAN    = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
	conformanceIssuer = "https://token.actions.githubusercontent.com"
)

// sigstoreFixtures returns ../shared/fixtures/sigstore; under CI=true a
// missing directory fails the test instead of skipping it.
func sigstoreFixtures(t *testing.T) string {
	t.Helper()
	return filepath.Join(testutil.Shared(t), "fixtures", "sigstore")
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConformanceCases runs every case directory of the sigstore-conformance
// bundle-verify suite: names ending in _fail must be rejected, the others
// accepted, with the defaults of the upstream client (fixtures README).
func TestConformanceCases(t *testing.T) {
	fix := sigstoreFixtures(t)
	dirs, err := os.ReadDir(filepath.Join(fix, "conformance"))
	if err != nil {
		t.Fatal(err)
	}
	// The step each rejected case must fail at, from the case's README
	// and the fixtures README.
	wantStep := map[string]provenance.Step{
		"bundle-from-wrong-instance_fail":     provenance.StepTlog,
		"dsse-invalid-sig_fail":               provenance.StepTlog,
		"inclusion-proof-corrupted-hash_fail": provenance.StepTlog,
	}
	cases := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		cases++
		name := d.Name()
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(fix, "conformance", name)
			wantPass := !strings.HasSuffix(name, "_fail")
			artifact := filepath.Join(fix, "conformance", "a.txt")
			if _, err := os.Stat(filepath.Join(dir, "artifact")); err == nil {
				artifact = filepath.Join(dir, "artifact")
			}
			rootPath := filepath.Join(fix, "sigstore-go", "trusted-root-public-good.json")
			if _, err := os.Stat(filepath.Join(dir, "trusted_root.json")); err == nil {
				rootPath = filepath.Join(dir, "trusted_root.json")
			}
			trust, err := provenance.LoadTrustedRoots(rootPath)
			if err != nil {
				t.Fatal(err)
			}
			var auth *provenance.Authority
			if _, err := os.Stat(filepath.Join(dir, "key.pub")); err == nil {
				key, err := provenance.LoadPublicKey(filepath.Join(dir, "key.pub"))
				if err != nil {
					if wantPass {
						t.Fatalf("load key: %v", err)
					}
					// managed-key-wrong-key_fail: the key is not a valid
					// P-256 point (fixtures README): rejected at load.
					t.Logf("rejected while loading the key: %v", err)
					return
				}
				auth, err = provenance.NewKeyAuthority("key", []provenance.PublicKey{key})
				if err != nil {
					t.Fatal(err)
				}
			} else {
				auth, err = provenance.NewKeylessAuthority("beacon", []provenance.Identity{{Issuer: conformanceIssuer, Subject: conformanceSAN}})
				if err != nil {
					t.Fatal(err)
				}
			}
			res := provenance.VerifyBundle(mustRead(t, filepath.Join(dir, "bundle.sigstore.json")), provenance.ArtifactBytes(mustRead(t, artifact)), trust, auth)
			if res.Verified != wantPass {
				t.Fatalf("verified = %v, want %v (step %s: %s)", res.Verified, wantPass, res.Step, res.Detail)
			}
			if step, ok := wantStep[name]; ok && res.Step != step {
				t.Errorf("failed at step %s (%s), want %s", res.Step, res.Detail, step)
			}
			if wantPass && res.Signer == nil {
				t.Error("verified without a signer")
			}
			t.Logf("verified=%v step=%s %s", res.Verified, res.Step, res.Detail)
		})
	}
	if cases < 11 {
		t.Errorf("found %d conformance cases, the fixtures README lists 11", cases)
	}
}

// TestConformanceWrongIdentityAndArtifact: the happy path must fail with
// another SAN, another issuer, or another artifact.
func TestConformanceWrongIdentityAndArtifact(t *testing.T) {
	fix := sigstoreFixtures(t)
	trust, err := provenance.LoadTrustedRoots(filepath.Join(fix, "sigstore-go", "trusted-root-public-good.json"))
	if err != nil {
		t.Fatal(err)
	}
	b := mustRead(t, filepath.Join(fix, "conformance", "happy-path-v0.3", "bundle.sigstore.json"))
	a := mustRead(t, filepath.Join(fix, "conformance", "a.txt"))
	for _, tc := range []struct {
		name     string
		id       provenance.Identity
		artifact []byte
		want     provenance.Step
	}{
		{"other SAN", provenance.Identity{Issuer: conformanceIssuer, Subject: "https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main"}, a, provenance.StepIdentity},
		{"other issuer", provenance.Identity{Issuer: "https://accounts.google.com", Subject: conformanceSAN}, a, provenance.StepIdentity},
		{"SAN regexp of another org", provenance.Identity{Issuer: conformanceIssuer, SubjectRegexp: "^https://github.com/sigstore/"}, a, provenance.StepIdentity},
		{"other artifact", provenance.Identity{Issuer: conformanceIssuer, Subject: conformanceSAN}, append([]byte("x"), a...), provenance.StepDigestMismatch},
		{"right SAN by regexp", provenance.Identity{Issuer: conformanceIssuer, SubjectRegexp: "^https://github.com/sigstore-conformance/"}, a, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth, err := provenance.NewKeylessAuthority("a", []provenance.Identity{tc.id})
			if err != nil {
				t.Fatal(err)
			}
			res := provenance.VerifyBundle(b, provenance.ArtifactBytes(tc.artifact), trust, auth)
			if res.Verified != (tc.want == "") || res.Step != tc.want {
				t.Fatalf("verified=%v step=%q (%s), want step %q", res.Verified, res.Step, res.Detail, tc.want)
			}
		})
	}
}

// TestUntrustedKeyRejected: a valid key-signed bundle must be rejected when
// the key given is not the one that signed (a fresh key, or another real one).
func TestUntrustedKeyRejected(t *testing.T) {
	fix := sigstoreFixtures(t)
	trust, err := provenance.LoadTrustedRoots(filepath.Join(fix, "sigstore-go", "trusted-root-public-good.json"))
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fresh, err := provenance.NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	npm, err := provenance.LoadPublicKey(filepath.Join(fix, "sigstore-go", "publish_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(fix, "conformance", "managed-key-happy-path")
	b := mustRead(t, filepath.Join(dir, "bundle.sigstore.json"))
	art := provenance.ArtifactBytes(mustRead(t, filepath.Join(fix, "conformance", "a.txt")))
	for name, k := range map[string]provenance.PublicKey{"fresh key": fresh, "npm key": npm} {
		auth, _ := provenance.NewKeyAuthority("k", []provenance.PublicKey{k})
		res := provenance.VerifyBundle(b, art, trust, auth)
		if res.Verified || res.Step != provenance.StepUntrustedKey {
			t.Errorf("%s: verified=%v step=%s (%s), want rejected at %s", name, res.Verified, res.Step, res.Detail, provenance.StepUntrustedKey)
		}
	}
	// Control: the right key verifies the same bundle.
	good, err := provenance.LoadPublicKey(filepath.Join(dir, "key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	auth, _ := provenance.NewKeyAuthority("k", []provenance.PublicKey{fresh, good})
	if res := provenance.VerifyBundle(b, art, trust, auth); !res.Verified {
		t.Fatalf("the signing key among others did not verify: %s %s", res.Step, res.Detail)
	}
}

// statementDigest reads the sha512 subject digest of a DSSE bundle.
func statementDigest(t *testing.T, bundleJSON []byte) string {
	var b struct {
		DsseEnvelope struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(bundleJSON, &b); err != nil {
		t.Fatal(err)
	}
	p, _ := base64.StdEncoding.DecodeString(b.DsseEnvelope.Payload)
	var s struct {
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(p, &s); err != nil || len(s.Subject) == 0 {
		t.Fatalf("statement: %v", err)
	}
	return s.Subject[0].Digest["sha512"]
}

// TestSigstoreGoExamples holds the expectations of the fixtures README for
// the sigstore-go files.
func TestSigstoreGoExamples(t *testing.T) {
	fix := filepath.Join(sigstoreFixtures(t), "sigstore-go")
	good, err := provenance.LoadTrustedRoots(filepath.Join(fix, "trusted-root-public-good.json"))
	if err != nil {
		t.Fatal(err)
	}
	prov := mustRead(t, filepath.Join(fix, "bundle-provenance.json"))
	digest := statementDigest(t, prov)
	// The README gives the digest as sha512 76176ffa…b329b10751.
	if !strings.HasPrefix(digest, "76176ffa") || !strings.HasSuffix(digest, "b329b10751") {
		t.Fatalf("bundle-provenance subject digest %s is not the README's 76176ffa…b329b10751", digest)
	}
	art, err := provenance.ArtifactDigest("sha512:" + digest)
	if err != nil {
		t.Fatal(err)
	}
	wrong := []byte(digest)
	wrong[0] = '8'
	wrongArt, _ := provenance.ArtifactDigest("sha512:" + string(wrong))
	sigstoreJS := provenance.Identity{Issuer: conformanceIssuer, SubjectRegexp: "^https://github.com/sigstore/sigstore-js/"}
	otherRepo := provenance.Identity{Issuer: conformanceIssuer, SubjectRegexp: "^https://github.com/sigstore/cosign/"}

	publishKey, err := provenance.LoadPublicKey(filepath.Join(fix, "publish_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pkvRoot, err := provenance.LoadTrustedRoots(filepath.Join(fix, "public-key-validity.json"))
	if err != nil {
		t.Fatal(err)
	}
	pkvKey, err := provenance.LoadPublicKey(filepath.Join(fix, "public-key-validity.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// The bundle's RFC 3161 timestamp is 2026-06-04T17:43:29Z.
	signedAt := time.Date(2026, 6, 4, 17, 43, 29, 0, time.UTC)

	keyless := func(id provenance.Identity) *provenance.Authority {
		a, err := provenance.NewKeylessAuthority("npm-build", []provenance.Identity{id})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	keyAuth := func(k provenance.PublicKey, opts ...provenance.AuthorityOption) *provenance.Authority {
		a, err := provenance.NewKeyAuthority("key", []provenance.PublicKey{k}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		name     string
		bundle   string
		artifact provenance.Artifact
		trust    *provenance.Trust
		auth     *provenance.Authority
		want     provenance.Step // "" = verified
	}{
		{"provenance PASS", "bundle-provenance.json", art, good, keyless(sigstoreJS), ""},
		{"provenance other SAN", "bundle-provenance.json", art, good, keyless(otherRepo), provenance.StepIdentity},
		{"provenance other digest", "bundle-provenance.json", wrongArt, good, keyless(sigstoreJS), provenance.StepDigestMismatch},
		{"publish PASS", "bundle-publish.json", art, good, keyAuth(publishKey), ""},
		{"publish other digest", "bundle-publish.json", wrongArt, good, keyAuth(publishKey), provenance.StepDigestMismatch},
		{"key valid at timestamp", "public-key-validity.sigstore.json", provenance.ArtifactBytes([]byte("test content")), pkvRoot,
			keyAuth(pkvKey.WithValidity(signedAt.Add(-time.Hour), signedAt.Add(time.Hour)), provenance.WithoutTransparencyLogUnsafe()), ""},
		{"key expired before timestamp", "public-key-validity.sigstore.json", provenance.ArtifactBytes([]byte("test content")), pkvRoot,
			keyAuth(pkvKey.WithValidity(signedAt.Add(-2*time.Hour), signedAt.Add(-time.Hour)), provenance.WithoutTransparencyLogUnsafe()), provenance.StepExpired},
		{"key-signed without log, log required", "public-key-validity.sigstore.json", provenance.ArtifactBytes([]byte("test content")), pkvRoot,
			keyAuth(pkvKey), provenance.StepNoTlogProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := provenance.VerifyBundle(mustRead(t, filepath.Join(fix, tc.bundle)), tc.artifact, tc.trust, tc.auth)
			if res.Verified != (tc.want == "") || res.Step != tc.want {
				t.Fatalf("verified=%v step=%q (%s), want step %q", res.Verified, res.Step, res.Detail, tc.want)
			}
			if tc.want == "" && tc.auth.Identities != nil && !strings.HasPrefix(res.Signer.Subject, "https://github.com/sigstore/sigstore-js/") {
				t.Errorf("signer subject %q", res.Signer.Subject)
			}
		})
	}
	_ = hex.EncodeToString
}
