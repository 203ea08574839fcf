package posture

import (
	"path"
	"strings"
)

// hostPathRule rates a node path. A mount of a directory above a rated path
// exposes that path too; a mount below a rated path inherits its rating
// only when subtree is set (everything under /var/lib/kubelet is
// sensitive, not everything under /etc).
type hostPathRule struct {
	path    string
	subtree bool
	rw, ro  Risk
	reason  string
}

// hostPathRules are the node paths credence knows. A path matching none is
// rated medium: its contents are unknown, and unknown is never safe.
var hostPathRules = append(baseRules, runtimeRules()...)

var baseRules = []hostPathRule{
	{path: "/", rw: RiskCritical, ro: RiskCritical, reason: "the node's whole filesystem: kubelet credentials, every pod's secrets, runtime sockets"},
	{path: "/etc", rw: RiskCritical, ro: RiskHigh, reason: "node configuration: cron, sudoers, passwd/shadow, systemd units"},
	{path: "/etc/kubernetes", subtree: true, rw: RiskCritical, ro: RiskCritical, reason: "kubelet kubeconfig and PKI; static pod manifests (writing one runs any pod on the node)"},
	{path: "/etc/shadow", subtree: true, rw: RiskCritical, ro: RiskHigh, reason: "the node's password hashes"},
	{path: "/etc/passwd", subtree: true, rw: RiskCritical, ro: RiskLow, reason: "the node's accounts"},
	{path: "/etc/sudoers", subtree: true, rw: RiskCritical, ro: RiskLow, reason: "who may become root on the node"},
	{path: "/etc/sudoers.d", subtree: true, rw: RiskCritical, ro: RiskLow, reason: "who may become root on the node"},
	{path: "/etc/crontab", subtree: true, rw: RiskCritical, ro: RiskLow, reason: "commands the node runs as root"},
	{path: "/etc/cron.d", subtree: true, rw: RiskCritical, ro: RiskLow, reason: "commands the node runs as root"},
	{path: "/etc/systemd", subtree: true, rw: RiskCritical, ro: RiskLow, reason: "services the node runs as root"},
	{path: "/etc/ld.so.preload", subtree: true, rw: RiskCritical, ro: RiskLow, reason: "a library loaded into every program on the node"},
	{path: "/etc/ssh", subtree: true, rw: RiskCritical, ro: RiskHigh, reason: "the node's SSH host keys and configuration"},
	{path: "/etc/cni", subtree: true, rw: RiskHigh, ro: RiskLow, reason: "CNI configuration: the node runs the plugins it names as root"},
	{path: "/etc/crio", subtree: true, rw: RiskHigh, ro: RiskLow, reason: "CRI-O configuration: runtimes and hooks run as root"},
	{path: "/etc/containerd", subtree: true, rw: RiskHigh, ro: RiskLow, reason: "containerd configuration: runtimes and plugins run as root"},
	{path: "/etc/ssl/certs", subtree: true, rw: RiskMedium, ro: RiskLow, reason: "trusted CA certificates"},
	{path: "/etc/pki", subtree: true, rw: RiskMedium, ro: RiskLow, reason: "trusted CA certificates"},
	{path: "/etc/ca-certificates", subtree: true, rw: RiskMedium, ro: RiskLow, reason: "trusted CA certificates"},
	{path: "/etc/localtime", subtree: true, rw: RiskMedium, ro: RiskLow, reason: "time zone"},
	{path: "/usr/share/zoneinfo", subtree: true, rw: RiskMedium, ro: RiskLow, reason: "time zones"},
	{path: "/var", rw: RiskCritical, ro: RiskCritical, reason: "holds /var/lib/kubelet and /var/run"},
	{path: "/var/lib", rw: RiskCritical, ro: RiskCritical, reason: "holds kubelet, runtime and etcd state"},
	{path: "/var/lib/kubelet", subtree: true, rw: RiskCritical, ro: RiskCritical, reason: "every pod's service account tokens and secrets on the node, the kubelet's PKI"},
	{path: "/var/lib/etcd", subtree: true, rw: RiskCritical, ro: RiskCritical, reason: "etcd data: every secret of the cluster (control-plane nodes)"},
	{path: "/var/lib/docker", subtree: true, rw: RiskCritical, ro: RiskHigh, reason: "other containers' filesystems and images"},
	{path: "/var/lib/containerd", subtree: true, rw: RiskCritical, ro: RiskHigh, reason: "other containers' filesystems and images"},
	{path: "/var/lib/containers", subtree: true, rw: RiskCritical, ro: RiskHigh, reason: "other containers' filesystems and images"},
	{path: "/var/log", subtree: true, rw: RiskHigh, ro: RiskMedium, reason: "node and pod logs; with write access a symlink makes the kubelet serve any node file"},
	{path: "/run", rw: RiskCritical, ro: RiskCritical, reason: "runtime sockets and node state"},
	{path: "/var/run", rw: RiskCritical, ro: RiskCritical, reason: "runtime sockets and node state"},
	{path: "/proc", subtree: true, rw: RiskCritical, ro: RiskHigh, reason: "the node's /proc: core_pattern, sysrq-trigger, other processes' memory and environment"},
	{path: "/sys", subtree: true, rw: RiskHigh, ro: RiskMedium, reason: "kernel interfaces: /sys/kernel, cgroup release_agent, device control"},
	{path: "/dev", subtree: true, rw: RiskCritical, ro: RiskHigh, reason: "the node's devices: raw disks, memory"},
	{path: "/boot", subtree: true, rw: RiskHigh, ro: RiskMedium, reason: "the node's kernel and bootloader"},
	{path: "/lib/modules", subtree: true, rw: RiskHigh, ro: RiskLow, reason: "kernel modules the node loads"},
	{path: "/usr", rw: RiskHigh, ro: RiskLow, reason: "the node's programs (replaced binaries run as root)"},
	{path: "/usr/bin", subtree: true, rw: RiskHigh, ro: RiskLow, reason: "the node's programs (replaced binaries run as root)"},
	{path: "/usr/sbin", subtree: true, rw: RiskHigh, ro: RiskLow, reason: "the node's programs (replaced binaries run as root)"},
	{path: "/usr/lib", subtree: true, rw: RiskHigh, ro: RiskLow, reason: "the node's libraries"},
	{path: "/usr/local/bin", subtree: true, rw: RiskHigh, ro: RiskLow, reason: "the node's programs (replaced binaries run as root)"},
	{path: "/bin", subtree: true, rw: RiskHigh, ro: RiskLow, reason: "the node's programs (replaced binaries run as root)"},
	{path: "/sbin", subtree: true, rw: RiskHigh, ro: RiskLow, reason: "the node's programs (replaced binaries run as root)"},
	{path: "/lib", rw: RiskHigh, ro: RiskLow, reason: "the node's libraries"},
	{path: "/lib64", subtree: true, rw: RiskHigh, ro: RiskLow, reason: "the node's libraries"},
	{path: "/opt/cni/bin", subtree: true, rw: RiskHigh, ro: RiskLow, reason: "CNI plugins the node runs as root"},
	{path: "/root", subtree: true, rw: RiskHigh, ro: RiskHigh, reason: "root's SSH keys, credentials and shell history"},
	{path: "/home", subtree: true, rw: RiskHigh, ro: RiskHigh, reason: "users' SSH keys and credentials"},
	{path: "/tmp", subtree: true, rw: RiskMedium, ro: RiskLow, reason: "shared with the node's processes"},
}

// runtimeSockets are the container runtime sockets credence knows.
var runtimeSockets = []string{
	"/run/containerd/containerd.sock",
	"/var/run/containerd/containerd.sock",
	"/run/k3s/containerd/containerd.sock",
	"/run/crio/crio.sock",
	"/var/run/crio/crio.sock",
	"/run/docker.sock",
	"/var/run/docker.sock",
	"/run/cri-dockerd.sock",
	"/var/run/cri-dockerd.sock",
	"/run/podman/podman.sock",
	"/var/run/podman/podman.sock",
	"/run/buildkit/buildkitd.sock",
}

func runtimeRules() []hostPathRule {
	var rules []hostPathRule
	for _, s := range runtimeSockets {
		rules = append(rules, hostPathRule{path: s, rw: RiskCritical, ro: RiskCritical,
			reason: "container runtime socket: start a privileged container on the node (read-only does not stop connect)"})
	}
	for _, d := range []string{"/run/containerd", "/var/run/containerd", "/run/crio", "/var/run/crio", "/var/run/docker", "/run/docker", "/run/podman", "/run/k3s"} {
		rules = append(rules, hostPathRule{path: d, subtree: true, rw: RiskCritical, ro: RiskCritical,
			reason: "container runtime state and socket"})
	}
	return rules
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// rateHostPath returns the risk of mounting node path p and why.
func rateHostPath(p string, readOnly bool) (Risk, string) {
	p = cleanHostPath(p)
	var best Risk
	var reasons []string
	consider := func(r hostPathRule, what string) {
		risk := r.rw
		if readOnly {
			risk = r.ro
		}
		switch {
		case risk.rank() > best.rank():
			best, reasons = risk, []string{what + r.reason}
		case risk == best && len(reasons) < 3:
			reasons = append(reasons, what+r.reason)
		}
	}
	matched := false
	for _, r := range hostPathRules {
		switch {
		case p == r.path:
			consider(r, "")
			matched = true
		case within(r.path, p):
			// The mount is above a rated path and exposes it.
			consider(r, r.path+": ")
			matched = true
		case r.subtree && within(p, r.path):
			consider(r, "under "+r.path+": ")
			matched = true
		}
	}
	if !matched || best == "" {
		return RiskMedium, "a node path credence does not know: its contents are unknown"
	}
	return best, strings.Join(reasons, "; ")
}

// socketsUnder lists the runtime sockets reachable through a mount of p.
func socketsUnder(p string) []string {
	p = cleanHostPath(p)
	var out []string
	for _, s := range runtimeSockets {
		if within(s, p) {
			out = append(out, s)
		}
	}
	return out
}

// cleanHostPath makes p absolute and clean; the kubelet refuses relative
// hostPath paths, but a manifest may hold one.
func cleanHostPath(p string) string {
	return path.Clean("/" + p)
}
