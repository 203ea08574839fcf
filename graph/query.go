package graph

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// QueryOption bounds a blast-radius query.
type QueryOption func(*queryOptions)

type queryOptions struct {
	maxDepth      int
	minLikelihood float64
	maxPaths      int
	maxCuts       int
	maxCandidates int
	maxVisits     int
}

func defaultQuery() queryOptions {
	return queryOptions{maxDepth: 10, minLikelihood: 0.01, maxPaths: 10, maxCuts: 5, maxCandidates: 8, maxVisits: 2_000_000}
}

// WithMaxDepth bounds the number of steps in a path (default 10).
func WithMaxDepth(n int) QueryOption { return func(o *queryOptions) { o.maxDepth = n } }

// WithMinLikelihood drops paths less likely than p (default 0.01).
func WithMinLikelihood(p float64) QueryOption { return func(o *queryOptions) { o.minLikelihood = p } }

// WithMaxPaths bounds the explained paths returned (default 10).
func WithMaxPaths(n int) QueryOption { return func(o *queryOptions) { o.maxPaths = n } }

// WithMaxCuts bounds the suggested changes returned (default 5).
func WithMaxCuts(n int) QueryOption { return func(o *queryOptions) { o.maxCuts = n } }

// WithMaxCutCandidates bounds the changes scored by rebuilding the graph
// (default 8): the most frequent on the explained paths are tried.
func WithMaxCutCandidates(n int) QueryOption { return func(o *queryOptions) { o.maxCandidates = n } }

// Result is the blast radius of one container.
type Result struct {
	From string `json:"from"`
	// Exposure says how reachable the container is before any compromise
	// (internet, node, cluster), and why.
	Exposure    string `json:"exposure,omitempty"`
	ExposureWhy string `json:"exposureWhy,omitempty"`
	// Assets are the critical assets reached within the bounds, most likely first.
	Assets []Asset `json:"assets"`
	// Risk is the sum, over the critical assets reached, of the likelihood
	// of the most likely path to each: what a cut lowers (RiskExplained).
	Risk float64 `json:"risk"`
	// Paths explain the most likely path to each of the first assets.
	Paths []Path `json:"paths"`
	// Counts within the bounds; Closure counts at any depth and likelihood.
	Counts  Counts `json:"counts"`
	Closure Counts `json:"closure"`
	// Cuts are single changes ranked by how much risk they remove, each
	// scored by applying it to the snapshot and searching again.
	Cuts []Cut `json:"cuts"`
	// CutsNote says why Cuts is empty, or what it could not try.
	CutsNote string `json:"cutsNote,omitempty"`
	// Unknowns: gaps in the snapshot and bounds the search hit. What they
	// hide is not counted, and is not safe.
	Unknowns []string `json:"unknowns,omitempty"`
	// Blocked lists escapes from this container that mitigations removed.
	Blocked []Blocked `json:"blocked,omitempty"`
	// Assumptions: what the graph holds that the input did not (see
	// Graph.Assumptions).
	Assumptions []string `json:"assumptions,omitempty"`
}

// RiskExplained says what Result.Risk and Cut.RiskCut measure.
const RiskExplained = "risk = the sum, over the critical assets reached, of the likelihood of the most likely path to each; " +
	"a change's risk cut is that sum before minus after the change is applied to the snapshot and the graph rebuilt " +
	"(assets the change makes reachable count against it)"

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

// Cut is one change and what it removes from the blast radius, measured
// by applying it to the snapshot (Fix.Apply), rebuilding the graph and
// searching again from the same container.
type Cut struct {
	Fix Fix `json:"fix"`
	// Changes says what applying the fix changed in the snapshot.
	Changes []string `json:"changes,omitempty"`
	// AssetsCut: critical assets no longer reachable within the bounds.
	AssetsCut int `json:"assetsCut"`
	// PathsCut: critical assets whose most likely path got less likely or
	// went.
	PathsCut int `json:"pathsCut"`
	// AssetsAdded: critical assets reachable only after the change.
	AssetsAdded int `json:"assetsAdded,omitempty"`
	// RiskCut: Result.Risk minus RiskAfter.
	RiskCut float64 `json:"riskCut"`
	// RiskAfter is the risk once the change is made.
	RiskAfter float64 `json:"riskAfter"`
}

// label is one path prefix of the search: it reached node with
// likelihood p in depth steps, through edge from label parent.
type label struct {
	node   NodeID
	p      float64
	depth  int32
	parent int32 // label index; -1 at a start
	edge   int32 // edge index; -1 at a start
}

// search is the result of a bounded most-likely-path search.
type search struct {
	labels []label
	best   []int32 // per node, its most likely label; -1 when unreached
	order  []NodeID
	capped bool
	// scratch is where labels, best and order came from.
	scratch *searchScratch
}

// release gives the search's memory back for the next search; s is not
// used after.
func (s *search) release() {
	sc := s.scratch
	if sc == nil {
		return
	}
	sc.labels, sc.best, sc.order = s.labels[:0], s.best, s.order[:0]
	*s = search{}
	scratchPool.Put(sc)
}

func (s *search) prob(n NodeID) float64 {
	if n < 0 || s.best[n] < 0 {
		return 0
	}
	return s.labels[s.best[n]].p
}

func (s *search) depth(n NodeID) int32 { return s.labels[s.best[n]].depth }

// chain returns the edge indices of the most likely path to n, from the
// start.
func (s *search) chain(n NodeID) []int32 {
	var out []int32
	for li := s.best[n]; li >= 0 && s.labels[li].edge >= 0; li = s.labels[li].parent {
		out = append(out, s.labels[li].edge)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// chainUnknown reports whether any edge of the best chain to n is unknown
// (what chain lists, without listing it).
func (s *search) chainUnknown(g *Graph, n NodeID) bool {
	for li := s.best[n]; li >= 0 && s.labels[li].edge >= 0; li = s.labels[li].parent {
		if g.Edges[s.labels[li].edge].Unknown {
			return true
		}
	}
	return false
}

// searchScratch is the memory of one search, kept for the next.
type searchScratch struct {
	minDepth   []int32
	bestWithin []float64
	queue      []queued
	labels     []label
	best       []int32
	order      []NodeID
}

var scratchPool = sync.Pool{New: func() any { return new(searchScratch) }}

// resized returns b with length n, reusing its array when large enough.
func resized[T any](b []T, n int) []T {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]T, n)
}

// labelQueue orders labels by likelihood, then by fewer steps: a binary
// heap of label indices with their keys (container/heap's algorithm,
// typed: no interface calls and no boxing on the search's hottest path).
type labelQueue struct {
	items []queued
}

// queued is a label in the queue with the fields it is ordered by, so that
// sifting reads the heap only (not the label list, a cache miss a step).
type queued struct {
	p     float64
	depth int32
	li    int32
}

func (q *labelQueue) Len() int { return len(q.items) }

func (q *labelQueue) less(i, j int) bool {
	a, b := &q.items[i], &q.items[j]
	if a.p != b.p {
		return a.p > b.p
	}
	return a.depth < b.depth
}

func (q *labelQueue) push(l *label, li int32) {
	q.items = append(q.items, queued{p: l.p, depth: l.depth, li: li})
	j := len(q.items) - 1
	for j > 0 {
		i := (j - 1) / 2
		if !q.less(j, i) {
			break
		}
		q.items[i], q.items[j] = q.items[j], q.items[i]
		j = i
	}
}

func (q *labelQueue) pop() int32 {
	n := len(q.items) - 1
	q.items[0], q.items[n] = q.items[n], q.items[0]
	for i := 0; ; {
		j := 2*i + 1
		if j >= n {
			break
		}
		if j2 := j + 1; j2 < n && q.less(j2, j) {
			j = j2
		}
		if !q.less(j, i) {
			break
		}
		q.items[i], q.items[j] = q.items[j], q.items[i]
		i = j
	}
	li := q.items[n].li
	q.items = q.items[:n]
	return li
}

// labelSearch finds, for every node, the most likely path from the seeds
// within maxDepth steps and minLikelihood. It is label-setting on (node,
// steps): a node keeps every label that no other label beats on both
// likelihood and steps, so a shorter, less likely path that can still go
// further is never dropped for a longer, more likely one that has run out
// of steps. adj lists a node's edges; other gives the node at the far end.
func (g *Graph) labelSearch(seeds []label, adj [][]step, o queryOptions) *search {
	n := len(g.Nodes)
	D := int32(o.maxDepth)
	// Working memory comes from a pool: a cluster-wide batch runs a search
	// per workload, each as large as the graph (release gives it back).
	sc := scratchPool.Get().(*searchScratch)
	s := &search{best: resized(sc.best, n), labels: sc.labels[:0], order: sc.order[:0], scratch: sc}
	for i := range s.best {
		s.best[i] = -1
	}
	minDepth := resized(sc.minDepth, n) // depth of the shallowest settled label
	for i := range minDepth {
		minDepth[i] = math.MaxInt32
	}
	// bestWithin[(node, d)] is the likelihood of the most likely label
	// pushed for node in d steps or fewer: a label is dominated when it is
	// not above bestWithin at its own depth, one read (a search checks far
	// more labels than it keeps).
	bestWithin := resized(sc.bestWithin, n*int(D+1))
	clear(bestWithin)
	q := &labelQueue{items: sc.queue[:0]}
	defer func() { sc.minDepth, sc.bestWithin, sc.queue = minDepth, bestWithin, q.items[:0] }()
	push := func(l label) {
		at := int(l.node)*int(D+1) + int(l.depth)
		if bestWithin[at] >= l.p {
			return // a label as likely in as few steps exists
		}
		end := int(l.node)*int(D+1) + int(D)
		for i := at; i <= end && bestWithin[i] < l.p; i++ {
			bestWithin[i] = l.p
		}
		s.labels = append(s.labels, l)
		q.push(&l, int32(len(s.labels)-1))
	}
	for _, l := range seeds {
		if l.depth <= D {
			push(l)
		}
	}
	visits := 0
	for q.Len() > 0 {
		li := q.pop()
		l := s.labels[li]
		if l.depth >= minDepth[l.node] || l.p < bestWithin[int(l.node)*int(D+1)+int(l.depth)] {
			continue // dominated by a settled label, or by one pushed since
		}
		minDepth[l.node] = l.depth
		if s.best[l.node] < 0 {
			s.best[l.node] = li
			s.order = append(s.order, l.node)
		}
		if visits++; visits > o.maxVisits {
			s.capped = true
			break
		}
		if l.depth >= D {
			if len(adj[l.node]) > 0 {
				s.capped = true
			}
			continue
		}
		for _, st := range adj[l.node] {
			p := l.p * st.p
			if p < o.minLikelihood || l.depth+1 >= minDepth[st.to] {
				continue
			}
			push(label{node: st.to, p: p, depth: l.depth + 1, parent: li, edge: st.edge})
		}
	}
	return s
}

// run finds the most likely path to every node from start.
func (g *Graph) run(start NodeID, o queryOptions) *search {
	g.adjacency()
	return g.labelSearch([]label{{node: start, p: 1, parent: -1, edge: -1}}, g.forward, o)
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

// closureOf counts every node reachable from start at any depth and
// likelihood. Its memory is kept for the next query (a server queries from
// every workload of a graph).
func (g *Graph) closureOf(start NodeID) Counts {
	sc := closurePool.Get().(*closureScratch)
	defer closurePool.Put(sc)
	if len(sc.seen) < len(g.Nodes) {
		sc.seen = make([]bool, len(g.Nodes))
	}
	seen := sc.seen[:len(g.Nodes)]
	seen[start] = true
	out := append(sc.out[:0], start)
	g.adjacency()
	for i := 0; i < len(out); i++ {
		for _, st := range g.forward[out[i]] { // compact steps, not the edges
			if !seen[st.to] {
				seen[st.to] = true
				out = append(out, st.to)
			}
		}
	}
	c := g.counts(out, start)
	for _, id := range out {
		seen[id] = false
	}
	sc.out = out[:0]
	return c
}

// closureScratch is the memory of one closure, kept for the next.
type closureScratch struct {
	seen []bool
	out  []NodeID
}

var closurePool = sync.Pool{New: func() any { return new(closureScratch) }}

func (g *Graph) path(s *search, to NodeID) Path {
	var steps []Step
	unknown := false
	for _, ei := range s.chain(to) {
		e := g.Edges[ei]
		steps = append(steps, Step{From: g.Nodes[e.From].Name, To: g.Nodes[e.To].Name, Edge: e})
		unknown = unknown || e.Unknown
	}
	return Path{To: g.Nodes[to].Name, Likelihood: round(s.prob(to)), Unknown: unknown, Steps: steps}
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
	s := g.run(start, o)
	defer s.release()
	res := &Result{From: g.Nodes[start].Name, Exposure: g.exposure[start], ExposureWhy: g.exposureWhy[start],
		Unknowns: append([]string(nil), g.Unknowns...), Assumptions: g.Assumptions}
	res.Counts = g.counts(s.order, start)
	res.Closure = g.closureOf(start)
	if s.capped {
		res.Unknowns = append(res.Unknowns, fmt.Sprintf("bounded: the search stopped at %d steps / likelihood %.2g; nodes beyond are not counted above (closure counts them)", o.maxDepth, o.minLikelihood))
	}
	for _, b := range g.Blocked {
		if b.From == from {
			res.Blocked = append(res.Blocked, b)
		}
	}
	crit := g.criticalReached(s, start)
	res.Assets = make([]Asset, 0, len(crit))
	for _, id := range crit {
		n := g.Nodes[id]
		unknown := s.chainUnknown(g, id)
		res.Assets = append(res.Assets, Asset{Key: n.Key, Kind: n.Kind, Name: n.Name, Critical: n.Critical,
			Likelihood: round(s.prob(id)), Steps: int(s.depth(id)), Unknown: unknown})
		res.Risk += s.prob(id)
		if len(res.Paths) < o.maxPaths {
			res.Paths = append(res.Paths, g.path(s, id))
		}
	}
	res.Risk = round(res.Risk)
	res.Cuts, res.CutsNote = g.cuts(start, s, crit, o)
	return res, nil
}

// criticalReached lists the critical nodes a search reached, most likely
// first.
func (g *Graph) criticalReached(s *search, start NodeID) []NodeID {
	var crit []NodeID
	for _, id := range s.order {
		if id != start && g.Nodes[id].Critical != "" {
			crit = append(crit, id)
		}
	}
	sort.SliceStable(crit, func(i, j int) bool {
		if s.prob(crit[i]) != s.prob(crit[j]) {
			return s.prob(crit[i]) > s.prob(crit[j])
		}
		return critRank(g.Nodes[crit[i]].Kind) < critRank(g.Nodes[crit[j]].Kind)
	})
	return crit
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

// cuts scores the changes that appear on the explained paths by applying
// each to the snapshot (Fix.Apply), rebuilding the graph (Counterfactual)
// and searching again from the same container, and ranks them by the risk
// they remove. It says why when none helps.
func (g *Graph) cuts(start NodeID, s *search, crit []NodeID, o queryOptions) ([]Cut, string) {
	if len(crit) == 0 || o.maxCuts <= 0 {
		return nil, ""
	}
	freq := map[string]int{}
	fixes := map[string]Fix{}
	for _, id := range crit {
		seen := map[string]bool{}
		for _, ei := range s.chain(id) {
			for _, f := range g.Edges[ei].Fixes {
				if f.Apply == nil || seen[f.ID] {
					continue
				}
				seen[f.ID] = true
				freq[f.ID]++
				fixes[f.ID] = f
			}
		}
	}
	if len(freq) == 0 {
		return nil, "no step on the paths to the critical assets has a change credence can apply to the snapshot " +
			"(they go through node placement, node credentials, unknown exploitability or unknown objects)"
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
	skipped := 0
	if len(cands) > o.maxCandidates {
		skipped = len(cands) - max(o.maxCandidates, 0)
		cands = cands[:max(o.maxCandidates, 0)]
	}
	if len(cands) == 0 {
		return nil, fmt.Sprintf("%d changes on the paths were not scored (--cut-candidates 0)", skipped)
	}
	before := 0.0
	was := map[string]float64{}
	for _, id := range crit {
		before += s.prob(id)
		was[g.Nodes[id].Key] = s.prob(id)
	}
	startKey := g.Nodes[start].Key
	// Each candidate is scored on a graph of its own: they run side by
	// side, one per CPU.
	type scored struct {
		cut   *Cut
		tried bool
	}
	results := make([]scored, len(cands))
	score := func(i int) {
		g2, patch, err := g.Counterfactual(fixes[cands[i]])
		if err != nil || g2 == nil {
			return // changes nothing: the object it names is not there
		}
		results[i].tried = true
		start2, ok := g2.keys[startKey]
		if !ok {
			return
		}
		s2 := g2.run(start2, o)
		after := 0.0
		added := 0
		for _, n := range g2.criticalReached(s2, start2) {
			after += s2.prob(n)
			if _, ok := was[g2.Nodes[n].Key]; !ok {
				added++
			}
		}
		lost, weaker := 0, 0
		for key, p := range was {
			p2 := 0.0
			if n, ok := g2.keys[key]; ok {
				p2 = s2.prob(n)
			}
			if p2 == 0 {
				lost++
			}
			if p2 < p-1e-9 {
				weaker++
			}
		}
		if before-after <= 1e-9 {
			return
		}
		results[i].cut = &Cut{Fix: fixes[cands[i]], Changes: patch.Changes, AssetsCut: lost, PathsCut: weaker, AssetsAdded: added,
			RiskCut: round(before - after), RiskAfter: round(after)}
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(cands)) {
		wg.Go(func() {
			for i := range next {
				score(i)
			}
		})
	}
	for i := range cands {
		next <- i
	}
	close(next)
	wg.Wait()
	var out []Cut
	tried := 0
	for _, r := range results {
		if r.tried {
			tried++
		}
		if r.cut != nil {
			out = append(out, *r.cut)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].RiskCut != out[j].RiskCut {
			return out[i].RiskCut > out[j].RiskCut
		}
		if out[i].AssetsCut != out[j].AssetsCut {
			return out[i].AssetsCut > out[j].AssetsCut
		}
		return out[i].Fix.ID < out[j].Fix.ID
	})
	if len(out) > o.maxCuts {
		out = out[:o.maxCuts]
	}
	note := ""
	switch {
	case len(out) == 0:
		note = fmt.Sprintf("no single change helps: each of the %d changes tried, applied to the snapshot, leaves every critical asset reached as likely as before (other paths, or the same step through another object)", tried)
	case skipped > 0:
		note = fmt.Sprintf("%d less frequent changes on the paths were not scored (--cut-candidates)", skipped)
	}
	return out, note
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
