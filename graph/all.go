package graph

import (
	"math/bits"
	"sort"
)

// Ranked is what one container exposes, for ranking every container.
type Ranked struct {
	Container string `json:"container"`
	Key       string `json:"key"`
	// Likelihood of the most likely path to cluster-admin, to any node,
	// and to any critical asset (0 when none within the bounds).
	ClusterAdmin float64 `json:"clusterAdmin"`
	Node         float64 `json:"node"`
	Critical     float64 `json:"critical"`
	// Closure counts what it reaches at any depth and likelihood.
	Closure Counts `json:"closure"`
	// Exposure is how reachable the container is before any compromise:
	// internet, node, cluster or "" (see Exposure*), and why.
	Exposure    string `json:"exposure,omitempty"`
	ExposureWhy string `json:"exposureWhy,omitempty"`
}

// RankAll ranks every container by what it exposes: the likelihood of its
// best path to cluster-admin, to a node and to any critical asset, then
// what it reaches at all. Likelihoods come from one reverse search per
// target class; counts from the condensation of the graph, so the cost does
// not grow with one search per container.
func (g *Graph) RankAll(opts ...QueryOption) []Ranked {
	o := defaultQuery()
	for _, f := range opts {
		f(&o)
	}
	in := make([][]int32, len(g.Nodes))
	for i := range g.Edges {
		in[g.Edges[i].To] = append(in[g.Edges[i].To], int32(i))
	}
	back := g.steps(in, func(e *Edge) NodeID { return e.From })
	admin := g.reverse(in, back, func(n *Node) bool { return n.Kind == KindClusterAdmin }, o)
	node := g.reverse(in, back, func(n *Node) bool { return n.Kind == KindNode }, o)
	crit := g.reverse(in, back, func(n *Node) bool { return n.Critical != "" }, o)
	closure := g.closureCounts()
	out := make([]Ranked, 0, len(g.Containers))
	for _, id := range g.Containers {
		n := g.Nodes[id]
		out = append(out, Ranked{Container: n.Name, Key: n.Key, ClusterAdmin: round(admin[id]), Node: round(node[id]),
			Critical: round(crit[id]), Closure: closure[id], Exposure: g.exposure[id], ExposureWhy: g.exposureWhy[id]})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.ClusterAdmin != b.ClusterAdmin:
			return a.ClusterAdmin > b.ClusterAdmin
		case a.Node != b.Node:
			return a.Node > b.Node
		case a.Critical != b.Critical:
			return a.Critical > b.Critical
		case a.Closure.CriticalAssets != b.Closure.CriticalAssets:
			return a.Closure.CriticalAssets > b.Closure.CriticalAssets
		case exposureRank(a.Exposure) != exposureRank(b.Exposure):
			return exposureRank(a.Exposure) > exposureRank(b.Exposure)
		}
		return a.Closure.Containers > b.Closure.Containers
	})
	return out
}

// reverse computes, for every node, the likelihood of its most likely path
// to any target, within the bounds: the same label-setting search as a
// query, on reversed edges, from every target at once (a critical node
// counts as reached from itself only through an edge).
func (g *Graph) reverse(in [][]int32, back [][]step, target func(*Node) bool, o queryOptions) []float64 {
	var seeds []label
	for i := range g.Nodes {
		if !target(&g.Nodes[i]) {
			continue
		}
		for _, ei := range in[i] {
			e := &g.Edges[ei]
			seeds = append(seeds, label{node: e.From, p: e.Likelihood, depth: 1, parent: -1, edge: ei})
		}
	}
	s := g.labelSearch(seeds, back, o)
	prob := make([]float64, len(g.Nodes))
	for i := range prob {
		prob[i] = s.prob(NodeID(i))
	}
	return prob
}

// closureCounts counts, for every node, what it reaches at all: strongly
// connected components (iterative Tarjan), then bitsets over the counted
// nodes, unioned from the sinks up.
func (g *Graph) closureCounts() []Counts {
	n := len(g.Nodes)
	// Bit index for counted nodes.
	bit := make([]int32, n)
	var kinds []NodeKind
	var critical []bool
	for i := range g.Nodes {
		switch g.Nodes[i].Kind {
		case KindContainer, KindIdentity, KindSecret, KindNode, KindClusterAdmin:
			bit[i] = int32(len(kinds))
			kinds = append(kinds, g.Nodes[i].Kind)
			critical = append(critical, g.Nodes[i].Critical != "")
		default:
			bit[i] = -1
		}
	}
	words := (len(kinds) + 63) / 64
	masks := map[NodeKind][]uint64{}
	critMask := make([]uint64, words)
	for i, k := range kinds {
		if masks[k] == nil {
			masks[k] = make([]uint64, words)
		}
		masks[k][i/64] |= 1 << (i % 64)
		if critical[i] {
			critMask[i/64] |= 1 << (i % 64)
		}
	}
	comp, order := g.scc()
	sets := make([][]uint64, len(order))
	for ci, members := range order { // sinks first
		var succ []int32
		own := false
		for _, m := range members {
			if bit[m] >= 0 {
				own = true
			}
			for _, ei := range g.adjacency()[m] {
				if c := comp[g.Edges[ei].To]; c != int32(ci) {
					succ = append(succ, c)
				}
			}
		}
		succ = uniq(succ)
		if !own && len(succ) == 1 {
			sets[ci] = sets[succ[0]]
			continue
		}
		s := make([]uint64, words)
		for _, m := range members {
			if b := bit[m]; b >= 0 {
				s[b/64] |= 1 << (b % 64)
			}
		}
		for _, c := range succ {
			for w, v := range sets[c] {
				s[w] |= v
			}
		}
		sets[ci] = s
	}
	count := func(s, m []uint64) int {
		c := 0
		for w := range s {
			c += bits.OnesCount64(s[w] & m[w])
		}
		return c
	}
	out := make([]Counts, n)
	for _, id := range g.Containers {
		s := sets[comp[id]]
		if s == nil {
			continue
		}
		// The container itself is not in its own blast radius.
		b := bit[id]
		self := s[b/64]&(1<<(b%64)) != 0
		s2 := s
		if self {
			s2 = append([]uint64(nil), s...)
			s2[b/64] &^= 1 << (b % 64)
		}
		c := Counts{CriticalAssets: count(s2, critMask)}
		if m := masks[KindContainer]; m != nil {
			c.Containers = count(s2, m)
		}
		if m := masks[KindIdentity]; m != nil {
			c.Identities = count(s2, m)
		}
		if m := masks[KindSecret]; m != nil {
			c.Secrets = count(s2, m)
		}
		if m := masks[KindNode]; m != nil {
			c.Nodes = count(s2, m)
		}
		if m := masks[KindClusterAdmin]; m != nil {
			c.ClusterAdmin = count(s2, m) > 0
		}
		out[id] = c
	}
	return out
}

func uniq(s []int32) []int32 {
	if len(s) < 2 {
		return s
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	out := s[:1]
	for _, v := range s[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}

// scc returns the component of every node and the components' members in
// reverse topological order (sinks first), by an iterative Tarjan.
func (g *Graph) scc() ([]int32, [][]NodeID) {
	out := g.adjacency()
	n := len(g.Nodes)
	index := make([]int32, n)
	low := make([]int32, n)
	onStack := make([]bool, n)
	comp := make([]int32, n)
	for i := range index {
		index[i] = -1
	}
	var stack []NodeID
	var comps [][]NodeID
	type frame struct {
		v  NodeID
		ei int
	}
	next := int32(0)
	for root := 0; root < n; root++ {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{NodeID(root), 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, NodeID(root))
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.ei < len(out[v]) {
				w := g.Edges[out[v][f.ei]].To
				f.ei++
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, 0})
				} else if onStack[w] && index[w] < low[v] {
					low[v] = index[w]
				}
				continue
			}
			if low[v] == index[v] {
				var members []NodeID
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp[w] = int32(len(comps))
					members = append(members, w)
					if w == v {
						break
					}
				}
				comps = append(comps, members)
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				u := call[len(call)-1].v
				if low[v] < low[u] {
					low[u] = low[v]
				}
			}
		}
	}
	return comp, comps
}
