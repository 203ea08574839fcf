package assess

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/match"
)

// maxLateralSteps bounds the network search for KEV findings behind an
// internet-exposed container.
const maxLateralSteps = 4

// lateral edges are the network steps an attacker takes from a foothold.
var lateral = map[graph.EdgeKind]bool{
	graph.EdgeNetEgress: true, graph.EdgeNetReach: true, graph.EdgeNetExploit: true, graph.EdgeSamePod: true,
}

// containerAt indexes Subjects' containers by graph key.
type containerAt struct {
	s *Subject
	c *Container
}

func (a *run) containerIndex() map[string]containerAt {
	idx := map[string]containerAt{}
	for i := range a.out.Subjects {
		s := &a.out.Subjects[i]
		for j := range s.Containers {
			idx[s.Containers[j].Key] = containerAt{s, &s.Containers[j]}
		}
	}
	return idx
}

// exposedKEV lists KEV findings in internet-exposed containers and in the
// containers they reach over the network.
func (a *run) exposedKEV() {
	idx := a.containerIndex()
	seen := map[string]bool{}
	add := func(at containerAt, via string) {
		img := a.images[a.imageKeyOf(at.c)]
		if img == nil {
			return
		}
		for _, f := range img.Findings {
			if f.KEV == nil || f.Suppressed != nil || !findingReachable(&f) {
				continue
			}
			k := at.c.Key + "|" + f.ID + "|" + via
			if seen[k] {
				continue
			}
			seen[k] = true
			a.out.ExposedKEV = append(a.out.ExposedKEV, ExposedKEV{Workload: at.s.Workload.Ref(), Container: at.c.Name,
				Image: at.c.Image.Reference, Finding: f.ID, CVE: f.KEV.CVE, Package: match.CanonicalName(f.Package) + "@" + f.Installed,
				Exposure: at.c.Exposure.Level, Via: via})
		}
	}
	for i := range a.out.Subjects {
		s := &a.out.Subjects[i]
		for j := range s.Containers {
			c := &s.Containers[j]
			if c.Exposure.Level != graph.ExposureInternet {
				continue
			}
			via := s.Workload.Ref() + "/" + c.Name
			add(containerAt{s, c}, via)
			for _, key := range a.lateralFrom(c.Key) {
				if at, ok := idx[key]; ok {
					add(at, via)
				}
			}
		}
	}
	sort.SliceStable(a.out.ExposedKEV, func(i, j int) bool {
		x, y := a.out.ExposedKEV[i], a.out.ExposedKEV[j]
		if x.Workload != y.Workload {
			return x.Workload < y.Workload
		}
		return x.Finding < y.Finding
	})
}

// lateralFrom lists the containers reachable from key over network steps.
func (a *run) lateralFrom(key string) []string {
	start, ok := a.g.Lookup(key)
	if !ok {
		return nil
	}
	depth := map[graph.NodeID]int{start: 0}
	queue := []graph.NodeID{start}
	var out []string
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if depth[n] >= maxLateralSteps {
			continue
		}
		for _, ei := range a.g.Out(n) {
			e := &a.g.Edges[ei]
			if !lateral[e.Kind] {
				continue
			}
			if _, ok := depth[e.To]; ok {
				continue
			}
			depth[e.To] = depth[n] + 1
			queue = append(queue, e.To)
			if a.g.Nodes[e.To].Kind == graph.KindContainer {
				out = append(out, a.g.Nodes[e.To].Key)
			}
		}
	}
	return out
}

func (a *run) imageKeyOf(c *Container) string { return c.imageKey }

// cutSubjects bounds how many of the riskiest workloads cuts are measured on.
const cutSubjects = 10

// cuts ranks single changes by the risk score they remove over every
// workload: graph changes (measured by re-running each of the riskiest
// workloads' queries without the change) and image upgrades (measured by
// re-running the exploitability model without the findings the upgrade
// fixes).
func (a *run) cuts() {
	var out []Cut
	out = append(out, a.graphCuts()...)
	out = append(out, a.imageCuts()...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].RiskCut != out[j].RiskCut {
			return out[i].RiskCut > out[j].RiskCut
		}
		return out[i].ID < out[j].ID
	})
	if len(out) > a.o.topCuts {
		out = out[:a.o.topCuts]
	}
	a.out.Cuts = out
}

// maxGraphCandidates bounds the cluster changes scored by rebuilding the graph.
const maxGraphCandidates = 12

func (a *run) graphCuts() []Cut {
	top := a.out.Subjects
	if len(top) > cutSubjects {
		top = top[:cutSubjects]
	}
	type entryAt struct {
		s *Subject
		c *Container
	}
	var entries []entryAt
	for i := range top {
		s := &top[i]
		if s.Risk.Score == 0 {
			continue
		}
		for j := range s.Containers {
			if s.Containers[j].Name == s.Risk.Entry {
				entries = append(entries, entryAt{s, &s.Containers[j]})
			}
		}
	}
	// Candidates: the changes on the riskiest workloads' explained paths,
	// the most frequent first.
	freq := map[string]int{}
	fixes := map[string]graph.Fix{}
	var order []string
	qopts := append([]graph.QueryOption{}, a.o.queryOpts...)
	for _, e := range entries {
		if e.c.BlastRadius == nil {
			continue
		}
		seen := map[string]bool{}
		for _, p := range e.c.BlastRadius.Paths {
			for _, st := range p.Steps {
				for _, f := range st.Fixes {
					if f.Apply == nil || seen[f.ID] {
						continue
					}
					seen[f.ID] = true
					if _, ok := fixes[f.ID]; !ok {
						order = append(order, f.ID)
						fixes[f.ID] = f
					}
					freq[f.ID]++
				}
			}
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return freq[order[i]] > freq[order[j]] })
	if len(order) > maxGraphCandidates {
		order = order[:maxGraphCandidates]
	}
	var out []Cut
	for _, id := range order {
		// The counterfactual: the snapshot with the change made, its posture
		// and every dependent edge rebuilt, each riskiest workload re-queried.
		g2, patch, err := a.g.Counterfactual(fixes[id])
		if err != nil || g2 == nil {
			continue
		}
		delta, n := 0.0, 0
		var detail []string
		for _, e := range entries {
			after := *e.c
			after.BlastRadius = nil
			if res, err := g2.Query(e.c.Key, append(qopts, graph.WithMaxCuts(0), graph.WithMaxPaths(1))...); err == nil {
				after.BlastRadius = blastOf(res)
			}
			if r := a.risk(&after).Score; e.s.Risk.Score-r > 0 {
				delta += e.s.Risk.Score - r
				n++
				detail = append(detail, fmt.Sprintf("%s %.1f → %.1f", e.s.Workload.Ref(), e.s.Risk.Score, r))
			}
		}
		if delta <= 0 {
			continue
		}
		why := "re-measured with the change made: " + joinFirst(detail, 3)
		if len(patch.Changes) > 0 {
			why = "changes " + joinFirst(patch.Changes, 2) + "; " + why
		}
		out = append(out, Cut{ID: id, Summary: fixes[id].Summary, Kind: "graph", RiskCut: math.Round(delta*10) / 10, Workloads: n, Why: why})
	}
	return out
}

// imageCuts: upgrading one package of one image to its fixed version.
func (a *run) imageCuts() []Cut {
	type pkgKey struct{ image, pkg string }
	var out []Cut
	idx := a.containerIndex()
	users := map[string][]containerAt{} // image key → containers running it
	for key, at := range idx {
		_ = key
		k := a.imageKeyOf(at.c)
		users[k] = append(users[k], at)
	}
	for imgKey, img := range a.images {
		if img.Status != Scanned || len(users[imgKey]) == 0 {
			continue
		}
		byPkg := map[string][]int{}
		var pkgs []string
		for i := range img.Findings {
			f := &img.Findings[i]
			if f.Suppressed != nil || f.FixState != match.FixAvailable || !findingReachable(f) {
				continue
			}
			p := match.CanonicalName(f.Package) + "@" + f.Installed
			if byPkg[p] == nil {
				pkgs = append(pkgs, p)
			}
			byPkg[p] = append(byPkg[p], i)
		}
		for _, p := range pkgs {
			fixed := map[int]bool{}
			var to []string
			for _, i := range byPkg[p] {
				fixed[i] = true
				to = append(to, img.Findings[i].Fixed...)
			}
			shadow := *img
			shadow.Findings = nil
			for i, f := range img.Findings {
				if !fixed[i] {
					shadow.Findings = append(shadow.Findings, f)
				}
			}
			ids := make([]string, 0, len(byPkg[p]))
			for _, i := range byPkg[p] {
				ids = append(ids, img.Findings[i].ID)
			}
			name, _, _ := strings.Cut(p, "@")
			if c, ok := a.imageCut(imgKey, img, users[imgKey], fixed); ok {
				c.ID = "upgrade:" + imgKey + ":" + name
				c.Summary = fmt.Sprintf("upgrade %s to %s in %s", p, highest(to), strings.Join(img.References, ", "))
				c.Why = fmt.Sprintf("fixes %s; %s", joinFirst(ids, 4), c.Why)
				out = append(out, c)
			}
		}
		// Rebuilding the image with every fixed version is one change too.
		if len(pkgs) > 1 {
			fixed := map[int]bool{}
			for _, p := range pkgs {
				for _, i := range byPkg[p] {
					fixed[i] = true
				}
			}
			if c, ok := a.imageCut(imgKey, img, users[imgKey], fixed); ok {
				c.ID = "rebuild:" + imgKey
				c.Summary = fmt.Sprintf("rebuild %s with the fixed versions of its %d vulnerable packages (%d findings)", strings.Join(img.References, ", "), len(pkgs), len(fixed))
				c.Why = "leaves only findings with no fix; " + c.Why
				out = append(out, c)
			}
		}
	}
	return out
}

// imageCut measures the risk removed by fixing some findings of one image:
// the model re-run without them, each workload that runs the image re-scored.
func (a *run) imageCut(imgKey string, img *Image, users []containerAt, fixed map[int]bool) (Cut, bool) {
	shadow := *img
	shadow.Findings = nil
	for i, f := range img.Findings {
		if !fixed[i] {
			shadow.Findings = append(shadow.Findings, f)
		}
	}
	x := a.o.model.Container(&shadow)
	delta, n := 0.0, 0
	var detail []string
	for _, at := range users {
		after := *at.c
		after.Exploit = x
		newScore := a.risk(&after).Score
		for _, other := range at.s.Containers {
			if other.Key != at.c.Key {
				newScore = math.Max(newScore, a.risk(&other).Score)
			}
		}
		if d := at.s.Risk.Score - newScore; d > 0 {
			delta += d
			n++
			detail = append(detail, fmt.Sprintf("%s %.1f → %.1f", at.s.Workload.Ref(), at.s.Risk.Score, newScore))
		}
	}
	if delta <= 0 {
		return Cut{}, false
	}
	return Cut{Kind: "image", Workloads: n, RiskCut: math.Round(delta*10) / 10,
		Why: fmt.Sprintf("exploitability of %s drops to %.2f: %s", strings.Join(img.References, ", "), x.Likelihood, joinFirst(detail, 3))}, true
}

// joinFirst joins the first n items and counts the rest.
func joinFirst(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
}

// highest picks the last of the fixed versions listed (they are sorted by
// the matcher); several merged records may list several.
func highest(vs []string) string {
	if len(vs) == 0 {
		return "a fixed version"
	}
	seen := map[string]bool{}
	var uniq []string
	for _, v := range vs {
		if !seen[v] {
			seen[v] = true
			uniq = append(uniq, v)
		}
	}
	return strings.Join(uniq, " or ")
}
