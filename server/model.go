package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/store"
)

// model is the cluster as one replica sees it: a snapshot of its informer
// caches, the trust graph over it (with every container's exploitability
// from the store), and the pods grouped into workloads. It is shared,
// read-only, by every batch and API request until the cluster or the
// database version changes.
type model struct {
	gen     int64 // the watcher's generation it was built from
	dbSeq   int64 // the store's database version its exploitability is from
	builtAt time.Time
	snap    *cluster.Snapshot
	g       *graph.Graph
	// groups: workload key → its pods, the representative first (the first
	// by name, as Assess picks it); refs: each group's resolved images.
	groups map[string][]*cluster.Pod
	refs   map[string][]assess.ImageRef
	// pending: digests with no scan when the model was built.
	pending map[string]bool
	// pods by namespace/name; containers by the first 12 characters of
	// their runtime's id (Falco's container.id).
	pods       map[string]*cluster.Pod
	containers map[string][]containerAt
	// platforms: node name → "os/arch", to read a multi-platform image
	// as the node runs it.
	platforms map[string]string
}

// containerAt is a running container: its pod, name and full runtime id.
type containerAt struct {
	pod  *cluster.Pod
	name string
	id   string
}

// pod returns a live pod of the model.
func (m *model) pod(ns, name string) *cluster.Pod { return m.pods[ns+"/"+name] }

// workloadKey is the key of the workload a snapshot pod belongs to, as
// Assess names it (store.WorkloadKey of its Subject).
func workloadKey(p *cluster.Pod) string {
	owner := p.Workload
	if owner == "" {
		owner = p.Owner
	}
	if strings.Contains(owner, "/") {
		return p.Namespace + "/" + owner
	}
	return p.Namespace + "/Pod/" + p.Name
}

// errNotReady: the informers have not listed the cluster yet.
var errNotReady = errors.New("the server has not read the cluster yet")

// currentModel returns a model no older than the cluster and the store's
// database version. A new one is built when either changed, but not more
// often than GraphInterval (a burst of events waits for one rebuild), unless
// force says a newer view is needed now (a workload an event named is not in
// it yet). Concurrent callers share one build.
func (s *Server) currentModel(ctx context.Context, force bool) (*model, error) {
	if !s.w.synced.Load() {
		return nil, errNotReady
	}
	s.modelMu.Lock()
	defer s.modelMu.Unlock()
	seq, err := s.dbSeq(ctx)
	if err != nil {
		return nil, err
	}
	s.facts.sync(seq)
	cur := s.model
	gen := s.w.gen.Load()
	if cur != nil && cur.gen == gen && cur.dbSeq == seq && !s.pendingResolved(ctx, cur) {
		return cur, nil
	}
	if cur != nil && !force {
		if wait := s.o.graphInterval - s.o.clock().Sub(cur.builtAt); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			gen = s.w.gen.Load()
		}
	}
	// The previous model is let go while this one is built: at 10,000
	// pods each is some 100 MB, and the API's reads of Subjects do not
	// need one. Batches and the sweep drop theirs between workloads and
	// wait for this one (newer); blast-radius requests wait for it too.
	done := make(chan struct{})
	s.building.Store(&done)
	defer func() { s.building.Store(nil); close(done) }()
	s.model = nil
	s.latest.Store(nil)
	m, err := s.buildModel(ctx, gen, seq)
	if err != nil {
		return nil, err
	}
	s.model = m
	s.latest.Store(m)
	return m, nil
}

// latestModel is the newest model without waiting for a rebuild (the API's
// view: at most GraphInterval behind the cluster), or a new one when there
// is none yet.
func (s *Server) latestModel(ctx context.Context) (*model, error) {
	if err := s.waitBuilt(ctx); err != nil {
		return nil, err
	}
	if m := s.latest.Load(); m != nil {
		return m, nil
	}
	return s.currentModel(ctx, true)
}

// waitBuilt waits until the model being built, if any, is ready.
func (s *Server) waitBuilt(ctx context.Context) error {
	if d := s.building.Load(); d != nil {
		select {
		case <-*d:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// newer returns the newest model when it is newer than m (a later
// generation of the cluster, or a later database version), else m. While
// a new model is built, it lets go of m (the caller must not use m after
// the call) and returns the new one once ready.
func (s *Server) newer(ctx context.Context, m *model) (*model, error) {
	if s.building.Load() != nil {
		gen, seq := m.gen, m.dbSeq // m is not used after this: it can be freed while we wait
		if err := s.waitBuilt(ctx); err != nil {
			return nil, err
		}
		if l := s.latest.Load(); l != nil && l.gen >= gen && l.dbSeq >= seq {
			return l, nil
		}
		return s.currentModel(ctx, true) // the build failed
	}
	if l := s.latest.Load(); l != nil && l != m && l.gen >= m.gen && l.dbSeq >= m.dbSeq {
		return l, nil
	}
	return m, nil
}

// pendingResolved reports whether an image that was pending when m was
// built has been scanned since (by any replica).
func (s *Server) pendingResolved(ctx context.Context, m *model) bool {
	for d := range m.pending {
		if f, err := s.facts.fact(ctx, d); err == nil && f.state != pending {
			return true
		}
	}
	return false
}

// dbSeq is the store's current database version (0 before the first).
func (s *Server) dbSeq(ctx context.Context) (int64, error) {
	v, err := s.st.CurrentDBVersion(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return v.Seq, nil
}

func (s *Server) buildModel(ctx context.Context, gen, seq int64) (*model, error) {
	t0 := time.Now()
	snap, err := s.w.snapshot(s.source)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	m := &model{gen: gen, dbSeq: seq, builtAt: s.o.clock(), snap: snap, groups: map[string][]*cluster.Pod{},
		refs: map[string][]assess.ImageRef{}, pending: map[string]bool{}, pods: map[string]*cluster.Pod{}, containers: map[string][]containerAt{},
		platforms: map[string]string{}}
	for _, n := range snap.Nodes {
		if ni := n.Status.NodeInfo; ni.Architecture != "" && ni.OperatingSystem != "" {
			m.platforms[n.Name] = ni.OperatingSystem + "/" + ni.Architecture
		}
	}
	for i := range snap.Pods {
		p := &snap.Pods[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if p.Workload == "" {
			m.pods[p.Namespace+"/"+p.Name] = p
			for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
				for _, cs := range list {
					if _, id, ok := strings.Cut(cs.ContainerID, "://"); ok && len(id) >= 12 {
						m.containers[id[:12]] = append(m.containers[id[:12]], containerAt{pod: p, name: cs.Name, id: id})
					}
				}
			}
		}
		k := workloadKey(p)
		m.groups[k] = append(m.groups[k], p)
	}
	x := assess.Exploits{}
	for k, pods := range m.groups {
		refs := imageRefs(pods[0])
		m.refs[k] = refs
		for i, r := range refs {
			e := assess.Exploit{Reason: r.Reason}
			if r.Digest != "" {
				f, err := s.facts.fact(ctx, r.Digest)
				if err != nil {
					return nil, err
				}
				if f.state == pending {
					m.pending[r.Digest] = true
				}
				e = f.exploit
			}
			// Replicas run what their representative runs (same template).
			for _, p := range pods {
				if name := containerName(p, i); name != "" {
					x[p.Namespace+"/"+p.Name+"/"+name] = e
				}
			}
		}
	}
	g, err := graph.Build(snap, graph.WithExploitability(x), graph.WithLiveCache(s.live))
	if err != nil {
		return nil, fmt.Errorf("build graph: %w", err)
	}
	m.g = g
	s.m.graphBuilds.Observe(time.Since(t0).Seconds())
	return m, nil
}

// containerName is the i-th container of a pod in Assess's order (init,
// regular, ephemeral).
func containerName(p *cluster.Pod, i int) string {
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		if i < len(list) {
			return list[i].Name
		}
		i -= len(list)
	}
	if i < len(p.Spec.EphemeralContainers) {
		return p.Spec.EphemeralContainers[i].Name
	}
	return ""
}

// keys lists the model's workloads, sorted.
func (m *model) keys() []string {
	out := make([]string, 0, len(m.groups))
	for k := range m.groups {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
