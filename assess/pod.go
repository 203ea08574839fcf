package assess

import (
	"fmt"
	"strings"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/posture"
	"github.com/credence-dev/credence/provenance"
)

// PodFacts is what is already known about one pod, so that its Subject can
// be built without I/O: an admission webhook holds them when a pod (or a
// workload's template) arrives. Facts it does not have stay unknown in the
// Subject, with the reason, never clean.
type PodFacts struct {
	// Pod is the pod: Workload set when it was made from a template
	// ("Deployment/web"), Owner set to its top-level controller for a live
	// pod; neither for a bare pod.
	Pod *cluster.Pod
	// Snapshot supplies the namespace's Pod Security labels, runtime
	// classes and volumes to the posture evaluator (nil: none known).
	Snapshot *cluster.Snapshot
	// Posture evaluates isolation; required.
	Posture *posture.Evaluator
	// Images are the containers' image references as resolved, in the pod's
	// order (init, regular, ephemeral containers). A container without an
	// entry, or whose entry has no Status, is not scanned.
	Images []ImageRef
	// Scanned returns what an earlier scan found in an image digest (nil:
	// not scanned yet).
	Scanned func(digest string) *Image
	// Provenance is each container's provenance evidence, same order; a
	// missing entry is not-checked.
	Provenance []Evidence
	// Graph is a trust graph that holds the pod: it gives exposure and
	// blast radius (nil: both unknown).
	Graph *graph.Graph
	// GraphPod names the pod of the same namespace whose containers stand
	// for this pod's in Graph: a replica already in the graph, with the
	// same spec, when the new pod is not (default: the pod itself).
	GraphPod string
	// Query bounds the blast-radius queries (default: five paths, as
	// Assess).
	Query []graph.QueryOption
	// Model is the exploitability model (zero: DefaultModel).
	Model ExploitModel
}

// PodSubject builds the Subject of one pod from facts known in advance, as
// Assess would for the same facts, without touching an image, a registry or
// the cluster.
func PodSubject(f PodFacts) (Subject, error) {
	if f.Pod == nil || f.Posture == nil {
		return Subject{}, fmt.Errorf("pod subject: a pod and a posture evaluator are required")
	}
	snap := f.Snapshot
	if snap == nil {
		snap = &cluster.Snapshot{}
	}
	model := f.Model
	if model == (ExploitModel{}) {
		model = DefaultModel
	}
	p := f.Pod
	report := f.Posture.Pod(snap, p)
	s, profiles := subjectOf(p, &report)
	qopts := append(append([]graph.QueryOption{graph.WithMaxPaths(5)}, f.Query...), graph.WithMaxCuts(0))
	best := -1.0
	i := 0
	eachContainer(p, func(name string, kind posture.ContainerKind, ref string) {
		defer func() { i++ }()
		img := ImageRef{Reference: ref, Status: NotScanned, Reason: "not resolved"}
		if i < len(f.Images) && f.Images[i].Status != "" {
			img = f.Images[i]
		}
		key := graph.ContainerKey(p.Namespace, p.Name, name)
		gkey := graph.ContainerKey(p.Namespace, firstNonEmpty(f.GraphPod, p.Name), name)
		c := Container{Name: name, Kind: kind, Key: key, Image: img, Posture: profiles[string(kind)+"/"+name],
			Provenance:  Evidence{Status: NotChecked, Reason: "no provenance verdict for this image"},
			MeasuredRun: Evidence{Status: NotChecked, Reason: "no measurement log reconciled"}}
		if i < len(f.Provenance) && f.Provenance[i].Status != "" {
			c.Provenance = f.Provenance[i]
		}
		var scanned *Image
		if img.Digest != "" && f.Scanned != nil {
			scanned = f.Scanned(img.Digest)
		}
		switch {
		case scanned == nil || scanned.Status != Scanned:
			why := img.Reason
			if scanned != nil && scanned.Reason != "" {
				why = scanned.Reason
			}
			if why == "" {
				why = "no scan of digest " + img.Digest + " yet"
			}
			c.Image.Status, c.Image.Reason = NotScanned, why
			s.Unknowns = appendUniq(s.Unknowns, fmt.Sprintf("image %s of container %s not scanned: %s", ref, name, why))
			c.Exploit = model.Container(&Image{Status: NotScanned, Reason: why})
		default:
			c.Image.Status, c.Image.Reason = Scanned, ""
			if len(scanned.Unchecked) > 0 {
				s.Unknowns = appendUniq(s.Unknowns, fmt.Sprintf("image %s of container %s not fully checked: %s", ref, name, strings.Join(scanned.Unchecked, "; ")))
			}
			c.Exploit = model.Container(scanned)
		}
		if f.Graph != nil {
			if _, ok := f.Graph.Lookup(gkey); ok {
				lvl, why := f.Graph.Exposure(gkey)
				c.Exposure = Exposure{Level: firstNonEmpty(lvl, "none"), Why: why, Reach: reachOf(lvl)}
				if res, err := f.Graph.Query(gkey, qopts...); err == nil {
					c.BlastRadius = blastOf(res)
				}
			}
		}
		r := riskOf(&c)
		if r.Score > best || (r.Score == best && r.Likelihood > s.Risk.Likelihood) {
			best, s.Risk = r.Score, r
		}
		s.Containers = append(s.Containers, c)
	})
	return s, nil
}

// EvidenceOf maps a provenance verdict to a Subject's evidence slot: a
// transient failure is "error", never "unsigned" (see WithProvenance).
func EvidenceOf(vd *provenance.Verdict) Evidence { return evidenceOf(vd) }
