package graph

import (
	"container/heap"
	"fmt"
	"math"
	"sort"
	"strings"
)

// QueryOption bounds a blast-radius query.
type QueryOption func(*queryOptions)

type queryOptions struct {
	maxDepth      int
	minLikelihood float64
	maxPaths      int
	maxCuts       int
	maxVisits     int
	without       string
}

func defaultQuery() queryOptions {
	return queryOptions{maxDepth: 10, minLikelihood: 0.01, maxPaths: 10, maxCuts: 5, maxVisits: 2_000_000}
}

// WithMaxDepth bounds the number of steps in a path (default 10).
func WithMaxDepth(n int) QueryOption { return func(o *queryOptions) { o.maxDepth = n } }

// WithMinLikelihood drops paths less likely than p (default 0.01).
func WithMinLikelihood(p float64) QueryOption { return func(o *queryOptions) { o.minLikelihood = p } }

// WithMaxPaths bounds the explained paths returned (default 10).
func WithMaxPaths(n int) QueryOption { return func(o *queryOptions) { o.maxPaths = n } }

// WithMaxCuts bounds the suggested changes returned (default 5).
func WithMaxCuts(n int) QueryOption { return func(o *queryOptions) { o.maxCuts = n } }

// WithoutFix runs the query as if the change with this Fix ID were made:
// every edge it removes is skipped.
func WithoutFix(id string) QueryOption { return func(o *queryOptions) { o.without = id } }

// Result is the blast radius of one container.
type Result struct {
	From string `json:"from"`
	// Exposure says how reachable the container is before any compromise
	// (internet, node, cluster), and why.
	Exposure    string `json:"exposure,omitempty"`
	ExposureWhy string `json:"exposureWhy,omitempty"`
	// Assets are the critical assets reached within the bounds, most likely first.
	Assets []Asset `json:"assets"`
	// Paths explain the most likely path to each of the first assets.
	Paths []Path `json:"paths"`
	// Counts within the bounds; Closure counts at any depth and likelihood.
	Counts  Counts `json:"counts"`
	Closure Counts `json:"closure"`
	// Cuts are single changes ranked by how much they cut.
	Cuts []Cut `json:"cuts"`
	// Unknowns: gaps in the snapshot and bounds the search hit. What they
	// hide is not counted, and is not safe.
	Unknowns []string `json:"unknowns,omitempty"`
	// Blocked lists escapes from this container that mitigations removed.
	Blocked []Blocked `json:"blocked,omitempty"`
}

// Asset is a critical node reached.
type Asset struct {
	Key        string   `json:"key"`
	Kind       NodeKind `json:"kind"`
	Name       string   `json:"name"`
	Critical   string   `json:"critical"`
	Likelihood float64  `json:"likelihood"`
	Steps      int      `json:"steps"`
	Unknown    bool     `json:"unknown,omitempty"`
}

// Counts says how much a container reaches.
type Counts struct {
	Containers     int  `json:"containers"`
	Identities     int  `json:"identities"`
	Secrets        int  `json:"secrets"`
	Nodes          int  `json:"nodes"`
	CriticalAssets int  `json:"criticalAssets"`
	ClusterAdmin   bool `json:"clusterAdmin"`
}

// Path is one explained path.
type Path struct {
	To         string  `json:"to"`
	Likelihood float64 `json:"likelihood"`
	Unknown    bool    `json:"unknown,omitempty"`
	Steps      []Step  `json:"steps"`
}

// Step is one edge of a path, explained.
type Step struct {
	From string `json:"from"`
	To   string `json:"to"`
	Edge
}

// Cut is one change and what it removes from the blast radius.
type Cut struct {
	Fix Fix `json:"fix"`
	// AssetsCut: critical assets no longer reachable within the bounds.
	AssetsCut int `json:"assetsCut"`
	// PathsCut: explained paths the change breaks.
	PathsCut int `json:"pathsCut"`
	// RiskCut: the drop in the sum of likelihoods over critical assets.
	RiskCut float64 `json:"riskCut"`
}

type search struct {
	prob   []float64
	depth  []int32
	via    []int32 // edge index, -1 at the start
	order  []NodeID
	capped bool
}

type pqItem struct {
	n NodeID
	p float64
}
type pq []pqItem

func (q pq) Len() int           { return len(q) }
func (q pq) Less(i, j int) bool { return q[i].p > q[j].p }
func (q pq) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *pq) Push(x any)        { *q = append(*q, x.(pqItem)) }
func (q *pq) Pop() any          { o := *q; x := o[len(o)-1]; *q = o[:len(o)-1]; return x }

// run finds the most likely path to every node from start (Dijkstra on
// -log likelihood), within depth and likelihood bounds, skipping edges that
// a cut fix removes.
func (g *Graph) run(start NodeID, o queryOptions, cut string) *search {
	n := len(g.Nodes)
	s := &search{prob: make([]float64, n), depth: make([]int32, n), via: make([]int32, n)}
	for i := range s.via {
		s.via[i] = -1
	}
	done := make([]bool, n)
	s.prob[start] = 1
	h := &pq{{start, 1}}
	visits := 0
	for h.Len() > 0 {
		it := heap.Pop(h).(pqItem)
		if done[it.n] || it.p < s.prob[it.n] {
			continue
		}
		done[it.n] = true
		s.order = append(s.order, it.n)
		if visits++; visits > o.maxVisits {
			s.capped = true
			break
		}
		if int(s.depth[it.n]) >= o.maxDepth {
			if len(g.out[it.n]) > 0 {
				s.capped = true
			}
			continue
		}
		for _, ei := range g.out[it.n] {
			e := &g.Edges[ei]
			if cut != "" && hasFix(e, cut) {
				continue
			}
			p := it.p * e.Likelihood
			if p < o.minLikelihood || done[e.To] || p <= s.prob[e.To] {
				continue
			}
			s.prob[e.To] = p
			s.depth[e.To] = s.depth[it.n] + 1
			s.via[e.To] = ei
			heap.Push(h, pqItem{e.To, p})
		}
	}
	return s
}

func hasFix(e *Edge, id string) bool {
	for _, f := range e.Fixes {
		if f.ID == id {
			return true
		}
	}
	return false
}

func (g *Graph) counts(reached []NodeID, start NodeID) Counts {
	var c Counts
	for _, id := range reached {
		if id == start {
			continue
		}
		n := &g.Nodes[id]
		switch n.Kind {
		case KindContainer:
			c.Containers++
		case KindIdentity:
			c.Identities++
		case KindSecret:
			c.Secrets++
		case KindNode:
			c.Nodes++
		case KindClusterAdmin:
			c.ClusterAdmin = true
		}
		if n.Critical != "" {
			c.CriticalAssets++
		}
	}
	return c
}

// closure lists every node reachable from start at any depth and likelihood.
func (g *Graph) closure(start NodeID) []NodeID {
	seen := make([]bool, len(g.Nodes))
	seen[start] = true
	out := []NodeID{start}
	for i := 0; i < len(out); i++ {
		for _, ei := range g.out[out[i]] {
			t := g.Edges[ei].To
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}

func (g *Graph) path(s *search, to NodeID) Path {
	var steps []Step
	unknown := false
	for n := to; s.via[n] >= 0; {
		e := g.Edges[s.via[n]]
		steps = append(steps, Step{From: g.Nodes[e.From].Name, To: g.Nodes[e.To].Name, Edge: e})
		unknown = unknown || e.Unknown
		n = e.From
	}
	for i, j := 0, len(steps)-1; i < j; i, j = i+1, j-1 {
		steps[i], steps[j] = steps[j], steps[i]
	}
	return Path{To: g.Nodes[to].Name, Likelihood: round(s.prob[to]), Unknown: unknown, Steps: steps}
}

func round(p float64) float64 { return math.Round(p*10000) / 10000 }

// ContainerKey is the node key of a container.
func ContainerKey(ns, pod, container string) string {
	return "container:" + ns + "/" + pod + "/" + container
}

// Query computes the blast radius of the container with key from (see
// ContainerKey).
func (g *Graph) Query(from string, opts ...QueryOption) (*Result, error) {
	o := defaultQuery()
	for _, f := range opts {
		f(&o)
	}
	start, ok := g.keys[from]
	if !ok || g.Nodes[start].Kind != KindContainer {
		return nil, fmt.Errorf("query blast radius: %w: %s", ErrNoContainer, from)
	}
	s := g.run(start, o, o.without)
	res := &Result{From: g.Nodes[start].Name, Exposure: g.exposure[start], ExposureWhy: g.exposureWhy[start],
		Unknowns: append([]string(nil), g.Unknowns...)}
	res.Counts = g.counts(s.order, start)
	res.Closure = g.counts(g.closure(start), start)
	if s.capped {
		res.Unknowns = append(res.Unknowns, fmt.Sprintf("bounded: the search stopped at %d steps / likelihood %.2g; nodes beyond are not counted above (closure counts them)", o.maxDepth, o.minLikelihood))
	}
	for _, b := range g.Blocked {
		if b.From == from {
			res.Blocked = append(res.Blocked, b)
		}
	}
	var crit []NodeID
	for _, id := range s.order {
		if id != start && g.Nodes[id].Critical != "" {
			crit = append(crit, id)
		}
	}
	sort.SliceStable(crit, func(i, j int) bool {
		if s.prob[crit[i]] != s.prob[crit[j]] {
			return s.prob[crit[i]] > s.prob[crit[j]]
		}
		return critRank(g.Nodes[crit[i]].Kind) < critRank(g.Nodes[crit[j]].Kind)
	})
	for _, id := range crit {
		n := g.Nodes[id]
		unknown := false
		for m := id; s.via[m] >= 0; m = g.Edges[s.via[m]].From {
			unknown = unknown || g.Edges[s.via[m]].Unknown
		}
		res.Assets = append(res.Assets, Asset{Key: n.Key, Kind: n.Kind, Name: n.Name, Critical: n.Critical,
			Likelihood: round(s.prob[id]), Steps: int(s.depth[id]), Unknown: unknown})
		if len(res.Paths) < o.maxPaths {
			res.Paths = append(res.Paths, g.path(s, id))
		}
	}
	res.Cuts = g.cuts(start, s, crit, o)
	return res, nil
}

func critRank(k NodeKind) int {
	switch k {
	case KindClusterAdmin:
		return 0
	case KindNode:
		return 1
	case KindIdentity:
		return 2
	case KindSecret:
		return 3
	}
	return 4
}

// cuts tries each change that appears on the explained paths and ranks them
// by the risk they remove.
func (g *Graph) cuts(start NodeID, s *search, crit []NodeID, o queryOptions) []Cut {
	if len(crit) == 0 || o.maxCuts <= 0 {
		return nil
	}
	freq := map[string]int{}
	fixes := map[string]Fix{}
	for _, id := range crit {
		seen := map[string]bool{}
		for n := id; s.via[n] >= 0; n = g.Edges[s.via[n]].From {
			for _, f := range g.Edges[s.via[n]].Fixes {
				if !seen[f.ID] {
					seen[f.ID] = true
					freq[f.ID]++
					fixes[f.ID] = f
				}
			}
		}
	}
	cands := make([]string, 0, len(freq))
	for id := range freq {
		cands = append(cands, id)
	}
	sort.Slice(cands, func(i, j int) bool {
		if freq[cands[i]] != freq[cands[j]] {
			return freq[cands[i]] > freq[cands[j]]
		}
		return cands[i] < cands[j]
	})
	if len(cands) > 12 {
		cands = cands[:12]
	}
	var before float64
	for _, id := range crit {
		before += s.prob[id]
	}
	var out []Cut
	for _, id := range cands {
		after := g.run(start, o, id)
		var risk float64
		lost := 0
		for _, c := range crit {
			risk += after.prob[c]
			if after.prob[c] == 0 {
				lost++
			}
		}
		if before-risk <= 1e-9 {
			continue
		}
		out = append(out, Cut{Fix: fixes[id], AssetsCut: lost, PathsCut: freq[id], RiskCut: round(before - risk)})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].RiskCut != out[j].RiskCut {
			return out[i].RiskCut > out[j].RiskCut
		}
		return out[i].AssetsCut > out[j].AssetsCut
	})
	if len(out) > o.maxCuts {
		out = out[:o.maxCuts]
	}
	return out
}

// NearContainers lists container keys that resemble want, for errors.
func (g *Graph) NearContainers(want string, n int) []string {
	want = strings.ToLower(want)
	type cand struct {
		name  string
		score int
	}
	var cs []cand
	for _, id := range g.Containers {
		name := g.Nodes[id].Name
		cs = append(cs, cand{name, distance(want, strings.ToLower(name))})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].score < cs[j].score })
	var out []string
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

// distance is the Levenshtein distance, with a bonus for substrings.
func distance(a, b string) int {
	if strings.Contains(b, a) {
		return len(b) - len(a)
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)] + 100
}
