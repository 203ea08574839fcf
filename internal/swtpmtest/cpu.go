package swtpmtest

import (
	"syscall"
	"testing"
	"time"
)

// CPUTimer reports a benchmark's CPU time per operation (user and system,
// this process and the children it waited for) next to its wall time: on a
// shared, loaded machine wall time measures the neighbours too.
type CPUTimer struct {
	self, children time.Duration
}

func cpuNow() (self, children time.Duration) {
	var s, c syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &s)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c)
	tv := func(r syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return tv(s), tv(c)
}

// StartCPU starts measuring.
func StartCPU() *CPUTimer {
	t := &CPUTimer{}
	t.self, t.children = cpuNow()
	return t
}

// Report adds cpu-ms/op (this process) and child-cpu-ms/op metrics.
func (t *CPUTimer) Report(b *testing.B) {
	self, children := cpuNow()
	b.ReportMetric(float64(self-t.self)/float64(b.N)/1e6, "cpu-ms/op")
	if children > t.children {
		b.ReportMetric(float64(children-t.children)/float64(b.N)/1e6, "child-cpu-ms/op")
	}
}
