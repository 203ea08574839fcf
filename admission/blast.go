package admission

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/policy"
)

// ClusterView is the webhook's copy of the cluster objects the trust graph
// reads (client-go informers in production, a fixed set in tests).
type ClusterView interface {
	Owners
	// Objects returns the objects held now and a generation that changes
	// whenever they do. The objects are shared: never change them.
	Objects() (objs []runtime.Object, generation uint64)
	// Gaps are the kinds the view could not read (forbidden, not served):
	// what they hide is unknown.
	Gaps() []cluster.Gap
	// Ready reports whether the view holds a first full copy.
	Ready() bool
	// PolicyGeneration is the generation at which the view last saw a
	// Role, ClusterRole, binding or NetworkPolicy change.
	PolicyGeneration() uint64
}

// ErrViewNotReady says the cluster view has no full copy yet.
var ErrViewNotReady = errors.New("the cluster view is not synced yet")

// Defaults of a Blast.
const (
	// DefaultMaxAffected bounds the containers whose paths one binding or
	// NetworkPolicy change is checked for; beyond it the change's new paths
	// are not known.
	DefaultMaxAffected = 500
	// DefaultRefresh is how often the base graph is rebuilt when the view
	// changed.
	DefaultRefresh = time.Second
)

// Blast keeps the trust graph of the cluster as the view holds it (the
// base, rebuilt in the background when the view changes) and answers, for
// an incoming object, the blast radius with the object applied and which
// paths to critical assets are new compared with the base.
type Blast struct {
	view     ClusterView
	images   *ImageStore
	build    []graph.Option
	query    []graph.QueryOption
	affected int
	refresh  time.Duration

	base     atomic.Pointer[baseGraph]
	buildMu  sync.Mutex
	deltaSem chan struct{}

	builds, deltas, replicas atomic.Int64
}

// BlastOption configures a Blast.
type BlastOption func(*Blast) error

// WithGraphOptions passes options to every graph.Build (critical
// namespaces, ...).
func WithGraphOptions(opts ...graph.Option) BlastOption {
	return func(b *Blast) error { b.build = append(b.build, opts...); return nil }
}

// WithQueryOptions bounds the blast-radius queries.
func WithQueryOptions(opts ...graph.QueryOption) BlastOption {
	return func(b *Blast) error { b.query = append(b.query, opts...); return nil }
}

// WithMaxAffected bounds the containers checked per binding or
// NetworkPolicy change.
func WithMaxAffected(n int) BlastOption {
	return func(b *Blast) error {
		if n < 1 {
			return fmt.Errorf("max affected %d: must be positive", n)
		}
		b.affected = n
		return nil
	}
}

// WithRefresh sets how often the base is rebuilt after a change.
func WithRefresh(d time.Duration) BlastOption {
	return func(b *Blast) error {
		if d <= 0 {
			return fmt.Errorf("refresh %s: must be positive", d)
		}
		b.refresh = d
		return nil
	}
}

// WithExploitImages joins scan results to the graph: a network-reachable
// container is taken over with the likelihood its image's findings give
// (unknown, assumed possible, when the image was not scanned).
func WithExploitImages(s *ImageStore) BlastOption {
	return func(b *Blast) error { b.images = s; return nil }
}

// NewBlast computes paths from view.
func NewBlast(view ClusterView, opts ...BlastOption) (*Blast, error) {
	if view == nil {
		return nil, errors.New("blast: a cluster view is required")
	}
	b := &Blast{view: view, affected: DefaultMaxAffected, refresh: DefaultRefresh, deltaSem: make(chan struct{}, 1)}
	for _, o := range opts {
		if err := o(b); err != nil {
			return nil, fmt.Errorf("blast: %w", err)
		}
	}
	return b, nil
}

// baseGraph is the graph of one generation of the view.
type baseGraph struct {
	gen   uint64
	objs  []runtime.Object
	snap  *cluster.Snapshot
	g     *graph.Graph
	took  time.Duration
	built time.Time
	// rep: workload ("ns/Kind/name") → the pod that stands for it.
	rep map[string]*cluster.Pod
	// shapes: normalised pod shape → pod, to find a replica.
	shapes map[string]*cluster.Pod
	memo   sync.Map // container key → map[asset key]likelihood
}

// Run rebuilds the base whenever the view changes, until ctx ends.
func (b *Blast) Run(ctx context.Context) {
	t := time.NewTicker(b.refresh)
	defer t.Stop()
	for {
		if b.view.Ready() {
			if _, gen := b.view.Objects(); b.base.Load() == nil || b.base.Load().gen != gen {
				_, _ = b.current()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// current returns the base of the view's current generation, building it
// if needed (one build at a time). A request never waits for a rebuild
// another goroutine is doing when a base exists: it uses the one it has
// (at most one refresh old).
func (b *Blast) current() (*baseGraph, error) { return b.currentBase(false) }

// fresh is current for a change to RBAC or network policy: it waits for a
// rebuild in progress instead of judging against the base before it,
// which may lack a pod created just now (the pod's own admission did not
// see the change, the change would not see the pod, and together they may
// open a path). Such changes are rare; pods keep current's fast path, and
// leave it only while the base predates a policy change the view holds.
func (b *Blast) fresh() (*baseGraph, error) { return b.currentBase(true) }

func (b *Blast) currentBase(wait bool) (*baseGraph, error) {
	if !b.view.Ready() {
		if cur := b.base.Load(); cur != nil {
			return cur, nil
		}
		return nil, ErrViewNotReady
	}
	objs, gen := b.view.Objects()
	if cur := b.base.Load(); cur != nil && cur.gen == gen {
		return cur, nil
	}
	if !b.buildMu.TryLock() {
		// A rebuild is in progress. A pod may take the base from before it
		// (latency) unless a policy change came since: a binding admitted
		// a moment ago may complete a path with this very pod, and the
		// binding's own check did not see the pod.
		if cur := b.base.Load(); cur != nil && !wait && cur.gen >= b.view.PolicyGeneration() {
			return cur, nil
		}
		b.buildMu.Lock()
	}
	defer b.buildMu.Unlock()
	if cur := b.base.Load(); cur != nil && cur.gen >= gen {
		return cur, nil // built while this one waited (generations only grow)
	}
	t0 := time.Now()
	snap, g, err := b.graphOf(objs)
	if err != nil {
		return nil, err
	}
	bg := &baseGraph{gen: gen, objs: objs, snap: snap, g: g, took: time.Since(t0), built: time.Now(),
		rep: map[string]*cluster.Pod{}, shapes: map[string]*cluster.Pod{}}
	for i := range snap.Pods {
		p := &snap.Pods[i]
		ref := workloadRef(p)
		if bg.rep[ref] == nil {
			bg.rep[ref] = p
		}
		if p.Workload == "" && p.Owner != "" {
			if k := shapeKey(p); bg.shapes[k] == nil {
				bg.shapes[k] = p
			}
		}
	}
	b.base.Store(bg)
	b.builds.Add(1)
	return bg, nil
}

func (b *Blast) graphOf(objs []runtime.Object) (*cluster.Snapshot, *graph.Graph, error) {
	snap, err := cluster.FromObjects("admission webhook cluster view", objs)
	if err != nil {
		return nil, nil, err
	}
	snap.Gaps = append(snap.Gaps, b.view.Gaps()...)
	opts := append([]graph.Option{}, b.build...)
	if b.images != nil {
		opts = append(opts, graph.WithExploitability(storeExploits{b.images}))
	}
	g, err := graph.Build(snap, opts...)
	if err != nil {
		return nil, nil, err
	}
	return snap, g, nil
}

// Snapshot is the base snapshot (namespaces for Pod Security labels,
// runtime classes), or nil before the first build.
func (b *Blast) Snapshot() *cluster.Snapshot {
	if cur := b.base.Load(); cur != nil {
		return cur.snap
	}
	return nil
}

// Owner names a pod's top-level controller through the view.
func (b *Blast) Owner(ns string, refs []metav1.OwnerReference) string { return b.view.Owner(ns, refs) }

// BlastStats count the graph work.
type BlastStats struct {
	Builds   int64 `json:"builds"`
	Deltas   int64 `json:"deltas"`
	Replicas int64 `json:"replicas"`
	// BaseBuild is how long the last base build took; BaseNodes and
	// BaseEdges its size.
	BaseBuild time.Duration `json:"baseBuildNs"`
	BaseNodes int           `json:"baseNodes"`
	BaseEdges int           `json:"baseEdges"`
}

// Stats returns the counters.
func (b *Blast) Stats() BlastStats {
	s := BlastStats{Builds: b.builds.Load(), Deltas: b.deltas.Load(), Replicas: b.replicas.Load()}
	if cur := b.base.Load(); cur != nil {
		s.BaseBuild, s.BaseNodes, s.BaseEdges = cur.took, len(cur.g.Nodes), len(cur.g.Edges)
	}
	return s
}

// podDelta is what the handler needs for one pod: the graph that holds it,
// the pod as placed in that graph, and the baseline of its workload.
type podDelta struct {
	snap     *cluster.Snapshot
	graph    *graph.Graph
	pod      *cluster.Pod
	graphPod string
	baseline policy.Baseline
	notes    []string
}

// PodDelta places a pod (or a workload's template) into the graph and
// returns what the Subject needs: blast radius from the graph with the
// object applied, and the baseline of the same workload in the base.
func (b *Blast) PodDelta(ctx context.Context, w *workloadObject, pod *cluster.Pod) (*podDelta, error) {
	base, err := b.current()
	if err != nil {
		return nil, err
	}
	bl := &graphBaseline{b: b, base: base}
	// A new replica of a workload the base already runs with the same
	// shape reaches what its siblings reach: no graph to build.
	if w.kind == "Pod" && pod.Owner != "" {
		if sib := base.shapes[shapeKey(pod)]; sib != nil && sib.Namespace == pod.Namespace && sib.Owner == pod.Owner {
			b.replicas.Add(1)
			p := *pod
			return &podDelta{snap: base.snap, graph: base.g, pod: &p, graphPod: sib.Name, baseline: bl,
				notes: []string{"paths as replica " + sib.Name + " of " + pod.Owner + " (same spec) in the base graph"}}, nil
		}
	}
	objs := applyObject(base, w.obj, pod)
	snap, g, err := b.deltaGraph(ctx, objs)
	if err != nil {
		return nil, err
	}
	placed := findPod(snap, pod, w)
	if placed == nil {
		return nil, fmt.Errorf("the %s is not in the graph built with it", w.kind)
	}
	return &podDelta{snap: snap, graph: g, pod: placed, baseline: bl}, nil
}

// deltaGraph builds the graph of objs under the request's deadline, one
// build at a time (they are CPU-bound).
func (b *Blast) deltaGraph(ctx context.Context, objs []runtime.Object) (*cluster.Snapshot, *graph.Graph, error) {
	select {
	case b.deltaSem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("no time left to build the graph with the object applied: %w", ctx.Err())
	}
	defer func() { <-b.deltaSem }()
	type res struct {
		snap *cluster.Snapshot
		g    *graph.Graph
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		s, g, err := b.graphOf(objs)
		ch <- res{s, g, err}
	}()
	select {
	case r := <-ch:
		b.deltas.Add(1)
		return r.snap, r.g, r.err
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("the graph with the object applied took longer than the admission deadline: %w", ctx.Err())
	}
}

// applyObject returns the base objects with obj in place of its previous
// version. A workload replaces its old pods (and ReplicaSets or Jobs): the
// graph then holds the pod its new template makes.
func applyObject(base *baseGraph, obj runtime.Object, pod *cluster.Pod) []runtime.Object {
	m, _ := obj.(metav1.Object)
	kind := kindOf(obj)
	owner := ""
	if pod != nil && pod.Workload != "" {
		owner = pod.Workload
	}
	out := make([]runtime.Object, 0, len(base.objs)+1)
	for _, o := range base.objs {
		om, ok := o.(metav1.Object)
		if !ok {
			out = append(out, o)
			continue
		}
		if kindOf(o) == kind && om.GetNamespace() == m.GetNamespace() && om.GetName() == m.GetName() {
			continue // the previous version
		}
		if owner != "" && om.GetNamespace() == m.GetNamespace() && ownedBy(base, o, om, owner) {
			continue // old pods and controllers of the workload
		}
		out = append(out, o)
	}
	return append(out, obj)
}

// ownedBy reports whether o (a pod, ReplicaSet or Job) belongs to the
// workload "Kind/name".
func ownedBy(base *baseGraph, o runtime.Object, om metav1.Object, owner string) bool {
	switch x := o.(type) {
	case *corev1.Pod:
		for i := range base.snap.Pods {
			p := &base.snap.Pods[i]
			if p.Namespace == x.Namespace && p.Name == x.Name {
				return p.Owner == owner
			}
		}
	case *appsv1.ReplicaSet, *batchv1.Job:
		if ref := controllerRef(om.GetOwnerReferences()); ref != nil {
			return ref.Kind+"/"+ref.Name == owner
		}
	}
	return false
}

func kindOf(o runtime.Object) string {
	t := fmt.Sprintf("%T", o)
	return t[strings.LastIndex(t, ".")+1:]
}

// findPod finds the pod the object became in a snapshot.
func findPod(s *cluster.Snapshot, pod *cluster.Pod, w *workloadObject) *cluster.Pod {
	for i := range s.Pods {
		p := &s.Pods[i]
		if p.Namespace != pod.Namespace {
			continue
		}
		if w.kind == "Pod" && p.Name == pod.Name && p.Workload == "" {
			return p
		}
		if w.kind != "Pod" && p.Workload == w.kind+"/"+w.meta.Name {
			return p
		}
	}
	return nil
}

func workloadRef(p *cluster.Pod) string {
	k, n := workloadParts(firstNonEmpty(p.Workload, p.Owner), p.Name)
	return p.Namespace + "/" + k + "/" + n
}

// shapeKey identifies what a pod reaches apart from its name: namespace,
// owner, labels (without the controller's hash labels) and spec (without
// the node and the service-account token volume, whose name is random).
func shapeKey(p *cluster.Pod) string {
	spec := p.Spec.DeepCopy()
	spec.NodeName, spec.Hostname = "", ""
	var vols []corev1.Volume
	for _, v := range spec.Volumes {
		if !strings.HasPrefix(v.Name, "kube-api-access-") {
			vols = append(vols, v)
		}
	}
	spec.Volumes = vols
	strip := func(cs []corev1.Container) {
		for i := range cs {
			var ms []corev1.VolumeMount
			for _, m := range cs[i].VolumeMounts {
				if !strings.HasPrefix(m.Name, "kube-api-access-") {
					ms = append(ms, m)
				}
			}
			cs[i].VolumeMounts = ms
		}
	}
	strip(spec.InitContainers)
	strip(spec.Containers)
	labels := map[string]string{}
	for k, v := range p.Labels {
		switch k {
		case "pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index", "batch.kubernetes.io/job-completion-index":
		default:
			labels[k] = v
		}
	}
	b, _ := json.Marshal(struct {
		NS, Owner string
		Labels    map[string]string
		Spec      *corev1.PodSpec
	}{p.Namespace, p.Owner, labels, spec})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// graphBaseline answers policy.Baseline from the base graph: a container of
// a workload reached, before the change, what its stand-in pod's container
// reaches in the base.
type graphBaseline struct {
	b    *Blast
	base *baseGraph
}

func (gb *graphBaseline) Before(workload, container string) (map[string]float64, bool, bool) {
	p := gb.base.rep[workload]
	if p == nil {
		return nil, true, true // a new workload reached nothing
	}
	assets, ok := gb.b.assetsOf(gb.base, graph.ContainerKey(p.Namespace, p.Name, container))
	if !ok {
		return nil, true, true // a new container of the workload
	}
	return assets, true, true
}

func (gb *graphBaseline) Describe() string {
	return fmt.Sprintf("the cluster before this change (graph of %s, %d nodes)", gb.base.built.UTC().Format(time.RFC3339), len(gb.base.g.Nodes))
}

// assetsOf memoises the base query of one container: critical asset key
// (and "name:" + name) → likelihood.
func (b *Blast) assetsOf(base *baseGraph, key string) (map[string]float64, bool) {
	if m, ok := base.memo.Load(key); ok {
		return m.(map[string]float64), true
	}
	if _, ok := base.g.Lookup(key); !ok {
		return nil, false
	}
	res, err := base.g.Query(key, append(append([]graph.QueryOption{}, b.query...), graph.WithMaxCuts(0), graph.WithMaxPaths(0))...)
	if err != nil {
		return nil, false
	}
	m := map[string]float64{}
	for _, a := range res.Assets {
		m[a.Key] = a.Likelihood
		m["name:"+a.Name] = a.Likelihood
	}
	base.memo.Store(key, m)
	return m, true
}

// graphDelta is what a binding or NetworkPolicy changes: the workloads
// whose containers now reach more, with the graph after the change.
type graphDelta struct {
	snap     *cluster.Snapshot
	graph    *graph.Graph
	pods     []*cluster.Pod // one per affected workload, in the new snapshot
	baseline policy.Baseline
	checked  int
	touched  int
}

// ObjectDelta applies a binding or NetworkPolicy and finds the containers
// whose blast radius may change: those that reach, within the query's
// bounds, a node whose edges the change altered.
func (b *Blast) ObjectDelta(ctx context.Context, obj runtime.Object) (*graphDelta, error) {
	base, err := b.fresh()
	if err != nil {
		return nil, err
	}
	snap, g, err := b.deltaGraph(ctx, applyObject(base, obj, nil))
	if err != nil {
		return nil, err
	}
	touched := changedNodes(base.g, g)
	d := &graphDelta{snap: snap, graph: g, baseline: &graphBaseline{b: b, base: base}, touched: len(touched)}
	if len(touched) == 0 {
		return d, nil
	}
	cs := reaching(g, touched, 10)
	if len(cs) > b.affected {
		return nil, fmt.Errorf("%d containers may reach what the change altered, more than the %d checked per change", len(cs), b.affected)
	}
	d.checked = len(cs)
	byKey := map[string]*cluster.Pod{}
	for i := range snap.Pods {
		p := &snap.Pods[i]
		byKey["container:"+p.Namespace+"/"+p.Name+"/"] = p
	}
	seen := map[string]bool{}
	for _, id := range cs {
		key := g.Nodes[id].Key
		i := strings.LastIndex(key, "/")
		p := byKey[key[:i+1]]
		if p == nil {
			continue
		}
		ref := workloadRef(p)
		if !seen[ref] {
			seen[ref] = true
			d.pods = append(d.pods, p)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("checking affected containers: %w", ctx.Err())
		}
	}
	sort.Slice(d.pods, func(i, j int) bool { return workloadRef(d.pods[i]) < workloadRef(d.pods[j]) })
	return d, nil
}

// changedNodes lists the nodes of after whose outgoing edges differ from
// before (or that before does not have).
func changedNodes(before, after *graph.Graph) []graph.NodeID {
	sig := func(g *graph.Graph, n graph.NodeID) []string {
		var out []string
		for _, ei := range g.Out(n) {
			e := &g.Edges[ei]
			out = append(out, fmt.Sprintf("%s>%s>%.4f>%v", e.Kind, g.Nodes[e.To].Key, e.Likelihood, e.Unknown))
		}
		sort.Strings(out)
		return out
	}
	var out []graph.NodeID
	for id := range after.Nodes {
		n := graph.NodeID(id)
		old, ok := before.Lookup(after.Nodes[id].Key)
		if !ok {
			out = append(out, n)
			continue
		}
		a, b := sig(after, n), sig(before, old)
		if len(a) != len(b) {
			out = append(out, n)
			continue
		}
		for i := range a {
			if a[i] != b[i] {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// reaching lists the containers of g that reach any of targets within
// depth steps (a reverse breadth-first search).
func reaching(g *graph.Graph, targets []graph.NodeID, depth int) []graph.NodeID {
	in := make([][]graph.NodeID, len(g.Nodes))
	for _, e := range g.Edges {
		in[e.To] = append(in[e.To], e.From)
	}
	dist := make([]int, len(g.Nodes))
	for i := range dist {
		dist[i] = -1
	}
	q := append([]graph.NodeID{}, targets...)
	for _, t := range targets {
		dist[t] = 0
	}
	var out []graph.NodeID
	for len(q) > 0 {
		n := q[0]
		q = q[1:]
		if g.Nodes[n].Kind == graph.KindContainer {
			out = append(out, n)
		}
		if dist[n] >= depth {
			continue
		}
		for _, p := range in[n] {
			if dist[p] < 0 {
				dist[p] = dist[n] + 1
				q = append(q, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return g.Nodes[out[i]].Key < g.Nodes[out[j]].Key })
	return out
}

// storeExploits answers the graph's exploitability from scanned images:
// a reference pinned by digest, or the digest it had when assessed.
type storeExploits struct{ s *ImageStore }

func (x storeExploits) Exploitability(c graph.ContainerRef) graph.Exploit {
	d := ""
	if r, err := name.NewDigest(c.Image); err == nil {
		d = r.DigestStr()
	} else {
		d = x.s.Assessed(c.Image)
	}
	img := x.s.Get(d)
	if img == nil {
		return graph.Exploit{}
	}
	return assess.DefaultModel.Container(img).Graph()
}
