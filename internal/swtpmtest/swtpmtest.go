// Package swtpmtest starts a fresh Debian swtpm for one test and stops it by
// PID: the real TPM process boundary that attest and agent tests run against.
package swtpmtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/credence-dev/credence/internal/testutil"
)

// SWTPM is one running swtpm with its own state directory.
type SWTPM struct {
	// Dir holds the TPM state; it survives Restart, as NV does across reboots.
	Dir  string
	Sock string // the TPM command socket (unix)
	Ctrl string // the control socket
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the swtpm path, skipping the test loudly when it is missing.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("swtpm")
	if err != nil {
		testutil.NeedComponent(t, "swtpm", "run scripts/setup.d/00-apt.sh as root (apt packages swtpm swtpm-tools)")
	}
	return p
}

// Start starts a fresh swtpm (TPM 2.0, started up with CLEAR) on unix
// sockets in a new short temp dir; it is stopped when the test ends.
func Start(t testing.TB) *SWTPM {
	t.Helper()
	Binary(t)
	dir, err := os.MkdirTemp("", "swtpm")
	if err != nil {
		t.Fatal(err)
	}
	s := &SWTPM{Dir: dir, Sock: filepath.Join(dir, "tpm.sock"), Ctrl: filepath.Join(dir, "tpm.sock.ctrl")} // tpm2-tools looks for PATH.ctrl
	t.Cleanup(func() {
		s.Stop()
		os.RemoveAll(dir)
	})
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// Addr is the address tpm.Open takes.
func (s *SWTPM) Addr() string { return "unix:" + s.Sock }

func (s *SWTPM) start() error {
	os.Remove(s.Sock)
	os.Remove(s.Ctrl)
	cmd := exec.Command("swtpm", "socket", "--tpm2",
		"--tpmstate", "dir="+s.Dir,
		"--server", "type=unixio,path="+s.Sock,
		"--ctrl", "type=unixio,path="+s.Ctrl,
		"--flags", "not-need-init,startup-clear",
		"--log", "file="+filepath.Join(s.Dir, "swtpm.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start swtpm: %w", err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() { cmd.Wait(); close(s.done) }() //nolint:errcheck // exit status of a killed swtpm
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "swtpm.log"))
			return fmt.Errorf("swtpm exited at start-up: %s", log)
		default:
		}
		if c, err := net.Dial("unix", s.Sock); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("swtpm did not open %s within 10s", s.Sock)
}

// Stop kills swtpm by its PID and waits for it.
func (s *SWTPM) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart stops swtpm and starts it again on the same state: a reboot.
// PCRs start from zero and the TPM's reset count goes up.
func (s *SWTPM) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}
