package tpm_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/attest/tpm"
	"github.com/credence-dev/credence/internal/swtpmtest"
	"github.com/credence-dev/credence/internal/testutil"
)

const testPCR = 23

func open(t testing.TB, sim *swtpmtest.SWTPM, opts ...tpm.Option) *tpm.TPM {
	t.Helper()
	tp, err := tpm.Open(sim.Addr(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

func TestAKIsCreatedOncePersistedAndAnAK(t *testing.T) {
	sim := swtpmtest.Start(t)
	first := open(t, sim)
	pub := first.AKPublic()
	first.Close()
	ak, err := attest.ParseAK(pub)
	if err != nil {
		t.Fatal(err)
	}
	if bad := ak.CheckAttributes(); len(bad) > 0 {
		t.Fatalf("AK attributes: %v", bad)
	}
	// Reopening after a restart (a reboot) loads the persisted key.
	sim.Restart(t)
	again := open(t, sim)
	if !bytes.Equal(again.AKPublic(), pub) {
		t.Fatal("the attestation key changed across a restart")
	}
	if _, err := tpm.Open(sim.Addr(), tpm.WithAKHandle(0x01000000)); err == nil {
		t.Fatal("a non-persistent AK handle was accepted")
	}
}

func TestExtendMatchesTPM2Tools(t *testing.T) {
	sim := swtpmtest.Start(t)
	tp := open(t, sim)
	d := sha256.Sum256([]byte("container.start"))
	if err := tp.Extend(testPCR, []attest.Digest{{HashAlg: attest.SHA256, Digest: d[:]}}); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(append(make([]byte, 32), d[:]...))
	got, err := tp.ReadPCR(testPCR, attest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want[:]) {
		t.Fatalf("PCR %d = %x, want %x", testPCR, got, want)
	}
	// Ground truth from a second, independent TPM client.
	if _, err := exec.LookPath("tpm2_pcrread"); err != nil {
		testutil.NeedComponent(t, "tpm2_pcrread", "run scripts/setup.d/00-apt.sh as root (apt package tpm2-tools)")
	}
	tp.Close() // swtpm serves one connection at a time
	out, err := exec.Command("tpm2_pcrread", "-T", "swtpm:path="+sim.Sock, "sha256:23").CombinedOutput()
	if err != nil {
		t.Fatalf("tpm2_pcrread: %v\n%s", err, out)
	}
	if !strings.Contains(strings.ToLower(string(out)), hex.EncodeToString(want[:])) {
		t.Fatalf("tpm2_pcrread printed\n%s\nwant %x", out, want)
	}
}

func TestQuoteVerifies(t *testing.T) {
	sim := swtpmtest.Start(t)
	tp := open(t, sim)
	nonce := bytes.Repeat([]byte{7}, 32)
	q, err := tp.Quote(nonce, testPCR, attest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	ak, err := attest.ParseAK(tp.AKPublic())
	if err != nil {
		t.Fatal(err)
	}
	if err := ak.VerifySignature(q.Attest, q.Signature); err != nil {
		t.Fatal(err)
	}
	info, err := attest.ParseQuote(q.Attest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info.ExtraData, nonce) {
		t.Fatalf("extraData %x", info.ExtraData)
	}
	zero := sha256.Sum256(make([]byte, 32))
	if !bytes.Equal(info.PCRDigest, zero[:]) {
		t.Fatalf("pcrDigest %x, want H(zeros)", info.PCRDigest)
	}
	t.Logf("clock %+v selection %v", info.Clock, info.Selection)
}

func TestResetCountRisesOnRestart(t *testing.T) {
	sim := swtpmtest.Start(t)
	tp := open(t, sim)
	q1, err := tp.Quote(nil, testPCR, attest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	tp.Close()
	sim.Restart(t)
	tp2 := open(t, sim)
	q2, err := tp2.Quote(nil, testPCR, attest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	i1, _ := attest.ParseQuote(q1.Attest)
	i2, _ := attest.ParseQuote(q2.Attest)
	if i2.Clock.ResetCount <= i1.Clock.ResetCount {
		t.Fatalf("reset count %d then %d after a restart", i1.Clock.ResetCount, i2.Clock.ResetCount)
	}
}

func TestUnreachableTPM(t *testing.T) {
	sim := swtpmtest.Start(t)
	tp := open(t, sim)
	sim.Stop()
	d := sha256.Sum256(nil)
	err := tp.Extend(testPCR, []attest.Digest{{HashAlg: attest.SHA256, Digest: d[:]}})
	if err == nil || !strings.Contains(err.Error(), attest.ErrTPMUnreachable.Error()) {
		t.Fatalf("extend on a stopped TPM: %v", err)
	}
}
