package provenance_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
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
	"time"

	"github.com/go-openapi/swag/conv"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/credence-dev/credence/provenance"
	"github.com/credence-dev/credence/provenance/cosign"
)

// Everything below is real: an in-process OCI registry (go-containerregistry
// pkg/registry), keys made here, and sigstore-go's VirtualSigstore as the
// Fulcio CA, TSA and Rekor log key. Signatures are pushed the way cosign and
// the sigstore bundle spec store them, and read back through HTTP.

const (
	testIssuer  = "https://token.actions.example.com"
	testSubject = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main"
)

type env struct {
	t      testing.TB
	reg    string // host:port
	vs     *ca.VirtualSigstore
	trust  *provenance.Trust
	root   string // trusted_root.json path
	server *httptest.Server
}

func newEnv(t testing.TB, referrersAPI bool) *env {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(referrersAPI), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	// A trusted root made in the test, written to a file and loaded back as
	// users load theirs (no CT logs: VirtualSigstore certificates carry no SCT).
	// VirtualSigstore keys its Rekor log by the hex ID but stores the hex
	// text as the ID bytes; a trusted_root.json holds the raw ID.
	logs := map[string]*root.TransparencyLog{}
	for id, tl := range vs.RekorLogs() {
		c := *tl
		c.ID, _ = hex.DecodeString(id)
		logs[id] = &c
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), nil, vs.TimestampingAuthorities(), logs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	trust, err := provenance.LoadTrustedRoots(path)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, reg: strings.TrimPrefix(srv.URL, "http://"), vs: vs, trust: trust, root: path, server: srv}
}

// pushImage pushes a random image and returns repo@digest and its manifest.
func (e *env) pushImage(repo string) (name.Digest, []byte) {
	e.t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	tag, err := name.NewTag(e.reg + "/" + repo + ":v1")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		e.t.Fatal(err)
	}
	d, _ := img.Digest()
	raw, _ := img.RawManifest()
	return tag.Context().Digest(d.String()), raw
}

func (e *env) verifier(opts ...provenance.VerifierOption) *provenance.Verifier {
	e.t.Helper()
	v, err := provenance.NewVerifier(e.trust, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// testKey is a signing key of one of the three algorithms.
type testKey struct {
	priv crypto.Signer
	pub  provenance.PublicKey
	pem  []byte
	alg  protocommon.PublicKeyDetails
}

func newKey(t testing.TB, kind string) testKey {
	t.Helper()
	var priv crypto.Signer
	var alg protocommon.PublicKeyDetails
	switch kind {
	case "ecdsa":
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		priv, alg = k, protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
	case "ed25519":
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		priv, alg = k, protocommon.PublicKeyDetails_PKIX_ED25519
	case "rsa":
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		priv, alg = k, protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256
	default:
		t.Fatalf("key kind %s", kind)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pub, err := provenance.ParsePublicKey(p)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{priv: priv, pub: pub, pem: p, alg: alg}
}

// sign signs data as sigstore verifiers expect: Ed25519 over the message,
// ECDSA and RSA PKCS#1 v1.5 over its SHA-256.
func (k testKey) sign(data []byte) []byte {
	var sig []byte
	var err error
	if ed, ok := k.priv.(ed25519.PrivateKey); ok {
		sig = ed25519.Sign(ed, data)
	} else {
		h := sha256.Sum256(data)
		sig, err = k.priv.Sign(rand.Reader, h[:], crypto.SHA256)
	}
	if err != nil {
		panic(err)
	}
	return sig
}

// sign.Keypair over a test key, so sigstore-go's sign package builds bundles.
func (k testKey) GetHashAlgorithm() protocommon.HashAlgorithm {
	return protocommon.HashAlgorithm_SHA2_256
}
func (k testKey) GetSigningAlgorithm() protocommon.PublicKeyDetails { return k.alg }
func (k testKey) GetHint() []byte                                   { return []byte(k.pub.ID) }
func (k testKey) GetKeyAlgorithm() string                           { return k.pub.Algorithm }
func (k testKey) GetPublicKey() crypto.PublicKey                    { return k.priv.Public() }
func (k testKey) GetPublicKeyPem() (string, error)                  { return string(k.pem), nil }
func (k testKey) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	h := sha256.Sum256(data)
	return k.sign(data), h[:], nil
}

var _ sign.Keypair = testKey{}

// logEntry logs body in the VirtualSigstore's Rekor: a SignedEntryTimestamp
// and an inclusion proof signed with its log key.
func (e *env) logEntry(vs *ca.VirtualSigstore, body []byte, at time.Time) *protorekor.TransparencyLogEntry {
	e.t.Helper()
	logID, err := vs.RekorLogID()
	if err != nil {
		e.t.Fatal(err)
	}
	set, err := vs.RekorSignPayload(tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: at.Unix(), LogIndex: 0, LogID: logID})
	if err != nil {
		e.t.Fatal(err)
	}
	proof, err := vs.GetInclusionProof(body)
	if err != nil {
		e.t.Fatal(err)
	}
	rootHash, _ := hex.DecodeString(*proof.RootHash)
	id, _ := hex.DecodeString(logID)
	var kv struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(body, &kv); err != nil {
		e.t.Fatal(err)
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex: 0, LogId: &protocommon.LogId{KeyId: id}, KindVersion: &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
		IntegratedTime: at.Unix(), InclusionPromise: &protorekor.InclusionPromise{SignedEntryTimestamp: set},
		InclusionProof: &protorekor.InclusionProof{LogIndex: 0, RootHash: rootHash, TreeSize: conv.Value(proof.TreeSize),
			Checkpoint: &protorekor.Checkpoint{Envelope: conv.Value(proof.Checkpoint)}},
		CanonicalizedBody: body,
	}
}

func hashedRekordBody(digest, sig, verifierPEM []byte) []byte {
	b, _ := json.Marshal(map[string]any{"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": map[string]any{
		"data":      map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(digest)}},
		"signature": map[string]any{"content": base64.StdEncoding.EncodeToString(sig), "publicKey": map[string]any{"content": base64.StdEncoding.EncodeToString(verifierPEM)}},
	}})
	return b
}

func dsseBody(envelopeJSON, payload, sig, verifierPEM []byte) []byte {
	eh, ph := sha256.Sum256(envelopeJSON), sha256.Sum256(payload)
	b, _ := json.Marshal(map[string]any{"apiVersion": "0.0.1", "kind": "dsse", "spec": map[string]any{
		"envelopeHash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(eh[:])},
		"payloadHash":  map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(ph[:])},
		"signatures":   []any{map[string]any{"signature": base64.StdEncoding.EncodeToString(sig), "verifier": base64.StdEncoding.EncodeToString(verifierPEM)}},
	}})
	return b
}

// rekorForSign is a sign.Transparency that logs in the VirtualSigstore.
type rekorForSign struct{ e *env }

func (r rekorForSign) GetTransparencyLogEntry(_ context.Context, verifierPEM []byte, b *protobundle.Bundle) error {
	var body []byte
	if ms := b.GetMessageSignature(); ms != nil {
		body = hashedRekordBody(ms.GetMessageDigest().GetDigest(), ms.GetSignature(), verifierPEM)
	} else {
		env := b.GetDsseEnvelope()
		ej, _ := json.Marshal(map[string]any{"payload": base64.StdEncoding.EncodeToString(env.Payload), "payloadType": env.PayloadType,
			"signatures": []any{map[string]any{"sig": base64.StdEncoding.EncodeToString(env.Signatures[0].Sig)}}})
		body = dsseBody(ej, env.Payload, env.Signatures[0].Sig, verifierPEM)
	}
	b.VerificationMaterial.TlogEntries = append(b.VerificationMaterial.TlogEntries, r.e.logEntry(r.e.vs, body, time.Now()))
	return nil
}

// statementFor is an in-toto statement about digest d.
func statementFor(d name.Digest, predicateType string, predicate any) []byte {
	b, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": d.Context().Name(), "digest": map[string]string{"sha256": strings.TrimPrefix(d.DigestStr(), "sha256:")}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	return b
}

// keyBundle signs content with k through sigstore-go's sign package: a
// message signature over the image manifest, or a DSSE statement.
func (e *env) keyBundle(k testKey, content sign.Content, withLog bool) []byte {
	e.t.Helper()
	opts := sign.BundleOptions{}
	if withLog {
		opts.TransparencyLogs = []sign.Transparency{rekorForSign{e}}
	}
	pb, err := sign.Bundle(content, k, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := protojson.Marshal(pb)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// keylessBundle makes a v0.3 bundle from a VirtualSigstore attestation
// (Fulcio certificate, DSSE envelope) logged at the given time.
func (e *env) keylessBundle(vs *ca.VirtualSigstore, identity, issuer string, stmt []byte, logAt time.Time) []byte {
	e.t.Helper()
	ent, err := vs.AttestAtTime(identity, issuer, stmt, logAt, false)
	if err != nil {
		e.t.Fatal(err)
	}
	vc, _ := ent.VerificationContent()
	sc, _ := ent.SignatureContent()
	env := sc.EnvelopeContent().RawEnvelope()
	entries, _ := ent.TlogEntries()
	body := entries[0].TransparencyLogEntry().CanonicalizedBody
	sig, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:     &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}},
			TlogEntries: []*protorekor.TransparencyLogEntry{e.logEntry(e.vs, body, logAt)},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{Payload: payload, PayloadType: env.PayloadType,
			Signatures: []*protodsse.Signature{{Sig: sig}}}},
	}
	b, err := protojson.Marshal(pb)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// pushReferrer stores a sigstore bundle as an OCI 1.1 referrer of subject,
// as cosign's new bundle format and GitHub attestations do.
func (e *env) pushReferrer(subject name.Digest, bundleJSON []byte, predicateType string) {
	e.t.Helper()
	const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	cfg := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	layer := static.NewLayer(bundleJSON, bundleType)
	for _, l := range []v1.Layer{cfg, layer} {
		if err := remote.WriteLayer(subject.Context(), l); err != nil {
			e.t.Fatal(err)
		}
	}
	desc := func(l v1.Layer, mt string) map[string]any {
		d, _ := l.Digest()
		s, _ := l.Size()
		return map[string]any{"mediaType": mt, "digest": d.String(), "size": s}
	}
	subDesc, err := remote.Head(subject)
	if err != nil {
		e.t.Fatal(err)
	}
	ld := desc(layer, bundleType)
	if predicateType != "" {
		ld["annotations"] = map[string]string{"dev.sigstore.bundle.predicateType": predicateType}
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": string(types.OCIManifestSchema1), "artifactType": bundleType,
		"config": desc(cfg, "application/vnd.oci.empty.v1+json"), "layers": []any{ld},
		"subject": map[string]any{"mediaType": string(subDesc.MediaType), "digest": subDesc.Digest.String(), "size": subDesc.Size},
	})
	sum := sha256.Sum256(m)
	ref := subject.Context().Digest("sha256:" + hex.EncodeToString(sum[:]))
	if err := remote.Put(ref, rawManifest{m, types.OCIManifestSchema1}); err != nil {
		e.t.Fatal(err)
	}
}

type rawManifest struct {
	b  []byte
	mt types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// cosignLayer is one layer of a .sig or .att tag.
type cosignLayer struct {
	mediaType string
	payload   []byte
	ann       map[string]string
}

// pushCosign writes cosign's tag for d (".sig" or ".att") with layers.
func (e *env) pushCosign(d name.Digest, suffix string, layers ...cosignLayer) {
	e.t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, l := range layers {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(l.payload, types.MediaType(l.mediaType)), Annotations: l.ann})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	tag := cosign.SignatureTag(d)
	if suffix == "att" {
		tag = cosign.AttestationTag(d)
	}
	if err := remote.Write(tag, img); err != nil {
		e.t.Fatal(err)
	}
}

func simpleSigning(d name.Digest) []byte {
	b, _ := json.Marshal(map[string]any{"critical": map[string]any{
		"identity": map[string]string{"docker-reference": d.Context().Name()},
		"image":    map[string]string{"docker-manifest-digest": d.DigestStr()},
		"type":     cosign.SimpleSigningType,
	}, "optional": nil})
	return b
}

func rekorAnnotation(tle *protorekor.TransparencyLogEntry) string {
	b, _ := json.Marshal(map[string]any{
		"SignedEntryTimestamp": base64.StdEncoding.EncodeToString(tle.InclusionPromise.SignedEntryTimestamp),
		"Payload": map[string]any{"body": base64.StdEncoding.EncodeToString(tle.CanonicalizedBody), "integratedTime": tle.IntegratedTime,
			"logIndex": tle.LogIndex, "logID": hex.EncodeToString(tle.LogId.KeyId)},
	})
	return string(b)
}

// keySig is a cosign .sig layer signed with k over payload, logged when withLog.
func (e *env) keySig(k testKey, payload []byte, withLog bool) cosignLayer {
	sig := k.sign(payload)
	ann := map[string]string{cosign.SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}
	if withLog {
		h := sha256.Sum256(payload)
		ann[cosign.BundleAnnotation] = rekorAnnotation(e.logEntry(e.vs, hashedRekordBody(h[:], sig, k.pem), time.Now()))
	}
	return cosignLayer{cosign.SimpleSigningMediaType, payload, ann}
}

func certPEM(certs ...*x509.Certificate) string {
	var s strings.Builder
	for _, c := range certs {
		s.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return s.String()
}

// keylessSig is a cosign .sig layer signed keyless by the VirtualSigstore.
func (e *env) keylessSig(identity string, payload []byte, logAt time.Time) cosignLayer {
	ent, err := e.vs.SignAtTime(identity, testIssuer, payload, logAt)
	if err != nil {
		e.t.Fatal(err)
	}
	vc, _ := ent.VerificationContent()
	sc, _ := ent.SignatureContent()
	entries, _ := ent.TlogEntries()
	ca := e.vs.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority)
	return cosignLayer{cosign.SimpleSigningMediaType, payload, map[string]string{
		cosign.SignatureAnnotation:   base64.StdEncoding.EncodeToString(sc.Signature()),
		cosign.CertificateAnnotation: certPEM(vc.Certificate()),
		cosign.ChainAnnotation:       certPEM(append(ca.Intermediates, ca.Root)...),
		cosign.BundleAnnotation:      rekorAnnotation(e.logEntry(e.vs, entries[0].TransparencyLogEntry().CanonicalizedBody, logAt)),
	}}
}

// keylessAtt is a cosign .att layer: a DSSE envelope signed keyless.
func (e *env) keylessAtt(identity string, stmt []byte, predicateType string) cosignLayer {
	logAt := time.Now().Add(5 * time.Minute)
	ent, err := e.vs.AttestAtTime(identity, testIssuer, stmt, logAt, false)
	if err != nil {
		e.t.Fatal(err)
	}
	vc, _ := ent.VerificationContent()
	sc, _ := ent.SignatureContent()
	entries, _ := ent.TlogEntries()
	envJSON, _ := json.Marshal(sc.EnvelopeContent().RawEnvelope())
	return cosignLayer{cosign.DSSEMediaType, envJSON, map[string]string{
		cosign.SignatureAnnotation:   "",
		cosign.CertificateAnnotation: certPEM(vc.Certificate()),
		cosign.BundleAnnotation:      rekorAnnotation(e.logEntry(e.vs, entries[0].TransparencyLogEntry().CanonicalizedBody, logAt)),
		cosign.PredicateAnnotation:   predicateType,
	}}
}

func keyAuthority(t testing.TB, name string, keys ...testKey) *provenance.Authority {
	t.Helper()
	var pks []provenance.PublicKey
	for _, k := range keys {
		pks = append(pks, k.pub)
	}
	a, err := provenance.NewKeyAuthority(name, pks)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func keylessAuthority(t testing.TB, ids ...provenance.Identity) *provenance.Authority {
	t.Helper()
	a, err := provenance.NewKeylessAuthority("ci", ids)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func policy(t testing.TB, opts ...provenance.PolicyOption) *provenance.Policy {
	t.Helper()
	p, err := provenance.NewPolicy(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func remoteGet(d name.Digest) ([]byte, error) {
	desc, err := remote.Get(d)
	if err != nil {
		return nil, err
	}
	return desc.Manifest, nil
}
