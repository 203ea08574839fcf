package posture

import (
	"fmt"
	"strings"
)

/*
Rule: a mount of a node path rated high or critical (the node's root, /etc,
/var/lib/kubelet, /proc, /sys, /dev, runtime state, ...; see hostpath.go)
gives the node's credentials or lets the container change what the node
runs. A read-only mount lowers the rating where the danger is writing.

Not mitigated by a sandboxed runtime: gVisor and Kata still share the
node's files with the container.
Weakened by: a user namespace (container root is an unprivileged UID on the
node, so root-owned files stay closed), a non-root user, SELinux
(container_t may not read or write files labelled for the node).
*/

// CheckSensitiveHostPath is the sensitive hostPath mount escape.
func CheckSensitiveHostPath() Check {
	return Check{
		ID:        "sensitiveHostPath",
		Title:     "sensitive host path mounted",
		Technique: "T1611",
		Versions:  []VersionedCheck{{Version: 1, Eval: sensitiveHostPath_v1}},
	}
}

func sensitiveHostPath_v1(p *Profile) Result {
	var ev, why, vols []string
	for _, h := range p.HostPaths {
		if !h.Risk.AtLeast(RiskHigh) {
			continue
		}
		mode := "read-write"
		if h.ReadOnly {
			mode = "read-only"
		}
		ev = append(ev, fmt.Sprintf("volume %s: %s %s at %s (%s)", h.Volume, h.Via, h.Path, h.MountPath, mode))
		why = append(why, fmt.Sprintf("%s %s (%s): %s", h.Path, mode, h.Risk, h.Reason))
		vols = append(vols, h.Volume)
	}
	if len(ev) == 0 {
		return Result{}
	}
	return Result{
		Applies:  true,
		Reason:   "node paths mounted: " + strings.Join(why, "; "),
		Evidence: ev,
		Mitigations: []MitigationEffect{
			effect(p, MitigationUserNS, Weakens, "container root is an unprivileged UID on the node: root-owned files stay closed"),
			effect(p, MitigationNonRoot, Weakens, "a non-root user cannot open root-owned files on the node"),
			effect(p, MitigationSELinux, Weakens, "a confining SELinux type may not open files labelled for the node"),
		},
		Fix: "remove the host path volumes " + strings.Join(vols, ", ") + " (or mount a narrower path read-only)",
	}
}
