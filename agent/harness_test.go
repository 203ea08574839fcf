package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/credence-dev/credence/agent"
	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/attest/tpm"
	"github.com/credence-dev/credence/internal/swtpmtest"
	"github.com/credence-dev/credence/internal/testutil"
)

const testPCR = 23

var (
	buildOnce sync.Once
	buildErr  error
	binDir    string
)

// stateHome is the XDG_STATE_HOME of the CLI runs: the verifier's nonces
// stay out of the user's state directory.
var stateHome string

func TestMain(m *testing.M) {
	agent.SetNRILog(os.Stderr)
	var err error
	if stateHome, err = os.MkdirTemp("", "credence-state"); err != nil {
		panic(err)
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.RemoveAll(stateHome)
	os.Exit(code)
}

// credenceBinary builds cmd/credence once per test binary: tests drive the
// real CLI with it. nodeBinary is the node build (-tags node: the agent
// alone), which runc runs as the hook and which serves as the agent, as on
// a node.
func credenceBinary(t testing.TB) string { return built(t).full }

func nodeBinary(t testing.TB) string { return built(t).node }

type binaries struct{ full, node string }

func built(t testing.TB) binaries {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "credence-bin")
		if buildErr != nil {
			return
		}
		for _, b := range []struct{ path, tags string }{{filepath.Join(binDir, "credence"), ""}, {filepath.Join(binDir, "credence-node"), "node"}} {
			if buildErr = testutil.BuildCredence(testutil.RepoRoot(t), b.path, b.tags); buildErr != nil {
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binaries{full: filepath.Join(binDir, "credence"), node: filepath.Join(binDir, "credence-node")}
}

// node is a swtpm, credence's TPM client over a cuttable proxy, and a
// running agent service on a unix socket.
type node struct {
	sim    *swtpmtest.SWTPM
	proxy  *proxy
	tpm    *tpm.TPM
	svc    *agent.Service
	dir    string
	socket string
	cancel context.CancelFunc
	done   chan error
}

func startNode(t testing.TB) *node {
	t.Helper()
	sim := swtpmtest.Start(t)
	dir, err := os.MkdirTemp("", "agent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &node{sim: sim, dir: dir, socket: filepath.Join(dir, "agent.sock")}
	n.proxy = newProxy(t, filepath.Join(dir, "tpm-proxy.sock"), sim.Sock)
	n.tpm, err = tpm.Open("unix:"+n.proxy.path, tpm.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.tpm.Close() })
	n.svc, err = agent.New(n.tpm, filepath.Join(dir, "measurements.jsonl"), agent.WithPCR(testPCR), agent.WithBootID("test-boot"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := agent.Listen(n.socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- n.svc.Serve(ctx, l) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	<-n.done
	n.svc.Close()
	n.cancel = nil
}

// verifier is a library verifier for this node's enrolled AK.
func (n *node) verify(t testing.TB) *attest.Result {
	t.Helper()
	store := attest.NewNonces(time.Minute)
	nonce, err := store.Issue()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := agent.NewClient(n.socket, 10*time.Second).Attest(context.Background(), nonce)
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.NewVerifier(n.tpm.AKPublic(), attest.WithPCR(testPCR), attest.WithResettablePCRUnsafe(), attest.WithNonces(store))
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

// replays checks the log on disk replays to the TPM's PCR right now.
func (n *node) replays(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(n.svc.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	got, recs, err := attest.ReplayLog(bytes.NewReader(b), testPCR)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := n.tpm.ReadPCR(testPCR, attest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(cur) {
		t.Fatalf("the log (%d records) replays to %x, PCR %d holds %x", recs, got, testPCR, cur)
	}
	return recs
}

// proxy forwards unix connections to swtpm until cut: the TPM becomes
// unreachable without losing its PCRs, as when a bus or socket fails.
type proxy struct {
	path, target string
	mu           sync.Mutex
	l            net.Listener
	conns        []net.Conn
}

func newProxy(t testing.TB, path, target string) *proxy {
	t.Helper()
	p := &proxy{path: path, target: target}
	if err := p.restore(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, err := net.Listen("unix", p.path)
	if err != nil {
		return err
	}
	p.l = l
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }() //nolint:errcheck // a cut ends the copy
			go func() { io.Copy(c, up); c.Close() }()  //nolint:errcheck // a cut ends the copy
		}
	}()
	return nil
}

// cut closes the listener and every forwarded connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// runCLI runs the built credence binary and returns stdout and the exit code.
func runCLI(t testing.TB, args ...string) ([]byte, int) {
	t.Helper()
	cmd := exec.Command(credenceBinary(t), args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+stateHome)
	var stderr []byte
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		stderr = ee.Stderr
		t.Logf("credence %v: exit %d: %s", args, ee.ExitCode(), stderr)
		return out, ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out, 0
}

func decodeJSON[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return v
}
