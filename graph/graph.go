package graph

import (
	"fmt"
	"slices"
)

// NodeKind is what a graph node stands for.
type NodeKind string

// Node kinds (design note §2.1).
const (
	KindContainer NodeKind = "Container"
	// KindNetPeer is a group of pods that NetworkPolicy cannot tell apart
	// (same namespace, labels, ports, host networking): "egress" nodes are
	// where a compromised container's connections start, "ingress" nodes
	// where connections to the group arrive.
	KindNetPeer  NodeKind = "NetPeer"
	KindNetwork  NodeKind = "Network" // the pod network where neither side is isolated
	KindNode     NodeKind = "Node"
	KindIdentity NodeKind = "Identity"
	KindSecret   NodeKind = "Secret"
	// KindScope is "every X in namespace N": every container, every
	// service account, every secret; or every node.
	KindScope NodeKind = "Scope"
	// KindPermissionSet is a role as bound (or bindable) in one scope.
	KindPermissionSet NodeKind = "PermissionSet"
	// KindClusterAdmin is control of the whole cluster.
	KindClusterAdmin NodeKind = "ClusterAdmin"
	// KindUnknown stands for what the snapshot hides (unreadable RBAC, a
	// role the manifests bind but lack): reaching it means the blast radius
	// is not bounded by what is known.
	KindUnknown NodeKind = "Unknown"
	// KindExternal is outside the cluster: the cloud metadata endpoint.
	KindExternal NodeKind = "External"
)

// EdgeKind names the attack step an edge stands for.
type EdgeKind string

// Edge kinds (design note §2.2 and §2.4).
const (
	EdgeNetEgress     EdgeKind = "NET_EGRESS"  // container → its egress peer group
	EdgeNetReach      EdgeKind = "NET_REACH"   // peer group → peer group (NetworkPolicy)
	EdgeNetExploit    EdgeKind = "NET_EXPLOIT" // ingress peer group → a container listening there
	EdgeSamePod       EdgeKind = "SAME_POD_NET"
	EdgeSharedNS      EdgeKind = "SHARED_NS"
	EdgeSharedVol     EdgeKind = "SHARED_VOL"
	EdgeTokenSteal    EdgeKind = "TOKEN_STEAL"
	EdgeSecretMount   EdgeKind = "SECRET_MOUNTED"
	EdgeSecretToken   EdgeKind = "SECRET_IS_TOKEN"
	EdgeEscape        EdgeKind = "ESCAPE"
	EdgeHostNetwork   EdgeKind = "HOST_NETWORK"
	EdgeColocated     EdgeKind = "NODE_COLOCATED"
	EdgeScopeMember   EdgeKind = "SCOPE_MEMBER"
	EdgeRBACCreatePod EdgeKind = "RBAC_CREATE_POD"
	EdgeRBACExec      EdgeKind = "RBAC_EXEC"
	EdgeRBACSecrets   EdgeKind = "RBAC_SECRETS"
	EdgeRBACToken     EdgeKind = "RBAC_TOKEN_REQUEST"
	EdgeRBACBind      EdgeKind = "RBAC_BIND"
	EdgeRBACEscalate  EdgeKind = "RBAC_ESCALATE"
	EdgeRBACImperson  EdgeKind = "RBAC_IMPERSONATE"
	EdgeRBACNodeProxy EdgeKind = "RBAC_NODES_PROXY"
	EdgeRBACPV        EdgeKind = "RBAC_PV_CREATE"
	EdgeRBACCSR       EdgeKind = "RBAC_CSR_APPROVE"
	EdgeRBACAdmission EdgeKind = "RBAC_ADMISSION_EDIT"
	EdgeRBACAdmin     EdgeKind = "RBAC_CLUSTER_ADMIN"
	EdgeRBACPortFwd   EdgeKind = "RBAC_PORT_FORWARD"
	// EdgeUnknown leads to what the snapshot cannot settle (KindUnknown).
	EdgeUnknown EdgeKind = "UNKNOWN"
	// EdgeHostPID: a host-PID container reads other containers' processes
	// on its node (/proc/<pid>/environ, /proc/<pid>/root).
	EdgeHostPID EdgeKind = "HOST_PID"
	// EdgeHostIPC: shared memory and message queues of the node's IPC
	// namespace.
	EdgeHostIPC EdgeKind = "HOST_IPC"
	// EdgeNodeCreds: a node holds its kubelet's identity (system:node:<n>).
	EdgeNodeCreds EdgeKind = "NODE_CREDENTIALS"
	// EdgeNodeAuthz: what the Node authorizer lets a kubelet read.
	EdgeNodeAuthz EdgeKind = "NODE_AUTHORIZER"
	// EdgeNodeAttract: a node labels itself to attract pods (NodeRestriction
	// allows labels outside kubernetes.io and k8s.io).
	EdgeNodeAttract EdgeKind = "NODE_ATTRACT"
	// EdgeMetadata: egress to the cloud metadata endpoint (169.254.169.254).
	EdgeMetadata EdgeKind = "CLOUD_METADATA"
)

// NodeID indexes Graph.Nodes.
type NodeID int32

// Node is one vertex of the trust graph.
type Node struct {
	ID        NodeID   `json:"-"`
	Kind      NodeKind `json:"kind"`
	Key       string   `json:"key"`  // unique: "container:ns/pod/c", "sa:ns/name", "node:n"
	Name      string   `json:"name"` // for people
	Namespace string   `json:"namespace,omitempty"`
	// Critical says why reaching this node matters ("cluster-admin", "node",
	// "secret", "namespace kube-system is critical"); empty if it does not.
	Critical string `json:"critical,omitempty"`
}

// Evidence points at the object and field that make an edge true.
type Evidence struct {
	Object string `json:"object"` // "Pod blast/web", "RoleBinding blast/edit"
	Field  string `json:"field,omitempty"`
}

func (e Evidence) String() string {
	if e.Field == "" {
		return e.Object
	}
	return e.Object + " " + e.Field
}

// Edge is one explained attack step.
type Edge struct {
	From, To NodeID   `json:"-"`
	Kind     EdgeKind `json:"kind"`
	// Reason says in one sentence why the step works.
	Reason   string     `json:"reason"`
	Evidence []Evidence `json:"evidence,omitempty"`
	// Technique is the MITRE ATT&CK technique id.
	Technique string `json:"technique,omitempty"`
	// Likelihood in (0, 1] that an attacker at From takes the step.
	Likelihood float64 `json:"likelihood"`
	// Unknown marks a step whose precondition the snapshot cannot settle
	// (an unknown NetworkPolicy verdict, unknown exploitability): it is kept,
	// never dropped, with a lower likelihood.
	Unknown bool `json:"unknown,omitempty"`
	// Weakened lists the mitigations that lowered the likelihood.
	Weakened []string `json:"weakened,omitempty"`
	// Fixes lists alternative changes, each of which removes the edge.
	Fixes []Fix `json:"fixes,omitempty"`
}

// Blocked is an edge that mitigations removed, with the reasons.
type Blocked struct {
	From     string   `json:"from"`
	To       string   `json:"to"`
	Kind     EdgeKind `json:"kind"`
	Reason   string   `json:"reason"`
	Weakened []string `json:"weakenedBy"`
}

// Graph is the trust graph of one snapshot.
type Graph struct {
	Nodes []Node
	Edges []Edge
	// out holds edge indices by source node and forward the same edges
	// as steps (see adjacency); indexed is how many edges they cover.
	out     [][]int32
	forward [][]step
	indexed int
	keys    map[string]NodeID
	// Blocked edges: escapes and steps that mitigations removed.
	Blocked []Blocked
	// Unknowns says where the snapshot has gaps, so that what it hides is
	// reported as unknown, not absent.
	Unknowns []string
	// Assumptions says what the graph holds that the snapshot's source did
	// not (the default RBAC of Kubernetes for manifests that lack it).
	Assumptions []string
	// Containers lists container nodes in snapshot order.
	Containers []NodeID

	exposure, exposureWhy map[NodeID]string
	// base is what the graph was built from, for counterfactual rebuilds.
	base *baseState
}

// Node returns the node with key and whether it exists.
func (g *Graph) Lookup(key string) (NodeID, bool) {
	id, ok := g.keys[key]
	return id, ok
}

// Out returns the indices of the edges leaving n.
func (g *Graph) Out(n NodeID) []int32 { return g.adjacency()[n] }

// adjacency returns the edge indices by source node, indexing the edges
// once after they were added (one backing array, not a slice per node
// grown edge by edge).
func (g *Graph) adjacency() [][]int32 {
	if g.out != nil && g.indexed == len(g.Edges) {
		return g.out
	}
	counts := make([]int32, len(g.Nodes))
	for i := range g.Edges {
		counts[g.Edges[i].From]++
	}
	backing := make([]int32, len(g.Edges))
	out := make([][]int32, len(g.Nodes))
	at := 0
	for n, c := range counts {
		out[n] = backing[at : at : at+int(c)]
		at += int(c)
	}
	for i := range g.Edges {
		f := g.Edges[i].From
		out[f] = append(out[f], int32(i))
	}
	g.out, g.forward, g.indexed = out, g.steps(out, func(e *Edge) NodeID { return e.To }), len(g.Edges)
	return out
}

// step is an edge as a search walks it from one end: its index, the node
// at the other end and its likelihood. A search reads a node's steps, one
// small array, instead of the edges themselves (scattered, ten times
// larger): at 10,000 pods that read was a third of a blast-radius query.
type step struct {
	edge int32
	to   NodeID
	p    float64
}

// steps turns lists of edge indices by node into lists of steps; far is
// the end a step leads to.
func (g *Graph) steps(adj [][]int32, far func(*Edge) NodeID) [][]step {
	n := 0
	for _, list := range adj {
		n += len(list)
	}
	backing := make([]step, 0, n)
	out := make([][]step, len(adj))
	for i, list := range adj {
		at := len(backing)
		for _, ei := range list {
			e := &g.Edges[ei]
			backing = append(backing, step{edge: ei, to: far(e), p: e.Likelihood})
		}
		out[i] = backing[at:len(backing):len(backing)]
	}
	return out
}

func (g *Graph) node(kind NodeKind, key, name, ns string) NodeID {
	if id, ok := g.keys[key]; ok {
		return id
	}
	id := NodeID(len(g.Nodes))
	g.Nodes = append(g.Nodes, Node{ID: id, Kind: kind, Key: key, Name: name, Namespace: ns})
	g.keys[key] = id
	return id
}

// reserve makes room for about as many nodes and edges as a similar graph
// had (a little more: a cluster grows).
func (g *Graph) reserve(nodes, edges int) {
	if nodes > 0 && g.Nodes == nil {
		g.Nodes = make([]Node, 0, nodes+nodes/16)
		g.keys = make(map[string]NodeID, nodes+nodes/16)
	}
	if edges > 0 && g.Edges == nil {
		g.Edges = make([]Edge, 0, edges+edges/16)
	}
}

func (g *Graph) addEdge(e Edge) {
	if e.From == e.To {
		return
	}
	if e.Likelihood > 1 {
		e.Likelihood = 1
	}
	g.Edges = append(g.Edges, e)
}

// Stats counts nodes by kind and edges by kind.
func (g *Graph) Stats() map[string]int {
	out := map[string]int{}
	for _, n := range g.Nodes {
		out["node "+string(n.Kind)]++
	}
	for _, e := range g.Edges {
		out["edge "+string(e.Kind)]++
	}
	return out
}

func (g *Graph) String() string {
	keys := make([]string, 0)
	st := g.Stats()
	for k := range st {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf("%s=%d ", k, st[k])
	}
	return s
}

// EdgeKinds lists every edge kind (a test checks each has a fixture).
var EdgeKinds = []EdgeKind{
	EdgeNetEgress, EdgeNetReach, EdgeNetExploit, EdgeSamePod, EdgeSharedNS, EdgeSharedVol, EdgeTokenSteal,
	EdgeSecretMount, EdgeSecretToken, EdgeEscape, EdgeHostNetwork, EdgeColocated, EdgeScopeMember,
	EdgeRBACCreatePod, EdgeRBACExec, EdgeRBACSecrets, EdgeRBACToken, EdgeRBACBind, EdgeRBACEscalate,
	EdgeRBACImperson, EdgeRBACNodeProxy, EdgeRBACPV, EdgeRBACCSR, EdgeRBACAdmission, EdgeRBACAdmin, EdgeRBACPortFwd,
	EdgeUnknown, EdgeHostPID, EdgeHostIPC, EdgeNodeCreds, EdgeNodeAuthz, EdgeNodeAttract, EdgeMetadata,
}
