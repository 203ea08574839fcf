package cosign_test

import (
	"testing"

	"github.com/credence-dev/credence/provenance/cosign"
)

// Fuzz targets for everything this package parses from a registry. Crashers
// found are kept under testdata/fuzz/ and rerun by go test.

func FuzzParseSimpleSigning(f *testing.F) {
	f.Add([]byte(`{"critical":{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":"sha256:` + hex64 + `"},"type":"cosign container image signature"},"optional":null}`))
	f.Add([]byte(`{"critical":{"image":{"docker-manifest-digest":"sha512:` + hex64 + hex64 + `"},"type":"atomic container signature"}}`))
	f.Add([]byte(`{"critical":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := cosign.ParseSimpleSigning(b)
		if err == nil && (s.ManifestDigest == "" || s.Type == "") {
			t.Fatalf("accepted without digest or type: %+v", s)
		}
	})
}

func FuzzParseRekorBundle(f *testing.F) {
	f.Add(`{"SignedEntryTimestamp":"AAAA","Payload":{"body":"e30=","integratedTime":1700000000,"logIndex":1,"logID":"00ff"}}`)
	f.Add(`{"Payload":{}}`)
	f.Fuzz(func(t *testing.T, s string) {
		b, err := cosign.ParseRekorBundle(s)
		if err == nil && (len(b.SignedEntryTimestamp) == 0 || b.IntegratedTime <= 0) {
			t.Fatalf("accepted an empty promise: %+v", b)
		}
	})
}

func FuzzParseLayer(f *testing.F) {
	f.Add(cosign.SimpleSigningMediaType, "AAAA", "", "", "", "", []byte("{}"))
	f.Add(cosign.DSSEMediaType, "", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "", `{"SignedEntryTimestamp":"AA=="}`, `{"SignedRFC3161Timestamp":"AA=="}`, []byte("{}"))
	f.Fuzz(func(t *testing.T, mediaType, sig, cert, chain, bundle, ts string, payload []byte) {
		ann := map[string]string{cosign.SignatureAnnotation: sig, cosign.CertificateAnnotation: cert, cosign.ChainAnnotation: chain,
			cosign.BundleAnnotation: bundle, cosign.RFC3161Annotation: ts}
		l, err := cosign.ParseLayer(mediaType, ann, payload)
		if err == nil && mediaType == cosign.SimpleSigningMediaType && len(l.Signature) == 0 {
			t.Fatal("a simple-signing layer without a signature was accepted")
		}
	})
}

func FuzzParseCertificates(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := cosign.ParseCertificates(b)
		if err == nil && (len(certs) == 0 || len(certs) > cosign.MaxChain) {
			t.Fatalf("%d certificates", len(certs))
		}
	})
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
