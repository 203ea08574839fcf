package graph

import (
	"fmt"
	"math/rand/v2"
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

// The search agrees with a plain dynamic programme over path length on
// random graphs: for every node, the highest likelihood of a path of at
// most maxDepth steps whose likelihood stays at or above minLikelihood, and
// the fewest steps that reach it. Likelihoods are powers of two, so that
// products are exact and ties are real ties.
func TestSearchMatchesDynamicProgramme(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	ps := []float64{1, 1, 0.5, 0.25, 0.125}
	for trial := range 400 {
		n := 2 + rng.IntN(14)
		g := &Graph{keys: map[string]NodeID{}}
		kinds := []NodeKind{KindScope, KindContainer, KindIdentity, KindSecret, KindNode}
		for i := range n {
			id := g.node(kinds[rng.IntN(len(kinds))], fmt.Sprintf("n%d", i), "n", "")
			if rng.IntN(4) == 0 {
				g.Nodes[id].Critical = "critical"
			}
		}
		for range rng.IntN(4 * n) {
			g.addEdge(Edge{From: NodeID(rng.IntN(n)), To: NodeID(rng.IntN(n)), Likelihood: ps[rng.IntN(len(ps))]})
		}
		o := defaultQuery()
		o.maxDepth = 1 + rng.IntN(6)
		o.minLikelihood = []float64{0.01, 0.2, 0.5}[rng.IntN(3)]
		start := NodeID(0)
		s := g.run(start, o)

		// best[d][v]: the highest likelihood of a walk of exactly d steps.
		best := make([][]float64, o.maxDepth+1)
		for d := range best {
			best[d] = make([]float64, n)
		}
		best[0][start] = 1
		for d := range o.maxDepth {
			for _, e := range g.Edges {
				if p := best[d][e.From] * e.Likelihood; best[d][e.From] > 0 && p >= o.minLikelihood && p > best[d+1][e.To] {
					best[d+1][e.To] = p
				}
			}
		}
		for v := range n {
			want, wantDepth := 0.0, int32(-1)
			for d := range best {
				if best[d][v] > want {
					want, wantDepth = best[d][v], int32(d)
				}
			}
			if got := s.prob(NodeID(v)); got != want {
				t.Fatalf("trial %d (depth %d, min %v): node %d likelihood %v, want %v", trial, o.maxDepth, o.minLikelihood, v, got, want)
			}
			if want > 0 && s.depth(NodeID(v)) != wantDepth {
				t.Fatalf("trial %d: node %d reached in %d steps, want %d", trial, v, s.depth(NodeID(v)), wantDepth)
			}
		}
		s.release()

		// The closure: every node reachable at any depth and likelihood.
		reached := make([]bool, n)
		reached[start] = true
		for changed := true; changed; {
			changed = false
			for _, e := range g.Edges {
				if reached[e.From] && !reached[e.To] {
					reached[e.To], changed = true, true
				}
			}
		}
		var all []NodeID
		for v := range n {
			if reached[v] {
				all = append(all, NodeID(v))
			}
		}
		if got, want := g.closureOf(start), g.counts(all, start); got != want {
			t.Fatalf("trial %d: closure %+v, want %+v", trial, got, want)
		}
	}
}
