package posture

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// DefaultCapabilities is the capability set containerd (and Docker) give a
// container that asks for nothing: the larger of the common runtime
// defaults (CRI-O's has 9 of these 14), so the estimate errs towards more.
var DefaultCapabilities = []string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

// AllCapabilities are the Linux capabilities (6.x kernels), for privileged
// containers and "add: [ALL]".
var AllCapabilities = []string{
	"AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN",
	"DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
	"LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST",
	"NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYSLOG", "SYS_ADMIN", "SYS_BOOT",
	"SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE",
	"SYS_TIME", "SYS_TTY_CONFIG", "WAKE_ALARM",
}

// normCap writes a capability as the runtime means it: upper case without
// the CAP_ prefix (containerd prefixes CAP_ itself; a name already carrying
// it is taken to mean that capability).
func normCap(c corev1.Capability) string {
	return strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(string(c))), "CAP_")
}

// effectiveCapabilities applies add and drop to the runtime default set as
// containerd's CRI plugin does (WithCapabilities): add ALL sets every
// capability, then drop ALL clears them, then each named add is added, then
// each named drop removed (so a capability both added and dropped is
// dropped).
func effectiveCapabilities(sc *corev1.SecurityContext, privileged bool, defaults []string) Capabilities {
	var c Capabilities
	if sc != nil && sc.Capabilities != nil {
		for _, a := range sc.Capabilities.Add {
			c.Added = append(c.Added, normCap(a))
		}
		for _, d := range sc.Capabilities.Drop {
			c.Dropped = append(c.Dropped, normCap(d))
		}
	}
	if privileged {
		c.Effective = slices.Clone(AllCapabilities)
	} else {
		set := map[string]bool{}
		for _, d := range defaults {
			set[d] = true
		}
		if slices.Contains(c.Added, "ALL") {
			for _, a := range AllCapabilities {
				set[a] = true
			}
		}
		if slices.Contains(c.Dropped, "ALL") {
			clear(set)
		}
		for _, a := range c.Added {
			if a != "ALL" && a != "" {
				set[a] = true
			}
		}
		for _, d := range c.Dropped {
			delete(set, d)
		}
		c.Effective = make([]string, 0, len(set))
		for k := range set {
			c.Effective = append(c.Effective, k)
		}
		slices.Sort(c.Effective)
	}
	for _, e := range c.Effective {
		if !slices.Contains(defaults, e) {
			c.BeyondDefault = append(c.BeyondDefault, e)
		}
	}
	return c
}
