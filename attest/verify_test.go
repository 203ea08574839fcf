package attest_test

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/attest/tpm"
	"github.com/credence-dev/credence/internal/swtpmtest"
)

// fixture is a node that ran three containers, quoted once for a good answer.
func fixture(t *testing.T) (*node, []byte, *attest.Evidence) {
	t.Helper()
	n := newNode(t)
	n.start(t, "boot-1")
	for i := range 3 {
		n.append(t, containerStart(i))
	}
	nonce, ev := n.challenge(t, nil)
	return n, nonce, ev
}

func verdicts(res *attest.Result) []string {
	var out []string
	for _, c := range res.Containers {
		out = append(out, c.Verdict)
	}
	return out
}

func TestVerifyGoodLog(t *testing.T) {
	n, nonce, ev := fixture(t)
	res, err := n.verifier(t).Verify(ev, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != attest.Verified {
		t.Fatalf("verdict %s: %v", res.Verdict, res.Reasons)
	}
	if diff := cmp.Diff([]string{"verified", "verified", "verified"}, verdicts(res)); diff != "" {
		t.Errorf("container verdicts (-want +got):\n%s", diff)
	}
	if res.Containers[2].Start != nil {
		t.Error("Verify decoded a container.start; DecodeStarts should")
	}
	res.DecodeStarts()
	if res.Records != 5 || res.Covered != 5 || len(res.Agents) != 1 {
		t.Errorf("records %d covered %d agents %d", res.Records, res.Covered, len(res.Agents))
	}
	if got := res.Containers[2].Start.Pod.Name; got != "web-2" {
		t.Errorf("third container is pod %q", got)
	}
	// The PCR the verifier replayed is what the TPM holds.
	cur, err := n.tpm.ReadPCR(testPCR, attest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cur, res.PCRValue) {
		t.Errorf("replayed %x, TPM holds %x", []byte(res.PCRValue), cur)
	}
}

// TestLogAheadOfQuote: records after the quoted value are "not covered"
// (the IMA longest-prefix rule), not a failure.
func TestLogAheadOfQuote(t *testing.T) {
	n, nonce, ev := fixture(t)
	n.append(t, containerStart(3))
	later, err := n.log.Attest(n.tpm, bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ev.Log = later.Log // the newer, longer log with the older quote
	res, err := n.verifier(t).Verify(ev, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != attest.Verified || res.Covered != 5 || res.Records != 6 {
		t.Fatalf("verdict %s covered %d of %d: %v", res.Verdict, res.Covered, res.Records, res.Reasons)
	}
	last := res.Containers[3]
	if last.Verdict != attest.Unverified || codes(last.Reasons)[0] != attest.ReasonNotCovered {
		t.Fatalf("the uncovered record: %+v", last)
	}
}

// TestTamper: each tampering is detected with its own reason.
func TestTamper(t *testing.T) {
	n, nonce, ev := fixture(t)
	v := n.verifier(t)
	ls := lines(ev.Log)

	edited := bytes.Replace(ls[3], []byte(`"echo 1"`), []byte(`"echo X"`), 1)
	if bytes.Equal(edited, ls[3]) {
		t.Fatal("the edit did not apply")
	}
	// An edit that also rewrites the digest no longer replays.
	rec, err := attest.UnmarshalLine(edited)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(rec.Content)
	rec.Digests[0].Digest = sum[:]
	redigested, err := rec.MarshalLine()
	if err != nil {
		t.Fatal(err)
	}
	join := func(ls ...[]byte) []byte { return bytes.Join(ls, nil) }

	tests := []struct {
		name     string
		log      []byte
		wantCode string
		// wantContainer is the verdict of the tampered container, "" if none.
		wantContainer string
	}{
		{"edited record", join(ls[0], ls[1], ls[2], edited, ls[4]), attest.ReasonContentDigest, attest.Invalid},
		{"edited record and digest", join(ls[0], ls[1], ls[2], redigested, ls[4]), attest.ReasonReplayMismatch, attest.Unverified},
		{"deleted record", join(ls[0], ls[1], ls[2], ls[4]), attest.ReasonRecNumGap, ""},
		{"deleted last record", join(ls[0], ls[1], ls[2], ls[3]), attest.ReasonReplayMismatch, ""},
		{"reordered records", join(ls[0], ls[1], ls[3], ls[2], ls[4]), attest.ReasonRecNumOrder, ""},
		{"garbage line", join(ls[0], ls[1], []byte("{not json\n"), ls[3], ls[4]), attest.ReasonLogMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := *ev
			bad.Log = tc.log
			res, err := v.Verify(&bad, nonce)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != attest.Failed {
				t.Fatalf("verdict %s, want failed", res.Verdict)
			}
			if !slices.Contains(codes(res.Reasons), tc.wantCode) {
				t.Fatalf("reasons %v, want %s", res.Reasons, tc.wantCode)
			}
			if tc.wantContainer != "" {
				for _, c := range res.Containers {
					if c.RecNum == 3 && c.Verdict != tc.wantContainer {
						t.Errorf("record 3 verdict %s, want %s: %v", c.Verdict, tc.wantContainer, c.Reasons)
					}
				}
			}
		})
	}
}

// TestForgedLogWithPCRReset: root resets PCR 23 and extends a forged log
// whose digests match. The quote then verifies, which is why the verifier
// refuses resettable PCRs unless a test opts in.
func TestForgedLogWithPCRReset(t *testing.T) {
	n, _, ev := fixture(t)
	ls := lines(ev.Log)
	forged := bytes.Replace(ls[2], []byte(`registry.example/web:1`), []byte(`evil.example/miner:1`), 1)
	rec, err := attest.UnmarshalLine(forged)
	if err != nil {
		t.Fatal(err)
	}
	rec2, err := attest.NewRecord(rec.RecNum, rec.PCR, rec.Content)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ = rec2.MarshalLine()
	forgedLog := bytes.Join([][]byte{ls[0], ls[1], forged, ls[3], ls[4]}, nil)
	// The attacker resets the PCR and replays the forged log's digests.
	if err := n.tpm.ResetPCR(testPCR); err != nil {
		t.Fatal(err)
	}
	recs, err := attest.ReadLog(bytes.NewReader(forgedLog), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := n.tpm.Extend(testPCR, r.Digests); err != nil {
			t.Fatal(err)
		}
	}
	nonce := bytes.Repeat([]byte{9}, 32)
	q, err := n.tpm.Quote(nonce, testPCR, attest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	fake := &attest.Evidence{AKPublic: n.tpm.AKPublic(), Quote: q, PCR: testPCR, Bank: attest.SHA256, Log: forgedLog}

	unsafe, err := n.verifier(t).Verify(fake, nonce)
	if err != nil {
		t.Fatal(err)
	}
	unsafe.DecodeStarts()
	if unsafe.Verdict != attest.Verified || unsafe.Containers[0].Start.Image.Ref != "evil.example/miner:1" {
		t.Fatalf("with resettable PCRs allowed, the forgery should pass (that is the danger): %s %v", unsafe.Verdict, unsafe.Reasons)
	}
	strict, err := attest.NewVerifier(n.tpm.AKPublic(), attest.WithPCR(testPCR))
	if err != nil {
		t.Fatal(err)
	}
	res, err := strict.Verify(fake, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != attest.Failed || !slices.Contains(codes(res.Reasons), attest.ReasonPCRResettable) {
		t.Fatalf("default verifier: %s %v, want pcr-resettable", res.Verdict, res.Reasons)
	}
	for _, c := range res.Containers {
		if c.Verdict == attest.Verified {
			t.Errorf("container %d verified on a resettable PCR", c.RecNum)
		}
	}
	// The agent's own log notices the reset at its next measurement.
	b, _ := attest.EncodeEvent(containerStart(9))
	if _, err := n.log.Append(b); err == nil || !strings.Contains(err.Error(), attest.ErrLogDiverged.Error()) {
		t.Fatalf("append after a PCR reset: %v, want %v", err, attest.ErrLogDiverged)
	}
}

// TestMalformedEventFails: a covered container.start that does not decode
// (the writer measured bytes that are not an event) is invalid and fails
// the result once decoded.
func TestMalformedEventFails(t *testing.T) {
	n := newNode(t)
	n.start(t, "boot-1")
	n.append(t, containerStart(0))
	if _, err := n.log.Append([]byte(`{"type":"container.start","process":5}`)); err != nil {
		t.Fatal(err)
	}
	nonce, ev := n.challenge(t, nil)
	res, err := n.verifier(t).Verify(ev, nonce)
	if err != nil {
		t.Fatal(err)
	}
	res.DecodeStarts()
	if res.Verdict != attest.Failed || !slices.Contains(codes(res.Reasons), attest.ReasonEventMalformed) {
		t.Fatalf("%s %v", res.Verdict, res.Reasons)
	}
	if diff := cmp.Diff([]string{attest.Verified, attest.Invalid}, verdicts(res)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWrongNonce(t *testing.T) {
	n, _, ev := fixture(t)
	res, err := n.verifier(t).Verify(ev, bytes.Repeat([]byte{0xee}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != attest.Failed || !slices.Contains(codes(res.Reasons), attest.ReasonNonceMismatch) {
		t.Fatalf("%s %v", res.Verdict, res.Reasons)
	}
	for _, c := range res.Containers {
		if c.Verdict != attest.Unverified {
			t.Errorf("container %d is %s after a failed quote", c.RecNum, c.Verdict)
		}
	}
}

func TestReplayedOldQuote(t *testing.T) {
	n := newNode(t)
	n.start(t, "boot-1")
	n.append(t, containerStart(0))
	store := attest.NewNonces(time.Minute)
	v := n.verifier(t, attest.WithNonces(store))
	nonce1, ev1 := n.challenge(t, store)
	if res, _ := v.Verify(ev1, nonce1); res.Verdict != attest.Verified {
		t.Fatalf("first answer: %v", res.Reasons)
	}
	// The same answer again, to the same challenge and to a new one.
	res, _ := v.Verify(ev1, nonce1)
	if !slices.Contains(codes(res.Reasons), attest.ReasonNonceReused) {
		t.Errorf("same challenge again: %v", res.Reasons)
	}
	nonce2, err := store.Issue()
	if err != nil {
		t.Fatal(err)
	}
	res, _ = v.Verify(ev1, nonce2)
	if res.Verdict != attest.Failed || !slices.Contains(codes(res.Reasons), attest.ReasonQuoteReplayed) {
		t.Errorf("old quote for a new challenge: %v", res.Reasons)
	}
	// A nonce this verifier never issued.
	_, ev3 := n.challenge(t, nil)
	res, _ = v.Verify(ev3, ev3QuoteNonce(t, ev3))
	if !slices.Contains(codes(res.Reasons), attest.ReasonNonceUnknown) {
		t.Errorf("foreign challenge: %v", res.Reasons)
	}
}

func ev3QuoteNonce(t *testing.T, ev *attest.Evidence) []byte {
	info, err := attest.ParseQuote(ev.Quote.Attest)
	if err != nil {
		t.Fatal(err)
	}
	return info.ExtraData
}

func TestQuoteFromAnotherAK(t *testing.T) {
	n, nonce, ev := fixture(t)
	// Another node's TPM quotes the same PCR value with the same nonce.
	other := swtpmtest.Start(t)
	ot, err := tpm.Open(other.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer ot.Close()
	recs, _ := attest.ReadLog(bytes.NewReader(ev.Log), 0)
	for _, r := range recs {
		if err := ot.Extend(testPCR, r.Digests); err != nil {
			t.Fatal(err)
		}
	}
	q, err := ot.Quote(nonce, testPCR, attest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		akPub []byte
		want  []string
	}{
		{"names its own AK", ot.AKPublic(), []string{attest.ReasonAKMismatch, attest.ReasonSignatureInvalid}},
		{"claims the enrolled AK", n.tpm.AKPublic(), []string{attest.ReasonSignatureInvalid}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := *ev
			bad.Quote, bad.AKPublic = q, tc.akPub
			res, err := n.verifier(t).Verify(&bad, nonce)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, codes(res.Reasons)); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLogFromAnotherBoot: after a reboot, root extends last boot's digests
// again so an old log matches the PCR; the reset count gives it away.
func TestLogFromAnotherBoot(t *testing.T) {
	n, _, ev := fixture(t)
	n.log.Close()
	n.tpm.Close()
	n.sim.Restart(t)
	tp, err := tpm.Open(n.sim.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	recs, _ := attest.ReadLog(bytes.NewReader(ev.Log), 0)
	for _, r := range recs {
		if err := tp.Extend(testPCR, r.Digests); err != nil {
			t.Fatal(err)
		}
	}
	nonce := bytes.Repeat([]byte{5}, 32)
	q, err := tp.Quote(nonce, testPCR, attest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	old := *ev
	old.Quote = q
	res, err := n.verifier(t).Verify(&old, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != attest.Failed || !slices.Contains(codes(res.Reasons), attest.ReasonBootMismatch) {
		t.Fatalf("%s %v", res.Verdict, res.Reasons)
	}
	for _, c := range res.Containers {
		if c.Verdict == attest.Verified {
			t.Errorf("container %d verified from another boot", c.RecNum)
		}
	}
}

func TestAKAttributesChecked(t *testing.T) {
	n, _, _ := fixture(t)
	if _, err := attest.NewVerifier([]byte{0, 1, 2}); err == nil {
		t.Error("a malformed AK was accepted")
	}
	// A key that is not restricted could sign a forged TPMS_ATTEST.
	pub := n.tpm.AKPublic()
	ak, err := attest.ParseAK(pub)
	if err != nil {
		t.Fatal(err)
	}
	unrestricted := attest.UnrestrictedForTest(t, ak)
	_, err = attest.NewVerifier(unrestricted)
	if err == nil || !strings.Contains(err.Error(), "not restricted") {
		t.Fatalf("unrestricted key: %v", err)
	}
}
