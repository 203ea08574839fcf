// Package posture says how well each container is isolated from the shared
// kernel: its isolation Profile, its Pod Security level, and the escapes to the node it enables.
//
// Facts come from the pod spec as the kubelet and the container runtime
// apply it; what the spec leaves to the node (a seccomp default, an LSM) is
// Unknown, and Unknown never counts as protection. Pod Security levels come
// from the upstream k8s.io/pod-security-admission evaluator. Escape checks
// are values (Check), one file each (check_<id>.go), versioned.
package posture

import (
	"encoding"
	"fmt"

	"github.com/credence-dev/credence/cluster"
)

// Tri is a three-valued fact: Yes, No, or Unknown (the zero value, so a
// fact nobody established is never mistaken for protection).
type Tri uint8

// Tri values.
const (
	Unknown Tri = iota
	Yes
	No
)

func (t Tri) String() string {
	switch t {
	case Yes:
		return "yes"
	case No:
		return "no"
	default:
		return "unknown"
	}
}

// MarshalText writes "yes", "no" or "unknown".
func (t Tri) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads "yes", "no" or "unknown".
func (t *Tri) UnmarshalText(b []byte) error {
	switch string(b) {
	case "yes":
		*t = Yes
	case "no":
		*t = No
	case "unknown", "":
		*t = Unknown
	default:
		return fmt.Errorf("tri-state value %q: want yes, no or unknown", b)
	}
	return nil
}

// TriOf turns a bool into Yes or No.
func TriOf(b bool) Tri {
	if b {
		return Yes
	}
	return No
}

// ContainerKind says which list of the pod spec a container is in.
type ContainerKind string

// Container kinds.
const (
	KindContainer ContainerKind = "container"
	KindInit      ContainerKind = "initContainer"
	KindEphemeral ContainerKind = "ephemeralContainer"
)

// Profile is the isolation posture of one container in its pod. Pod-level
// fields (host namespaces, runtime class) are repeated in each container's
// profile so that a profile stands alone.
type Profile struct {
	Namespace string        `json:"namespace"`
	Pod       string        `json:"pod"`
	Workload  string        `json:"workload,omitempty"` // "Deployment/web" for a pod made from a template
	Container string        `json:"container"`
	Kind      ContainerKind `json:"kind"`
	// Path is the container's field path in the pod: "spec.containers[0]".
	Path  string `json:"path"`
	Image string `json:"image"`

	Privileged   bool         `json:"privileged"`
	Capabilities Capabilities `json:"capabilities"`
	// AllowPrivilegeEscalation is the effective value: true unless set to
	// false, and always true for a privileged container or one with
	// CAP_SYS_ADMIN (the kubelet does not set no_new_privs then).
	AllowPrivilegeEscalation bool `json:"allowPrivilegeEscalation"`
	// RunAsNonRoot and RunAsUser are the effective settings (container over
	// pod); nil when neither sets them.
	RunAsNonRoot *bool  `json:"runAsNonRoot,omitempty"`
	RunAsUser    *int64 `json:"runAsUser,omitempty"`
	// RunsAsRoot: Yes for runAsUser 0, No for another UID or runAsNonRoot,
	// Unknown when the image's USER decides.
	RunsAsRoot       Tri    `json:"runsAsRoot"`
	RunsAsRootReason string `json:"runsAsRootReason"`

	Seccomp  Confinement `json:"seccomp"`
	AppArmor Confinement `json:"appArmor"`
	SELinux  Confinement `json:"seLinux"`
	// ProcMount is "Default" (masked /proc paths) or "Unmasked".
	ProcMount              string `json:"procMount"`
	ReadOnlyRootFilesystem bool   `json:"readOnlyRootFilesystem"`

	HostNetwork bool `json:"hostNetwork"`
	HostPID     bool `json:"hostPID"`
	HostIPC     bool `json:"hostIPC"`
	// HostUsers is the effective value: false means the pod has its own
	// user namespace (hostUsers: false); unset means true.
	HostUsers             bool    `json:"hostUsers"`
	ShareProcessNamespace bool    `json:"shareProcessNamespace"`
	HostPorts             []int32 `json:"hostPorts,omitempty"`

	// HostPaths are the container's mounts of node paths: hostPath volumes
	// and hostPath/local PersistentVolumes reached through a claim.
	HostPaths []HostPathMount `json:"hostPaths,omitempty"`
	// RuntimeSockets lists container runtime sockets on the node that the
	// container's mounts reach (the socket itself or a directory above it).
	RuntimeSockets []string     `json:"runtimeSockets,omitempty"`
	RuntimeClass   RuntimeClass `json:"runtimeClass"`

	// PodSecurity is this container's Pod Security level: the upstream
	// evaluator run on the pod reduced to this one container (pod-level
	// fields count). The pod's own level is in PodReport.
	PodSecurity PodSecurity `json:"podSecurity"`

	// Mitigations are the isolation layers that may weaken escapes, each
	// Yes (in effect), No, or Unknown (left to the node), with the reason.
	Mitigations []Mitigation `json:"mitigations"`
	// Escapes are the escape techniques whose preconditions hold, each with
	// the mitigations that weaken or block it and a verdict.
	Escapes []Escape `json:"escapes"`
	// Unknowns are facts that could not be established ("PersistentVolumeClaim
	// shop/logs is not in the snapshot: it may be a hostPath volume").
	Unknowns []string `json:"unknowns,omitempty"`
}

// Capabilities are a container's Linux capabilities. Names are written
// without the CAP_ prefix, upper case.
type Capabilities struct {
	Added   []string `json:"added,omitempty"`   // securityContext.capabilities.add as written, upper case
	Dropped []string `json:"dropped,omitempty"` // securityContext.capabilities.drop as written, upper case
	// Effective is the container's capability set: the runtime's default
	// set after drop and add as containerd applies them (add ALL, drop ALL,
	// then each add, then each drop), or every capability when privileged.
	Effective []string `json:"effective"`
	// BeyondDefault are effective capabilities outside the runtime default set.
	BeyondDefault []string `json:"beyondDefault,omitempty"`
	// Usable says whether the container's processes can hold Effective: Yes
	// as root; No for a non-root user with no_new_privs (the kernel clears
	// capabilities at execve and nothing regains them); Unknown otherwise
	// (a setuid-root or file-capability binary in the image regains them).
	Usable       Tri    `json:"usable"`
	UsableReason string `json:"usableReason"`
	// Misspelled lists add and drop entries the runtime does not apply as
	// written (CAP_NET_RAW, CAP_ALL, names that are not capabilities): a
	// misconfiguration, never credited as protection.
	Misspelled []CapabilitySpelling `json:"misspelled,omitempty"`
}

// CapabilitySpelling is one capabilities.add or .drop entry that the
// container runtime does not apply as written.
type CapabilitySpelling struct {
	Field string `json:"field"` // "spec.containers[0].securityContext.capabilities.drop[0]"
	Value string `json:"value"` // as written: "CAP_NET_RAW"
	// Means is the capability (or ALL) the entry was meant to name; empty
	// when it names none.
	Means string `json:"means,omitempty"`
	// Effect says what containerd and CRI-O do with it, and what credence
	// counts.
	Effect string `json:"effect"`
}

// Has reports whether capability c (without CAP_) is effective.
func (c Capabilities) Has(name string) bool {
	for _, e := range c.Effective {
		if e == name {
			return true
		}
	}
	return false
}

// Confinement is the effective seccomp, AppArmor or SELinux setting.
type Confinement struct {
	// Profile is "RuntimeDefault", "Localhost/<name>", "Unconfined" or
	// "unset" for seccomp and AppArmor; the SELinux type ("container_t",
	// "spc_t") or "unset".
	Profile string `json:"profile"`
	// Source is where the setting comes from: "container", "pod",
	// "annotation", or "none".
	Source   string `json:"source"`
	Confined Tri    `json:"confined"`
	Reason   string `json:"reason"`
}

// Risk rates what a host path exposes.
type Risk string

// Risk levels, most severe first.
const (
	RiskCritical Risk = "critical"
	RiskHigh     Risk = "high"
	RiskMedium   Risk = "medium"
	RiskLow      Risk = "low"
)

func (r Risk) rank() int {
	switch r {
	case RiskCritical:
		return 4
	case RiskHigh:
		return 3
	case RiskMedium:
		return 2
	case RiskLow:
		return 1
	}
	return 0
}

// AtLeast reports whether r is as severe as o or more.
func (r Risk) AtLeast(o Risk) bool { return r.rank() >= o.rank() }

// HostPathMount is one mount of a node path into the container.
type HostPathMount struct {
	Volume string `json:"volume"`
	// Path is the node path the container sees (hostPath path plus subPath).
	Path      string `json:"path"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly"`
	Type      string `json:"type,omitempty"` // hostPath type (Directory, Socket, ...)
	// Via is "hostPath volume" or "PersistentVolume <name> (claim <claim>)".
	Via    string `json:"via"`
	Risk   Risk   `json:"risk"`
	Reason string `json:"reason"`
}

// RuntimeClass is the pod's runtime class and whether its handler runs
// containers in a sandbox with its own kernel (gVisor, Kata).
type RuntimeClass struct {
	Name      string `json:"name,omitempty"`
	Handler   string `json:"handler,omitempty"`
	Sandboxed Tri    `json:"sandboxed"`
	Reason    string `json:"reason"`
}

// Mitigation IDs.
const (
	MitigationUserNS     = "userns"       // hostUsers: false
	MitigationSeccomp    = "seccomp"      // RuntimeDefault (or a Localhost profile)
	MitigationAppArmor   = "apparmor"     // an AppArmor profile confines the container
	MitigationSELinux    = "selinux"      // a confining SELinux type (container_t)
	MitigationNoNewPrivs = "no-new-privs" // allowPrivilegeEscalation: false
	MitigationNonRoot    = "non-root"     // the container does not run as UID 0
	MitigationSandbox    = "sandbox"      // a sandboxed runtime handler (gVisor, Kata)
	// MitigationNoCaps combines non-root and no-new-privs: processes can
	// never hold the container's capabilities.
	MitigationNoCaps = "non-root+no-new-privs"
)

// Mitigation is one isolation layer and whether it is in effect.
type Mitigation struct {
	ID     string `json:"id"`
	State  Tri    `json:"state"`
	Reason string `json:"reason"`
}

// Effect is what a mitigation in effect does to an escape.
type Effect string

// Effects.
const (
	Blocks  Effect = "blocks"
	Weakens Effect = "weakens"
)

// MitigationEffect is a mitigation as it bears on one escape.
type MitigationEffect struct {
	ID     string `json:"id"`
	State  Tri    `json:"state"`
	Effect Effect `json:"effect"`
	// Reason says why the mitigation blocks or weakens this technique.
	Reason string `json:"reason"`
}

// Verdict is an escape's outcome after mitigations.
type Verdict string

// Verdicts. Only a mitigation whose state is Yes counts.
const (
	Open     Verdict = "open"     // no mitigation in effect
	Weakened Verdict = "weakened" // a weakening mitigation is in effect
	Blocked  Verdict = "blocked"  // a blocking mitigation is in effect
)

// Escape is an escape technique whose preconditions hold for a container.
type Escape struct {
	ID        string `json:"id"`      // check ID: "privileged", "capSysAdmin", ...
	Version   int    `json:"version"` // check version that decided
	Title     string `json:"title"`
	Technique string `json:"technique"` // MITRE ATT&CK id: T1611 escape to host, T1068 exploitation
	Reason    string `json:"reason"`
	// Evidence names the fields that make the preconditions hold.
	Evidence    []string           `json:"evidence"`
	Mitigations []MitigationEffect `json:"mitigations"`
	Verdict     Verdict            `json:"verdict"`
	// Fix is the smallest change to the pod spec that removes the
	// precondition.
	Fix string `json:"fix"`
}

// PodSecurity is a Pod Security Standards level with the failing checks.
type PodSecurity struct {
	// Level is the most restrictive level allowed: "restricted",
	// "baseline" or "privileged".
	Level string `json:"level"`
	// Version is the policy version evaluated ("latest").
	Version string `json:"version"`
	// Failures are the checks that fail, with the upstream reasons: those
	// of Level "baseline" keep the pod from baseline, the "restricted" ones
	// (and the baseline ones) from restricted.
	Failures []CheckFailure `json:"failures,omitempty"`
}

// CheckFailure is one failing Pod Security check.
type CheckFailure struct {
	ID     string `json:"id"`    // upstream check ID: "privileged", "capabilities_restricted"
	Level  string `json:"level"` // "baseline" or "restricted"
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// PodReport is the posture of one pod: its Pod Security level, whether its
// namespace's enforce label admits it, and each container's profile.
type PodReport struct {
	Namespace      string      `json:"namespace"`
	Name           string      `json:"name"`
	Workload       string      `json:"workload,omitempty"`
	Owner          string      `json:"owner,omitempty"`
	Node           string      `json:"node,omitempty"`
	ServiceAccount string      `json:"serviceAccount"`
	PodSecurity    PodSecurity `json:"podSecurity"`
	// Enforce is the namespace's pod-security.kubernetes.io/enforce level
	// and version ("baseline:latest"); empty when the namespace is not in the
	// snapshot.
	Enforce string `json:"enforce,omitempty"`
	// Admitted says whether PSA enforce would admit the pod (exemptions
	// aside); Unknown when the namespace is not in the snapshot.
	Admitted       Tri       `json:"admitted"`
	AdmittedReason string    `json:"admittedReason"`
	Containers     []Profile `json:"containers"`
}

// Key returns "namespace/name".
func (p *PodReport) Key() string { return p.Namespace + "/" + p.Name }

// Report is the posture of every pod in a snapshot.
type Report struct {
	Source string      `json:"source"`
	Pods   []PodReport `json:"pods"`
	// Gaps are the snapshot's gaps that bear on posture (pods, namespaces,
	// runtime classes, volumes that could not be read).
	Gaps []cluster.Gap `json:"gaps,omitempty"`
}

// Mitigation returns the profile's mitigation id (State Unknown when absent).
func (p *Profile) Mitigation(id string) Mitigation {
	for _, m := range p.Mitigations {
		if m.ID == id {
			return m
		}
	}
	return Mitigation{ID: id, State: Unknown, Reason: "not evaluated"}
}

// Escape returns the escape with check id, if its preconditions hold.
func (p *Profile) Escape(id string) (Escape, bool) {
	for _, e := range p.Escapes {
		if e.ID == id {
			return e, true
		}
	}
	return Escape{}, false
}

var (
	_ encoding.TextMarshaler   = Tri(0)
	_ encoding.TextUnmarshaler = (*Tri)(nil)
)
