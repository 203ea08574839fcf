package testutil_test

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
)

// TestStartOnOwnThreadSurvivesLockedThreads: goroutines that lock their
// thread and return end those threads (as postgrestest's does when
// PostgreSQL is halted); a child with Pdeathsig started by
// StartOnOwnThread lives on, as a child started from a shared thread would
// not when one of them is the thread that forked it.
func TestStartOnOwnThreadSurvivesLockedThreads(t *testing.T) {
	c := exec.Command("sleep", "60")
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	release, err := testutil.StartOnOwnThread(c)
	if err != nil {
		t.Skipf("no sleep command: %v", err)
	}
	defer func() { _ = c.Process.Kill(); _ = c.Wait(); release() }()
	for range 20 {
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread() // and return locked: the thread ends
			}()
		}
		wg.Wait()
	}
	if err := c.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the child died with threads that were not its own: %v", err)
	}
	var ws syscall.WaitStatus
	if pid, _ := syscall.Wait4(c.Process.Pid, &ws, syscall.WNOHANG, nil); pid == c.Process.Pid {
		t.Fatalf("the child exited: %v", ws)
	}
}
