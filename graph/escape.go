package graph

import (
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// isolation is what the graph needs to know about one container's
// isolation from the node. (The posture package computes the full
// profile; this is the subset the escape edges read.)
type isolation struct {
	privileged  bool
	caps        []string // effective capabilities beyond the runtime default that matter for escapes
	hostPID     bool
	hostIPC     bool
	hostNetwork bool
	userns      bool   // hostUsers: false
	seccomp     string // RuntimeDefault, Localhost, Unconfined, "" (unset: the kubelet default, usually Unconfined)
	apparmor    string // RuntimeDefault, Localhost, Unconfined, ""
	selinuxType string
	nonRoot     bool // runAsNonRoot or a non-zero runAsUser
	noEscalate  bool // allowPrivilegeEscalation: false
	sandbox     string
	procUnmask  bool
	hostPaths   []hostMount
}

type hostMount struct {
	volume, path, mountPath string
	readOnly                bool
	field                   string
}

var dangerousCaps = []string{"SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "DAC_READ_SEARCH", "SYS_RAWIO", "BPF", "SYS_BOOT"}

func containerIsolation(pod *corev1.Pod, c *corev1.Container, sandboxed func(string) string) isolation {
	ps := pod.Spec.SecurityContext
	if ps == nil {
		ps = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	iso := isolation{
		hostPID:     pod.Spec.HostPID,
		hostIPC:     pod.Spec.HostIPC,
		hostNetwork: pod.Spec.HostNetwork,
		userns:      pod.Spec.HostUsers != nil && !*pod.Spec.HostUsers,
		privileged:  sc.Privileged != nil && *sc.Privileged,
		noEscalate:  sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
		procUnmask:  sc.ProcMount != nil && *sc.ProcMount == corev1.UnmaskedProcMount,
	}
	if pod.Spec.RuntimeClassName != nil {
		iso.sandbox = sandboxed(*pod.Spec.RuntimeClassName)
	}
	// Capabilities: the runtime default set, minus drops (ALL drops every
	// default), plus adds; privileged has all of them.
	if sc.Capabilities != nil {
		dropAll := false
		for _, d := range sc.Capabilities.Drop {
			if strings.EqualFold(string(d), "ALL") {
				dropAll = true
			}
		}
		for _, a := range sc.Capabilities.Add {
			name := strings.TrimPrefix(strings.ToUpper(string(a)), "CAP_")
			if name == "ALL" {
				iso.caps = slices.Clone(dangerousCaps)
				break
			}
			if slices.Contains(dangerousCaps, name) && !slices.Contains(iso.caps, name) {
				dropped := false
				for _, d := range sc.Capabilities.Drop {
					if strings.TrimPrefix(strings.ToUpper(string(d)), "CAP_") == name {
						dropped = true
					}
				}
				if !dropped || dropAll {
					iso.caps = append(iso.caps, name)
				}
			}
		}
	}
	if iso.privileged {
		iso.caps = slices.Clone(dangerousCaps)
	}
	switch {
	case sc.SeccompProfile != nil:
		iso.seccomp = string(sc.SeccompProfile.Type)
	case ps.SeccompProfile != nil:
		iso.seccomp = string(ps.SeccompProfile.Type)
	}
	switch {
	case sc.AppArmorProfile != nil:
		iso.apparmor = string(sc.AppArmorProfile.Type)
	case pod.Annotations["container.apparmor.security.beta.kubernetes.io/"+c.Name] != "":
		a := pod.Annotations["container.apparmor.security.beta.kubernetes.io/"+c.Name]
		switch {
		case a == "runtime/default":
			iso.apparmor = "RuntimeDefault"
		case strings.HasPrefix(a, "localhost/"):
			iso.apparmor = "Localhost"
		case a == "unconfined":
			iso.apparmor = "Unconfined"
		}
	case ps.AppArmorProfile != nil:
		iso.apparmor = string(ps.AppArmorProfile.Type)
	}
	switch {
	case sc.SELinuxOptions != nil && sc.SELinuxOptions.Type != "":
		iso.selinuxType = sc.SELinuxOptions.Type
	case ps.SELinuxOptions != nil && ps.SELinuxOptions.Type != "":
		iso.selinuxType = ps.SELinuxOptions.Type
	}
	switch {
	case sc.RunAsNonRoot != nil && *sc.RunAsNonRoot, sc.RunAsUser != nil && *sc.RunAsUser != 0:
		iso.nonRoot = !(sc.RunAsUser != nil && *sc.RunAsUser == 0)
	case sc.RunAsUser == nil && (ps.RunAsNonRoot != nil && *ps.RunAsNonRoot || ps.RunAsUser != nil && *ps.RunAsUser != 0):
		iso.nonRoot = !(ps.RunAsUser != nil && *ps.RunAsUser == 0)
	}
	vols := map[string]*corev1.Volume{}
	for i := range pod.Spec.Volumes {
		vols[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	for i, m := range c.VolumeMounts {
		v := vols[m.Name]
		if v == nil || v.HostPath == nil {
			continue
		}
		iso.hostPaths = append(iso.hostPaths, hostMount{
			volume: v.Name, path: path.Clean("/" + v.HostPath.Path), mountPath: m.MountPath,
			readOnly: m.ReadOnly, field: fmt.Sprintf("volumeMounts[%d] (hostPath %s)", i, v.HostPath.Path),
		})
	}
	return iso
}

var runtimeSockets = []string{
	"/var/run/docker.sock", "/run/docker.sock", "/var/run/docker",
	"/run/containerd", "/var/run/containerd", "/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock",
	"/var/run/crio", "/run/crio", "/var/run/crio/crio.sock", "/run/crio/crio.sock",
	"/var/run/cri-dockerd.sock", "/run/podman/podman.sock", "/var/run/dockershim.sock",
}

func isRuntimeSocket(p string) bool {
	if slices.Contains(runtimeSockets, p) {
		return true
	}
	base := path.Base(p)
	return strings.HasSuffix(base, ".sock") && (strings.Contains(base, "docker") || strings.Contains(base, "containerd") || strings.Contains(base, "crio") || strings.Contains(base, "podman"))
}

// sensitiveRoots are host paths whose write access gives the node (or its
// credentials). A mount of one of them, below one, or above one counts.
var sensitiveRoots = []string{
	"/etc", "/root", "/home", "/boot", "/lib/modules", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/opt",
	"/proc", "/sys", "/dev", "/run", "/var/run", "/var/log",
	"/var/lib/kubelet", "/var/lib/docker", "/var/lib/containerd", "/var/lib/etcd", "/etc/kubernetes",
}

func isSensitiveHostPath(p string) bool {
	if p == "/" {
		return true
	}
	for _, r := range sensitiveRoots {
		if p == r || strings.HasPrefix(p, r+"/") || strings.HasPrefix(r, p+"/") {
			return true
		}
	}
	return false
}

// escape is one way out of a container to its node.
type escape struct {
	kind      string // "privileged", "hostPID", "CAP_SYS_ADMIN", "hostPath /", "runtime socket"
	base      float64
	reason    string
	evidence  string // field
	technique string
	fix       string // summary
	fixKey    string
	weakened  []string
	factor    float64
}

func (e *escape) weaken(f float64, why string) {
	e.factor *= f
	e.weakened = append(e.weakened, why)
}

// escapes lists the escapes of one container, each weakened by the
// mitigations that apply to it, with the reason.
func escapes(iso isolation, field string) []escape {
	var out []escape
	add := func(e escape) { e.factor = 1; e.technique = "T1611"; out = append(out, e) }
	if iso.privileged {
		add(escape{kind: "privileged", base: 0.95,
			reason:   "privileged container: every capability, every host device, no seccomp or LSM confinement (mount the host disk, load modules)",
			evidence: field + ".securityContext.privileged", fix: "set privileged: false", fixKey: "privileged"})
	}
	if iso.hostPID {
		b, r := 0.5, "hostPID: sees every host process and its /proc/<pid>/environ and root filesystem (credentials of node daemons)"
		if iso.privileged || slices.Contains(iso.caps, "SYS_PTRACE") || slices.Contains(iso.caps, "SYS_ADMIN") {
			b, r = 0.95, "hostPID with privileged/SYS_PTRACE/SYS_ADMIN: nsenter -t 1 or ptrace into a host process gives a root shell on the node"
		}
		add(escape{kind: "hostPID", base: b, reason: r, evidence: "spec.hostPID", fix: "set hostPID: false", fixKey: "hostPID"})
	}
	if !iso.privileged {
		for _, c := range iso.caps {
			var b float64
			var r string
			switch c {
			case "SYS_ADMIN":
				b, r = 0.8, "CAP_SYS_ADMIN: mount the host's cgroup (release_agent) or block devices, or unshare into new namespaces"
				if iso.procUnmask {
					r += "; procMount Unmasked exposes /proc/sys/kernel/core_pattern"
				}
			case "SYS_MODULE":
				b, r = 0.9, "CAP_SYS_MODULE: load a kernel module into the shared kernel"
			case "DAC_READ_SEARCH":
				b, r = 0.6, "CAP_DAC_READ_SEARCH: open_by_handle_at reads host files (shocker)"
			case "SYS_RAWIO", "SYS_BOOT":
				b, r = 0.5, "CAP_"+c+": raw access to host devices or the kernel"
			case "BPF":
				b, r = 0.5, "CAP_BPF: load eBPF programs into the shared kernel"
			default:
				continue
			}
			add(escape{kind: "CAP_" + c, base: b, reason: r, evidence: field + ".securityContext.capabilities.add", fix: "drop capability " + c, fixKey: "cap-" + c})
		}
	}
	for _, h := range iso.hostPaths {
		switch {
		case isRuntimeSocket(h.path):
			add(escape{kind: "runtime socket " + h.path, base: 0.95,
				reason:   "container runtime socket " + h.path + " mounted: start a privileged container on the node",
				evidence: field + "." + h.field, fix: "remove the runtime socket mount " + h.volume, fixKey: "hostpath-" + h.volume})
		case isSensitiveHostPath(h.path) && !h.readOnly:
			add(escape{kind: "hostPath " + h.path, base: 0.9,
				reason:   "writable hostPath " + h.path + ": write host files (cron, systemd units, kubelet config, other pods' data)",
				evidence: field + "." + h.field, fix: "remove hostPath volume " + h.volume + " (or mount it readOnly)", fixKey: "hostpath-" + h.volume})
		case isSensitiveHostPath(h.path):
			add(escape{kind: "hostPath " + h.path + " (read-only)", base: 0.4,
				reason:   "read-only hostPath " + h.path + ": read node credentials and other pods' secrets",
				evidence: field + "." + h.field, fix: "remove hostPath volume " + h.volume, fixKey: "hostpath-" + h.volume})
		}
	}
	for i := range out {
		weakenEscape(&out[i], iso)
	}
	return out
}

func weakenEscape(e *escape, iso isolation) {
	isCap := strings.HasPrefix(e.kind, "CAP_")
	isPath := strings.HasPrefix(e.kind, "hostPath") || strings.HasPrefix(e.kind, "runtime socket")
	if iso.sandbox != "" && !isPath {
		e.weaken(0.05, "sandboxed runtime "+iso.sandbox+": the container runs on its own kernel, not the node's")
	}
	if iso.userns {
		switch {
		case isPath:
			e.weaken(0.3, "hostUsers: false: container root maps to an unprivileged host user, so host files owned by root are not writable")
		default:
			e.weaken(0.15, "hostUsers: false: capabilities hold only inside the pod's user namespace, not over the host")
		}
	}
	if isCap && iso.nonRoot && iso.noEscalate {
		e.weaken(0.1, "runs as non-root with allowPrivilegeEscalation: false: added capabilities are not in the effective set and cannot be gained")
	} else if isPath && iso.nonRoot {
		e.weaken(0.5, "runs as non-root: host files owned by root are not writable")
	}
	if e.kind == "CAP_SYS_ADMIN" || e.kind == "hostPID" {
		if iso.apparmor == "RuntimeDefault" || iso.apparmor == "Localhost" {
			e.weaken(0.4, "AppArmor "+iso.apparmor+": the profile denies mount and ptrace of unconfined processes")
		}
	}
	if isCap && (iso.seccomp == "RuntimeDefault" || iso.seccomp == "Localhost") {
		e.weaken(0.8, "seccomp "+iso.seccomp+": narrower syscall surface (the default profile still allows what a granted capability needs)")
	}
	if isPath && iso.selinuxType != "" && iso.selinuxType != "spc_t" && iso.selinuxType != "unconfined_t" {
		e.weaken(0.3, "SELinux type "+iso.selinuxType+": confined, host files keep host labels the container cannot write")
	}
}

// minLikelihood is below which a weakened edge is removed (and reported
// as blocked, with the reasons).
const minLikelihood = 0.02
