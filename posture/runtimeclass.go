package posture

import (
	"strings"

	"github.com/credence-dev/credence/cluster"
)

// sandboxHandlerPrefixes name runtime handlers that run containers with a
// kernel of their own: gVisor (runsc) and Kata Containers (kata-qemu,
// kata-clh, kata-fc, ...).
var sandboxHandlerPrefixes = []string{"runsc", "gvisor", "kata"}

// plainHandlers share the node's kernel.
var plainHandlers = []string{"runc", "crun", "youki", "runj", ""}

// runtimeClass resolves the pod's runtimeClassName in the snapshot.
// A class that is named but not in the snapshot is Unknown, never "not
// sandboxed" and never "sandboxed".
func (e *Evaluator) runtimeClass(s *cluster.Snapshot, name string) RuntimeClass {
	if name == "" {
		return RuntimeClass{Sandboxed: No, Reason: "no runtimeClassName: the node's default runtime handler shares the node's kernel"}
	}
	for i := range s.RuntimeClasses {
		rc := &s.RuntimeClasses[i]
		if rc.Name != name {
			continue
		}
		out := RuntimeClass{Name: name, Handler: rc.Handler}
		out.Sandboxed, out.Reason = e.classifyHandler(rc.Handler)
		return out
	}
	out := RuntimeClass{Name: name, Sandboxed: Unknown}
	if gaps := s.GapsFor("RuntimeClass", ""); len(gaps) > 0 {
		out.Reason = "RuntimeClass " + name + " could not be read (" + gaps[0].Reason + "): its handler is unknown"
	} else {
		out.Reason = "RuntimeClass " + name + " is not in the snapshot: its handler is unknown (the API server's RuntimeClass admission refuses pods naming a missing class)"
	}
	return out
}

func (e *Evaluator) classifyHandler(h string) (Tri, string) {
	l := strings.ToLower(h)
	for _, s := range e.sandboxHandlers {
		if l == strings.ToLower(s) {
			return Yes, "handler " + h + " is configured as sandboxed"
		}
	}
	for _, p := range sandboxHandlerPrefixes {
		if strings.HasPrefix(l, p) {
			return Yes, "handler " + h + " runs containers with their own kernel (gVisor or Kata)"
		}
	}
	for _, p := range plainHandlers {
		if l == p {
			return No, "handler " + h + " shares the node's kernel"
		}
	}
	return Unknown, "handler " + h + " is not known to credence: whether it sandboxes is unknown"
}
