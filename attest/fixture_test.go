package attest_test

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/internal/testutil"
)

// recorded is evidence a real swtpm produced (testdata/swtpm-evidence.json),
// so the verifier's offline tests and fuzzers run without swtpm.
type recorded struct {
	Nonce    attest.HexBytes  `json:"nonce"`
	Evidence *attest.Evidence `json:"evidence"`
}

// TestRecordFixtures rewrites testdata/log.jsonl and testdata/swtpm-evidence.json
// from a fresh swtpm when UPDATE_GOLDEN=1.
func TestRecordFixtures(t *testing.T) {
	if !testutil.Updating() {
		t.Skip("fixtures are rewritten only with UPDATE_GOLDEN=1")
	}
	n := newNode(t)
	n.start(t, "0b6c1c2e-9e0a-4a7e-9d55-2f1f6d3c4b5a")
	for i := range 3 {
		n.append(t, containerStart(i))
	}
	nonce, ev := n.challenge(t, nil)
	if err := os.WriteFile("testdata/log.jsonl", ev.Log, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(recorded{Nonce: nonce, Evidence: ev}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("testdata/swtpm-evidence.json", append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readRecorded(t testing.TB) recorded {
	t.Helper()
	b, err := os.ReadFile("testdata/swtpm-evidence.json")
	if err != nil {
		t.Fatal(err)
	}
	var r recorded
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyRecordedEvidence(t *testing.T) {
	r := readRecorded(t)
	v, err := attest.NewVerifier(r.Evidence.AKPublic, attest.WithPCR(testPCR), attest.WithResettablePCRUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(r.Evidence, r.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != attest.Verified || len(res.Containers) != 3 {
		t.Fatalf("%s, %d containers: %v", res.Verdict, len(res.Containers), res.Reasons)
	}
	// Flip one byte anywhere in the signed quote: the signature fails.
	bad := *r.Evidence
	bad.Quote.Attest = bytes.Clone(bad.Quote.Attest)
	bad.Quote.Attest[len(bad.Quote.Attest)-1] ^= 1
	res, _ = v.Verify(&bad, r.Nonce)
	if !slices.Contains(codes(res.Reasons), attest.ReasonSignatureInvalid) {
		t.Fatalf("flipped quote: %v", res.Reasons)
	}
}

func FuzzParseQuote(f *testing.F) {
	r := readRecorded(f)
	f.Add(r.Evidence.Quote.Attest)
	f.Add(r.Evidence.AKPublic)
	f.Add(r.Evidence.Quote.Signature)
	f.Fuzz(func(t *testing.T, b []byte) {
		if info, err := attest.ParseQuote(b); err == nil && info == nil {
			t.Fatal("nil info without error")
		}
		if ak, err := attest.ParseAK(b); err == nil {
			_ = ak.CheckAttributes()
			_ = ak.VerifySignature(r.Evidence.Quote.Attest, r.Evidence.Quote.Signature)
		}
	})
}

// FuzzVerify feeds hostile quotes, signatures and logs to a verifier.
func FuzzVerify(f *testing.F) {
	r := readRecorded(f)
	v, err := attest.NewVerifier(r.Evidence.AKPublic, attest.WithPCR(testPCR), attest.WithResettablePCRUnsafe(), attest.WithMaxRecords(1000))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(r.Evidence.Quote.Attest, r.Evidence.Quote.Signature, r.Evidence.Log)
	f.Fuzz(func(t *testing.T, attestB, sig, log []byte) {
		ev := *r.Evidence
		ev.Quote = attest.Quote{Attest: attestB, Signature: sig}
		ev.Log = log
		res, err := v.Verify(&ev, r.Nonce)
		if err != nil {
			t.Fatal(err)
		}
		res.DecodeStarts()
		if res.Verdict == attest.Verified && !bytes.Equal(attestB, r.Evidence.Quote.Attest) {
			t.Fatalf("a different quote verified")
		}
	})
}
