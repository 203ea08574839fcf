package posture

/*
Rule: CAP_SYS_MODULE allows init_module/finit_module: code in the node's
kernel. The runtime default seccomp profile allows these syscalls when the
capability is granted, so seccomp does not help.

Blocked by: a sandboxed runtime; a user namespace (module loading needs the
capability in the initial user namespace); a non-root user with
no_new_privs.
Weakened by: a non-root user.
*/

// CheckCapSysModule is the CAP_SYS_MODULE escape.
func CheckCapSysModule() Check {
	return Check{
		ID:        "capSysModule",
		Title:     "CAP_SYS_MODULE",
		Technique: "T1611",
		Versions: []VersionedCheck{
			{Version: 1, Eval: capSysModule_v1},
			// v2: drop entries spelled so that containerd removes nothing are evidence.
			{Version: 2, Eval: withMisspelledDrops(capSysModule_v1, "SYS_MODULE")},
		},
	}
}

func capSysModule_v1(p *Profile) Result {
	if p.Privileged || !p.Capabilities.Has("SYS_MODULE") {
		return Result{}
	}
	ms := []MitigationEffect{
		effect(p, MitigationSandbox, Blocks, "modules would load into the sandbox's kernel, not the node's"),
		effect(p, MitigationUserNS, Blocks, "loading a module needs CAP_SYS_MODULE in the initial user namespace"),
	}
	return Result{
		Applies:     true,
		Reason:      "CAP_SYS_MODULE: load a kernel module into the node's kernel",
		Evidence:    []string{p.Path + ".securityContext.capabilities: SYS_MODULE"},
		Mitigations: append(ms, capabilityEffects(p)...),
		Fix:         capFix(p, "SYS_MODULE"),
	}
}
