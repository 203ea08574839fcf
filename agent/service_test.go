package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"

	"github.com/credence-dev/credence/agent"
	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/attest/tpm"
	"github.com/credence-dev/credence/internal/swtpmtest"
)

func nriStart(id string) *agent.NRIRequest {
	return &agent.NRIRequest{Pod: &api.PodSandbox{Uid: "u-" + id}, Container: &api.Container{Id: id, Name: "c", Args: []string{"x"}}}
}

func verifyWith(t *testing.T, tp *tpm.TPM, s *agent.Service) *attest.Result {
	t.Helper()
	nonce := make([]byte, 32)
	ev, err := s.Attest(context.Background(), nonce)
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.NewVerifier(tp.AKPublic(), attest.WithPCR(testPCR), attest.WithResettablePCRUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(ev, nonce)
	if err != nil {
		t.Fatal(err)
	}
	res.DecodeStarts()
	return res
}

// TestAgentRestartContinuesTheLog: a restart in the same boot appends a
// second agent.start (epoch 2) and the whole log still verifies; a start
// after a reboot moves the old log aside and begins again.
func TestAgentRestartContinuesTheLog(t *testing.T) {
	sim := swtpmtest.Start(t)
	tp, err := tpm.Open(sim.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { tp.Close() }()
	logPath := filepath.Join(t.TempDir(), "m.jsonl")
	s1, err := agent.New(tp, logPath, agent.WithPCR(testPCR), agent.WithBootID("boot-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.MeasureNRI(context.Background(), nriStart("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.New(tp, logPath, agent.WithPCR(testPCR), agent.WithBootID("boot-1")); err == nil {
		t.Fatal("a second agent opened the same log")
	}
	s1.Close()

	s2, err := agent.New(tp, logPath, agent.WithPCR(testPCR), agent.WithBootID("boot-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.MeasureNRI(context.Background(), nriStart("two")); err != nil {
		t.Fatal(err)
	}
	res := verifyWith(t, tp, s2)
	if res.Verdict != attest.Verified || len(res.Agents) != 2 || res.Agents[1].Epoch != 2 || len(res.Containers) != 2 {
		t.Fatalf("verdict %s, %d agents, %d containers: %v", res.Verdict, len(res.Agents), len(res.Containers), res.Reasons)
	}
	s2.Close()

	// A reboot: PCRs are zero again and the boot id changes.
	tp.Close()
	sim.Restart(t)
	if tp, err = tpm.Open(sim.Addr()); err != nil {
		t.Fatal(err)
	}
	s3, err := agent.New(tp, logPath, agent.WithPCR(testPCR), agent.WithBootID("boot-2"))
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if _, err := os.Stat(logPath + ".boot-1"); err != nil {
		t.Errorf("the old boot's log was not moved aside: %v", err)
	}
	res = verifyWith(t, tp, s3)
	if res.Verdict != attest.Verified || len(res.Agents) != 1 || res.Agents[0].BootID != "boot-2" || res.Agents[0].Epoch != 1 {
		t.Fatalf("after a reboot: %s %+v %v", res.Verdict, res.Agents, res.Reasons)
	}
}

// TestAgentRefusesAPCRInUse: a PCR someone else already extended cannot
// be replayed from an empty log, so the agent does not start on it.
func TestAgentRefusesAPCRInUse(t *testing.T) {
	sim := swtpmtest.Start(t)
	tp, err := tpm.Open(sim.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	if err := tp.Extend(testPCR, []attest.Digest{{HashAlg: attest.SHA256, Digest: make([]byte, 32)}}); err != nil {
		t.Fatal(err)
	}
	_, err = agent.New(tp, filepath.Join(t.TempDir(), "m.jsonl"), agent.WithPCR(testPCR), agent.WithBootID("b"))
	if err == nil {
		t.Fatal("the agent started on a PCR it cannot replay")
	}
	t.Log(err)
}

// TestAttestRejectsBadNonces bounds what the agent signs.
func TestAttestRejectsBadNonces(t *testing.T) {
	n := startNode(t)
	c := agent.NewClient(n.socket, 5*time.Second)
	for _, nonce := range [][]byte{nil, make([]byte, 8), make([]byte, 65)} {
		if _, err := c.Attest(context.Background(), nonce); err == nil {
			t.Errorf("a %d-byte nonce was accepted", len(nonce))
		}
	}
	ak, err := c.AK(context.Background())
	if err != nil || !slices.Equal(ak.Public, n.tpm.AKPublic()) {
		t.Fatalf("AK: %v", err)
	}
}

// TestAgentKeepsALogItCannotContinue: the TPM was reset in the same kernel
// boot (a restarted swtpm); the old log is moved aside, not truncated.
func TestAgentKeepsALogItCannotContinue(t *testing.T) {
	sim := swtpmtest.Start(t)
	tp, err := tpm.Open(sim.Addr())
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "m.jsonl")
	s1, err := agent.New(tp, logPath, agent.WithPCR(testPCR), agent.WithBootID("boot-1"))
	if err != nil {
		t.Fatal(err)
	}
	s1.MeasureNRI(context.Background(), nriStart("one"))
	s1.Close()
	old, _ := os.ReadFile(logPath)
	tp.Close()
	sim.Restart(t)
	if tp, err = tpm.Open(sim.Addr()); err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	s2, err := agent.New(tp, logPath, agent.WithPCR(testPCR), agent.WithBootID("boot-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	aside, _ := filepath.Glob(logPath + ".diverged-*")
	if len(aside) != 1 {
		t.Fatalf("moved aside: %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); string(b) != string(old) {
		t.Error("the old log changed when moved aside")
	}
	if res := verifyWith(t, tp, s2); res.Verdict != attest.Verified || len(res.Containers) != 0 {
		t.Fatalf("%s %v", res.Verdict, res.Reasons)
	}
}
