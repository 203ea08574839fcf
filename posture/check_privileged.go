package posture

/*
Rule: a privileged container (securityContext.privileged: true) holds every
capability, sees every host device, runs without seccomp and without the
runtime's default LSM profile, and has /sys and /proc/sys writable. From
there the node falls in one step: mount the host's disk, load a kernel
module, or write a cgroup v1 release_agent or /proc/sys/kernel/core_pattern.

Blocked by: a sandboxed runtime (gVisor, Kata), whose kernel is not the node's.
Weakened by: a user namespace (hostUsers: false), where the capabilities
are namespaced and host devices and module loading are not granted; a
non-root user, who needs a setuid binary to use the capabilities
(privileged containers never have no_new_privs).
*/

// CheckPrivileged is the privileged-container escape.
func CheckPrivileged() Check {
	return Check{
		ID:        "privileged",
		Title:     "privileged container",
		Technique: "T1611",
		Versions:  []VersionedCheck{{Version: 1, Eval: privileged_v1}},
	}
}

func privileged_v1(p *Profile) Result {
	if !p.Privileged {
		return Result{}
	}
	return Result{
		Applies: true,
		Reason: "privileged: every capability and host device, no seccomp or default LSM profile, writable /sys: " +
			"mount the node's disk, load a kernel module, or use a cgroup release_agent",
		Evidence: []string{p.Path + ".securityContext.privileged: true"},
		Mitigations: []MitigationEffect{
			effect(p, MitigationSandbox, Blocks, "the sandbox's kernel (gVisor Sentry, Kata VM) is not the node's"),
			effect(p, MitigationUserNS, Weakens, "capabilities are held in the pod's user namespace only: host devices and module loading are not granted"),
			effect(p, MitigationNonRoot, Weakens, "a non-root process needs a setuid-root binary in the image to use the capabilities"),
		},
		Fix: "set " + p.Path + ".securityContext.privileged: false and add only the capabilities the container needs",
	}
}
