package posture

/*
Rule: with the node's PID namespace (spec.hostPID: true) and the power to
trace host processes (privileged, CAP_SYS_PTRACE or CAP_SYS_ADMIN), the
container reaches the node through /proc/1/root (the node's filesystem) or
nsenter -t 1 into the node's namespaces.

Blocked by: a sandboxed runtime (no host PID namespace inside gVisor or
Kata); a non-root user with no_new_privs (no capabilities at all).
Weakened by: AppArmor (the runtime default profile denies ptrace of
processes outside its profile); a non-root user.
hostPID cannot be combined with hostUsers: false (API validation).
*/

// CheckHostPIDAccess is the host PID namespace escape.
func CheckHostPIDAccess() Check {
	return Check{
		ID:        "hostPIDAccess",
		Title:     "host PID namespace with ptrace power",
		Technique: "T1611",
		Versions: []VersionedCheck{
			{Version: 1, Eval: hostPIDAccess_v1},
			// v2: drop entries spelled so that containerd removes nothing are evidence.
			{Version: 2, Eval: withMisspelledDrops(hostPIDAccess_v1, "SYS_PTRACE", "SYS_ADMIN")},
		},
	}
}

func hostPIDAccess_v1(p *Profile) Result {
	if !p.HostPID {
		return Result{}
	}
	var power []string
	switch {
	case p.Privileged:
		power = append(power, p.Path+".securityContext.privileged: true")
	default:
		for _, c := range []string{"SYS_PTRACE", "SYS_ADMIN"} {
			if p.Capabilities.Has(c) {
				power = append(power, p.Path+".securityContext.capabilities: "+c)
			}
		}
	}
	if len(power) == 0 {
		return Result{}
	}
	ms := []MitigationEffect{
		effect(p, MitigationSandbox, Blocks, "a sandboxed runtime does not share the node's PID namespace"),
		effect(p, MitigationAppArmor, Weakens, "the runtime default AppArmor profile denies ptrace of processes outside it"),
	}
	if !p.Privileged {
		ms = append(ms, capabilityEffects(p)...)
	} else {
		ms = append(ms, effect(p, MitigationNonRoot, Weakens, "a non-root process needs a setuid-root binary to use the capabilities"))
	}
	return Result{
		Applies:     true,
		Reason:      "host PID namespace with ptrace power: /proc/1/root is the node's filesystem and nsenter -t 1 enters its namespaces",
		Evidence:    append([]string{"spec.hostPID: true"}, power...),
		Mitigations: ms,
		Fix:         "set spec.hostPID: false",
	}
}
