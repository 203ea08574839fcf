package posture

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/credence-dev/credence/cluster"
)

// Evaluator computes profiles. Build it once with NewEvaluator and share it
// (CLI, graph builder, webhook); it is safe for concurrent use.
type Evaluator struct {
	checks          []Check
	psa             *psa
	defaultCaps     []string
	sandboxHandlers []string
}

// Option configures an Evaluator.
type Option func(*options) error

type options struct {
	checks          []Check
	psaVersion      string
	defaultCaps     []string
	sandboxHandlers []string
}

// WithChecks replaces the escape checks (default Checks()).
func WithChecks(checks []Check) Option {
	return func(o *options) error { o.checks = checks; return nil }
}

// WithPodSecurityVersion evaluates Pod Security at a policy version
// ("v1.30"); default "latest", as a namespace without a version label.
func WithPodSecurityVersion(v string) Option {
	return func(o *options) error { o.psaVersion = v; return nil }
}

// WithRuntimeDefaultCapabilities sets the runtime's default capability set
// (default DefaultCapabilities, containerd's).
func WithRuntimeDefaultCapabilities(caps ...string) Option {
	return func(o *options) error {
		for _, c := range caps {
			o.defaultCaps = append(o.defaultCaps, normCap(corev1.Capability(c)))
		}
		return nil
	}
}

// WithSandboxHandlers names more runtime handlers that sandbox containers
// with their own kernel (runsc* and kata* are known).
func WithSandboxHandlers(handlers ...string) Option {
	return func(o *options) error {
		for _, h := range handlers {
			if h == "" {
				return errors.New("sandbox handler: empty name")
			}
		}
		o.sandboxHandlers = append(o.sandboxHandlers, handlers...)
		return nil
	}
}

// NewEvaluator validates the checks and builds the upstream Pod Security
// evaluator.
func NewEvaluator(opts ...Option) (*Evaluator, error) {
	o := &options{checks: Checks(), psaVersion: "latest"}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, fmt.Errorf("posture options: %w", err)
		}
	}
	if err := validateChecks(o.checks); err != nil {
		return nil, fmt.Errorf("posture checks: %w", err)
	}
	p, err := newPSA(o.psaVersion)
	if err != nil {
		return nil, err
	}
	caps := o.defaultCaps
	if caps == nil {
		caps = DefaultCapabilities
	}
	return &Evaluator{checks: o.checks, psa: p, defaultCaps: caps, sandboxHandlers: o.sandboxHandlers}, nil
}

// postureKinds are the kinds whose gaps bear on posture: pods and what makes
// them, namespaces (enforce labels), runtime classes and volumes, and any
// kind credence does not know (it may make pods).
var notPostureKinds = map[string]bool{
	"Role": true, "ClusterRole": true, "RoleBinding": true, "ClusterRoleBinding": true, "NetworkPolicy": true,
	"Service": true, "Ingress": true, "Secret": true, "ServiceAccount": true, "Node": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
}

// Snapshot evaluates every pod of s.
func (e *Evaluator) Snapshot(s *cluster.Snapshot) *Report {
	r := &Report{Source: s.Source, Pods: make([]PodReport, 0, len(s.Pods))}
	for i := range s.Pods {
		r.Pods = append(r.Pods, e.Pod(s, &s.Pods[i]))
	}
	for _, g := range s.Gaps {
		if !notPostureKinds[g.Kind] {
			r.Gaps = append(r.Gaps, g)
		}
	}
	return r
}

// Pod evaluates one pod of s (s supplies namespaces, runtime classes and
// volumes).
func (e *Evaluator) Pod(s *cluster.Snapshot, p *cluster.Pod) PodReport {
	r := PodReport{
		Namespace: p.Namespace, Name: p.Name, Workload: p.Workload, Owner: p.Owner,
		Node: p.Spec.NodeName, ServiceAccount: p.Spec.ServiceAccountName,
		PodSecurity: e.psa.level(&p.ObjectMeta, asAdmitted(p.Annotations, &p.Spec)),
	}
	r.Enforce, r.Admitted, r.AdmittedReason = e.admission(s, p)
	rc := e.runtimeClass(s, deref(p.Spec.RuntimeClassName))
	for i := range p.Spec.InitContainers {
		r.Containers = append(r.Containers, e.profile(s, p, &p.Spec.InitContainers[i], KindInit, fmt.Sprintf("spec.initContainers[%d]", i), rc))
	}
	for i := range p.Spec.Containers {
		r.Containers = append(r.Containers, e.profile(s, p, &p.Spec.Containers[i], KindContainer, fmt.Sprintf("spec.containers[%d]", i), rc))
	}
	for i := range p.Spec.EphemeralContainers {
		c := corev1.Container(p.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		r.Containers = append(r.Containers, e.profile(s, p, &c, KindEphemeral, fmt.Sprintf("spec.ephemeralContainers[%d]", i), rc))
	}
	return r
}

func (e *Evaluator) admission(s *cluster.Snapshot, p *cluster.Pod) (string, Tri, string) {
	for i := range s.Namespaces {
		ns := &s.Namespaces[i]
		if ns.Name != p.Namespace {
			continue
		}
		ok, enforce, why := e.psa.admits(ns.Labels, &p.ObjectMeta, asAdmitted(p.Annotations, &p.Spec))
		return enforce, TriOf(ok), why
	}
	if gaps := s.GapsFor("Namespace", ""); len(gaps) > 0 {
		return "", Unknown, "namespace " + p.Namespace + " could not be read (" + gaps[0].Reason + "): its enforce level is unknown"
	}
	return "", Unknown, "namespace " + p.Namespace + " is not in the snapshot: its enforce level is unknown"
}

// profile builds one container's profile: facts, mitigations, Pod Security
// level, then escapes.
func (e *Evaluator) profile(s *cluster.Snapshot, pod *cluster.Pod, c *corev1.Container, kind ContainerKind, fieldPath string, rc RuntimeClass) Profile {
	spec := &pod.Spec
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	csc := sc
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	pr := Profile{
		Namespace: pod.Namespace, Pod: pod.Name, Workload: pod.Workload, Container: c.Name, Kind: kind,
		Path: fieldPath, Image: c.Image,
		Privileged:             deref(csc.Privileged),
		ReadOnlyRootFilesystem: deref(csc.ReadOnlyRootFilesystem),
		HostNetwork:            spec.HostNetwork, HostPID: spec.HostPID, HostIPC: spec.HostIPC,
		HostUsers:             spec.HostUsers == nil || *spec.HostUsers,
		ShareProcessNamespace: deref(spec.ShareProcessNamespace),
		ProcMount:             "Default",
		RuntimeClass:          rc,
	}
	if csc.ProcMount != nil && *csc.ProcMount != "" {
		pr.ProcMount = string(*csc.ProcMount)
	}
	for _, port := range c.Ports {
		if port.HostPort != 0 {
			pr.HostPorts = append(pr.HostPorts, port.HostPort)
		}
	}
	pr.Capabilities = effectiveCapabilities(sc, pr.Privileged, e.defaultCaps, fieldPath)

	// allowPrivilegeEscalation: "AllowPrivilegeEscalation is true always
	// when the container is: 1) run as Privileged 2) has CAP_SYS_ADMIN".
	pr.AllowPrivilegeEscalation = true
	if csc.AllowPrivilegeEscalation != nil && !pr.Privileged && !pr.Capabilities.Has("SYS_ADMIN") {
		pr.AllowPrivilegeEscalation = *csc.AllowPrivilegeEscalation
	}

	pr.RunAsNonRoot = firstBool(csc.RunAsNonRoot, psc.RunAsNonRoot)
	pr.RunAsUser = firstInt(csc.RunAsUser, psc.RunAsUser)
	switch {
	case pr.RunAsUser != nil && *pr.RunAsUser == 0:
		pr.RunsAsRoot, pr.RunsAsRootReason = Yes, "runAsUser: 0"
	case pr.RunAsUser != nil:
		pr.RunsAsRoot, pr.RunsAsRootReason = No, "runAsUser: "+strconv.FormatInt(*pr.RunAsUser, 10)
	case pr.RunAsNonRoot != nil && *pr.RunAsNonRoot:
		pr.RunsAsRoot, pr.RunsAsRootReason = No, "runAsNonRoot: the kubelet refuses to start the container as UID 0"
	default:
		pr.RunsAsRoot, pr.RunsAsRootReason = Unknown, "neither runAsUser nor runAsNonRoot is set: the image's USER decides"
	}
	switch {
	case pr.RunsAsRoot == Yes:
		pr.Capabilities.Usable, pr.Capabilities.UsableReason = Yes, "runs as root: the capabilities are in its effective set"
	case pr.RunsAsRoot == No && !pr.AllowPrivilegeEscalation:
		pr.Capabilities.Usable, pr.Capabilities.UsableReason = No, "non-root with no_new_privs: the kernel clears capabilities at execve and nothing can regain them"
	case pr.RunsAsRoot == No:
		pr.Capabilities.Usable, pr.Capabilities.UsableReason = Unknown, "non-root: a setuid-root or file-capability binary in the image regains the capabilities"
	default:
		pr.Capabilities.Usable, pr.Capabilities.UsableReason = Unknown, "the image's user decides: as root it holds the capabilities"
	}

	pr.Seccomp = seccompOf(pod, c, csc, psc, pr.Privileged)
	pr.AppArmor = appArmorOf(pod, c, csc, psc, pr.Privileged)
	pr.SELinux = seLinuxOf(csc, psc, pr.Privileged)
	e.hostPaths(s, pod, c, &pr)

	pr.Mitigations = mitigations(&pr)
	pr.PodSecurity = e.containerLevel(pod, kind, c)
	pr.Escapes = evalEscapes(e.checks, &pr)
	return pr
}

// containerLevel is the Pod Security level of the pod reduced to one
// container: pod-level fields and volumes count, other containers do not.
func (e *Evaluator) containerLevel(pod *cluster.Pod, kind ContainerKind, c *corev1.Container) PodSecurity {
	// A shallow copy: the upstream checks only read the spec.
	reduced := pod.Spec
	spec := &reduced
	spec.InitContainers, spec.Containers, spec.EphemeralContainers = nil, nil, nil
	switch kind {
	case KindInit:
		spec.InitContainers = []corev1.Container{*c}
	case KindEphemeral:
		spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(*c)}}
	default:
		spec.Containers = []corev1.Container{*c}
	}
	return e.psa.level(&pod.ObjectMeta, asAdmitted(pod.Annotations, spec))
}

const (
	seccompPodAnnotation       = "seccomp.security.alpha.kubernetes.io/pod"
	seccompContainerAnnotation = "container.seccomp.security.alpha.kubernetes.io/"
	appArmorAnnotation         = "container.apparmor.security.beta.kubernetes.io/"
)

func seccompOf(pod *cluster.Pod, c *corev1.Container, csc *corev1.SecurityContext, psc *corev1.PodSecurityContext, privileged bool) Confinement {
	if privileged {
		return Confinement{Profile: "Unconfined", Source: "privileged", Confined: No, Reason: "privileged containers always run without seccomp"}
	}
	sp, src := csc.SeccompProfile, "container"
	if sp == nil {
		sp, src = psc.SeccompProfile, "pod"
	}
	if sp == nil {
		reason := "unset: Unconfined unless the node's kubelet runs with seccompDefault (a node setting, unknown here)"
		_, podAnn := pod.Annotations[seccompPodAnnotation]
		_, ctrAnn := pod.Annotations[seccompContainerAnnotation+c.Name]
		if podAnn || ctrAnn {
			reason += "; the seccomp annotation is ignored since Kubernetes 1.27"
		}
		return Confinement{Profile: "unset", Source: "none", Confined: Unknown, Reason: reason}
	}
	switch sp.Type {
	case corev1.SeccompProfileTypeRuntimeDefault:
		return Confinement{Profile: "RuntimeDefault", Source: src, Confined: Yes, Reason: "the container runtime's default syscall filter"}
	case corev1.SeccompProfileTypeLocalhost:
		name := deref(sp.LocalhostProfile)
		return Confinement{Profile: "Localhost/" + name, Source: src, Confined: Unknown, Reason: "Localhost profile " + name + ": its rules are on the node, unknown here"}
	case corev1.SeccompProfileTypeUnconfined:
		return Confinement{Profile: "Unconfined", Source: src, Confined: No, Reason: "seccompProfile Unconfined: no syscall filter"}
	}
	return Confinement{Profile: string(sp.Type), Source: src, Confined: Unknown, Reason: "seccomp profile type " + string(sp.Type) + " is not one Kubernetes defines"}
}

func appArmorOf(pod *cluster.Pod, c *corev1.Container, csc *corev1.SecurityContext, psc *corev1.PodSecurityContext, privileged bool) Confinement {
	// The API server copies the annotation into the container's field when
	// the field is unset (applyAppArmorVersionSkew); the container field
	// wins over the pod's.
	ap, src := csc.AppArmorProfile, "container"
	if ap == nil {
		if v, ok := pod.Annotations[appArmorAnnotation+c.Name]; ok {
			// An invalid value is ignored by the API server.
			if f := appArmorFromAnnotation(v); f != nil && validAppArmor(f) {
				ap, src = f, "annotation"
			}
		}
	}
	if ap == nil {
		ap, src = psc.AppArmorProfile, "pod"
	}
	if ap == nil {
		if privileged {
			return Confinement{Profile: "unset", Source: "none", Confined: No, Reason: "privileged containers get no default AppArmor profile"}
		}
		return Confinement{Profile: "unset", Source: "none", Confined: Unknown, Reason: "unset: the runtime's default profile applies on nodes with AppArmor enabled (unknown here)"}
	}
	switch ap.Type {
	case corev1.AppArmorProfileTypeRuntimeDefault:
		if privileged {
			return Confinement{Profile: "RuntimeDefault", Source: src, Confined: Unknown, Reason: "RuntimeDefault on a privileged container: runtimes differ on applying it"}
		}
		return Confinement{Profile: "RuntimeDefault", Source: src, Confined: Yes, Reason: "the runtime's default AppArmor profile"}
	case corev1.AppArmorProfileTypeLocalhost:
		name := deref(ap.LocalhostProfile)
		return Confinement{Profile: "Localhost/" + name, Source: src, Confined: Unknown, Reason: "Localhost profile " + name + ": its rules are on the node, unknown here"}
	case corev1.AppArmorProfileTypeUnconfined:
		return Confinement{Profile: "Unconfined", Source: src, Confined: No, Reason: "AppArmor Unconfined"}
	}
	return Confinement{Profile: string(ap.Type), Source: src, Confined: Unknown, Reason: "AppArmor profile type " + string(ap.Type) + " is not one Kubernetes defines"}
}

func appArmorFromAnnotation(v string) *corev1.AppArmorProfile {
	switch {
	case v == "runtime/default":
		return &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}
	case v == "unconfined":
		return &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
	case strings.HasPrefix(v, "localhost/") && len(v) > len("localhost/"):
		name := strings.TrimPrefix(v, "localhost/")
		return &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: &name}
	}
	return nil
}

// confinedSELinuxTypes confine a container (container-selinux policy).
var confinedSELinuxTypes = []string{"container_t", "container_init_t", "container_kvm_t", "container_engine_t", "svirt_lxc_net_t", "svirt_sandbox_file_t"}

// unconfinedSELinuxTypes do not.
var unconfinedSELinuxTypes = []string{"spc_t", "unconfined_t", "container_runtime_t", "kernel_t"}

func seLinuxOf(csc *corev1.SecurityContext, psc *corev1.PodSecurityContext, privileged bool) Confinement {
	o, src := csc.SELinuxOptions, "container"
	if o == nil || o.Type == "" {
		if psc.SELinuxOptions != nil && psc.SELinuxOptions.Type != "" {
			o, src = psc.SELinuxOptions, "pod"
		}
	}
	if o == nil || o.Type == "" {
		if privileged {
			return Confinement{Profile: "unset", Source: "none", Confined: No, Reason: "privileged containers run with an unconfined label (spc_t)"}
		}
		return Confinement{Profile: "unset", Source: "none", Confined: Unknown, Reason: "no type set: the runtime's confining default (container_t) applies on nodes with SELinux enforcing (unknown here)"}
	}
	switch {
	case slices.Contains(confinedSELinuxTypes, o.Type) && privileged:
		return Confinement{Profile: o.Type, Source: src, Confined: Unknown, Reason: "type " + o.Type + " on a privileged container: runtimes differ on applying it"}
	case slices.Contains(confinedSELinuxTypes, o.Type):
		return Confinement{Profile: o.Type, Source: src, Confined: Yes, Reason: "type " + o.Type + " confines the container (where SELinux is enforcing)"}
	case slices.Contains(unconfinedSELinuxTypes, o.Type):
		return Confinement{Profile: o.Type, Source: src, Confined: No, Reason: "type " + o.Type + " is unconfined"}
	}
	return Confinement{Profile: o.Type, Source: src, Confined: Unknown, Reason: "type " + o.Type + " is not one credence knows"}
}

// hostPaths finds the container's mounts of node paths, through hostPath
// volumes and through claims bound to hostPath or local PersistentVolumes.
func (e *Evaluator) hostPaths(s *cluster.Snapshot, pod *cluster.Pod, c *corev1.Container, pr *Profile) {
	vols := map[string]*corev1.Volume{}
	for i := range pod.Spec.Volumes {
		vols[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	add := func(m corev1.VolumeMount, hostPath, typ, via string) {
		p := cleanHostPath(hostPath)
		if m.SubPath != "" {
			p = cleanHostPath(path.Join(p, m.SubPath))
		}
		if m.SubPathExpr != "" {
			pr.Unknowns = append(pr.Unknowns, "volume "+m.Name+": subPathExpr "+m.SubPathExpr+" is expanded on the node; rated as the whole of "+p)
		}
		risk, reason := rateHostPath(p, m.ReadOnly)
		pr.HostPaths = append(pr.HostPaths, HostPathMount{Volume: m.Name, Path: p, MountPath: m.MountPath, ReadOnly: m.ReadOnly,
			Type: typ, Via: via, Risk: risk, Reason: reason})
		for _, sock := range socketsUnder(p) {
			if !slices.Contains(pr.RuntimeSockets, sock) {
				pr.RuntimeSockets = append(pr.RuntimeSockets, sock)
			}
		}
	}
	for _, m := range c.VolumeMounts {
		v := vols[m.Name]
		switch {
		case v == nil:
		case v.HostPath != nil:
			typ := ""
			if v.HostPath.Type != nil {
				typ = string(*v.HostPath.Type)
			}
			add(m, v.HostPath.Path, typ, "hostPath volume")
		case v.PersistentVolumeClaim != nil:
			claim := v.PersistentVolumeClaim.ClaimName
			pv, why := boundVolume(s, pod.Namespace, claim)
			switch {
			case pv == nil:
				pr.Unknowns = append(pr.Unknowns, "volume "+m.Name+": "+why)
			case pv.Spec.HostPath != nil:
				add(m, pv.Spec.HostPath.Path, "", "PersistentVolume "+pv.Name+" (claim "+claim+")")
			case pv.Spec.Local != nil:
				add(m, pv.Spec.Local.Path, "", "local PersistentVolume "+pv.Name+" (claim "+claim+")")
			}
		}
	}
}

// boundVolume finds the PersistentVolume a claim is bound to, or says why
// it cannot.
func boundVolume(s *cluster.Snapshot, ns, claim string) (*corev1.PersistentVolume, string) {
	var pvc *corev1.PersistentVolumeClaim
	for i := range s.PersistentVolumeClaims {
		if c := &s.PersistentVolumeClaims[i]; c.Namespace == ns && c.Name == claim {
			pvc = c
		}
	}
	if pvc == nil {
		why := "PersistentVolumeClaim " + ns + "/" + claim + " is not in the snapshot: it may bind a hostPath volume"
		if gaps := s.GapsFor("PersistentVolumeClaim", ns); len(gaps) > 0 {
			why = "PersistentVolumeClaim " + ns + "/" + claim + " could not be read (" + gaps[0].Reason + "): it may bind a hostPath volume"
		}
		return nil, why
	}
	for i := range s.PersistentVolumes {
		pv := &s.PersistentVolumes[i]
		if pv.Name == pvc.Spec.VolumeName && pvc.Spec.VolumeName != "" {
			return pv, ""
		}
		if r := pv.Spec.ClaimRef; r != nil && r.Namespace == ns && r.Name == claim && pvc.Spec.VolumeName == "" {
			return pv, ""
		}
	}
	if pvc.Spec.VolumeName == "" {
		return nil, "PersistentVolumeClaim " + ns + "/" + claim + " is not bound in the snapshot: the volume it will get is unknown"
	}
	why := "PersistentVolume " + pvc.Spec.VolumeName + " (claim " + ns + "/" + claim + ") is not in the snapshot: it may be a hostPath volume"
	if gaps := s.GapsFor("PersistentVolume", ""); len(gaps) > 0 {
		why = "PersistentVolume " + pvc.Spec.VolumeName + " could not be read (" + gaps[0].Reason + "): it may be a hostPath volume"
	}
	return nil, why
}

// mitigations states each isolation layer for the container.
func mitigations(pr *Profile) []Mitigation {
	var ms []Mitigation
	if !pr.HostUsers {
		ms = append(ms, Mitigation{MitigationUserNS, Yes, "hostUsers: false: container root is an unprivileged UID on the node and capabilities are held in the pod's user namespace"})
	} else {
		ms = append(ms, Mitigation{MitigationUserNS, No, "hostUsers unset or true: the container shares the node's user namespace (UID 0 inside is UID 0 on the node)"})
	}
	ms = append(ms,
		Mitigation{MitigationSeccomp, pr.Seccomp.Confined, "seccomp " + pr.Seccomp.Profile + ": " + pr.Seccomp.Reason},
		Mitigation{MitigationAppArmor, pr.AppArmor.Confined, "AppArmor " + pr.AppArmor.Profile + ": " + pr.AppArmor.Reason},
		Mitigation{MitigationSELinux, pr.SELinux.Confined, "SELinux " + pr.SELinux.Profile + ": " + pr.SELinux.Reason},
	)
	switch {
	case !pr.AllowPrivilegeEscalation:
		ms = append(ms, Mitigation{MitigationNoNewPrivs, Yes, "allowPrivilegeEscalation: false: no_new_privs is set"})
	case pr.Privileged:
		ms = append(ms, Mitigation{MitigationNoNewPrivs, No, "privileged containers never get no_new_privs"})
	case pr.Capabilities.Has("SYS_ADMIN"):
		ms = append(ms, Mitigation{MitigationNoNewPrivs, No, "containers with CAP_SYS_ADMIN never get no_new_privs"})
	default:
		ms = append(ms, Mitigation{MitigationNoNewPrivs, No, "allowPrivilegeEscalation unset or true: setuid binaries raise privilege"})
	}
	nonRoot := Unknown
	switch pr.RunsAsRoot {
	case Yes:
		nonRoot = No
	case No:
		nonRoot = Yes
	}
	ms = append(ms, Mitigation{MitigationNonRoot, nonRoot, pr.RunsAsRootReason})
	nnp := TriOf(!pr.AllowPrivilegeEscalation)
	both := Unknown
	switch {
	case nonRoot == Yes && nnp == Yes:
		both = Yes
	case nonRoot == No || nnp == No:
		both = No
	}
	ms = append(ms, Mitigation{MitigationNoCaps, both, pr.Capabilities.UsableReason})
	ms = append(ms, Mitigation{MitigationSandbox, pr.RuntimeClass.Sandboxed, pr.RuntimeClass.Reason})
	return ms
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func firstBool(a, b *bool) *bool {
	if a != nil {
		return a
	}
	return b
}

func firstInt(a, b *int64) *int64 {
	if a != nil {
		return a
	}
	return b
}
