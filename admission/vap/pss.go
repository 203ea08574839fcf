package vap

import "strings"

// pssCheck is one Pod Security Standards check written in Kubernetes CEL,
// mirroring k8s.io/pod-security-admission's check of the same ID at
// version "latest" (v1.37), which credence's posture evaluates: pod is a
// condition over variables.spec and variables.annotations, container one
// over a container c; both must hold (empty means true).
type pssCheck struct {
	id         string
	restricted bool
	// overrides names the baseline check this restricted check replaces.
	overrides string
	detail    string
	pod       string
	container func(c string) string
}

const (
	spec = "variables.spec"
	ann  = "variables.annotations"
)

// relaxed: the pod runs in a user namespace (hostUsers: false).
const relaxed = "(has(" + spec + ".hostUsers) && !" + spec + ".hostUsers)"

// windows: the pod declares the Windows OS.
const windows = "(has(" + spec + ".os) && " + spec + ".os.name == 'windows')"

func notTrue(base string, path ...string) string {
	return "(" + unset(base, path...) + " || !" + field(base, path...) + ")"
}

func seLinuxOK(base string) string {
	o := base + ".seLinuxOptions"
	return "(!has(" + o + ") || ((" + unset(o, "type") + " || " + o + ".type in ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']) && " +
		"(" + unset(o, "user") + " || " + o + ".user == '') && (" + unset(o, "role") + " || " + o + ".role == '')))"
}

func probeHostsOK(c string) string {
	var parts []string
	for _, p := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		b := c + "." + p
		parts = append(parts, "(!has("+b+") || (("+unset(b, "httpGet", "host")+" || "+b+".httpGet.host == '') && ("+unset(b, "tcpSocket", "host")+" || "+b+".tcpSocket.host == '')))")
	}
	for _, h := range []string{"postStart", "preStop"} {
		b := c + ".lifecycle." + h
		parts = append(parts, "(!has("+c+".lifecycle) || !has("+b+") || (("+unset(b, "httpGet", "host")+" || "+b+".httpGet.host == '') && ("+unset(b, "tcpSocket", "host")+" || "+b+".tcpSocket.host == '')))")
	}
	return "(" + strings.Join(parts, " && ") + ")"
}

var pssChecks = []pssCheck{
	{id: "hostNamespaces", detail: "the pod must not share the host's network, PID or IPC namespace (hostNetwork, hostPID, hostIPC)",
		pod: notTrue(spec, "hostNetwork") + " && " + notTrue(spec, "hostPID") + " && " + notTrue(spec, "hostIPC")},
	{id: "privileged", detail: "containers must not be privileged (securityContext.privileged)",
		container: func(c string) string { return notTrue(c, "securityContext", "privileged") }},
	{id: "capabilities_baseline", detail: "containers must not add capabilities beyond the baseline set (securityContext.capabilities.add)",
		container: func(c string) string {
			return orUnset(func(f string) string {
				return f + ".all(a, a in ['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT'])"
			}, c, "securityContext", "capabilities", "add")
		}},
	{id: "hostPathVolumes", detail: "the pod must not mount hostPath volumes",
		pod: "(!has(" + spec + ".volumes) || " + spec + ".volumes.all(v, !has(v.hostPath)))"},
	{id: "hostPorts", detail: "containers must not use host ports (ports[].hostPort)",
		container: func(c string) string {
			return "(!has(" + c + ".ports) || " + c + ".ports.all(p, !has(p.hostPort) || p.hostPort == 0))"
		}},
	{id: "appArmorProfile", detail: "AppArmor must not be Unconfined (securityContext.appArmorProfile.type, container.apparmor.security.beta.kubernetes.io annotations)",
		pod: orUnset(func(f string) string { return f + " in ['RuntimeDefault', 'Localhost']" }, spec, "securityContext", "appArmorProfile", "type") + " && " +
			ann + ".all(k, !k.startsWith('container.apparmor.security.beta.kubernetes.io/') || " + ann + "[k] == '' || " + ann + "[k] == 'runtime/default' || " + ann + "[k].startsWith('localhost/'))",
		container: func(c string) string {
			return orUnset(func(f string) string { return f + " in ['RuntimeDefault', 'Localhost']" }, c, "securityContext", "appArmorProfile", "type")
		}},
	{id: "seLinuxOptions", detail: "SELinux options must not set a custom user, role or an unexpected type",
		pod: "(!has(" + spec + ".securityContext) || " + seLinuxOK(spec+".securityContext") + ")",
		container: func(c string) string {
			return "(!has(" + c + ".securityContext) || " + seLinuxOK(c+".securityContext") + ")"
		}},
	{id: "procMount", detail: "containers must use the Default /proc mount (unless the pod runs in a user namespace)",
		pod: relaxed + " || variables.containers.all(c, " + procMountOK("c") + ") && variables.ephemeral.all(c, " + procMountOK("c") + ")"},
	{id: "seccompProfile_baseline", detail: "seccomp must not be Unconfined (securityContext.seccompProfile.type)",
		pod: orUnset(seccompOK, spec, "securityContext", "seccompProfile", "type"),
		container: func(c string) string {
			return orUnset(seccompOK, c, "securityContext", "seccompProfile", "type")
		}},
	{id: "sysctls", detail: "the pod must set only safe sysctls",
		pod: orUnset(func(f string) string {
			return f + ".all(s, s.name in ['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', " +
				"'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', " +
				"'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes', 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem', 'net.ipv4.tcp_slow_start_after_idle', 'net.ipv4.tcp_notsent_lowat'])"
		}, spec, "securityContext", "sysctls")},
	{id: "windowsHostProcess", detail: "the pod must not run Windows host processes",
		pod:       notTrue(spec, "securityContext", "windowsOptions", "hostProcess"),
		container: func(c string) string { return notTrue(c, "securityContext", "windowsOptions", "hostProcess") }},
	{id: "hostProbesAndHostLifecycle", detail: "probes and lifecycle handlers must not name a host",
		container: probeHostsOK},

	{id: "restrictedVolumes", restricted: true, overrides: "hostPathVolumes", detail: "volumes must be of the restricted types (configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected, secret)",
		pod: "(!has(" + spec + ".volumes) || " + spec + ".volumes.all(v, has(v.configMap) || has(v.csi) || has(v.downwardAPI) || has(v.emptyDir) || has(v.ephemeral) || has(v.image) || has(v.persistentVolumeClaim) || has(v.projected) || has(v.secret)))"},
	{id: "allowPrivilegeEscalation", restricted: true, detail: "containers must set securityContext.allowPrivilegeEscalation=false",
		pod: windows + " || variables.containers.all(c, " + apeOK("c") + ") && variables.ephemeral.all(c, " + apeOK("c") + ")"},
	{id: "runAsNonRoot", restricted: true, detail: "the pod or every container must set securityContext.runAsNonRoot=true",
		pod: relaxed + " || (" + notFalse(spec, "securityContext", "runAsNonRoot") + " && variables.containers.all(c, " + nonRootOK("c") + ") && variables.ephemeral.all(c, " + nonRootOK("c") + "))"},
	{id: "runAsUser", restricted: true, detail: "the pod and containers must not set runAsUser=0",
		pod: relaxed + " || (" + notZero(spec, "securityContext", "runAsUser") + " && variables.containers.all(c, " + notZero("c", "securityContext", "runAsUser") + ") && variables.ephemeral.all(c, " + notZero("c", "securityContext", "runAsUser") + "))"},
	{id: "seccompProfile_restricted", restricted: true, overrides: "seccompProfile_baseline", detail: "the pod or every container must set securityContext.seccompProfile.type to RuntimeDefault or Localhost",
		pod: windows + " || (" + orUnset(seccompOK, spec, "securityContext", "seccompProfile", "type") + " && variables.containers.all(c, " + seccompSet("c") + ") && variables.ephemeral.all(c, " + seccompSet("c") + "))"},
	{id: "capabilities_restricted", restricted: true, overrides: "capabilities_baseline", detail: `containers must drop ALL capabilities and add only NET_BIND_SERVICE`,
		pod: windows + " || variables.containers.all(c, " + capsRestricted("c") + ") && variables.ephemeral.all(c, " + capsRestricted("c") + ")"},
	{id: "procMount_restricted", restricted: true, overrides: "procMount", detail: "containers must use the Default /proc mount",
		pod: "variables.containers.all(c, " + procMountOK("c") + ") && variables.ephemeral.all(c, " + procMountOK("c") + ")"},
}

func procMountOK(c string) string {
	return orUnset(func(f string) string { return f + " == 'Default'" }, c, "securityContext", "procMount")
}

func seccompOK(f string) string { return f + " in ['RuntimeDefault', 'Localhost']" }

func apeOK(c string) string {
	return "(has(" + c + ".securityContext) && has(" + c + ".securityContext.allowPrivilegeEscalation) && !" + c + ".securityContext.allowPrivilegeEscalation)"
}

func notFalse(base string, path ...string) string {
	return "(" + unset(base, path...) + " || " + field(base, path...) + ")"
}

func notZero(base string, path ...string) string {
	return "(" + unset(base, path...) + " || " + field(base, path...) + " != 0)"
}

// nonRootOK: the container sets runAsNonRoot true, or leaves it to a pod
// that sets it true.
func nonRootOK(c string) string {
	podTrue := "(has(" + spec + ".securityContext) && has(" + spec + ".securityContext.runAsNonRoot) && " + spec + ".securityContext.runAsNonRoot)"
	return "((has(" + c + ".securityContext) && has(" + c + ".securityContext.runAsNonRoot)) ? " + c + ".securityContext.runAsNonRoot : " + podTrue + ")"
}

// seccompSet: the container sets a valid profile, or leaves it to a pod
// that sets one.
func seccompSet(c string) string {
	podSet := "(has(" + spec + ".securityContext) && has(" + spec + ".securityContext.seccompProfile) && " + seccompOK(spec+".securityContext.seccompProfile.type") + ")"
	return "((has(" + c + ".securityContext) && has(" + c + ".securityContext.seccompProfile)) ? " + seccompOK(c+".securityContext.seccompProfile.type") + " : " + podSet + ")"
}

func capsRestricted(c string) string {
	caps := c + ".securityContext.capabilities"
	return "(has(" + c + ".securityContext) && has(" + caps + ") && has(" + caps + ".drop) && 'ALL' in " + caps + ".drop && (!has(" + caps + ".add) || " + caps + ".add.all(a, a == 'NET_BIND_SERVICE')))"
}

// checksFor lists the checks of a level: baseline, or restricted (baseline
// with the checks restricted ones replace taken out).
func checksFor(restricted bool) []pssCheck {
	var out []pssCheck
	over := map[string]bool{}
	if restricted {
		for _, c := range pssChecks {
			if c.restricted && c.overrides != "" {
				over[c.overrides] = true
			}
		}
	}
	for _, c := range pssChecks {
		if (c.restricted && !restricted) || over[c.id] {
			continue
		}
		out = append(out, c)
	}
	return out
}

// expression is the check's whole condition.
func (c pssCheck) expression() string {
	var parts []string
	if c.pod != "" {
		parts = append(parts, "("+c.pod+")")
	}
	if c.container != nil {
		parts = append(parts, "variables.containers.all(c, "+c.container("c")+")", "variables.ephemeral.all(c, "+c.container("c")+")")
	}
	return strings.Join(parts, " && ")
}
