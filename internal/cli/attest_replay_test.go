//go:build !node && !scan

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credence-dev/credence/agent"
	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/attest/tpm"
	"github.com/credence-dev/credence/internal/swtpmtest"
)

// liveNode is a real agent on a fresh swtpm, serving verifiers on a unix socket.
type liveNode struct {
	dir, socket, akFile string
}

func startLiveNode(t *testing.T) *liveNode {
	t.Helper()
	sim := swtpmtest.Start(t)
	dir, err := os.MkdirTemp("", "cli-node") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tp, err := tpm.Open(sim.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	svc, err := agent.New(tp, filepath.Join(dir, "measurements.jsonl"), agent.WithPCR(23), agent.WithBootID("test-boot"))
	if err != nil {
		t.Fatal(err)
	}
	n := &liveNode{dir: dir, socket: filepath.Join(dir, "agent.sock"), akFile: filepath.Join(dir, "node.ak.json")}
	l, err := agent.Listen(n.socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Serve(ctx, l); close(done) }() //nolint:errcheck // the test ends it
	t.Cleanup(func() { cancel(); <-done; svc.Close() })
	// Enroll the node's AK as an operator would.
	ak, errOut, code := run(t, "agent", "ak", "--socket", n.socket, "-o", "json")
	if code != ExitOK {
		t.Fatalf("agent ak: exit %d: %s", code, errOut)
	}
	if err := os.WriteFile(n.akFile, []byte(ak), 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

// replayingAgent stands between a verifier and the node's agent, as a
// compromised node or a man in the middle would: it passes the first
// challenge through and records the answer, then answers every later
// challenge with that same recorded answer.
type replayingAgent struct {
	socket string
	mu     sync.Mutex
	answer []byte
	ctype  string
}

func startReplayingAgent(t *testing.T, n *liveNode) *replayingAgent {
	t.Helper()
	r := &replayingAgent{socket: filepath.Join(n.dir, "mitm.sock")}
	upstream := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", n.socket)
	}}}
	l, err := net.Listen("unix", r.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.answer == nil {
			body, _ := io.ReadAll(req.Body)
			up, err := http.NewRequestWithContext(req.Context(), req.Method, "http://agent"+req.URL.Path, bytes.NewReader(body))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			rsp, err := upstream.Do(up)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer rsp.Body.Close()
			r.answer, _ = io.ReadAll(rsp.Body)
			r.ctype = rsp.Header.Get("Content-Type")
		}
		w.Header().Set("Content-Type", r.ctype)
		w.Write(r.answer) //nolint:errcheck // the verifier sees a short answer
	})}
	go srv.Serve(l) //nolint:errcheck // closed at cleanup
	t.Cleanup(func() { srv.Close() })
	return r
}

func reasonCodes(t *testing.T, out string) (string, []string) {
	t.Helper()
	var res attest.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var codes []string
	for _, r := range res.Reasons {
		codes = append(codes, r.Code)
	}
	return res.Verdict, codes
}

// A quote accepted by one run of 'attest verify --agent' is refused as
// quote-replayed when another run, sharing the state directory, gets it
// back for its own fresh challenge.
func TestAttestVerifyAgentReplayAcrossRuns(t *testing.T) {
	n := startLiveNode(t)
	mitm := startReplayingAgent(t, n)
	state := t.TempDir()
	verify := func(socket string) (string, []string, int) {
		out, errOut, code := run(t, "attest", "verify", "--agent", socket, "--ak", n.akFile, "--pcr", "23",
			"--allow-resettable-pcr", "--state-dir", state, "-o", "json")
		if code == ExitError {
			t.Fatalf("exit 2: %s", errOut)
		}
		verdict, codes := reasonCodes(t, out)
		return verdict, codes, code
	}
	// The genuine answer, passed through and recorded.
	if verdict, codes, code := verify(mitm.socket); code != ExitOK || verdict != attest.Verified {
		t.Fatalf("first run: exit %d %s %v", code, verdict, codes)
	}
	// A later run: the recorded answer again.
	verdict, codes, code := verify(mitm.socket)
	if code != ExitPolicy || verdict != attest.Failed || !slices.Contains(codes, attest.ReasonQuoteReplayed) {
		t.Errorf("replayed quote: exit %d %s %v, want exit 1 with %s", code, verdict, codes, attest.ReasonQuoteReplayed)
	}
	// The node itself still verifies with the same state.
	if verdict, codes, code := verify(n.socket); code != ExitOK || verdict != attest.Verified {
		t.Errorf("the genuine agent after the replay: exit %d %s %v", code, verdict, codes)
	}
	// Without the shared state a run cannot know the quote was used: the
	// replay is still refused (another nonce), but not named.
	out, _, _ := run(t, "attest", "verify", "--agent", mitm.socket, "--ak", n.akFile, "--pcr", "23",
		"--allow-resettable-pcr", "--state-dir", t.TempDir(), "-o", "json")
	if verdict, codes := reasonCodes(t, out); verdict != attest.Failed || !slices.Contains(codes, attest.ReasonNonceMismatch) {
		t.Errorf("fresh state: %s %v, want failed with %s", verdict, codes, attest.ReasonNonceMismatch)
	}
}

// In --evidence mode the state directory remembers the nonces answered:
// the same evidence again is nonce-reused, for a new challenge
// quote-replayed; a challenge from 'attest challenge' expires.
func TestAttestVerifyEvidenceReplayAcrossRuns(t *testing.T) {
	n := startLiveNode(t)
	state := t.TempDir()
	challenge := func(ttl string) string {
		out, errOut, code := run(t, "attest", "challenge", "--state-dir", state, "--ttl", ttl)
		if code != ExitOK {
			t.Fatalf("attest challenge: exit %d: %s", code, errOut)
		}
		return strings.TrimSpace(out)
	}
	quote := func(nonce string) string {
		ev, errOut, code := run(t, "agent", "quote", "--socket", n.socket, "--nonce", nonce)
		if code != ExitOK {
			t.Fatalf("agent quote: exit %d: %s", code, errOut)
		}
		f := filepath.Join(t.TempDir(), "ev.json")
		if err := os.WriteFile(f, []byte(ev), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	verify := func(ev, nonce string) (string, []string, int) {
		out, errOut, code := run(t, "attest", "verify", "--evidence", ev, "--nonce", nonce, "--ak", n.akFile, "--pcr", "23",
			"--allow-resettable-pcr", "--state-dir", state, "-o", "json")
		if code == ExitError {
			t.Fatalf("exit 2: %s", errOut)
		}
		verdict, codes := reasonCodes(t, out)
		return verdict, codes, code
	}

	n1 := challenge("10m")
	ev1 := quote(n1)
	if verdict, codes, code := verify(ev1, n1); code != ExitOK || verdict != attest.Verified {
		t.Fatalf("first answer: exit %d %s %v", code, verdict, codes)
	}
	if _, codes, code := verify(ev1, n1); code != ExitPolicy || !slices.Contains(codes, attest.ReasonNonceReused) {
		t.Errorf("same evidence and nonce again: exit %d %v, want 1 with %s", code, codes, attest.ReasonNonceReused)
	}
	n2 := challenge("10m")
	if _, codes, code := verify(ev1, n2); code != ExitPolicy || !slices.Contains(codes, attest.ReasonQuoteReplayed) {
		t.Errorf("old evidence for a new challenge: exit %d %v, want 1 with %s", code, codes, attest.ReasonQuoteReplayed)
	}
	// A nonce the caller made itself is accepted once, then remembered.
	own := strings.Repeat("5a", 32)
	ev3 := quote(own)
	if verdict, codes, code := verify(ev3, own); code != ExitOK || verdict != attest.Verified {
		t.Errorf("caller's own nonce: exit %d %s %v", code, verdict, codes)
	}
	if _, codes, code := verify(ev3, own); code != ExitPolicy || !slices.Contains(codes, attest.ReasonNonceReused) {
		t.Errorf("caller's own nonce again: exit %d %v", code, codes)
	}
	// An expired challenge.
	n4 := challenge("1ms")
	ev4 := quote(n4)
	time.Sleep(5 * time.Millisecond)
	if _, codes, code := verify(ev4, n4); code != ExitPolicy || !slices.Contains(codes, attest.ReasonNonceExpired) {
		t.Errorf("expired challenge: exit %d %v, want 1 with %s", code, codes, attest.ReasonNonceExpired)
	}
}
