package posture

import (
	"fmt"
	"strings"
)

/*
Rule: a container that reaches the container runtime's socket on the node
(containerd, CRI-O, Docker, podman; the socket or a directory above it is
mounted) can ask the runtime for a privileged container with the node's
root filesystem: the node in one step. A read-only mount does not help:
connect(2) on a socket ignores the mount's read-only flag.

Weakened by: a non-root user (the socket is root-owned, mode 0660), a user
namespace (container root is not root on the node), SELinux (container_t
may not connect to the runtime), a sandboxed runtime (gVisor and Kata do
not pass node UNIX sockets through by default).
*/

// CheckRuntimeSocket is the container runtime socket escape.
func CheckRuntimeSocket() Check {
	return Check{
		ID:        "runtimeSocket",
		Title:     "container runtime socket reachable",
		Technique: "T1611",
		Versions:  []VersionedCheck{{Version: 1, Eval: runtimeSocket_v1}},
	}
}

func runtimeSocket_v1(p *Profile) Result {
	if len(p.RuntimeSockets) == 0 {
		return Result{}
	}
	var ev []string
	for _, h := range p.HostPaths {
		for _, s := range p.RuntimeSockets {
			if within(s, h.Path) {
				ev = append(ev, "volume "+h.Volume+": "+h.Path+" at "+h.MountPath)
				break
			}
		}
	}
	socks := strings.Join(p.RuntimeSockets, ", ")
	if n := len(p.RuntimeSockets); n > 3 {
		socks = strings.Join(p.RuntimeSockets[:2], ", ") + fmt.Sprintf(" and %d more", n-2)
	}
	return Result{
		Applies:  true,
		Reason:   "the container runtime's socket is mounted (" + socks + "): start a privileged container on the node; read-only mounts do not stop connect(2)",
		Evidence: ev,
		Mitigations: []MitigationEffect{
			effect(p, MitigationNonRoot, Weakens, "the socket is root-owned (mode 0660)"),
			effect(p, MitigationUserNS, Weakens, "container root is an unprivileged UID on the node"),
			effect(p, MitigationSELinux, Weakens, "a confining SELinux type may not connect to the runtime's socket"),
			effect(p, MitigationSandbox, Weakens, "gVisor and Kata do not pass node UNIX sockets through by default"),
		},
		Fix: "remove the runtime socket mount",
	}
}
