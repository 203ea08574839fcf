package graph

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/cluster"
)

// Fix is one change to the cluster that removes an edge, as a
// transformation of the snapshot: a cut is scored by applying it and
// rebuilding what depends on the changed objects, never by deleting the edge
// alone. Edges that one change removes share its ID.
type Fix struct {
	ID      string `json:"id"`
	Summary string `json:"summary"`
	// Apply makes the change on p and reports whether anything changed (a
	// fix naming an object the snapshot lacks changes nothing and is never
	// offered). Nil for a fix that cannot be expressed on the snapshot.
	Apply func(p *Patch) bool `json:"-"`
}

// Patch is a snapshot being changed by fixes. The original snapshot is
// never written: slices are copied on the first change, and each object is
// deep-copied before it changes. It records what changed, so that a rebuild
// can reuse what does not depend on it.
type Patch struct {
	s         *cluster.Snapshot
	cloned    map[string]bool
	dirtyPods map[string]bool
	netDirty  bool
	rbacDirty bool
	// Changes says, for people, what was changed.
	Changes []string
}

// NewPatch starts a patch of s.
func NewPatch(s *cluster.Snapshot) *Patch {
	c := *s
	return &Patch{s: &c, cloned: map[string]bool{}, dirtyPods: map[string]bool{}}
}

// Snapshot is the changed snapshot.
func (p *Patch) Snapshot() *cluster.Snapshot { return p.s }

func (p *Patch) note(format string, args ...any) {
	p.Changes = append(p.Changes, fmt.Sprintf(format, args...))
}

func cloneOnce[T any](p *Patch, name string, s *[]T) {
	if !p.cloned[name] {
		*s = slices.Clone(*s)
		p.cloned[name] = true
	}
}

// netKey is what a pod contributes to NetworkPolicy evaluation and to the
// network part of the graph.
func netKey(pod *cluster.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v|%s|%v|%v|", pod.Spec.HostNetwork, pod.Spec.NodeName, pod.Labels, pod.Status.PodIPs)
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			fmt.Fprintf(&b, "%s:%v;", c.Name, c.Ports)
		}
	}
	return b.String()
}

// EditPods changes every pod for which match holds with edit (on a deep
// copy); edit reports whether it changed the pod. It returns how many pods
// changed.
func (p *Patch) EditPods(match func(*cluster.Pod) bool, edit func(*cluster.Pod) bool) int {
	n := 0
	for i := range p.s.Pods {
		if !match(&p.s.Pods[i]) {
			continue
		}
		old := &p.s.Pods[i]
		np := cluster.Pod{Pod: *old.Pod.DeepCopy(), Workload: old.Workload, Owner: old.Owner}
		if !edit(&np) {
			continue
		}
		if netKey(old) != netKey(&np) {
			p.netDirty = true
		}
		cloneOnce(p, "pods", &p.s.Pods)
		p.s.Pods[i] = np
		p.dirtyPods[np.Key()] = true
		n++
	}
	return n
}

// LabelNamespace sets a label on namespace name, adding the Namespace when
// the snapshot lacks it (marked so that its other labels stay unknown).
func (p *Patch) LabelNamespace(name, key, value string) bool {
	cloneOnce(p, "namespaces", &p.s.Namespaces)
	i := slices.IndexFunc(p.s.Namespaces, func(n corev1.Namespace) bool { return n.Name == name })
	if i < 0 {
		p.s.Namespaces = append(p.s.Namespaces, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
			Annotations: map[string]string{assumedNamespace: "true"}}})
		i = len(p.s.Namespaces) - 1
	} else {
		p.s.Namespaces[i] = *p.s.Namespaces[i].DeepCopy()
	}
	ns := &p.s.Namespaces[i]
	if ns.Labels[key] == value {
		return false
	}
	p.rbacDirty = true
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[key] = value
	if p.selectorsLookAt(key) {
		p.netDirty = true
	}
	p.note("label Namespace %s %s=%s", name, key, value)
	return true
}

// assumedNamespace marks a Namespace a patch added: only the labels the
// patch set are known.
const assumedNamespace = "credence.dev/assumed-by-fix"

// selectorsLookAt reports whether some NetworkPolicy's namespaceSelector
// (or an invalid one) may depend on namespace label key.
func (p *Patch) selectorsLookAt(key string) bool {
	for i := range p.s.NetworkPolicies {
		np := &p.s.NetworkPolicies[i]
		var peers []networkingv1.NetworkPolicyPeer
		for _, r := range np.Spec.Ingress {
			peers = append(peers, r.From...)
		}
		for _, r := range np.Spec.Egress {
			peers = append(peers, r.To...)
		}
		for _, pe := range peers {
			if pe.NamespaceSelector == nil {
				continue
			}
			s := compileSelector(pe.NamespaceSelector)
			if s.err != nil || slices.Contains(s.keys, key) {
				return true
			}
		}
	}
	return false
}

// DeleteSecret removes a Secret.
func (p *Patch) DeleteSecret(ns, name string) bool {
	i := slices.IndexFunc(p.s.Secrets, func(s corev1.Secret) bool { return s.Namespace == ns && s.Name == name })
	if i < 0 {
		return false
	}
	cloneOnce(p, "secrets", &p.s.Secrets)
	p.s.Secrets = slices.Delete(p.s.Secrets, i, i+1)
	p.note("delete Secret %s/%s", ns, name)
	return true
}

// DeleteBinding removes a binding named as in Grant.Binding
// ("RoleBinding ns/name" or "ClusterRoleBinding name").
func (p *Patch) DeleteBinding(ref string) bool {
	kind, rest, _ := strings.Cut(ref, " ")
	switch kind {
	case "RoleBinding":
		ns, name, _ := strings.Cut(rest, "/")
		i := slices.IndexFunc(p.s.RoleBindings, func(b rbacv1.RoleBinding) bool { return b.Namespace == ns && b.Name == name })
		if i < 0 {
			return false
		}
		cloneOnce(p, "rolebindings", &p.s.RoleBindings)
		p.s.RoleBindings = slices.Delete(p.s.RoleBindings, i, i+1)
	case "ClusterRoleBinding":
		i := slices.IndexFunc(p.s.ClusterRoleBindings, func(b rbacv1.ClusterRoleBinding) bool { return b.Name == rest })
		if i < 0 {
			return false
		}
		cloneOnce(p, "clusterrolebindings", &p.s.ClusterRoleBindings)
		p.s.ClusterRoleBindings = slices.Delete(p.s.ClusterRoleBindings, i, i+1)
	default:
		return false
	}
	p.rbacDirty = true
	p.note("delete %s", ref)
	return true
}

// AddNetworkPolicy adds a NetworkPolicy.
func (p *Patch) AddNetworkPolicy(np networkingv1.NetworkPolicy) bool {
	if slices.ContainsFunc(p.s.NetworkPolicies, func(x networkingv1.NetworkPolicy) bool {
		return x.Namespace == np.Namespace && x.Name == np.Name
	}) {
		return false
	}
	cloneOnce(p, "netpols", &p.s.NetworkPolicies)
	p.s.NetworkPolicies = append(p.s.NetworkPolicies, np)
	p.netDirty = true
	p.note("add NetworkPolicy %s/%s", np.Namespace, np.Name)
	return true
}

// RemovePolicyRules removes rules ("spec.ingress[0]", "spec.egress[2]")
// from NetworkPolicy ns/name. The policy keeps selecting its pods, so they
// stay isolated: the traffic only those rules admitted is denied.
func (p *Patch) RemovePolicyRules(ns, name string, fields []string) bool {
	i := slices.IndexFunc(p.s.NetworkPolicies, func(x networkingv1.NetworkPolicy) bool { return x.Namespace == ns && x.Name == name })
	if i < 0 {
		return false
	}
	np := p.s.NetworkPolicies[i].DeepCopy()
	var ing []networkingv1.NetworkPolicyIngressRule
	var eg []networkingv1.NetworkPolicyEgressRule
	for j, r := range np.Spec.Ingress {
		if !slices.Contains(fields, fmt.Sprintf("spec.ingress[%d]", j)) {
			ing = append(ing, r)
		}
	}
	for j, r := range np.Spec.Egress {
		if !slices.Contains(fields, fmt.Sprintf("spec.egress[%d]", j)) {
			eg = append(eg, r)
		}
	}
	if len(ing) == len(np.Spec.Ingress) && len(eg) == len(np.Spec.Egress) {
		return false
	}
	// An emptied rule list must keep isolating: policyTypes says so even
	// when no egress rule is left.
	if len(np.Spec.PolicyTypes) == 0 {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) > 0 {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
	np.Spec.Ingress, np.Spec.Egress = ing, eg
	cloneOnce(p, "netpols", &p.s.NetworkPolicies)
	p.s.NetworkPolicies[i] = *np
	p.netDirty = true
	p.note("remove %s from NetworkPolicy %s/%s", strings.Join(fields, ", "), ns, name)
	return true
}

// sandboxClass returns the name of a RuntimeClass whose handler sandboxes
// (gVisor, Kata), adding one for gVisor when the snapshot has none.
func (p *Patch) sandboxClass() string {
	for _, rc := range p.s.RuntimeClasses {
		for _, pre := range []string{"runsc", "gvisor", "kata"} {
			if strings.HasPrefix(strings.ToLower(rc.Handler), pre) {
				return rc.Name
			}
		}
	}
	cloneOnce(p, "runtimeclasses", &p.s.RuntimeClasses)
	p.s.RuntimeClasses = append(p.s.RuntimeClasses, nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor"}, Handler: "runsc"})
	// Pods that already named a class "gvisor" the snapshot lacked now
	// have one: their posture changes too.
	for i := range p.s.Pods {
		if rc := p.s.Pods[i].Spec.RuntimeClassName; rc != nil && *rc == "gvisor" {
			p.dirtyPods[p.s.Pods[i].Key()] = true
		}
	}
	p.note("add RuntimeClass gvisor (handler runsc)")
	return "gvisor"
}

// Fix constructors. Each names what it changes in its summary, and its
// Apply makes exactly that change.

// podsOf matches the pods of workload wl ("Deployment ns/name", or "Pod
// ns/name" for a bare pod).
func podsOf(wl string) func(*cluster.Pod) bool {
	return func(p *cluster.Pod) bool { return workload(p) == wl }
}

// podFieldFix sets a pod-level field of every pod of wl.
func podFieldFix(wl, field, summary string, set func(*corev1.PodSpec) bool) Fix {
	return Fix{ID: "sc:" + wl + ":" + field, Summary: summary, Apply: func(p *Patch) bool {
		n := p.EditPods(podsOf(wl), func(pod *cluster.Pod) bool { return set(&pod.Spec) })
		if n > 0 {
			p.note("%s on %s", summary, wl)
		}
		return n > 0
	}}
}

func hostNetworkFix(wl string) Fix {
	return podFieldFix(wl, "hostNetwork", "set hostNetwork: false on "+wl, func(s *corev1.PodSpec) bool {
		ch := s.HostNetwork
		s.HostNetwork = false
		return ch
	})
}

func hostPIDFix(wl string) Fix {
	return podFieldFix(wl, "hostPID", "set hostPID: false on "+wl, func(s *corev1.PodSpec) bool {
		ch := s.HostPID
		s.HostPID = false
		return ch
	})
}

func hostIPCFix(wl string) Fix {
	return podFieldFix(wl, "hostIPC", "set hostIPC: false on "+wl, func(s *corev1.PodSpec) bool {
		ch := s.HostIPC
		s.HostIPC = false
		return ch
	})
}

func shareProcessNamespaceFix(wl string) Fix {
	return podFieldFix(wl, "shareProcessNamespace", "set shareProcessNamespace: false on "+wl, func(s *corev1.PodSpec) bool {
		ch := s.ShareProcessNamespace != nil && *s.ShareProcessNamespace
		f := false
		s.ShareProcessNamespace = &f
		return ch
	})
}

func automountFix(wl string) Fix {
	f := false
	return Fix{ID: "automount:" + wl, Summary: "set automountServiceAccountToken: false on " + wl + " (or give it a ServiceAccount without permissions)",
		Apply: func(p *Patch) bool {
			n := p.EditPods(podsOf(wl), func(pod *cluster.Pod) bool {
				if pod.Spec.AutomountServiceAccountToken != nil && !*pod.Spec.AutomountServiceAccountToken {
					return false
				}
				pod.Spec.AutomountServiceAccountToken = &f
				return true
			})
			if n > 0 {
				p.note("set automountServiceAccountToken: false on %s", wl)
			}
			return n > 0
		}}
}

// editContainer changes container name of every pod of wl.
func editContainer(p *Patch, wl, name string, edit func(*corev1.Container) bool) int {
	return p.EditPods(podsOf(wl), func(pod *cluster.Pod) bool {
		ch := false
		for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for i := range cs {
				if cs[i].Name == name && edit(&cs[i]) {
					ch = true
				}
			}
		}
		for i := range pod.Spec.EphemeralContainers {
			c := (*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
			if c.Name == name && edit(c) {
				ch = true
			}
		}
		return ch
	})
}

func securityContext(c *corev1.Container) *corev1.SecurityContext {
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	return c.SecurityContext
}

// privilegedFix turns privileged off for one container (its capabilities
// as written stay).
func privilegedFix(wl, container, summary string) Fix {
	return Fix{ID: "posture:" + wl + "/" + container + ":privileged", Summary: summary, Apply: func(p *Patch) bool {
		n := editContainer(p, wl, container, func(c *corev1.Container) bool {
			sc := securityContext(c)
			if sc.Privileged == nil || !*sc.Privileged {
				return false
			}
			f := false
			sc.Privileged = &f
			return true
		})
		if n > 0 {
			p.note("set privileged: false on container %s of %s", container, wl)
		}
		return n > 0
	}}
}

// dropCapabilityFix drops capability name from one container: containerd
// applies drops after adds (and after add ALL), so the capability goes.
func dropCapabilityFix(wl, container, name, summary string) Fix {
	return Fix{ID: "posture:" + wl + "/" + container + ":drop-" + name, Summary: summary, Apply: func(p *Patch) bool {
		n := editContainer(p, wl, container, func(c *corev1.Container) bool {
			sc := securityContext(c)
			if sc.Capabilities == nil {
				sc.Capabilities = &corev1.Capabilities{}
			}
			caps := sc.Capabilities
			var add []corev1.Capability
			for _, a := range caps.Add {
				if strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(string(a))), "CAP_") != name {
					add = append(add, a)
				}
			}
			caps.Add = add
			if slices.Contains(caps.Drop, corev1.Capability(name)) {
				return false
			}
			caps.Drop = append(caps.Drop, corev1.Capability(name))
			return true
		})
		if n > 0 {
			p.note("drop %s in container %s of %s", name, container, wl)
		}
		return n > 0
	}}
}

// removeVolumesFix removes pod volumes (and every mount of them) from the
// pods of wl: every escape and sharing edge that used them goes with them.
func removeVolumesFix(wl string, vols []string, why string) Fix {
	vols = slices.Clone(vols)
	sort.Strings(vols)
	vols = slices.Compact(vols)
	what := "volume " + vols[0]
	if len(vols) > 1 {
		what = "volumes " + strings.Join(vols, ", ")
	}
	return Fix{ID: "volumes:" + wl + ":" + strings.Join(vols, "+"), Summary: "remove the " + why + " " + what + " from " + wl + " (or mount a narrower path read-only)",
		Apply: func(p *Patch) bool {
			n := p.EditPods(podsOf(wl), func(pod *cluster.Pod) bool {
				before := len(pod.Spec.Volumes)
				pod.Spec.Volumes = slices.DeleteFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return slices.Contains(vols, v.Name) })
				if len(pod.Spec.Volumes) == before {
					return false
				}
				unmount := func(c *corev1.Container) {
					c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return slices.Contains(vols, m.Name) })
				}
				for i := range pod.Spec.InitContainers {
					unmount(&pod.Spec.InitContainers[i])
				}
				for i := range pod.Spec.Containers {
					unmount(&pod.Spec.Containers[i])
				}
				for i := range pod.Spec.EphemeralContainers {
					unmount((*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon))
				}
				return true
			})
			if n > 0 {
				p.note("remove %s from %s", what, wl)
			}
			return n > 0
		}}
}

// sandboxFix runs the pods of wl in a sandboxed runtime with the runtime's
// default seccomp profile.
func sandboxFix(wl, container, summary string) Fix {
	return Fix{ID: "posture:" + wl + "/" + container + ":kernelExploit", Summary: summary, Apply: func(p *Patch) bool {
		rc := p.sandboxClass()
		n := p.EditPods(podsOf(wl), func(pod *cluster.Pod) bool {
			if pod.Spec.RuntimeClassName != nil && *pod.Spec.RuntimeClassName == rc {
				return false
			}
			pod.Spec.RuntimeClassName = &rc
			return true
		})
		editContainer(p, wl, container, func(c *corev1.Container) bool {
			sc := securityContext(c)
			sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
			return true
		})
		if n > 0 {
			p.note("set runtimeClassName %s on %s and seccompProfile RuntimeDefault on its container %s", rc, wl, container)
		}
		return n > 0
	}}
}

// readOnlyMountFix mounts volume vol read-only in one container of a pod.
func readOnlyMountFix(id, summary, ns, pod, container, vol string) Fix {
	return Fix{ID: id, Summary: summary, Apply: func(p *Patch) bool {
		n := p.EditPods(func(x *cluster.Pod) bool { return x.Namespace == ns && x.Name == pod }, func(x *cluster.Pod) bool {
			ch := false
			set := func(cs []corev1.Container) {
				for i := range cs {
					if cs[i].Name != container {
						continue
					}
					for j := range cs[i].VolumeMounts {
						if m := &cs[i].VolumeMounts[j]; m.Name == vol && !m.ReadOnly {
							m.ReadOnly, ch = true, true
						}
					}
				}
			}
			set(x.Spec.InitContainers)
			set(x.Spec.Containers)
			return ch
		})
		if n > 0 {
			p.note("mount %s read-only in container %s of Pod %s/%s", vol, container, ns, pod)
		}
		return n > 0
	}}
}

func deleteSecretFix(ns, name string) Fix {
	return Fix{ID: "secret:" + ns + "/" + name, Summary: "delete the legacy token Secret " + ns + "/" + name + " (use projected, short-lived tokens)",
		Apply: func(p *Patch) bool { return p.DeleteSecret(ns, name) }}
}

// deleteBindingsFix deletes bindings that exist in the snapshot. refs
// naming a binding an attacker would create are never offered: the caller
// passes existing bindings only.
func deleteBindingsFix(refs []string, summary string) Fix {
	refs = slices.Clone(refs)
	return Fix{ID: "rbac:" + strings.Join(refs, "+"), Summary: summary, Apply: func(p *Patch) bool {
		ch := false
		for _, r := range refs {
			if p.DeleteBinding(r) {
				ch = true
			}
		}
		return ch
	}}
}

func psaFix(ns string) Fix {
	return Fix{ID: "psa:" + ns, Summary: "label namespace " + ns + " pod-security.kubernetes.io/enforce=baseline (or restricted)",
		Apply: func(p *Patch) bool {
			return p.LabelNamespace(ns, "pod-security.kubernetes.io/enforce", "baseline")
		}}
}

func egressFix(ns string) Fix {
	return Fix{ID: "netpol-egress:" + ns, Summary: "add a default-deny egress NetworkPolicy in namespace " + ns + " and allow only what its pods need",
		Apply: func(p *Patch) bool {
			return p.AddNetworkPolicy(networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "credence-default-deny-egress", Namespace: ns},
				Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}})
		}}
}

func ingressFix(ns string) Fix {
	return Fix{ID: "netpol-ingress:" + ns, Summary: "add a default-deny ingress NetworkPolicy in namespace " + ns + " and allow only what its pods need",
		Apply: func(p *Patch) bool {
			return p.AddNetworkPolicy(networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "credence-default-deny-ingress", Namespace: ns},
				Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}})
		}}
}

// metadataFix isolates the egress of namespace ns so that every pod and
// every address stays reachable except the cloud metadata endpoint.
func metadataFix(ns string) Fix {
	return Fix{ID: "netpol-metadata:" + ns, Summary: "add an egress NetworkPolicy in namespace " + ns + " that allows every pod and 0.0.0.0/0 except " + metadataIP + "/32",
		Apply: func(p *Patch) bool {
			all := metav1.LabelSelector{}
			return p.AddNetworkPolicy(networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "credence-deny-cloud-metadata", Namespace: ns},
				Spec: networkingv1.NetworkPolicySpec{
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
					Egress: []networkingv1.NetworkPolicyEgressRule{
						{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &all}}},
						{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{metadataIP + "/32"}}}}},
					}}})
		}}
}

// narrowPolicyFix removes the rules of one NetworkPolicy that admit a
// connection ("NetworkPolicy ns/name" and its rule fields).
func narrowPolicyFix(ref string, fields []string) Fix {
	fields = slices.Clone(fields)
	sort.Strings(fields)
	fields = slices.Compact(fields)
	nsName := strings.TrimPrefix(ref, "NetworkPolicy ")
	ns, name, _ := strings.Cut(nsName, "/")
	return Fix{ID: "netpol:" + nsName + ":" + strings.Join(fields, "+"),
		Summary: "narrow " + ref + ": remove or restrict " + strings.Join(fields, ", ") + " (they admit this traffic)",
		Apply:   func(p *Patch) bool { return p.RemovePolicyRules(ns, name, fields) }}
}
