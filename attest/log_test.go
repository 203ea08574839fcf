package attest_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/attest"
)

// faultyTPM wraps the real TPM to fail an extend in the ways a socket can.
type faultyTPM struct {
	attest.Extender
	// mode: "" pass through, "down" the TPM is unreachable (nothing extended,
	// reads fail too), "lost-answer" the extend happens but its answer is lost.
	mode string
}

var errDown = errors.New("connection refused")

func (f *faultyTPM) Extend(pcr int, d []attest.Digest) error {
	switch f.mode {
	case "down":
		return errDown
	case "lost-answer":
		if err := f.Extender.Extend(pcr, d); err != nil {
			return err
		}
		return errors.New("connection reset")
	}
	return f.Extender.Extend(pcr, d)
}

func (f *faultyTPM) ReadPCR(pcr int, bank attest.HashAlg) ([]byte, error) {
	if f.mode == "down" {
		return nil, errDown
	}
	return f.Extender.ReadPCR(pcr, bank)
}

func replays(t *testing.T, n *node, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := attest.ReplayLog(bytes.NewReader(b), testPCR)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := n.tpm.ReadPCR(testPCR, attest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, cur) {
		t.Fatalf("the log replays to %x, the TPM holds %x", got, cur)
	}
}

func TestAppendRollsBackWhenTheTPMIsDown(t *testing.T) {
	n := newNode(t)
	n.log.Close()
	path := filepath.Join(n.dir, "faulty.jsonl")
	f := &faultyTPM{Extender: n.tpm}
	l, err := attest.OpenLog(path, f, testPCR)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	content, _ := attest.EncodeEvent(containerStart(0))
	if _, err := l.Append(content); err != nil {
		t.Fatal(err)
	}
	f.mode = "down"
	if _, err := l.Append(content); err == nil {
		t.Fatal("a measurement succeeded with the TPM down")
	}
	replays(t, n, path)
	f.mode = ""
	rec, err := l.Append(content)
	if err != nil {
		t.Fatal(err)
	}
	if rec.RecNum != 1 {
		t.Errorf("recnum %d after a failed append, want 1", rec.RecNum)
	}
	replays(t, n, path)
}

func TestAppendKeepsARecordWhoseAnswerWasLost(t *testing.T) {
	n := newNode(t)
	n.log.Close()
	path := filepath.Join(n.dir, "faulty.jsonl")
	f := &faultyTPM{Extender: n.tpm, mode: "lost-answer"}
	l, err := attest.OpenLog(path, f, testPCR)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	content, _ := attest.EncodeEvent(containerStart(0))
	if _, err := l.Append(content); err != nil {
		t.Fatalf("the extend happened, so the measurement stands: %v", err)
	}
	replays(t, n, path)
}

// TestPendingRecordIsSettled: the extend's outcome is unknown and the TPM
// cannot be read; the next call finds the extend happened and restores it.
func TestPendingRecordIsSettled(t *testing.T) {
	n := newNode(t)
	n.log.Close()
	path := filepath.Join(n.dir, "faulty.jsonl")
	f := &pendingTPM{Extender: n.tpm}
	l, err := attest.OpenLog(path, f, testPCR)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	content, _ := attest.EncodeEvent(containerStart(0))
	f.extendThenDown = true
	if _, err := l.Append(content); err == nil {
		t.Fatal("want an error while the outcome is unknown")
	}
	f.down = false
	rec, err := l.Append(content)
	if err != nil {
		t.Fatal(err)
	}
	if rec.RecNum != 1 {
		t.Fatalf("recnum %d: the pending record 0 was not restored", rec.RecNum)
	}
	replays(t, n, path)
}

type pendingTPM struct {
	attest.Extender
	extendThenDown, down bool
}

func (p *pendingTPM) Extend(pcr int, d []attest.Digest) error {
	if p.extendThenDown {
		p.extendThenDown, p.down = false, true
		_ = p.Extender.Extend(pcr, d)
		return errDown
	}
	return p.Extender.Extend(pcr, d)
}

func (p *pendingTPM) ReadPCR(pcr int, bank attest.HashAlg) ([]byte, error) {
	if p.down {
		return nil, errDown
	}
	return p.Extender.ReadPCR(pcr, bank)
}

// TestReopenCutsOffUnextendedTail: a writer that died between append and
// extend leaves one record too many; reopening cuts it off.
func TestReopenCutsOffUnextendedTail(t *testing.T) {
	n := newNode(t)
	n.start(t, "boot-1")
	n.append(t, containerStart(0))
	path := n.log.Path()
	n.log.Close()
	good, _ := os.ReadFile(path)
	// Simulate the crash: a full record and a torn one, neither extended.
	rec, _ := attest.NewRecord(3, testPCR, []byte(`{"type":"container.start"}`))
	line, _ := rec.MarshalLine()
	if err := os.WriteFile(path, append(append(bytes.Clone(good), line...), `{"recnum":4,"pc`...), 0o640); err != nil {
		t.Fatal(err)
	}
	l, err := attest.OpenLog(path, n.tpm, testPCR)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, good) {
		t.Fatalf("after reopening the log is\n%s\nwant\n%s", got, good)
	}
	if l.Records() != 3 {
		t.Fatalf("next recnum %d, want 3", l.Records())
	}
	// A second writer is refused while the first holds the lock.
	if _, err := attest.OpenLog(path, n.tpm, testPCR); !errors.Is(err, attest.ErrLogLocked) {
		t.Fatalf("second writer: %v", err)
	}
}

// TestReopenRefusesToCutMoreThanOneRecord: a log several records ahead of
// its PCR (here: the PCR was reset) is refused, never truncated.
func TestReopenRefusesToCutMoreThanOneRecord(t *testing.T) {
	n := newNode(t)
	n.start(t, "boot-1")
	path := n.log.Path()
	n.log.Close()
	before, _ := os.ReadFile(path)
	if err := n.tpm.ResetPCR(testPCR); err != nil {
		t.Fatal(err)
	}
	if _, err := attest.OpenLog(path, n.tpm, testPCR); !errors.Is(err, attest.ErrLogDiverged) {
		t.Fatalf("open: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the refused log was changed")
	}
}

func TestOpenRefusesADivergedLog(t *testing.T) {
	n := newNode(t)
	n.start(t, "boot-1")
	path := n.log.Path()
	n.log.Close()
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Replace(b, []byte(`"boot-1"`), []byte(`"boot-2"`), 1), 0o640); err != nil {
		t.Fatal(err)
	}
	// The edit keeps the recorded digests, so it still replays; the
	// content check is the verifier's job. A PCR moved by someone else is not.
	if err := n.tpm.Extend(testPCR, []attest.Digest{{HashAlg: attest.SHA256, Digest: make([]byte, 32)}}); err != nil {
		t.Fatal(err)
	}
	_, err := attest.OpenLog(path, n.tpm, testPCR)
	if !errors.Is(err, attest.ErrLogDiverged) || !strings.Contains(err.Error(), "another writer") {
		t.Fatalf("open: %v", err)
	}
}
