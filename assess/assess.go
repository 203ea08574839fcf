package assess

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/all"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/posture"
	"github.com/credence-dev/credence/vulndb/epss"
	"github.com/credence-dev/credence/vulndb/kev"
	"github.com/credence-dev/credence/vulndb/osv"
)

// Assess builds a Subject for every workload of snap, with findings from
// src, ranked by risk. Images that cannot be resolved or read, and what the
// snapshot could not read, are unknown in the result, never clean: Assess
// returns an error only for operational failures (a cancelled context, a
// database that fails).
func Assess(ctx context.Context, snap *cluster.Snapshot, src match.Source, opts ...Option) (*Assessment, error) {
	o := defaults()
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	a := &run{o: o, snap: snap, src: newMemoSource(src), sc: newScanner(o, all.Extractors())}
	return a.assess(ctx)
}

type run struct {
	o    options
	snap *cluster.Snapshot
	src  *memoSource
	sc   *scanner

	groups   []*group
	images   map[string]*Image // by digest key
	exploits map[string]Exploit
	g        *graph.Graph
	out      *Assessment
	// provenance is each container's evidence (WithProvenance).
	provenance map[*groupContainer]Evidence
}

// group is one workload: the pods that share an owner.
type group struct {
	pods []*cluster.Pod
	rep  *cluster.Pod
	// refs: for each container of rep (init, regular, ephemeral), the
	// resolved image per pod (index-aligned with kinds).
	containers []groupContainer
	report     posture.PodReport
}

type groupContainer struct {
	name string
	kind posture.ContainerKind
	ref  ImageRef
	key  string // image key in run.images ("" when unresolved)
}

func (a *run) assess(ctx context.Context) (*Assessment, error) {
	a.out = &Assessment{Version: SchemaVersion, Source: a.snap.Source, Generated: a.o.now().UTC(), Subjects: []Subject{}}
	for _, gp := range a.snap.Gaps {
		a.out.Unknowns = append(a.out.Unknowns, gapString(gp))
	}

	t0 := time.Now()
	if err := a.resolve(ctx); err != nil {
		return nil, err
	}
	a.out.Stats.ResolveNs = time.Since(t0)

	t0 = time.Now()
	if err := a.sc.scanAll(ctx); err != nil {
		return nil, err
	}
	a.out.Stats.ScanNs = time.Since(t0)

	t0 = time.Now()
	if err := a.match(ctx); err != nil {
		return nil, err
	}
	a.out.Stats.MatchNs = time.Since(t0)

	t0 = time.Now()
	if err := a.verifyAll(ctx); err != nil {
		return nil, err
	}
	a.out.Stats.VerifyNs = time.Since(t0)

	t0 = time.Now()
	if err := a.join(); err != nil {
		return nil, err
	}
	a.out.Stats.GraphNs = time.Since(t0)
	a.out.Unknowns = append(a.out.Unknowns, a.sc.warnings...)
	return a.out, nil
}

func gapString(g cluster.Gap) string { return "could not read " + g.String() }

// resolve groups pods into workloads and resolves every container's image.
func (a *run) resolve(ctx context.Context) error {
	pe, err := posture.NewEvaluator()
	if err != nil {
		return err
	}
	byOwner := map[string]*group{}
	for i := range a.snap.Pods {
		p := &a.snap.Pods[i]
		if finished(p) {
			continue
		}
		key := p.Namespace + "/pod/" + p.Name
		if p.Owner != "" {
			key = p.Namespace + "/" + p.Owner
		}
		g := byOwner[key]
		if g == nil {
			g = &group{rep: p}
			byOwner[key] = g
			a.groups = append(a.groups, g)
		}
		g.pods = append(g.pods, p)
	}
	nodeArch := map[string]string{}
	for _, n := range a.snap.Nodes {
		if n.Status.NodeInfo.Architecture != "" {
			nodeArch[n.Name] = n.Status.NodeInfo.OperatingSystem + "/" + n.Status.NodeInfo.Architecture
		}
	}
	total := 0
	for _, g := range a.groups {
		total += len(g.pods)
	}
	done := 0
	for _, g := range a.groups {
		g.report = pe.Pod(a.snap, g.rep)
		for _, p := range g.pods {
			platform := a.o.platform
			if pl := nodeArch[p.Spec.NodeName]; pl != "" {
				platform = pl
			}
			var secrets []string
			for _, s := range p.Spec.ImagePullSecrets {
				secrets = append(secrets, s.Name)
			}
			status := map[string]string{}
			for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
				for _, cs := range list {
					status[cs.Name] = cs.ImageID
				}
			}
			i := 0
			eachContainer(p, func(name string, kind posture.ContainerKind, img string) {
				ref := a.sc.resolve(ctx, request{namespace: p.Namespace, reference: img, imageID: status[name], secrets: secrets, platform: platform})
				if p == g.rep {
					key := ""
					if ref.Digest != "" {
						key = a.sc.keyOf(ref.Digest, platform)
					} else {
						key = "unresolved:" + img
					}
					g.containers = append(g.containers, groupContainer{name: name, kind: kind, ref: ref, key: key})
				}
				i++
			})
			done++
			a.o.progress("resolve", done, total)
		}
	}
	return ctx.Err()
}

// finished pods no longer run anything.
func finished(p *cluster.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func eachContainer(p *cluster.Pod, f func(name string, kind posture.ContainerKind, image string)) {
	for _, c := range p.Spec.InitContainers {
		f(c.Name, posture.KindInit, c.Image)
	}
	for _, c := range p.Spec.Containers {
		f(c.Name, posture.KindContainer, c.Image)
	}
	for _, c := range p.Spec.EphemeralContainers {
		f(c.Name, posture.KindEphemeral, c.Image)
	}
}

// match matches every scanned image and applies the exploitability model.
func (a *run) match(ctx context.Context) error {
	imgs := a.sc.images()
	a.images = map[string]*Image{}
	a.exploits = map[string]Exploit{}
	for k, t := range a.sc.targets {
		a.images[k] = t.img
	}
	var todo []*Image
	for _, img := range imgs {
		if img.Status == Scanned {
			todo = append(todo, img)
		}
	}
	// Images are matched concurrently; the memo source shares look-ups.
	sem := make(chan struct{}, max(2, a.o.jobs))
	var wg sync.WaitGroup
	errs := make([]error, len(todo))
	for i, img := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = a.matchImage(ctx, img)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for k, img := range a.images {
		a.exploits[k] = a.o.model.Container(img)
	}
	ks, err := Kernels(ctx, a.snap.Nodes, a.src, a.o.model)
	if err != nil {
		return err
	}
	a.out.Kernels = ks
	a.out.Images = imgs
	st := &a.out.Stats
	st.Images, st.ImagesRead, st.CacheHits = len(imgs), int(a.sc.reads.Load()), int(a.sc.hits.Load())
	for _, img := range imgs {
		if img.Status != Scanned {
			st.Unknown++
		}
	}
	return nil
}

func (a *run) matchImage(ctx context.Context, img *Image) error {
	res, err := match.Match(ctx, a.src, img.inv.Packages, match.WithTime(a.o.now()))
	if err != nil {
		return fmt.Errorf("match %s: %w", img.Digest, err)
	}
	match.ApplyIgnores(res.Findings, a.o.ignores, a.o.now())
	img.Findings, img.Undecided = res.Findings, res.Undecided
	img.Unchecked = unchecked(img.inv, res)
	img.Counts = CountsOf(res.Findings, len(res.Undecided))
	return nil
}

// CountsOf counts findings by kind as an Image's Counts (suppressed ones
// apart), with undecided the number of undecided packages.
func CountsOf(findings []match.Finding, undecided int) Counts {
	c := Counts{BySeverity: map[string]int{}, Undecided: undecided}
	for _, f := range findings {
		if f.Suppressed != nil {
			c.Suppressed++
			continue
		}
		c.Findings++
		c.BySeverity[string(f.Severity.Level)]++
		if f.KEV != nil {
			c.KEV++
		}
		if f.FixState == match.FixAvailable {
			c.Fixable++
		}
	}
	return c
}

// unchecked says which packages of an inventory could not be checked
// (match's coverage gaps: unrecognised OS, no data for an ecosystem,
// undecided versions) and which files could not be read.
func unchecked(inv *inventory.Inventory, res *match.Result) []string {
	var out []string
	for _, g := range res.Coverage.Gaps {
		n := len(g.Packages)
		out = append(out, fmt.Sprintf("%d package%s not checked (%s): %s", n, plural(n), g.Reason, g.Detail))
	}
	if n := len(inv.Status.FileErrors); n > 0 {
		e := inv.Status.FileErrors[0]
		out = append(out, fmt.Sprintf("%d file%s could not be read (e.g. %s: %s)", n, plural(n), e.Path, e.Error))
	}
	return out
}

// Exploits answers the graph's question (graph.Exploitability) from
// exploitability already worked out, keyed "namespace/pod/container". Every
// consumer that builds a graph from Subjects or images (assess, the server,
// the admission webhook) answers through it, so the graph's steps say the
// same thing wherever they are built.
type Exploits map[string]Exploit

// Exploitability implements graph.Exploitability.
func (m Exploits) Exploitability(c graph.ContainerRef) graph.Exploit {
	return m[c.Namespace+"/"+c.Pod+"/"+c.Container].Graph()
}

// KernelExploits answers graph.KernelExploitability from the nodes'
// kernels, keyed by node name.
type KernelExploits map[string]Exploit

// KernelExploitability implements graph.KernelExploitability.
func (m KernelExploits) KernelExploitability(node string) graph.Exploit { return m[node].Graph() }

// Graph is the exploitability as the graph takes it; unknown stays unknown.
func (x Exploit) Graph() graph.Exploit {
	if !x.Known {
		return graph.Exploit{}
	}
	return graph.Exploit{Known: true, Likelihood: x.Likelihood, Reason: x.Reason, Evidence: x.Evidence}
}

// join builds the graph with the exploitability of every container, then
// the Subjects, their risk, and what cuts the most.
func (a *run) join() error {
	xm := Exploits{}
	for _, g := range a.groups {
		for _, p := range g.pods {
			i := 0
			eachContainer(p, func(name string, _ posture.ContainerKind, _ string) {
				// Replicas run what their representative runs (same template).
				if i < len(g.containers) {
					xm[p.Namespace+"/"+p.Name+"/"+name] = a.exploits[g.containers[i].key]
				}
				i++
			})
		}
	}
	km := KernelExploits{}
	for _, k := range a.out.Kernels {
		km[k.Node] = k.Escape
	}
	g, err := graph.Build(a.snap, append(append([]graph.Option{}, a.o.graphOpts...), graph.WithExploitability(xm), graph.WithKernelExploitability(km))...)
	if err != nil {
		return fmt.Errorf("build graph: %w", err)
	}
	a.g = g
	a.out.Unknowns = appendUniq(a.out.Unknowns, g.Unknowns...)
	qopts := append(append([]graph.QueryOption{}, a.o.queryOpts...), graph.WithMaxCuts(0), graph.WithMaxPaths(5))
	for _, gr := range a.groups {
		s := a.subject(gr, qopts)
		a.out.Subjects = append(a.out.Subjects, s)
	}
	sort.SliceStable(a.out.Subjects, func(i, j int) bool {
		x, y := a.out.Subjects[i].Risk, a.out.Subjects[j].Risk
		switch {
		case x.Score != y.Score:
			return x.Score > y.Score
		case x.Likelihood != y.Likelihood:
			return x.Likelihood > y.Likelihood
		case x.Impact != y.Impact:
			return x.Impact > y.Impact
		}
		return a.out.Subjects[i].Workload.Ref() < a.out.Subjects[j].Workload.Ref()
	})
	a.out.Stats.Workloads = len(a.out.Subjects)
	for _, s := range a.out.Subjects {
		a.out.Stats.Containers += len(s.Containers)
	}
	a.exposedKEV()
	a.cuts()
	a.alerts()
	return nil
}

// subject builds one workload's Subject.
func (a *run) subject(gr *group, qopts []graph.QueryOption) Subject {
	p := gr.rep
	s, profiles := subjectOf(p, &gr.report)
	best := -1.0
	for i := range gr.containers {
		gc := &gr.containers[i]
		key := graph.ContainerKey(p.Namespace, p.Name, gc.name)
		c := Container{Name: gc.name, Kind: gc.kind, Key: key, Image: gc.ref, Posture: profiles[string(gc.kind)+"/"+gc.name],
			Provenance:  Evidence{Status: NotChecked, Reason: "no provenance verifier configured (give keys or identities to trust)"},
			MeasuredRun: Evidence{Status: NotChecked, Reason: "no measurement log reconciled"}, imageKey: gc.key}
		if e, ok := a.provenance[gc]; ok {
			c.Provenance = e
		}
		img := a.images[gc.key]
		if img != nil && c.Image.Status == "" {
			c.Image.Status, c.Image.Reason = img.Status, img.Reason
		}
		if img != nil && img.Status != Scanned {
			s.Unknowns = appendUniq(s.Unknowns, fmt.Sprintf("image %s of container %s not scanned: %s", gc.ref.Reference, gc.name, img.Reason))
		} else if img != nil && len(img.Unchecked) > 0 {
			s.Unknowns = appendUniq(s.Unknowns, fmt.Sprintf("image %s of container %s not fully checked: %s", gc.ref.Reference, gc.name, strings.Join(img.Unchecked, "; ")))
		}
		c.Exploit = a.exploits[gc.key]
		if _, ok := a.g.Lookup(key); ok {
			lvl, why := a.g.Exposure(key)
			c.Exposure = Exposure{Level: firstNonEmpty(lvl, "none"), Why: why, Reach: reachOf(lvl)}
			if res, err := a.g.Query(key, qopts...); err == nil {
				c.BlastRadius = blastOf(res)
			}
		}
		r := a.risk(&c)
		if r.Score > best || (r.Score == best && r.Likelihood > s.Risk.Likelihood) {
			best, s.Risk = r.Score, r
		}
		s.Containers = append(s.Containers, c)
	}
	return s
}

// subjectOf starts a pod's Subject: the workload it belongs to, with its Pod
// Security level, and the posture profiles of its containers by
// "kind/name".
func subjectOf(p *cluster.Pod, report *posture.PodReport) (Subject, map[string]*posture.Profile) {
	w := Workload{Namespace: p.Namespace, Pod: p.Name, Template: p.Workload != "", Node: p.Spec.NodeName,
		ServiceAccount: firstNonEmpty(p.Spec.ServiceAccountName, "default"), Labels: p.Labels, Annotations: p.Annotations,
		PodSecurity: report.PodSecurity, Admitted: report.Admitted}
	owner := firstNonEmpty(p.Workload, p.Owner)
	if k, n, ok := strings.Cut(owner, "/"); ok {
		w.Kind, w.Name = k, n
		w.Owners = ownerChain(p, owner)
	} else {
		w.Kind, w.Name = "Pod", p.Name
	}
	profiles := map[string]*posture.Profile{}
	for i := range report.Containers {
		pr := &report.Containers[i]
		profiles[string(pr.Kind)+"/"+pr.Container] = pr
	}
	return Subject{Version: SchemaVersion, Workload: w}, profiles
}

// ownerChain follows owner references through the snapshot (for a live pod)
// or names the template's workload.
func ownerChain(p *cluster.Pod, top string) []string {
	chain := []string{top}
	for _, o := range p.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			if r := o.Kind + "/" + o.Name; r != top {
				chain = append(chain, r)
			}
		}
	}
	return chain
}

func blastOf(r *graph.Result) *BlastRadius {
	b := &BlastRadius{Counts: r.Counts, Closure: r.Closure, Unknowns: r.Unknowns}
	for _, as := range r.Assets {
		switch {
		case as.Kind == graph.KindClusterAdmin:
			b.ClusterAdmin = math.Max(b.ClusterAdmin, as.Likelihood)
		case as.Kind == graph.KindNode:
			b.Node = math.Max(b.Node, as.Likelihood)
		}
		b.Critical = math.Max(b.Critical, as.Likelihood)
	}
	// A copy: the Subject outlives the query, whose list of every critical
	// asset reached (thousands in a big cluster) it must not keep alive.
	if len(r.Assets) > 0 {
		b.Assets = slices.Clone(r.Assets[:min(len(r.Assets), 5)])
	}
	if len(r.Paths) > 0 {
		p := r.Paths[0]
		b.Path = &p
		b.Paths = r.Paths
	}
	return b
}

// Impact weights: how much reaching each kind of asset hurts.
const (
	impactClusterAdmin = 1.0
	impactNode         = 0.8
	impactCritical     = 0.6
	impactNone         = 0.05
)

// impactOf is how much a compromise of the container hurts.
func impactOf(b *BlastRadius) (float64, string) {
	if b == nil {
		return impactNone, "not in the graph"
	}
	best, why := impactNone, "reaches no critical asset"
	if v := impactClusterAdmin * b.ClusterAdmin; v > best {
		best, why = v, fmt.Sprintf("cluster-admin at %.2f", b.ClusterAdmin)
	}
	if v := impactNode * b.Node; v > best {
		best, why = v, fmt.Sprintf("a node at %.2f", b.Node)
	}
	if v := impactCritical * b.Critical; v > best {
		name := "a critical asset"
		if len(b.Assets) > 0 {
			name = b.Assets[0].Name
		}
		best, why = v, fmt.Sprintf("%s at %.2f", name, b.Critical)
	}
	return best, why
}

// risk scores one container as the entry of an attack.
func (a *run) risk(c *Container) Risk { return riskOf(c) }

// riskOf scores one container as the entry of an attack.
func riskOf(c *Container) Risk {
	l, unknown := c.Exploit.Likelihood, !c.Exploit.Known
	if unknown {
		l = unknownLikelihood
	}
	hit := c.Exposure.Reach * l
	imp, impWhy := impactOf(c.BlastRadius)
	r := Risk{Likelihood: round3(hit), Impact: round3(imp), Unknown: unknown, Entry: c.Name}
	r.Score = math.Round(hit*imp*1000) / 10
	exp := "exploitability " + fmt.Sprintf("%.2f", l)
	if unknown {
		exp = "exploitability unknown (assumed 0.30)"
	}
	r.Why = fmt.Sprintf("%s exposure (reach %.1f) × %s; if hit: %s", firstNonEmpty(c.Exposure.Level, "no"), c.Exposure.Reach, exp, impWhy)
	return r
}

func appendUniq(list []string, add ...string) []string {
	for _, s := range add {
		dup := false
		for _, x := range list {
			if x == s {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, s)
		}
	}
	return list
}

// memoSource shares advisory look-ups across the images of one run, so a
// package present in many images is looked up once.
type memoSource struct {
	src match.Source
	mu  sync.Mutex
	m   map[[2]string]memoEntry
}

type memoEntry struct {
	advs []*osv.Advisory
	err  error
	done chan struct{}
}

func newMemoSource(src match.Source) *memoSource {
	return &memoSource{src: src, m: map[[2]string]memoEntry{}}
}

func (s *memoSource) Advisories(ctx context.Context, eco, name string) ([]*osv.Advisory, error) {
	k := [2]string{eco, name}
	s.mu.Lock()
	e, ok := s.m[k]
	if !ok {
		e = memoEntry{done: make(chan struct{})}
		s.m[k] = e
		s.mu.Unlock()
		advs, err := s.src.Advisories(ctx, eco, name)
		s.mu.Lock()
		e.advs, e.err = advs, err
		s.m[k] = e
		close(e.done)
		s.mu.Unlock()
		return advs, err
	}
	s.mu.Unlock()
	<-e.done
	s.mu.Lock()
	e = s.m[k]
	s.mu.Unlock()
	return e.advs, e.err
}

// KEV passes through to the source when it can answer.
func (s *memoSource) KEV(ctx context.Context, cves []string) (map[string]kev.Entry, error) {
	if x, ok := s.src.(match.ExploitSource); ok {
		return x.KEV(ctx, cves)
	}
	return nil, nil
}

// EPSS passes through to the source when it can answer.
func (s *memoSource) EPSS(ctx context.Context, cves []string) (map[string]epss.Score, error) {
	if x, ok := s.src.(match.ExploitSource); ok {
		return x.EPSS(ctx, cves)
	}
	return nil, nil
}

// CVSS passes through to the source when it can answer.
func (s *memoSource) CVSS(ctx context.Context, cves []string) (map[string][]osv.CVEVector, error) {
	if x, ok := s.src.(match.SeveritySource); ok {
		return x.CVSS(ctx, cves)
	}
	return nil, nil
}

// EcosystemRecords passes through to the source when it can answer; a
// source that cannot makes every package unchecked (match's rule).
func (s *memoSource) EcosystemRecords(ctx context.Context, eco string) (int, error) {
	if x, ok := s.src.(match.EcosystemSource); ok {
		return x.EcosystemRecords(ctx, eco)
	}
	return 0, nil
}

var (
	_ match.ExploitSource   = (*memoSource)(nil)
	_ match.SeveritySource  = (*memoSource)(nil)
	_ match.EcosystemSource = (*memoSource)(nil)
)
