package testutil

import (
	"os/exec"
	"runtime"
	"sync"
)

// StartOnOwnThread starts c from a goroutine locked to its OS thread that
// keeps the thread until release is called (call it once c has exited).
//
// A child started with SysProcAttr.Pdeathsig gets the signal when the
// thread that forked it ends, not the process, and the Go runtime ends a
// locked thread whose goroutine returns. Started from any thread, a child
// dies whenever some other goroutine happens to lock that same thread and
// return (postgrestest does, when PostgreSQL is halted): a kube-apiserver
// or etcd killed in the middle of a test. Owning the thread rules it out.
func StartOnOwnThread(c *exec.Cmd) (release func(), err error) {
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if err := c.Start(); err != nil {
			runtime.UnlockOSThread() // nothing was forked: the thread may serve others
			started <- err
			return
		}
		started <- nil
		<-done // returning while locked ends the thread, after the child
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return sync.OnceFunc(func() { close(done) }), nil
}
