package posture

/*
Rule: CAP_SYS_ADMIN (added, not privileged) allows mount(2) and many
kernel administration interfaces: mount a cgroup v1 hierarchy and set its
release_agent (runs a command on the node), mount visible host block
devices, and a large kernel attack surface.

Blocked by: a sandboxed runtime; a user namespace (the capability is held
in the pod's user namespace only); a non-root user with no_new_privs (never
allowed together with CAP_SYS_ADMIN by API validation, but kept for
completeness).
Weakened by: seccomp RuntimeDefault (filters syscalls such as kexec_load and
open_by_handle_at), AppArmor (the runtime default profile denies mount and
writes to /proc/sys and /sys), SELinux (container_t may not mount or
relabel), a non-root user.
*/

// CheckCapSysAdmin is the CAP_SYS_ADMIN escape.
func CheckCapSysAdmin() Check {
	return Check{
		ID:        "capSysAdmin",
		Title:     "CAP_SYS_ADMIN",
		Technique: "T1611",
		Versions: []VersionedCheck{
			{Version: 1, Eval: capSysAdmin_v1},
			// v2: drop entries spelled so that containerd removes nothing are evidence.
			{Version: 2, Eval: withMisspelledDrops(capSysAdmin_v1, "SYS_ADMIN")},
		},
	}
}

func capSysAdmin_v1(p *Profile) Result {
	if p.Privileged || !p.Capabilities.Has("SYS_ADMIN") {
		return Result{}
	}
	ms := []MitigationEffect{
		effect(p, MitigationSandbox, Blocks, "the sandbox's kernel is not the node's"),
		effect(p, MitigationUserNS, Blocks, "CAP_SYS_ADMIN is held in the pod's user namespace only"),
		effect(p, MitigationSeccomp, Weakens, "RuntimeDefault filters some administration syscalls"),
		effect(p, MitigationAppArmor, Weakens, "the runtime default AppArmor profile denies mount and writes to /proc/sys and /sys"),
		effect(p, MitigationSELinux, Weakens, "a confining SELinux type may not mount or relabel"),
	}
	return Result{
		Applies:     true,
		Reason:      "CAP_SYS_ADMIN: mount a cgroup v1 hierarchy and set release_agent, mount visible host devices",
		Evidence:    []string{p.Path + ".securityContext.capabilities: SYS_ADMIN"},
		Mitigations: append(ms, capabilityEffects(p)...),
		Fix:         capFix(p, "SYS_ADMIN"),
	}
}
