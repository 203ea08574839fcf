package provenance

import (
	"encoding/json"
	"testing"

	"github.com/credence-dev/credence/provenance/cosign"
)

// FuzzReadPredicate: predicates come from signed but arbitrary statements.
func FuzzReadPredicate(f *testing.F) {
	for _, s := range []struct{ t, p string }{
		{PredicateSLSAv02, `{"builder":{"id":"b"},"invocation":{"configSource":{"uri":"git+x","digest":{"sha1":"a"}}}}`},
		{PredicateSLSAv1, `{"buildDefinition":{"externalParameters":{"workflow":{"repository":"r","ref":"main"}}},"runDetails":{"builder":{"id":"b"}}}`},
		{PredicateVuln, `{"scanner":{"uri":"u","result":{"matches":[{"vulnerability":{"severity":"High"}}]}}}`},
		{PredicateTestResult, `{"result":"FAILED","failedTests":["x"]}`},
		{"x", `{"version":"2.1.0","runs":[{"results":[{"level":"error"}]}]}`},
		{"x", `{"sarif":{"version":"2.1.0","runs":[]}}`},
	} {
		f.Add(s.t, []byte(s.p))
	}
	f.Fuzz(func(t *testing.T, typ string, raw []byte) {
		a := Attestation{PredicateType: typ}
		if err := readPredicate(&a, raw); err == nil {
			if _, err := json.Marshal(a); err != nil {
				t.Fatalf("attestation does not serialise: %v", err)
			}
		}
	})
}

// FuzzLegacyFromLayer: a cosign layer, its annotations and the Rekor body
// inside them reach sigstore-go's parsers; nothing may panic.
func FuzzLegacyFromLayer(f *testing.F) {
	f.Add(cosign.SimpleSigningMediaType, "AAAA", `{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":0,"logID":"00"}}`, []byte(`{"critical":{"image":{"docker-manifest-digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},"type":"cosign container image signature"}}`))
	f.Add(cosign.DSSEMediaType, "", "", []byte(`{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}`))
	f.Fuzz(func(t *testing.T, mediaType, sig, bundle string, payload []byte) {
		ann := map[string]string{cosign.SignatureAnnotation: sig, cosign.BundleAnnotation: bundle}
		e, err := legacyFromLayer(mediaType, ann, payload)
		if err != nil {
			return
		}
		if _, err := e.SignatureContent(); err != nil {
			t.Fatal(err)
		}
		trust := newTrust(nil, nil)
		a, _ := NewKeyAuthority("k", []PublicKey{fuzzKey}, WithoutTransparencyLogUnsafe())
		_ = checkEntity(trust, e, binding{what: "x"}, []*Authority{a})
	})
}
