package attest_test

import (
	"bytes"
	"crypto/sha512"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/credence-dev/credence/attest"
)

// The writer, the verifier and ReplayLog replay a log the same way, and that
// way is the TPM's: here a log whose last record (another writer's, in the
// sha384 bank only) never reached the sha256 bank. The PCR the real TPM
// holds is the ground truth.
func TestOneReplay(t *testing.T) {
	n := newNode(t)
	n.start(t, "boot-1")
	n.append(t, containerStart(0))
	n.append(t, containerStart(1))
	nonce, ev := n.challenge(t, nil)
	want, err := n.tpm.ReadPCR(testPCR, attest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	content := `{"note":"sha384 only"}`
	sum := sha512.Sum384([]byte(content))
	foreign := fmt.Sprintf(`{"recnum":4,"pcr":%d,"digests":[{"hashAlg":"sha384","digest":"%x"}],"content_type":"other","content":%s}`+"\n", testPCR, sum, content)
	log := append(bytes.Clone(ev.Log), foreign...)

	// ReplayLog.
	got, recs, err := attest.ReplayLog(bytes.NewReader(log), testPCR)
	if err != nil || recs != 5 {
		t.Fatalf("ReplayLog: %d records, %v", recs, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("ReplayLog: %x, the TPM holds %x", got, want)
	}
	// The verifier.
	ev.Log = log
	res, err := n.verifier(t).Verify(ev, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.PCRValue, want) || res.Covered != 4 {
		t.Errorf("verifier: PCR %x covered %d, want %x and 4", []byte(res.PCRValue), res.Covered, want)
	}
	// The writer: reopening the log keeps the records that replay to the
	// PCR and cuts off the one that does not.
	n.log.Close()
	path := filepath.Join(n.dir, "measurements.jsonl")
	if err := os.WriteFile(path, log, 0o640); err != nil {
		t.Fatal(err)
	}
	l, err := attest.OpenLog(path, n.tpm, testPCR)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Records() != 4 {
		t.Errorf("writer kept %d records, want 4", l.Records())
	}
	replays(t, n, path)
}
