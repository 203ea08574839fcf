package graph

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/credence-dev/credence/cluster"
)

// Placement: where a pod runs decides which node its escapes reach and which
// containers share a node with it. A pod with spec.nodeName runs there. A
// pod without one (a workload's template, a pending pod) goes where the
// scheduler may put it: the nodes whose labels its nodeSelector and required
// node affinity match (k8s.io/component-helpers nodeaffinity, the
// scheduler's own filter) and whose NoSchedule/NoExecute taints it
// tolerates. A DaemonSet's pod runs on every such node. When the snapshot
// has no Node objects (manifests), two stand-ins take their place: "a worker
// node", and "a control-plane node" for pods that tolerate the
// control-plane taint.

// placed is one node a pod runs on or may run on.
type placed struct {
	node NodeID
	// factor is the chance the pod is there: 1 when it is (pinned, a
	// DaemonSet, the only candidate, a stand-in for "the node it lands
	// on"); below 1 for a stand-in it may or may not land on.
	factor float64
	// colocated is the likelihood of the node → container edge.
	colocated float64
	unknown   bool
	why       string
}

const (
	workerStandIn  = "node:(unscheduled)"
	controlStandIn = "node:(control plane)"
)

// controlPlaneTaints are the taints kubeadm and most distributions put on
// control-plane nodes.
var controlPlaneTaints = []corev1.Taint{
	{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule},
	{Key: "node-role.kubernetes.io/master", Effect: corev1.TaintEffectNoSchedule},
}

// daemonSetTolerations are added to every DaemonSet pod by the DaemonSet
// controller (pkg/controller/daemon/util AddOrUpdateDaemonPodTolerations).
var daemonSetTolerations = []corev1.Toleration{
	{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: "node.kubernetes.io/disk-pressure", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: "node.kubernetes.io/memory-pressure", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: "node.kubernetes.io/pid-pressure", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: "node.kubernetes.io/unschedulable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: "node.kubernetes.io/network-unavailable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

func isDaemonSetPod(p *cluster.Pod) bool {
	return strings.HasPrefix(p.Workload, "DaemonSet/") || strings.HasPrefix(p.Owner, "DaemonSet/")
}

func isControlPlane(n *corev1.Node) bool {
	_, cp := n.Labels["node-role.kubernetes.io/control-plane"]
	_, master := n.Labels["node-role.kubernetes.io/master"]
	return cp || master
}

func tolerates(tols []corev1.Toleration, t *corev1.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(klog.Background(), t, false) {
			return true
		}
	}
	return false
}

// fits says whether the scheduler may put p on n: required node affinity
// and nodeSelector match, and every NoSchedule/NoExecute taint (and
// spec.unschedulable) is tolerated.
func fits(p *cluster.Pod, n *corev1.Node, ds bool) bool {
	ok, err := nodeaffinity.GetRequiredNodeAffinity(&p.Pod).Match(n)
	if err != nil || !ok {
		return false
	}
	tols := p.Spec.Tolerations
	if ds {
		tols = append(append([]corev1.Toleration(nil), tols...), daemonSetTolerations...)
	}
	taints := n.Spec.Taints
	if n.Spec.Unschedulable {
		taints = append(append([]corev1.Taint(nil), taints...), corev1.Taint{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule})
	}
	for i := range taints {
		t := &taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !tolerates(tols, t) {
			return false
		}
	}
	return true
}

// nodeNode returns the graph node of a named Node, creating it for a name
// the snapshot lacks.
func (b *builder) nodeNode(name string) NodeID {
	key := "node:" + name
	if id, ok := b.g.keys[key]; ok {
		return id
	}
	id := b.g.node(KindNode, key, "node "+name, "")
	b.g.addEdge(Edge{From: b.g.keys["scope:nodes"], To: id, Kind: EdgeScopeMember, Reason: "node " + name + " is one of every node", Likelihood: 1})
	return id
}

// standIn returns a node standing for a node the snapshot does not name.
func (b *builder) standIn(key, name string) NodeID {
	if id, ok := b.g.keys[key]; ok {
		return id
	}
	id := b.g.node(KindNode, key, name, "")
	b.g.addEdge(Edge{From: b.g.keys["scope:nodes"], To: id, Kind: EdgeScopeMember, Reason: name + " is one of every node", Likelihood: 1})
	if key == controlStandIn {
		b.g.addEdge(Edge{From: id, To: b.g.keys["cluster-admin"], Kind: EdgeColocated, Technique: "T1552.004", Likelihood: 0.9,
			Reason: "control-plane node: holds the cluster CA keys, etcd data and admin kubeconfigs"})
	}
	return id
}

// placements says where pod p runs (see the comment at the top).
func (b *builder) placements(p *cluster.Pod) []placed {
	if pl, ok := b.placed[p.Namespace+"/"+p.Name]; ok {
		return pl
	}
	pl := b.place(p)
	b.placed[p.Namespace+"/"+p.Name] = pl
	return pl
}

func (b *builder) place(p *cluster.Pod) []placed {
	if p.Spec.NodeName != "" {
		return []placed{{node: b.nodeNode(p.Spec.NodeName), factor: 1, colocated: 0.95, why: "runs on node " + p.Spec.NodeName}}
	}
	ds := isDaemonSetPod(p)
	if len(b.s.Nodes) == 0 {
		return b.placeWithoutNodes(p, ds)
	}
	var cands []*corev1.Node
	cp := 0
	for i := range b.s.Nodes {
		n := &b.s.Nodes[i]
		if fits(p, n, ds) {
			cands = append(cands, n)
			if isControlPlane(n) {
				cp++
			}
		}
	}
	switch {
	case len(cands) == 0:
		return []placed{{node: b.standIn(workerStandIn, "a node the snapshot does not hold"), factor: 1, colocated: 0.3, unknown: true,
			why: "no node of the snapshot matches its nodeSelector, affinity and tolerations: it stays Pending until one does"}}
	case ds:
		out := make([]placed, 0, len(cands))
		for _, n := range cands {
			out = append(out, placed{node: b.nodeNode(n.Name), factor: 1, colocated: 0.95, why: "a DaemonSet pod runs on every node it fits: node " + n.Name})
		}
		return out
	case len(cands) == 1:
		return []placed{{node: b.nodeNode(cands[0].Name), factor: 1, colocated: 0.95, why: "node " + cands[0].Name + " is the only node it fits"}}
	}
	names := make([]string, len(cands))
	for i, n := range cands {
		names[i] = n.Name
	}
	sort.Strings(names)
	key := "node:(one of " + strings.Join(names, ",") + ")"
	id, ok := b.g.keys[key]
	if !ok {
		label := strings.Join(names, ", ")
		if len(names) > 4 {
			label = strings.Join(names[:3], ", ") + fmt.Sprintf(", ... (%d nodes)", len(names))
		}
		id = b.g.node(KindNode, key, "the node it is scheduled to, one of "+label, "")
		b.g.addEdge(Edge{From: b.g.keys["scope:nodes"], To: id, Kind: EdgeScopeMember, Reason: "one of every node", Likelihood: 1})
		// Owning one of the candidates owns the pod when it lands there.
		for _, n := range cands {
			b.g.addEdge(Edge{From: b.nodeNode(n.Name), To: id, Kind: EdgeColocated, Technique: "T1609", Likelihood: 1 / float64(len(cands)), Unknown: true,
				Reason:   fmt.Sprintf("pods that fit %d nodes may be scheduled to node %s", len(cands), n.Name),
				Evidence: []Evidence{{Object: "Node " + n.Name, Field: "metadata.labels, spec.taints"}}})
		}
		if cp > 0 {
			b.g.addEdge(Edge{From: id, To: b.g.keys["cluster-admin"], Kind: EdgeColocated, Technique: "T1552.004", Likelihood: 0.9 * float64(cp) / float64(len(cands)), Unknown: true,
				Reason: fmt.Sprintf("%d of the %d nodes it fits are control-plane nodes (cluster CA keys, etcd data, admin kubeconfigs)", cp, len(cands))})
		}
	}
	return []placed{{node: id, factor: 1, colocated: 0.3, unknown: true,
		why: fmt.Sprintf("not pinned to a node: fits %d nodes (nodeSelector, affinity, tolerations)", len(cands))}}
}

// placeWithoutNodes places a pod when the snapshot holds no Node: on a
// worker, and on the control plane when it tolerates the control-plane
// taint.
func (b *builder) placeWithoutNodes(p *cluster.Pod, ds bool) []placed {
	tols := p.Spec.Tolerations
	tolCP := false
	for i := range controlPlaneTaints {
		if tolerates(tols, &controlPlaneTaints[i]) {
			tolCP = true
		}
	}
	// Does it ask for the control plane? A nodeSelector or required
	// affinity that a control-plane node's role label satisfies and a
	// worker's would not.
	cpNode := &corev1.Node{}
	cpNode.Labels = map[string]string{"node-role.kubernetes.io/control-plane": "", "kubernetes.io/os": "linux"}
	wNode := &corev1.Node{}
	wNode.Labels = map[string]string{"kubernetes.io/os": "linux"}
	aff := nodeaffinity.GetRequiredNodeAffinity(&p.Pod)
	onCP, _ := aff.Match(cpNode)
	onWorker, _ := aff.Match(wNode)
	worker := func(why string) placed {
		l := 0.3
		if ds {
			l = 0.95 // a DaemonSet pod is on whichever worker the others land on
		}
		return placed{node: b.standIn(workerStandIn, "a worker node (the snapshot holds no Node objects)"), factor: 1, colocated: l, unknown: !ds, why: why}
	}
	control := func(f float64, why string) placed {
		return placed{node: b.standIn(controlStandIn, "a control-plane node (the snapshot holds no Node objects)"), factor: f, colocated: 0.3 * f, unknown: f < 1, why: why}
	}
	switch {
	case tolCP && onCP && !onWorker:
		return []placed{control(1, "tolerates the control-plane taint and selects control-plane nodes")}
	case tolCP && ds:
		return []placed{worker("a DaemonSet pod runs on every node"), control(1, "a DaemonSet pod that tolerates the control-plane taint runs on control-plane nodes too")}
	case tolCP && onCP:
		return []placed{worker("not pinned to a node: placement unknown"), control(0.5, "tolerates the control-plane taint: may be scheduled to a control-plane node")}
	}
	why := "not pinned to a node: placement unknown"
	if ds {
		why = "a DaemonSet pod runs on every worker node"
	}
	return []placed{worker(why)}
}
