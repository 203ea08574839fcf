package admission_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/credence-dev/credence/admission"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/signtest"
	"github.com/credence-dev/credence/provenance"
)

// TestHundredsOfSignatures: an image with 300 signatures by a key nobody
// trusts costs at most the verifier's cap, is denied with the step that
// says so, and is answered well inside the deadline.
func TestHundredsOfSignatures(t *testing.T) {
	f := newRegistry(t)
	stranger := signtest.NewKey(t)
	for i := 0; i < 300; i++ {
		signtest.Sign(t, stranger, f.unsigned)
	}
	vc := f.verdicts(t)
	h, _ := newHandler(t, compile(t, signedPolicy), admission.WithVerdicts(vc))
	f.calls.Store(0)
	r := admit(t, h, pod("spam", f.unsigned.String()))
	if r.Allowed || !strings.Contains(message(r), string(provenance.StepTooMany)) {
		t.Errorf("300 untrusted signatures: allowed %v, %s", r.Allowed, message(r))
	}
	// The referrers list, then at most 32 candidates (a manifest and a
	// blob each, each call with its registry ping), the image manifest and
	// the cosign tags: bounded by the cap, whatever the registry holds.
	if n, bound := f.calls.Load(), int64(4*provenance.DefaultMaxSignatures+16); n > bound {
		t.Errorf("%d registry calls for one verification, want at most %d", n, bound)
	}
	// Definitive: the next pod is a cache hit.
	admit(t, h, pod("spam2", f.unsigned.String()))
	if st := vc.Stats(); st.Verifications != 1 {
		t.Errorf("verifications %d, want 1", st.Verifications)
	}
}

// TestBadCertificateChain: a keyless bundle over the image whose
// certificate was issued by a CA the trust root does not hold (a rogue
// Fulcio), with no log entry or signed timestamp to vouch for its time, is
// denied with the step that failed and cached as a definitive failure.
// (provenance's own tests reach the certificate-chain step itself with a
// second VirtualSigstore; here the verifier stops one step earlier, at the
// missing trusted time, as it is built to.)
func TestBadCertificateChain(t *testing.T) {
	shared := testutil.Shared(t)
	root := filepath.Join(shared, "fixtures", "sigstore", "sigstore-go", "trusted-root-public-good.json")
	if _, err := os.Stat(root); err != nil {
		testutil.NeedComponent(t, "sigstore fixtures in ../shared", err.Error())
	}
	f := newRegistry(t)
	identity := "https://github.com/example/shop/.github/workflows/release.yml@refs/heads/main"
	signRogue(t, f.unsigned, identity)
	trust, err := provenance.LoadTrustedRoots(root)
	if err != nil {
		t.Fatal(err)
	}
	v, err := provenance.NewVerifier(trust)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := provenance.NewKeylessAuthority("ci", []provenance.Identity{{Issuer: "https://token.actions.githubusercontent.com", Subject: identity}},
		provenance.WithoutTransparencyLogUnsafe(), provenance.WithoutSCTsUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := provenance.NewPolicy(provenance.WithAuthority(auth))
	vc, err := admission.NewVerdictCache(v, trust, p)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, compile(t, signedPolicy), admission.WithVerdicts(vc))
	// A keyless certificate needs a trusted time first (a log entry or a
	// signed timestamp): without one the verifier stops there, before the
	// chain, and says so.
	r := admit(t, h, pod("rogue", f.unsigned.String()))
	if r.Allowed || !strings.Contains(message(r), "failed ("+string(provenance.StepTimestamp)+")") {
		t.Errorf("a certificate from a rogue CA: allowed %v, %s", r.Allowed, message(r))
	}
	admit(t, h, pod("rogue-2", f.unsigned.String()))
	if st := vc.Stats(); st.Verifications != 1 || st.Hits != 1 {
		t.Errorf("a definitive failure is cached: %+v", st)
	}

	t.Logf("denied: %s", message(r))
}

// rogueCA issues Fulcio-like certificates from a CA no trust root holds.
type rogueCA struct {
	key      *ecdsa.PrivateKey
	cert     *x509.Certificate
	identity string
}

func (ca *rogueCA) GetCertificate(_ context.Context, kp sign.Keypair, _ *sign.CertificateProviderOptions) ([]byte, error) {
	u, _ := url.Parse(ca.identity)
	issuer, _ := asn1.Marshal("https://token.actions.githubusercontent.com")
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, URIs: []*url.URL{u},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}, Value: issuer}}}
	return x509.CreateCertificate(rand.Reader, tmpl, ca.cert, kp.GetPublicKey(), ca.key)
}

// signRogue signs d's manifest with a keyless bundle whose certificate the
// rogue CA issued for identity.
func signRogue(t *testing.T, d name.Digest, identity string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sigstore-intermediate"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(der)
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(d)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := sign.Bundle(&sign.PlainData{Data: desc.Manifest}, kp, sign.BundleOptions{CertificateProvider: &rogueCA{key: caKey, cert: caCert, identity: identity}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	attachBundle(t, d, b)
}

// attachBundle stores a sigstore bundle as an OCI 1.1 referrer of d, as
// cosign does.
func attachBundle(t *testing.T, d name.Digest, bundleJSON []byte) {
	t.Helper()
	const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	cfg := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	layer := static.NewLayer(bundleJSON, bundleType)
	for _, l := range []v1.Layer{cfg, layer} {
		if err := remote.WriteLayer(d.Context(), l); err != nil {
			t.Fatal(err)
		}
	}
	desc := func(l v1.Layer, mt string) map[string]any {
		dg, _ := l.Digest()
		s, _ := l.Size()
		return map[string]any{"mediaType": mt, "digest": dg.String(), "size": s}
	}
	sub, err := remote.Head(d)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": string(types.OCIManifestSchema1), "artifactType": bundleType,
		"config": desc(cfg, "application/vnd.oci.empty.v1+json"), "layers": []any{desc(layer, bundleType)},
		"subject": map[string]any{"mediaType": string(sub.MediaType), "digest": sub.Digest.String(), "size": sub.Size},
	})
	sum := sha256.Sum256(m)
	if err := remote.Put(d.Context().Digest("sha256:"+hex.EncodeToString(sum[:])), rawManifest{m}); err != nil {
		t.Fatal(err)
	}
}

type rawManifest struct{ b []byte }

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// TestCostLimit: a rule over its CEL cost limit is an evaluation error:
// denied under fail-closed, a warning under fail-open, never a silent
// allow.
func TestCostLimit(t *testing.T) {
	src := `apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: costly}
spec:
  costLimit: 100
  rules:
    - id: expensive
      expression: "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, a + b + c > 0)))"
      message: never reached
`
	h, _ := newHandler(t, compile(t, src))
	r := admit(t, h, pod("web", "busybox"))
	if r.Allowed || !strings.Contains(message(r), "cost limit exceeded") {
		t.Errorf("fail-closed: allowed %v, %s", r.Allowed, message(r))
	}
	ho, _ := newHandler(t, compile(t, strings.Replace(src, "spec:\n", "spec:\n  failureMode: fail-open\n", 1)))
	r = admit(t, ho, pod("web", "busybox"))
	if !r.Allowed || len(r.Warnings) == 0 || !strings.Contains(r.Warnings[0], "cost limit exceeded") {
		t.Errorf("fail-open: allowed %v, warnings %q", r.Allowed, r.Warnings)
	}
}
