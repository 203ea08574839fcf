//go:build !node && !scan

package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/provenance/cosign"
)

// signedImage pushes an image to an in-process registry and signs it the
// cosign way (.sig tag, no transparency log) with a key written to key.pub.
func signedImage(t *testing.T) (ref name.Digest, keyPath, otherKeyPath string) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(strings.TrimPrefix(srv.URL, "http://") + "/app:v1")
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	d := tag.Context().Digest(h.String())
	payload, _ := json.Marshal(map[string]any{"critical": map[string]any{"identity": map[string]string{"docker-reference": d.Context().Name()},
		"image": map[string]string{"docker-manifest-digest": d.DigestStr()}, "type": cosign.SimpleSigningType}})
	writeKey := func(name string) (*ecdsa.PrivateKey, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
		return k, p
	}
	k, keyPath := writeKey("key.pub")
	_, otherKeyPath = writeKey("other.pub")
	sum := sha256.Sum256(payload)
	sig, _ := ecdsa.SignASN1(rand.Reader, k, sum[:])
	sigImg, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer:       static.NewLayer(payload, cosign.SimpleSigningMediaType),
		Annotations: map[string]string{cosign.SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(cosign.SignatureTag(d), sigImg); err != nil {
		t.Fatal(err)
	}
	return d, keyPath, otherKeyPath
}

func TestVerifyCommand(t *testing.T) {
	d, key, other := signedImage(t)
	out, errOut, code := run(t, "verify", "--key", key, "--insecure-ignore-tlog", d.String())
	if code != ExitOK || !strings.Contains(out, "verified") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"log required by default", []string{"--key", key, d.String()}, ExitPolicy, "no-transparency-log-proof"},
		{"wrong key", []string{"--key", other, "--insecure-ignore-tlog", d.String()}, ExitPolicy, "untrusted-key"},
		{"tag refused", []string{"--key", key, "--insecure-ignore-tlog", "--require-digest", d.Context().Tag("v1").String()}, ExitPolicy, "not-pinned"},
		{"untrusted registry", []string{"--key", key, "--insecure-ignore-tlog", "--trusted-registry", "ghcr.io/org", d.String()}, ExitPolicy, "untrusted-registry"},
		{"tag resolved", []string{"--key", key, "--insecure-ignore-tlog", d.Context().Tag("v1").String()}, ExitOK, "pinned: false"},
		{"nobody trusted", []string{d.String()}, ExitError, "say whom to trust"},
		{"half an identity", []string{"--certificate-identity", "x", d.String()}, ExitError, "--certificate-oidc-issuer"},
		{"bad key file", []string{"--key", "/nonexistent.pub", d.String()}, ExitError, "nonexistent"},
		{"registry down", []string{"--key", key, "--timeout", "1s", "127.0.0.1:1/app@" + d.DigestStr()}, ExitError, "could not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, append([]string{"verify"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Fatalf("exit %d (want %d), want %q in:\n%s\n%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
	out, _, code = run(t, "verify", "--key", key, "-o", "json", d.String())
	var v struct {
		APIVersion, Status, Step string
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != ExitPolicy || v.Status != "failed" || v.Step != "no-transparency-log-proof" || v.APIVersion == "" {
		t.Fatalf("json: exit %d %+v %v\n%s", code, v, err, out)
	}
	help, _, _ := run(t, "verify", "--help")
	for _, w := range []string{"Examples:", "--certificate-identity-regexp", "--trusted-root", "Exit codes"} {
		if !strings.Contains(help, w) {
			t.Errorf("verify --help lacks %q", w)
		}
	}
}

// TestVerifyBundleCommand drives verify-bundle as the sigstore-conformance
// suite does, on its cases.
func TestVerifyBundleCommand(t *testing.T) {
	fix := filepath.Join(testutil.Shared(t), "fixtures", "sigstore")
	conf := filepath.Join(fix, "conformance")
	good := filepath.Join(fix, "sigstore-go", "trusted-root-public-good.json")
	const san = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
	const iss = "https://token.actions.githubusercontent.com"
	a := filepath.Join(conf, "a.txt")
	sum := sha256.Sum256(mustReadFile(t, a))
	digest := "sha256:" + hexString(sum[:])
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"happy path v0.3", []string{"--bundle", filepath.Join(conf, "happy-path-v0.3", "bundle.sigstore.json"), "--certificate-identity", san, "--certificate-oidc-issuer", iss, "--trusted-root", good, a}, ExitOK},
		{"happy path by digest", []string{"--bundle", filepath.Join(conf, "happy-path-v0.3", "bundle.sigstore.json"), "--certificate-identity", san, "--certificate-oidc-issuer", iss, "--trusted-root", good, digest}, ExitOK},
		{"invalid DSSE signature", []string{"--bundle", filepath.Join(conf, "dsse-invalid-sig_fail", "bundle.sigstore.json"), "--certificate-identity", san, "--certificate-oidc-issuer", iss, "--trusted-root", good, a}, ExitPolicy},
		{"managed key", []string{"--bundle", filepath.Join(conf, "managed-key-happy-path", "bundle.sigstore.json"), "--certificate-identity", san, "--certificate-oidc-issuer", iss, "--key", filepath.Join(conf, "managed-key-happy-path", "key.pub"), "--trusted-root", good, a}, ExitOK},
		{"key not trusted", []string{"--bundle", filepath.Join(conf, "managed-key-happy-path", "bundle.sigstore.json"), "--key", filepath.Join(fix, "sigstore-go", "publish_key.pub"), "--trusted-root", good, a}, ExitPolicy},
		{"wrong identity", []string{"--bundle", filepath.Join(conf, "happy-path-v0.3", "bundle.sigstore.json"), "--certificate-identity", "https://example.com/x", "--certificate-oidc-issuer", iss, "--trusted-root", good, a}, ExitPolicy},
		{"no trusted root", []string{"--bundle", filepath.Join(conf, "happy-path-v0.3", "bundle.sigstore.json"), "--certificate-identity", san, "--certificate-oidc-issuer", iss, a}, ExitError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, append([]string{"verify-bundle"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, out, errOut)
			}
		})
	}
}

func mustReadFile(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
