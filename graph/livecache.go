package graph

import (
	"hash/fnv"
	"sync"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/posture"
)

// LiveCache is what one Build of a changing cluster keeps for the next,
// for a caller that builds its graph again and again (the server):
//
//   - live pods' posture profiles: a pod whose object did not change (same
//     UID and resourceVersion, or a later version with the same
//     posture.PodFingerprint: only its labels, status or other annotations
//     changed) in an unchanged environment (the namespaces, runtime
//     classes, volumes and gaps posture reads, by resourceVersion) keeps
//     its profiles, shared by both graphs, instead of being evaluated
//     again. Pods without a resourceVersion (manifests) are always
//     evaluated;
//   - the size of the last graph, so that the next one's nodes and edges
//     are allocated once rather than grown (at 10,000 pods the edges alone
//     are tens of MB, and growing them allocates as much again).
//
// Safe for concurrent use; it holds only what the latest Build made.
type LiveCache struct {
	mu           sync.Mutex
	env          uint64
	entries      map[string]postureEntry // by pod key
	nodes, edges int                     // of the latest Build
}

type postureEntry struct {
	uid, version string
	profiles     []posture.Profile
	// fingerprint digests the pod's inputs to posture when it was
	// evaluated (if fingerprinted): a later version with the same
	// inputs keeps the profiles.
	fingerprint   posture.Fingerprint
	fingerprinted bool
}

// sameInputs reports whether p, a later version of the entry's pod, gives
// posture the same inputs.
func (e *postureEntry) sameInputs(p *cluster.Pod) bool {
	if !e.fingerprinted {
		return false
	}
	f, ok := posture.PodFingerprint(p)
	return ok && f == e.fingerprint
}

// NewLiveCache returns an empty cache.
func NewLiveCache() *LiveCache { return &LiveCache{entries: map[string]postureEntry{}} }

// WithLiveCache reuses what earlier builds kept in c and keeps this
// build's in it.
func WithLiveCache(c *LiveCache) Option {
	return func(o *options) error { o.liveCache = c; return nil }
}

// postureEnv fingerprints what posture reads besides the pod; ok is false
// when an object has no resourceVersion (not a live view).
func postureEnv(s *cluster.Snapshot) (uint64, bool) {
	h := fnv.New64a()
	add := func(kind, ns, name, version string) bool {
		if version == "" {
			return false
		}
		for _, x := range []string{kind, ns, name, version} {
			h.Write([]byte(x))
			h.Write([]byte{0})
		}
		return true
	}
	for i := range s.Namespaces {
		if !add("ns", "", s.Namespaces[i].Name, s.Namespaces[i].ResourceVersion) {
			return 0, false
		}
	}
	for i := range s.RuntimeClasses {
		if !add("rc", "", s.RuntimeClasses[i].Name, s.RuntimeClasses[i].ResourceVersion) {
			return 0, false
		}
	}
	for i := range s.PersistentVolumes {
		if !add("pv", "", s.PersistentVolumes[i].Name, s.PersistentVolumes[i].ResourceVersion) {
			return 0, false
		}
	}
	for i := range s.PersistentVolumeClaims {
		c := &s.PersistentVolumeClaims[i]
		if !add("pvc", c.Namespace, c.Name, c.ResourceVersion) {
			return 0, false
		}
	}
	for _, g := range s.Gaps {
		add("gap", g.Namespace, g.Kind+"/"+g.Name, g.Reason)
	}
	return h.Sum64(), true
}

// begin starts a build: it forgets everything when the environment
// changed and returns the entries to look in and the map to fill.
func (c *LiveCache) begin(env uint64) map[string]postureEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.env != env {
		c.env, c.entries = env, map[string]postureEntry{}
	}
	return c.entries
}

// end keeps the entries of this build only (pods gone are forgotten).
func (c *LiveCache) end(env uint64, next map[string]postureEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.env == env {
		c.entries = next
	}
}

// size is the latest Build's number of nodes and edges (0 before one).
func (c *LiveCache) size() (nodes, edges int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes, c.edges
}

// built keeps the size of a finished graph.
func (c *LiveCache) built(g *Graph) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes, c.edges = len(g.Nodes), len(g.Edges)
}
