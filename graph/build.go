package graph

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/posture"
)

// Build makes the trust graph of a snapshot.
func Build(s *cluster.Snapshot, opts ...Option) (*Graph, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("build graph: %w", err)
		}
	}
	b := &builder{
		s:        s,
		o:        o,
		g:        &Graph{keys: map[string]NodeID{}},
		net:      NewNetworkEvaluator(s),
		rbac:     NewRBAC(s),
		nsLabels: map[string]map[string]string{},
		derived:  map[NodeID]bool{},
	}
	pe, err := posture.NewEvaluator()
	if err != nil {
		return nil, fmt.Errorf("build graph: %w", err)
	}
	b.profiles = map[string]*posture.Profile{}
	for i := range s.Pods {
		r := pe.Pod(s, &s.Pods[i])
		for j := range r.Containers {
			pr := &r.Containers[j]
			b.profiles[pr.Namespace+"/"+pr.Pod+"/"+pr.Container] = pr
		}
	}
	b.namespaces()
	b.gaps()
	b.g.node(KindClusterAdmin, "cluster-admin", "cluster-admin (control of the whole cluster)", "")
	b.nodes()
	b.identities()
	b.secrets()
	b.pods()
	b.volumes()
	b.network()
	b.rbacEdges()
	b.unknownRBAC()
	b.exposures()
	b.critical()
	return b.g, nil
}

type builder struct {
	s        *cluster.Snapshot
	o        options
	g        *Graph
	net      *NetworkEvaluator
	rbac     *RBAC
	nsList   []string
	nsLabels map[string]map[string]string
	derived  map[NodeID]bool
	// admission: namespaces whose Pod Security enforce level blocks
	// privileged pods, and whether webhooks or policies could block more.
	admissionHooks []string
	unscheduled    NodeID
	hasUnscheduled bool
	volUsers       map[string][]volUse
	podCs          map[string][]NodeID
	netUnknown     []string // network policy kinds the snapshot could not read
	profiles       map[string]*posture.Profile
}

type volUse struct {
	c        NodeID
	readOnly bool
	ev       Evidence
}

func (b *builder) namespaces() {
	seen := map[string]bool{}
	add := func(ns string) {
		if ns != "" && !seen[ns] {
			seen[ns] = true
			b.nsList = append(b.nsList, ns)
		}
	}
	for _, n := range b.s.Namespaces {
		add(n.Name)
		b.nsLabels[n.Name] = n.Labels
	}
	for _, p := range b.s.Pods {
		add(p.Namespace)
	}
	for _, sa := range b.s.ServiceAccounts {
		add(sa.Namespace)
	}
	for _, x := range b.s.Secrets {
		add(x.Namespace)
	}
	for _, x := range b.s.RoleBindings {
		add(x.Namespace)
	}
	sort.Strings(b.nsList)
	for _, w := range b.s.ValidatingWebhooks {
		b.admissionHooks = append(b.admissionHooks, "ValidatingWebhookConfiguration "+w.Name)
	}
	for _, w := range b.s.ValidatingAdmissionPolicies {
		b.admissionHooks = append(b.admissionHooks, "ValidatingAdmissionPolicy "+w.Name)
	}
}

// netPolicyKinds change reachability beyond NetworkPolicy v1; when the
// snapshot holds one it cannot read, every network verdict is unknown.
var netPolicyKinds = map[string]bool{
	"AdminNetworkPolicy": true, "BaselineAdminNetworkPolicy": true, "ClusterNetworkPolicy": true,
	"CiliumNetworkPolicy": true, "CiliumClusterwideNetworkPolicy": true, "GlobalNetworkPolicy": true,
	"EgressFirewall": true, "EgressNetworkPolicy": true, "MultiNetworkPolicy": true,
}

// admissionKinds may reject pods that Pod Security admits.
var admissionKinds = map[string]bool{
	"ClusterPolicy": true, "Policy": true, "SecurityContextConstraints": true, "ConstraintTemplate": true,
}

func (b *builder) gaps() {
	for _, gp := range b.s.Gaps {
		switch {
		case netPolicyKinds[gp.Kind] || strings.Contains(gp.Reason, "reachability"):
			b.netUnknown = appendUnique(b.netUnknown, gp.Kind)
		case admissionKinds[gp.Kind] || strings.Contains(gp.Reason, "may be admitted"):
			b.admissionHooks = appendUnique(b.admissionHooks, gp.Kind+" (not read)")
		}
		where := ""
		if gp.Namespace != "" {
			where = " in namespace " + gp.Namespace
		}
		b.g.Unknowns = append(b.g.Unknowns, fmt.Sprintf("%s%s could not be read (%s): what it hides is unknown, not absent", gp.Kind, where, gp.Reason))
	}
	for _, m := range b.rbac.MissingRoles() {
		b.g.Unknowns = append(b.g.Unknowns, m+" is referenced by a binding but absent from the snapshot")
	}
}

func (b *builder) criticalNS(ns string) bool {
	if b.o.criticalNS[ns] {
		return true
	}
	l, ok := b.nsLabels[ns]
	return ok && b.o.criticalSel.Matches(labels.Set(l))
}

func (b *builder) nodes() {
	scope := b.g.node(KindScope, "scope:nodes", "every node", "")
	for _, n := range b.s.Nodes {
		id := b.g.node(KindNode, "node:"+n.Name, "node "+n.Name, "")
		b.g.addEdge(Edge{From: scope, To: id, Kind: EdgeScopeMember, Reason: "node " + n.Name + " is one of every node", Likelihood: 1})
		_, cp := n.Labels["node-role.kubernetes.io/control-plane"]
		_, master := n.Labels["node-role.kubernetes.io/master"]
		if cp || master {
			b.g.addEdge(Edge{From: id, To: b.g.keys["cluster-admin"], Kind: EdgeColocated, Technique: "T1552.004", Likelihood: 0.9,
				Reason:   "control-plane node: holds the cluster CA keys, etcd data and admin kubeconfigs",
				Evidence: []Evidence{{Object: "Node " + n.Name, Field: "metadata.labels[node-role.kubernetes.io/control-plane]"}}})
		}
	}
}

// nodeOf returns the node a pod runs on, or the "unscheduled" node standing
// for whichever node the scheduler picks.
func (b *builder) nodeOf(p *corev1.Pod) NodeID {
	if p.Spec.NodeName != "" {
		key := "node:" + p.Spec.NodeName
		if id, ok := b.g.keys[key]; ok {
			return id
		}
		id := b.g.node(KindNode, key, "node "+p.Spec.NodeName, "")
		b.g.addEdge(Edge{From: b.g.keys["scope:nodes"], To: id, Kind: EdgeScopeMember, Reason: "node " + p.Spec.NodeName + " is one of every node", Likelihood: 1})
		return id
	}
	if !b.hasUnscheduled {
		b.hasUnscheduled = true
		b.unscheduled = b.g.node(KindNode, "node:(unscheduled)", "the node an unscheduled pod lands on", "")
		b.g.addEdge(Edge{From: b.g.keys["scope:nodes"], To: b.unscheduled, Kind: EdgeScopeMember, Reason: "any node", Likelihood: 1})
	}
	return b.unscheduled
}

func (b *builder) scope(what, ns string) NodeID {
	names := map[string]string{"pods": "every container", "sas": "every service account", "secrets": "every secret"}
	return b.g.node(KindScope, "scope:"+what+":"+ns, names[what]+" in namespace "+ns, ns)
}

func saKey(ns, name string) string { return "sa:" + ns + "/" + name }

func (b *builder) sa(ns, name string) NodeID {
	key := saKey(ns, name)
	if id, ok := b.g.keys[key]; ok {
		return id
	}
	id := b.g.node(KindIdentity, key, "ServiceAccount "+ns+"/"+name, ns)
	b.g.addEdge(Edge{From: b.scope("sas", ns), To: id, Kind: EdgeScopeMember, Reason: "ServiceAccount " + ns + "/" + name + " is in namespace " + ns, Likelihood: 1})
	return id
}

func (b *builder) identities() {
	for _, sa := range b.s.ServiceAccounts {
		b.sa(sa.Namespace, sa.Name)
	}
}

func (b *builder) secret(ns, name string) NodeID {
	key := "secret:" + ns + "/" + name
	if id, ok := b.g.keys[key]; ok {
		return id
	}
	id := b.g.node(KindSecret, key, "Secret "+ns+"/"+name, ns)
	b.g.addEdge(Edge{From: b.scope("secrets", ns), To: id, Kind: EdgeScopeMember, Reason: "Secret " + ns + "/" + name + " is in namespace " + ns, Likelihood: 1})
	return id
}

func (b *builder) secrets() {
	for _, s := range b.s.Secrets {
		id := b.secret(s.Namespace, s.Name)
		if s.Type == corev1.SecretTypeServiceAccountToken {
			if sa := s.Annotations[corev1.ServiceAccountNameKey]; sa != "" {
				b.g.addEdge(Edge{From: id, To: b.sa(s.Namespace, sa), Kind: EdgeSecretToken, Technique: "T1528", Likelihood: 1,
					Reason:   "the secret holds a long-lived token of ServiceAccount " + s.Namespace + "/" + sa,
					Evidence: []Evidence{{Object: "Secret " + s.Namespace + "/" + s.Name, Field: "type: kubernetes.io/service-account-token"}},
					Fixes:    []Fix{{ID: "secret:" + s.Namespace + "/" + s.Name, Summary: "delete the legacy token Secret " + s.Namespace + "/" + s.Name + " (use projected, short-lived tokens)"}}})
			}
		}
	}
}

// workload names what owns a pod, for fixes: "Deployment blast/web".
func workload(p *cluster.Pod) string {
	for _, w := range []string{p.Workload, p.Owner} {
		if w != "" {
			kind, name, _ := strings.Cut(w, "/")
			return kind + " " + p.Namespace + "/" + name
		}
	}
	for _, or := range p.OwnerReferences {
		if or.Controller != nil && *or.Controller {
			return or.Kind + " " + p.Namespace + "/" + or.Name
		}
	}
	return "Pod " + p.Namespace + "/" + p.Name
}

type podContainer struct {
	c     *corev1.Container
	field string
	id    NodeID
}

func (b *builder) pods() {
	b.volUsers = map[string][]volUse{}
	saAuto := map[string]*bool{}
	for _, sa := range b.s.ServiceAccounts {
		saAuto[sa.Namespace+"/"+sa.Name] = sa.AutomountServiceAccountToken
	}
	for pi := range b.s.Pods {
		p := &b.s.Pods[pi]
		podRef := "Pod " + p.Namespace + "/" + p.Name
		wl := workload(p)
		node := b.nodeOf(&p.Pod)
		var cs []podContainer
		for i := range p.Spec.InitContainers {
			cs = append(cs, podContainer{c: &p.Spec.InitContainers[i], field: fmt.Sprintf("spec.initContainers[%d]", i)})
		}
		for i := range p.Spec.Containers {
			cs = append(cs, podContainer{c: &p.Spec.Containers[i], field: fmt.Sprintf("spec.containers[%d]", i)})
		}
		for i := range p.Spec.EphemeralContainers {
			c := corev1.Container(p.Spec.EphemeralContainers[i].EphemeralContainerCommon)
			cs = append(cs, podContainer{c: &c, field: fmt.Sprintf("spec.ephemeralContainers[%d]", i)})
		}
		for i := range cs {
			c := &cs[i]
			key := "container:" + p.Namespace + "/" + p.Name + "/" + c.c.Name
			c.id = b.g.node(KindContainer, key, p.Namespace+"/"+p.Name+"/"+c.c.Name, p.Namespace)
			b.g.Containers = append(b.g.Containers, c.id)
			b.g.addEdge(Edge{From: b.scope("pods", p.Namespace), To: c.id, Kind: EdgeScopeMember, Likelihood: 1, Reason: "container " + c.c.Name + " of " + podRef + " is in namespace " + p.Namespace})
			// NODE_COLOCATED: whoever owns the node owns its containers.
			nl, nreason := 0.95, "runs on "+b.g.Nodes[node].Name+": root on the node controls every container there"
			if node == b.unscheduled && b.hasUnscheduled && p.Spec.NodeName == "" {
				nl, nreason = 0.3, "not scheduled to a known node: it may share a node with other unscheduled pods (placement unknown)"
			}
			b.g.addEdge(Edge{From: node, To: c.id, Kind: EdgeColocated, Technique: "T1609", Likelihood: nl, Unknown: nl < 0.9, Reason: nreason,
				Evidence: []Evidence{{Object: podRef, Field: "spec.nodeName"}}})
		}
		for i := range cs {
			b.containerEdges(p, podRef, wl, node, cs, i, saAuto)
		}
	}
}

func (b *builder) containerEdges(p *cluster.Pod, podRef, wl string, node NodeID, cs []podContainer, i int, saAuto map[string]*bool) {
	c := cs[i]
	ref := ContainerRef{Namespace: p.Namespace, Pod: p.Name, Container: c.c.Name, Image: c.c.Image}
	// TOKEN_STEAL: the projected service account token.
	saName := p.Spec.ServiceAccountName
	if saName == "" {
		saName = "default"
	}
	auto := true
	autoField := "default (automountServiceAccountToken unset)"
	if v := saAuto[p.Namespace+"/"+saName]; v != nil {
		auto, autoField = *v, "ServiceAccount "+p.Namespace+"/"+saName+" automountServiceAccountToken"
	}
	if p.Spec.AutomountServiceAccountToken != nil {
		auto, autoField = *p.Spec.AutomountServiceAccountToken, "spec.automountServiceAccountToken"
	}
	projected := false
	vols := map[string]*corev1.Volume{}
	for vi := range p.Spec.Volumes {
		vols[p.Spec.Volumes[vi].Name] = &p.Spec.Volumes[vi]
	}
	for mi, m := range c.c.VolumeMounts {
		v := vols[m.Name]
		if v == nil {
			continue
		}
		field := fmt.Sprintf("%s.volumeMounts[%d]", c.field, mi)
		switch {
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.ServiceAccountToken != nil {
					projected = true
				}
				if src.Secret != nil {
					b.secretMount(c.id, p.Namespace, src.Secret.Name, podRef, field)
				}
			}
		case v.Secret != nil:
			b.secretMount(c.id, p.Namespace, v.Secret.SecretName, podRef, field)
		case v.EmptyDir != nil:
			b.volUsers["emptydir:"+p.Namespace+"/"+p.Name+"/"+v.Name] = append(b.volUsers["emptydir:"+p.Namespace+"/"+p.Name+"/"+v.Name], volUse{c.id, m.ReadOnly, Evidence{podRef, field}})
		case v.PersistentVolumeClaim != nil:
			k := "pvc:" + p.Namespace + "/" + v.PersistentVolumeClaim.ClaimName
			b.volUsers[k] = append(b.volUsers[k], volUse{c.id, m.ReadOnly || v.PersistentVolumeClaim.ReadOnly, Evidence{podRef, field}})
		case v.HostPath != nil:
			k := "hostpath:" + b.g.Nodes[node].Key + ":" + v.HostPath.Path
			b.volUsers[k] = append(b.volUsers[k], volUse{c.id, m.ReadOnly, Evidence{podRef, field}})
		}
	}
	for ei, e := range c.c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			b.secretMount(c.id, p.Namespace, e.ValueFrom.SecretKeyRef.Name, podRef, fmt.Sprintf("%s.env[%d]", c.field, ei))
		}
	}
	for ei, e := range c.c.EnvFrom {
		if e.SecretRef != nil {
			b.secretMount(c.id, p.Namespace, e.SecretRef.Name, podRef, fmt.Sprintf("%s.envFrom[%d]", c.field, ei))
		}
	}
	if auto || projected {
		field := autoField
		if !auto {
			field = "a projected serviceAccountToken volume"
		}
		b.g.addEdge(Edge{From: c.id, To: b.sa(p.Namespace, saName), Kind: EdgeTokenSteal, Technique: "T1528", Likelihood: 1,
			Reason:   "reads the mounted token of ServiceAccount " + p.Namespace + "/" + saName + " (/var/run/secrets/kubernetes.io/serviceaccount/token)",
			Evidence: []Evidence{{Object: podRef, Field: field}, {Object: podRef, Field: "spec.serviceAccountName"}},
			Fixes:    []Fix{{ID: "automount:" + wl, Summary: "set automountServiceAccountToken: false on " + wl + " (or give it a ServiceAccount without permissions)"}}})
	}
	// Escapes to the node, from the posture profile.
	if prof := b.profiles[p.Namespace+"/"+p.Name+"/"+c.c.Name]; prof != nil {
		b.escapeEdges(c.id, node, podRef, wl, c.c.Name, prof)
	}
	if p.Spec.HostNetwork {
		b.g.addEdge(Edge{From: c.id, To: node, Kind: EdgeHostNetwork, Technique: "T1557", Likelihood: 0.3, Unknown: true,
			Reason:   "hostNetwork: shares the node's network namespace, reaches node-local services (kubelet, localhost-bound daemons, cloud metadata) outside NetworkPolicy",
			Evidence: []Evidence{{Object: podRef, Field: "spec.hostNetwork"}},
			Fixes:    []Fix{{ID: "sc:" + wl + ":hostNetwork", Summary: "set hostNetwork: false on " + wl}}})
	}
	// Siblings in the pod: localhost and, with shareProcessNamespace, /proc.
	for j, o := range cs {
		if j == i {
			continue
		}
		oref := ContainerRef{Namespace: p.Namespace, Pod: p.Name, Container: o.c.Name, Image: o.c.Image}
		if l, unknown, why := b.exploit(oref); l > 0 {
			b.g.addEdge(Edge{From: c.id, To: o.id, Kind: EdgeSamePod, Technique: "T1210", Likelihood: l, Unknown: unknown,
				Reason:   "shares the pod's network namespace: reaches every port of container " + o.c.Name + " on localhost, where NetworkPolicy never applies; " + why,
				Evidence: []Evidence{{Object: podRef, Field: "spec (containers of one pod share one network namespace)"}}})
		}
		if p.Spec.ShareProcessNamespace != nil && *p.Spec.ShareProcessNamespace {
			b.g.addEdge(Edge{From: c.id, To: o.id, Kind: EdgeSharedNS, Technique: "T1055", Likelihood: 0.8,
				Reason:   "shareProcessNamespace: sees container " + o.c.Name + "'s processes, reads their /proc/<pid>/root and environ, signals or ptraces them",
				Evidence: []Evidence{{Object: podRef, Field: "spec.shareProcessNamespace"}},
				Fixes:    []Fix{{ID: "sc:" + wl + ":shareProcessNamespace", Summary: "set shareProcessNamespace: false on " + wl}}})
		}
	}
	_ = ref
}

// exploit returns the likelihood of taking over a reachable container.
func (b *builder) exploit(ref ContainerRef) (float64, bool, string) {
	x := b.o.exploit.Exploitability(ref)
	if !x.Known {
		return unknownExploitLikelihood, true, "exploitability unknown (no vulnerability data): assumed possible"
	}
	why := x.Reason
	if why == "" {
		why = fmt.Sprintf("exploitability %.2f", x.Likelihood)
	}
	return x.Likelihood, false, why
}

func (b *builder) secretMount(c NodeID, ns, name, podRef, field string) {
	if name == "" {
		return
	}
	b.g.addEdge(Edge{From: c, To: b.secret(ns, name), Kind: EdgeSecretMount, Technique: "T1552.007", Likelihood: 1,
		Reason:   "Secret " + ns + "/" + name + " is mounted or in the environment",
		Evidence: []Evidence{{Object: podRef, Field: field}}})
}

func (b *builder) volumes() {
	keys := make([]string, 0, len(b.volUsers))
	for k := range b.volUsers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		users := b.volUsers[k]
		if len(users) < 2 {
			continue
		}
		var writers []volUse
		for _, u := range users {
			if !u.readOnly {
				writers = append(writers, u)
			}
		}
		if len(writers) == 0 {
			continue
		}
		kind, name, _ := strings.Cut(k, ":")
		label := map[string]string{"emptydir": "emptyDir", "pvc": "PersistentVolumeClaim", "hostpath": "hostPath"}[kind] + " " + name
		vol := b.g.node("Volume", "volume:"+k, label, "")
		for _, w := range writers {
			b.g.addEdge(Edge{From: w.c, To: vol, Kind: EdgeSharedVol, Technique: "T1080", Likelihood: 1,
				Reason: "mounts " + label + " read-write", Evidence: []Evidence{w.ev},
				Fixes: []Fix{{ID: "vol:" + k + ":" + b.g.Nodes[w.c].Key, Summary: "mount " + label + " readOnly in " + b.g.Nodes[w.c].Name}}})
		}
		for _, u := range users {
			b.g.addEdge(Edge{From: vol, To: u.c, Kind: EdgeSharedVol, Technique: "T1080", Likelihood: 0.5,
				Reason: "reads " + label + ", where a writer can plant files it loads or executes", Evidence: []Evidence{u.ev}})
		}
	}
}

func (b *builder) critical() {
	for i := range b.g.Nodes {
		n := &b.g.Nodes[i]
		switch n.Kind {
		case KindClusterAdmin:
			n.Critical = "cluster-admin equivalent"
		case KindUnknown:
			n.Critical = "unknown: " + n.Name
		case KindNode:
			n.Critical = "node: root on the shared kernel, every container and token on it"
		case KindSecret:
			n.Critical = "secret"
			if b.criticalNS(n.Namespace) {
				n.Critical = "secret in critical namespace " + n.Namespace
			}
		case KindContainer, KindIdentity:
			if n.Namespace != "" && b.criticalNS(n.Namespace) {
				n.Critical = "in critical namespace " + n.Namespace
			}
		}
	}
}

func containsStr(list []string, s string) bool { return slices.Contains(list, s) }

// unknownRBAC marks every identity's permissions unknown when the snapshot
// could not read RBAC objects: an edge to the Unknown node, never silence.
func (b *builder) unknownRBAC() {
	u := b.rbac.Unknowns()
	if len(u) == 0 {
		return
	}
	unk := b.g.node(KindUnknown, "unknown:rbac", "permissions the snapshot could not read", "")
	for i := range b.g.Nodes {
		n := b.g.Nodes[i]
		if n.Kind != KindIdentity {
			continue
		}
		b.g.addEdge(Edge{From: n.ID, To: unk, Kind: EdgeUnknown, Likelihood: 0.5, Unknown: true,
			Reason: "its permissions are not fully known: " + strings.Join(u, "; ")})
	}
}
