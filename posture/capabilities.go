package posture

import (
	"fmt"
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

// normCap writes a capability in the CRI's spelling: upper case, without
// the CAP_ prefix.
func normCap(c corev1.Capability) string {
	return strings.TrimPrefix(upperCap(c), "CAP_")
}

func upperCap(c corev1.Capability) string { return strings.ToUpper(strings.TrimSpace(string(c))) }

/*
How runtimes read capabilities.add and capabilities.drop (the kubelet passes
them to the CRI unchanged; the API server does not validate the names):

  - containerd's CRI plugin (internal/cri/opts/spec_linux_opts.go,
    WithCapabilities): "ALL" in add or drop is matched case-insensitively and
    applied first (add ALL sets every capability, drop ALL clears them);
    every other name is upper-cased and prefixed: "CAP_" + name. A name
    written with the prefix becomes CAP_CAP_NET_RAW: dropping it removes
    nothing, and adding it puts an unknown name in the OCI spec, which runc
    ignores with a warning ("ignoring unknown or unavailable capabilities",
    libcontainer/capabilities) and youki refuses. "CAP_ALL" is not "ALL".
  - CRI-O (internal/factory/container, SpecSetupCapabilities) adds the prefix
    only when it is missing, so CAP_NET_RAW works there; "CAP_ALL" is not
    "ALL" either: adding it fails ("unknown capability"), dropping it fails
    in runtime-tools' validation, and the container does not start.

credence models containerd (the default of most distributions) and errs
towards more capabilities where the runtimes differ: a prefixed drop
removes nothing, a prefixed add is counted as added (CRI-O adds it), and
each such spelling is reported as a misconfiguration.
*/

// effectiveCapabilities applies add and drop to the runtime default set as
// containerd's CRI plugin does: add ALL sets every capability, then drop ALL
// clears them, then each named add is added, then each named drop removed
// (so a capability both added and dropped is dropped). field is the
// container's field path, for the misspellings it reports.
func effectiveCapabilities(sc *corev1.SecurityContext, privileged bool, defaults []string, field string) Capabilities {
	var c Capabilities
	addAll, dropAll := false, false
	var adds, drops []string
	if sc != nil && sc.Capabilities != nil {
		for i, a := range sc.Capabilities.Add {
			w := upperCap(a)
			c.Added = append(c.Added, w)
			f := fmt.Sprintf("%s.securityContext.capabilities.add[%d]", field, i)
			switch name, prefixed := strings.CutPrefix(w, "CAP_"); {
			case w == "ALL":
				addAll = true
			case w == "CAP_ALL":
				c.Misspelled = append(c.Misspelled, CapabilitySpelling{Field: f, Value: string(a), Means: "ALL",
					Effect: "adds nothing under containerd (CAP_CAP_ALL is unknown to runc) and stops the container from starting under CRI-O: write ALL"})
			case prefixed && slices.Contains(AllCapabilities, name):
				adds = append(adds, name)
				c.Misspelled = append(c.Misspelled, CapabilitySpelling{Field: f, Value: string(a), Means: name,
					Effect: "containerd prefixes CAP_ itself and asks for CAP_CAP_" + name + ", which runc ignores; CRI-O adds " + name + ": counted as added; write " + name})
			case slices.Contains(AllCapabilities, w):
				adds = append(adds, w)
			default:
				c.Misspelled = append(c.Misspelled, CapabilitySpelling{Field: f, Value: string(a),
					Effect: "not a Linux capability: runc ignores it, CRI-O refuses the container"})
			}
		}
		for i, d := range sc.Capabilities.Drop {
			w := upperCap(d)
			c.Dropped = append(c.Dropped, w)
			f := fmt.Sprintf("%s.securityContext.capabilities.drop[%d]", field, i)
			switch name, prefixed := strings.CutPrefix(w, "CAP_"); {
			case w == "ALL":
				dropAll = true
			case w == "CAP_ALL":
				c.Misspelled = append(c.Misspelled, CapabilitySpelling{Field: f, Value: string(d), Means: "ALL",
					Effect: "drops nothing under containerd (it drops CAP_CAP_ALL) and stops the container from starting under CRI-O: write ALL"})
			case prefixed && slices.Contains(AllCapabilities, name):
				c.Misspelled = append(c.Misspelled, CapabilitySpelling{Field: f, Value: string(d), Means: name,
					Effect: "drops nothing under containerd, which prefixes CAP_ itself and drops CAP_CAP_" + name + " (CRI-O drops " + name + "): not credited; write " + name})
			case slices.Contains(AllCapabilities, w):
				drops = append(drops, w)
			default:
				c.Misspelled = append(c.Misspelled, CapabilitySpelling{Field: f, Value: string(d),
					Effect: "not a Linux capability: dropping it removes nothing"})
			}
		}
	}
	if privileged {
		c.Effective = slices.Clone(AllCapabilities)
	} else {
		set := map[string]bool{}
		for _, d := range defaults {
			set[d] = true
		}
		if addAll {
			for _, a := range AllCapabilities {
				set[a] = true
			}
		}
		if dropAll {
			clear(set)
		}
		for _, a := range adds {
			set[a] = true
		}
		for _, d := range drops {
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

// misspelledDrops returns evidence for capability name (without CAP_) being
// effective although the spec meant to drop it (or ALL) with a spelling the
// runtime does not apply.
func misspelledDrops(p *Profile, name string) []string {
	var out []string
	for _, m := range p.Capabilities.Misspelled {
		if strings.Contains(m.Field, ".drop[") && (m.Means == name || m.Means == "ALL") && p.Capabilities.Has(name) {
			out = append(out, m.Field+": "+m.Value+" "+m.Effect)
		}
	}
	return out
}
