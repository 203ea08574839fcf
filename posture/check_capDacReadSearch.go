package posture

/*
Rule: CAP_DAC_READ_SEARCH allows open_by_handle_at(2), which opens any file
on a filesystem the container has a mount on by guessing its handle: the
"shocker" escape reads (and with CAP_DAC_OVERRIDE writes) files of the node.
The runtime default seccomp profile allows the syscall when the capability
is granted.

Blocked by: a sandboxed runtime; a user namespace (the syscall needs the
capability in the initial user namespace); a non-root user with
no_new_privs.
Weakened by: SELinux (container_t may not open files labelled for the
node), a non-root user.
*/

// CheckCapDacReadSearch is the CAP_DAC_READ_SEARCH (open_by_handle_at) escape.
func CheckCapDacReadSearch() Check {
	return Check{
		ID:        "capDacReadSearch",
		Title:     "CAP_DAC_READ_SEARCH (open_by_handle_at)",
		Technique: "T1611",
		Versions: []VersionedCheck{
			{Version: 1, Eval: capDacReadSearch_v1},
			// v2: drop entries spelled so that containerd removes nothing are evidence.
			{Version: 2, Eval: withMisspelledDrops(capDacReadSearch_v1, "DAC_READ_SEARCH")},
		},
	}
}

func capDacReadSearch_v1(p *Profile) Result {
	if p.Privileged || !p.Capabilities.Has("DAC_READ_SEARCH") {
		return Result{}
	}
	ms := []MitigationEffect{
		effect(p, MitigationSandbox, Blocks, "the sandbox's filesystem handles are not the node's"),
		effect(p, MitigationUserNS, Blocks, "open_by_handle_at needs CAP_DAC_READ_SEARCH in the initial user namespace"),
		effect(p, MitigationSELinux, Weakens, "a confining SELinux type may not open files labelled for the node"),
	}
	return Result{
		Applies:     true,
		Reason:      "CAP_DAC_READ_SEARCH: open_by_handle_at opens any file of the node's filesystems the container has a mount on",
		Evidence:    []string{p.Path + ".securityContext.capabilities: DAC_READ_SEARCH"},
		Mitigations: append(ms, capabilityEffects(p)...),
		Fix:         capFix(p, "DAC_READ_SEARCH"),
	}
}
