// Package signtest signs images in a real (in-process) OCI registry for
// tests: keys made in the test, bundles built by sigstore-go's sign package.
package signtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
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
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

// Registry starts go-containerregistry's registry (with the OCI 1.1
// referrers API) on a loopback port and returns its host:port.
func Registry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// PushLayout copies the first image of the OCI layout dir to ref and
// returns ref's repository@digest.
func PushLayout(t testing.TB, dir, ref string) name.Digest {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return r.Context().Digest(d.String())
}

// Key is an ECDSA P-256 signing key; it implements sign.Keypair.
type Key struct {
	priv *ecdsa.PrivateKey
	pem  []byte
	id   string
}

var _ sign.Keypair = (*Key)(nil)

// NewKey makes a key.
func NewKey(t testing.TB) *Key {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return &Key{priv: k, pem: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), id: "sha256:" + hex.EncodeToString(sum[:])}
}

// PublicPEM is the public key as cosign writes it.
func (k *Key) PublicPEM() []byte { return k.pem }

// ID is the key's id as provenance reports it (sha256 of the DER key).
func (k *Key) ID() string { return k.id }

// WritePublic writes the public key to dir/name and returns the path.
func (k *Key) WritePublic(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, k.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// GetHashAlgorithm and the methods below make Key a sign.Keypair.
func (k *Key) GetHashAlgorithm() protocommon.HashAlgorithm { return protocommon.HashAlgorithm_SHA2_256 }

// GetSigningAlgorithm is ECDSA P-256 with SHA-256.
func (k *Key) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
}

// GetHint is the key id.
func (k *Key) GetHint() []byte { return []byte(k.id) }

// GetKeyAlgorithm names the algorithm.
func (k *Key) GetKeyAlgorithm() string { return "ecdsa-p256" }

// GetPublicKey is the public key.
func (k *Key) GetPublicKey() crypto.PublicKey { return k.priv.Public() }

// GetPublicKeyPem is the public key in PEM.
func (k *Key) GetPublicKeyPem() (string, error) { return string(k.pem), nil }

// SignData signs the SHA-256 of data.
func (k *Key) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	h := sha256.Sum256(data)
	sig, err := k.priv.Sign(rand.Reader, h[:], crypto.SHA256)
	return sig, h[:], err
}

// Sign stores a sigstore bundle signing d's manifest (no transparency-log
// entry: verify with the log requirement waived) as an OCI referrer of d.
func Sign(t testing.TB, k *Key, d name.Digest) {
	t.Helper()
	desc, err := remote.Get(d)
	if err != nil {
		t.Fatal(err)
	}
	pushBundle(t, d, bundle(t, k, &sign.PlainData{Data: desc.Manifest}), "")
}

// Attest stores a DSSE in-toto statement about d, signed by k, as a referrer.
func Attest(t testing.TB, k *Key, d name.Digest, predicateType string, predicate any) {
	t.Helper()
	stmt, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": d.Context().Name(), "digest": map[string]string{"sha256": strings.TrimPrefix(d.DigestStr(), "sha256:")}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	if err != nil {
		t.Fatal(err)
	}
	pushBundle(t, d, bundle(t, k, &sign.DSSEData{Data: stmt, PayloadType: "application/vnd.in-toto+json"}), predicateType)
}

// SLSAv1 is a SLSA v1 provenance predicate: built by builder from repo.
func SLSAv1(builder, repo string) map[string]any {
	return map[string]any{
		"buildDefinition": map[string]any{
			"buildType":          "https://actions.github.io/buildtypes/workflow/v1",
			"externalParameters": map[string]any{"workflow": map[string]any{"repository": repo, "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}},
		},
		"runDetails": map[string]any{"builder": map[string]any{"id": builder}},
	}
}

func bundle(t testing.TB, k *Key, content sign.Content) []byte {
	t.Helper()
	pb, err := sign.Bundle(content, k, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"

type rawManifest struct{ b []byte }

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// pushBundle writes an OCI 1.1 referrer manifest whose one layer is the
// bundle, with d as its subject.
func pushBundle(t testing.TB, d name.Digest, bundleJSON []byte, predicateType string) {
	t.Helper()
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
	ld := desc(layer, bundleType)
	if predicateType != "" {
		ld["annotations"] = map[string]string{"dev.sigstore.bundle.predicateType": predicateType}
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": string(types.OCIManifestSchema1), "artifactType": bundleType,
		"config": desc(cfg, "application/vnd.oci.empty.v1+json"), "layers": []any{ld},
		"subject": map[string]any{"mediaType": string(sub.MediaType), "digest": sub.Digest.String(), "size": sub.Size},
	})
	sum := sha256.Sum256(m)
	if err := remote.Put(d.Context().Digest("sha256:"+hex.EncodeToString(sum[:])), rawManifest{m}); err != nil {
		t.Fatal(err)
	}
}
