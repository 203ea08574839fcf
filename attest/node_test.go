package attest_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/attest/tpm"
	"github.com/credence-dev/credence/internal/swtpmtest"
)

// testPCR is the resettable PCR tests measure into (see pcr-resettable).
const testPCR = 23

// node is one simulated node: a fresh swtpm, credence's TPM client and a log.
type node struct {
	sim *swtpmtest.SWTPM
	tpm *tpm.TPM
	log *attest.Log
	dir string
}

func newNode(t testing.TB) *node {
	t.Helper()
	sim := swtpmtest.Start(t)
	tp, err := tpm.Open(sim.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	dir := t.TempDir()
	l, err := attest.OpenLog(filepath.Join(dir, "measurements.jsonl"), tp, testPCR)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &node{sim: sim, tpm: tp, log: l, dir: dir}
}

// start writes agent.start (with the TPM's counters from a quote) and the separator.
func (n *node) start(t testing.TB, bootID string) {
	t.Helper()
	q, err := n.tpm.Quote(nil, testPCR, attest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	info, err := attest.ParseQuote(q.Attest)
	if err != nil {
		t.Fatal(err)
	}
	ak, err := attest.ParseAK(n.tpm.AKPublic())
	if err != nil {
		t.Fatal(err)
	}
	n.append(t, &attest.AgentStart{Time: "2026-11-01T00:00:00Z", AgentVersion: "test", BinaryDigest: attest.SHA256Digest([]byte("bin")),
		BootID: bootID, PCR: testPCR, AKName: ak.NameHex(), ResetCount: info.Clock.ResetCount,
		RestartCount: info.Clock.RestartCount, Epoch: 1})
	n.append(t, &attest.Separator{Epoch: 1})
}

func (n *node) append(t testing.TB, ev any) attest.Record {
	t.Helper()
	b, err := attest.EncodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := n.log.Append(b)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func containerStart(i int) *attest.ContainerStart {
	args := []string{"/bin/sh", "-c", fmt.Sprintf("echo %d", i)}
	f := false
	return &attest.ContainerStart{
		Time: "2026-11-01T00:00:01Z", Trigger: "oci-hook", ContainerID: fmt.Sprintf("c%d", i), ContainerName: "app",
		Pod:   &attest.PodIdentity{UID: fmt.Sprintf("uid-%d", i), Namespace: "shop", Name: fmt.Sprintf("web-%d", i)},
		Image: attest.ImageIdentity{Ref: "registry.example/web:1", Digest: attest.SHA256Digest([]byte("image"))},
		Process: attest.Process{Args: args, ArgsDigest: attest.ArgsDigest(args), EnvDigest: attest.ArgsDigest(nil),
			Capabilities: &attest.Capabilities{Effective: []string{"CAP_CHOWN"}}},
		Privileged: &f,
	}
}

// challenge quotes the node for a fresh nonce from store (or a random one).
func (n *node) challenge(t testing.TB, store *attest.Nonces) ([]byte, *attest.Evidence) {
	t.Helper()
	if store == nil {
		store = attest.NewNonces(60e9)
	}
	nonce, err := store.Issue()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := n.log.Attest(n.tpm, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return nonce, ev
}

func (n *node) verifier(t testing.TB, opts ...attest.VerifierOption) *attest.Verifier {
	t.Helper()
	v, err := attest.NewVerifier(n.tpm.AKPublic(), append([]attest.VerifierOption{attest.WithPCR(testPCR), attest.WithResettablePCRUnsafe()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// lines splits a log into its lines (each with its '\n').
func lines(log []byte) [][]byte {
	var out [][]byte
	for len(log) > 0 {
		i := bytes.IndexByte(log, '\n')
		out = append(out, log[:i+1])
		log = log[i+1:]
	}
	return out
}

func codes(rs []attest.Reason) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Code)
	}
	return out
}
