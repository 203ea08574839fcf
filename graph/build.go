package graph

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/posture"
)

// Build makes the trust graph of a snapshot. The graph keeps the snapshot
// (never changing it) so that a suggested change can be scored by applying
// it and rebuilding (see Cut).
func Build(s *cluster.Snapshot, opts ...Option) (*Graph, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("build graph: %w", err)
		}
	}
	pe, err := posture.NewEvaluator()
	if err != nil {
		return nil, fmt.Errorf("build graph: %w", err)
	}
	st := &baseState{snap: s, opts: o, posture: pe}
	b := newBuilder(st, s, nil, 0)
	if c := o.liveCache; c != nil {
		b.g.reserve(c.size())
		defer c.built(b.g)
	}
	b.build()
	st.cache = b.cache
	b.g.base = st
	return b.g, nil
}

// baseState is what a graph was built from, kept for counterfactual
// rebuilds: the snapshot, the options, and what a rebuild may reuse.
type baseState struct {
	snap    *cluster.Snapshot
	opts    options
	posture *posture.Evaluator
	cache   *buildCache
}

// buildCache is what a build computed that a rebuild of a changed snapshot
// reuses when the change does not touch its inputs: the posture profiles
// of each pod, and the network and RBAC parts of the graph.
type buildCache struct {
	profiles map[string][]posture.Profile // by pod key
	net      *phaseRecord
	rbac     *phaseRecord
}

// phaseRecord is what one phase of the build added, replayable into
// another graph whose inputs to that phase are the same. It refers to the
// graph the phase ran on instead of copying: nodes and edges are only ever
// appended to a graph, and those a phase added are not changed after it, so
// their ranges stay what the phase made.
type phaseRecord struct {
	g            *Graph
	nodes, edges [2]int // the phase's ranges of g.Nodes and g.Edges
	blocked      []Blocked
	unknowns     []string
	// before fingerprints the nodes that existed when the phase ran: the
	// RBAC phase looks them up (named objects, users to impersonate).
	before nodeSet
}

// nodeSet is an order-independent fingerprint of a set of node keys.
type nodeSet struct {
	n        int
	sum, xor uint64
}

func (g *Graph) nodeSet() nodeSet {
	s := nodeSet{n: len(g.Nodes)}
	for i := range g.Nodes {
		h := fnv.New64a()
		h.Write([]byte(g.Nodes[i].Key))
		v := h.Sum64()
		s.sum += v
		s.xor ^= v
	}
	return s
}

func newBuilder(st *baseState, s *cluster.Snapshot, reuse *reuse, sizeHint int) *builder {
	g := &Graph{keys: map[string]NodeID{}}
	g.reserve(0, sizeHint)
	return &builder{
		st:       st,
		s:        s,
		o:        st.opts,
		g:        g,
		rbac:     NewRBAC(s),
		nsLabels: map[string]map[string]string{},
		derived:  map[NodeID]bool{},
		placed:   map[string][]placed{},
		onNode:   map[NodeID][]onNode{},
		reuse:    reuse,
		cache:    &buildCache{profiles: map[string][]posture.Profile{}},
	}
}

// reuse says what a rebuild may take from the base build.
type reuse struct {
	base      *buildCache
	dirtyPods map[string]bool
	network   bool
	// rbac: no RBAC object or namespace changed; the RBAC part is reused
	// when the nodes it looks up are the same too.
	rbac bool
}

func (b *builder) build() {
	b.profilePods()
	b.namespaces()
	b.gaps()
	b.g.node(KindClusterAdmin, "cluster-admin", "cluster-admin (control of the whole cluster)", "")
	b.nodes()
	b.identities()
	b.secrets()
	b.pods()
	b.volumes()
	b.hostNamespaces()
	if b.reuse != nil && b.reuse.network {
		b.cache.net = b.replay(b.reuse.base.net)
	} else {
		b.net = NewNetworkEvaluator(b.s)
		b.net.assumed = b.nsAssumed
		b.cache.net = b.record(b.network)
	}
	b.kubelets()
	b.podContainersIndex()
	if b.reuse != nil && b.reuse.rbac && b.reuse.base.rbac != nil && b.g.nodeSet() == b.reuse.base.rbac.before {
		b.cache.rbac = b.replay(b.reuse.base.rbac)
	} else {
		b.cache.rbac = b.record(func() {
			b.rbacEdges()
			b.unknownRBAC()
		})
	}
	b.exposures()
	b.critical()
	b.g.adjacency()
}

type builder struct {
	st       *baseState
	s        *cluster.Snapshot
	o        options
	g        *Graph
	net      *NetworkEvaluator
	rbac     *RBAC
	nsList   []string
	nsLabels map[string]map[string]string
	// nsAssumed: namespaces a fix added, whose other labels are unknown.
	nsAssumed map[string]bool
	derived   map[NodeID]bool
	// admission: namespaces whose Pod Security enforce level blocks
	// privileged pods, and whether webhooks or policies could block more.
	admissionHooks []string
	volUsers       map[string][]volUse
	podCs          map[string][]NodeID
	netUnknown     []string // network policy kinds the snapshot could not read
	profiles       map[string]*posture.Profile
	// placed: where each pod runs (pod key); onNode: the containers on
	// each node, with the likelihood of sharing it.
	placed map[string][]placed
	onNode map[NodeID][]onNode
	reuse  *reuse
	cache  *buildCache
}

type onNode struct {
	c   NodeID
	pod *cluster.Pod
	l   float64
}

type volUse struct {
	c        NodeID
	readOnly bool
	ev       Evidence
	fix      Fix
}

// profilePods computes every container's posture profile, reusing the base
// build's for pods a change did not touch.
func (b *builder) profilePods() {
	b.profiles = map[string]*posture.Profile{}
	// A fresh build of a live view may take unchanged pods' profiles from
	// the caller's cache (a counterfactual rebuild has its own reuse).
	var kept, next map[string]postureEntry
	cache := b.st.opts.liveCache
	env, live := uint64(0), false
	if cache != nil && b.reuse == nil {
		if env, live = postureEnv(b.s); live {
			kept, next = cache.begin(env), make(map[string]postureEntry, len(b.s.Pods))
			defer cache.end(env, next)
		}
	}
	for i := range b.s.Pods {
		p := &b.s.Pods[i]
		key := p.Key()
		var cs []posture.Profile
		e, ok := kept[key]
		ok = ok && p.ResourceVersion != "" && e.uid == string(p.UID)
		switch {
		case b.reuse != nil && !b.reuse.dirtyPods[key]:
			cs = b.reuse.base.profiles[key]
		case ok && e.version == p.ResourceVersion:
			cs = e.profiles
		case ok && e.sameInputs(p):
			// Changed, but not in what posture reads (the server's
			// own labels, the pod's status).
			cs, e.version = e.profiles, p.ResourceVersion
		default:
			cs = b.st.posture.Pod(b.s, p).Containers
			e = postureEntry{uid: string(p.UID), version: p.ResourceVersion, profiles: cs}
			e.fingerprint, e.fingerprinted = posture.PodFingerprint(p)
		}
		if next != nil && p.ResourceVersion != "" {
			next[key] = e
		}
		b.cache.profiles[key] = cs
		for j := range cs {
			b.profiles[key+"/"+cs[j].Container] = &cs[j]
		}
	}
}

func (b *builder) namespaces() {
	seen := map[string]bool{}
	add := func(ns string) {
		if ns != "" && !seen[ns] {
			seen[ns] = true
			b.nsList = append(b.nsList, ns)
		}
	}
	b.nsAssumed = map[string]bool{}
	for _, n := range b.s.Namespaces {
		add(n.Name)
		b.nsLabels[n.Name] = n.Labels
		if n.Annotations[assumedNamespace] != "" {
			b.nsAssumed[n.Name] = true
		}
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
		b.g.Unknowns = append(b.g.Unknowns, fmt.Sprintf("%s could not be read (%s): what it hides is unknown, not absent", gp.Object(), gp.Reason))
	}
	b.g.Assumptions = append(b.g.Assumptions, b.s.Defaults...)
}

func (b *builder) criticalNS(ns string) bool {
	if b.o.criticalNS[ns] {
		return true
	}
	l, ok := b.nsLabels[ns]
	return ok && b.o.criticalSel.Matches(labels.Set(l))
}

func (b *builder) nodes() {
	b.g.node(KindScope, "scope:nodes", "every node", "")
	for i := range b.s.Nodes {
		n := &b.s.Nodes[i]
		id := b.nodeNode(n.Name)
		if isControlPlane(n) {
			b.g.addEdge(Edge{From: id, To: b.g.keys["cluster-admin"], Kind: EdgeColocated, Technique: "T1552.004", Likelihood: 0.9,
				Reason:   "control-plane node: holds the cluster CA keys, etcd data and admin kubeconfigs",
				Evidence: []Evidence{{Object: "Node " + n.Name, Field: "metadata.labels[node-role.kubernetes.io/control-plane]"}}})
		}
	}
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
					Fixes:    []Fix{deleteSecretFix(s.Namespace, s.Name)}})
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
		places := b.placements(p)
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
			for _, pl := range places {
				reason := pl.why + ": root on the node controls every container there"
				if pl.unknown {
					reason = "may share " + b.g.Nodes[pl.node].Name + " with it: " + pl.why
				}
				b.g.addEdge(Edge{From: pl.node, To: c.id, Kind: EdgeColocated, Technique: "T1609", Likelihood: pl.colocated, Unknown: pl.unknown,
					Reason: reason, Evidence: []Evidence{{Object: podRef, Field: "spec.nodeName"}}})
				b.onNode[pl.node] = append(b.onNode[pl.node], onNode{c: c.id, pod: p, l: pl.factor})
			}
		}
		for i := range cs {
			b.containerEdges(p, podRef, wl, places, cs, i, saAuto)
		}
	}
	b.attraction()
}

func (b *builder) containerEdges(p *cluster.Pod, podRef, wl string, places []placed, cs []podContainer, i int, saAuto map[string]*bool) {
	c := cs[i]
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
		use := func(k string, ro bool) {
			b.volUsers[k] = append(b.volUsers[k], volUse{c.id, ro, Evidence{podRef, field},
				readOnlyMountFix("vol:"+k+":"+b.g.Nodes[c.id].Key, "mount "+v.Name+" readOnly in "+b.g.Nodes[c.id].Name, p.Namespace, p.Name, c.c.Name, v.Name)})
		}
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
			use("emptydir:"+p.Namespace+"/"+p.Name+"/"+v.Name, m.ReadOnly)
		case v.PersistentVolumeClaim != nil:
			use("pvc:"+p.Namespace+"/"+v.PersistentVolumeClaim.ClaimName, m.ReadOnly || v.PersistentVolumeClaim.ReadOnly)
		case v.HostPath != nil:
			for _, pl := range places {
				use("hostpath:"+b.g.Nodes[pl.node].Key+":"+v.HostPath.Path, m.ReadOnly)
			}
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
		e := Edge{From: c.id, To: b.sa(p.Namespace, saName), Kind: EdgeTokenSteal, Technique: "T1528", Likelihood: 1,
			Reason:   "reads the mounted token of ServiceAccount " + p.Namespace + "/" + saName + " (/var/run/secrets/kubernetes.io/serviceaccount/token)",
			Evidence: []Evidence{{Object: podRef, Field: field}, {Object: podRef, Field: "spec.serviceAccountName"}}}
		if auto {
			e.Fixes = []Fix{automountFix(wl)}
		}
		b.g.addEdge(e)
	}
	prof := b.profiles[p.Namespace+"/"+p.Name+"/"+c.c.Name]
	// Escapes to the node, from the posture profile.
	if prof != nil {
		for _, pl := range places {
			b.escapeEdges(c.id, pl, podRef, wl, c.c.Name, prof)
		}
	}
	if p.Spec.HostNetwork {
		for _, pl := range places {
			b.g.addEdge(Edge{From: c.id, To: pl.node, Kind: EdgeHostNetwork, Technique: "T1557", Likelihood: 0.3 * pl.factor, Unknown: true,
				Reason:   "hostNetwork: shares the node's network namespace, reaches node-local services (kubelet, localhost-bound daemons) outside NetworkPolicy",
				Evidence: []Evidence{{Object: podRef, Field: "spec.hostNetwork"}},
				Fixes:    []Fix{hostNetworkFix(wl)}})
		}
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
				Fixes:    []Fix{shareProcessNamespaceFix(wl)}})
		}
	}
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
	if len(x.Evidence) > 0 {
		why += " (" + strings.Join(x.Evidence, ", ") + ")"
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
				Reason: "mounts " + label + " read-write", Evidence: []Evidence{w.ev}, Fixes: []Fix{w.fix}})
		}
		for _, u := range users {
			b.g.addEdge(Edge{From: vol, To: u.c, Kind: EdgeSharedVol, Technique: "T1080", Likelihood: 0.5,
				Reason: "reads " + label + ", where a writer can plant files it loads or executes", Evidence: []Evidence{u.ev}})
		}
	}
}

// record runs one phase of the build and records what it added, for
// rebuilds that do not change its inputs.
func (b *builder) record(phase func()) *phaseRecord {
	rec := &phaseRecord{g: b.g, before: b.g.nodeSet()}
	n0, e0, bl0, u0 := len(b.g.Nodes), len(b.g.Edges), len(b.g.Blocked), len(b.g.Unknowns)
	phase()
	rec.nodes, rec.edges = [2]int{n0, len(b.g.Nodes)}, [2]int{e0, len(b.g.Edges)}
	rec.blocked = b.g.Blocked[bl0:len(b.g.Blocked):len(b.g.Blocked)]
	rec.unknowns = b.g.Unknowns[u0:len(b.g.Unknowns):len(b.g.Unknowns)]
	return rec
}

// replay adds a recorded phase to this graph.
func (b *builder) replay(rec *phaseRecord) *phaseRecord {
	src := rec.g
	for _, n := range src.Nodes[rec.nodes[0]:rec.nodes[1]] {
		b.g.node(n.Kind, n.Key, n.Name, n.Namespace)
	}
	for _, e := range src.Edges[rec.edges[0]:rec.edges[1]] {
		e.From, e.To = b.g.keys[src.Nodes[e.From].Key], b.g.keys[src.Nodes[e.To].Key]
		b.g.addEdge(e)
	}
	b.g.Blocked = append(b.g.Blocked, rec.blocked...)
	b.g.Unknowns = append(b.g.Unknowns, rec.unknowns...)
	return rec
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
		case KindExternal:
			n.Critical = "cloud credentials: the instance identity of the node (its cloud permissions are unknown here)"
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
