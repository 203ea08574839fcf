package graph

import (
	"fmt"
	"testing"
)

// depthFixture: the most likely path to X takes 9 steps, a less likely one
// 2; T lies 3 steps beyond X. Within 10 steps T is reachable only through
// the short path, which a search that keeps one label per node drops.
func depthFixture() (*Graph, NodeID, NodeID, NodeID) {
	g := &Graph{keys: map[string]NodeID{}}
	s := g.node(KindContainer, "container:s", "s", "")
	g.Containers = []NodeID{s}
	x := g.node(KindScope, "x", "x", "")
	prev := s
	for i := 1; i <= 8; i++ {
		a := g.node(KindScope, fmt.Sprintf("a%d", i), "a", "")
		g.addEdge(Edge{From: prev, To: a, Likelihood: 1})
		prev = a
	}
	g.addEdge(Edge{From: prev, To: x, Likelihood: 1})
	b1 := g.node(KindScope, "b1", "b1", "")
	g.addEdge(Edge{From: s, To: b1, Likelihood: 0.5})
	g.addEdge(Edge{From: b1, To: x, Likelihood: 0.5})
	y1 := g.node(KindScope, "y1", "y1", "")
	y2 := g.node(KindScope, "y2", "y2", "")
	t := g.node(KindClusterAdmin, "cluster-admin", "t", "")
	g.Nodes[t].Critical = "cluster-admin equivalent"
	g.addEdge(Edge{From: x, To: y1, Likelihood: 1})
	g.addEdge(Edge{From: y1, To: y2, Likelihood: 1})
	g.addEdge(Edge{From: y2, To: t, Likelihood: 1})
	return g, s, x, t
}

// TestDepthBoundKeepsShorterPath: the depth-bounded search keeps, for each
// node, every path no other beats on both likelihood and length, so the
// shorter, less likely path to X still carries the search to T.
func TestDepthBoundKeepsShorterPath(t *testing.T) {
	g, s, x, target := depthFixture()
	o := defaultQuery()
	r := g.run(s, o)
	if got := r.prob(x); got != 1 {
		t.Errorf("X: likelihood %v, want 1 (the 9-step path)", got)
	}
	if got := r.prob(target); got != 0.25 {
		t.Fatalf("T: likelihood %v, want 0.25 (2 steps to X, 3 more)", got)
	}
	if d := r.depth(target); d != 5 {
		t.Errorf("T in %d steps, want 5", d)
	}
	var keys []string
	for _, ei := range r.chain(target) {
		keys = append(keys, g.Nodes[g.Edges[ei].To].Key)
	}
	if fmt.Sprint(keys) != "[b1 x y1 y2 cluster-admin]" {
		t.Errorf("path to T: %v", keys)
	}
	// The reverse search of --all has the same bound.
	ranked := g.RankAll()
	if len(ranked) != 1 || ranked[0].ClusterAdmin != 0.25 {
		t.Errorf("RankAll: %+v, want cluster-admin 0.25", ranked)
	}
	// A tighter bound still finds nothing beyond it.
	o.maxDepth = 4
	if p := g.run(s, o).prob(target); p != 0 {
		t.Errorf("T within 4 steps: %v, want unreached", p)
	}
}
