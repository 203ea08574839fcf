package assess_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/posture"
	"github.com/credence-dev/credence/provenance"
)

// imageExploits answers the graph from an assessment's images, as Assess
// does from its own.
type imageExploits struct {
	byContainer map[string]assess.Exploit
}

func (x imageExploits) Exploitability(c graph.ContainerRef) graph.Exploit {
	e, ok := x.byContainer[c.Namespace+"/"+c.Pod+"/"+c.Container]
	if !ok || !e.Known {
		return graph.Exploit{}
	}
	return graph.Exploit{Known: true, Likelihood: e.Likelihood, Reason: e.Reason}
}

// TestPodSubjectMatchesAssess builds every Subject of the sample cluster
// again from the facts Assess found (resolved images, scans, the graph) and
// compares: a webhook building one pod's Subject must see what Assess sees.
func TestPodSubjectMatchesAssess(t *testing.T) {
	snap := sampleCluster(t)
	a := run(t, snap, sampleSource(t), assess.WithImageDirs(sampleDirs(t)))
	byDigest := map[string]*assess.Image{}
	for _, img := range a.Images {
		byDigest[img.Digest] = img
	}
	x := imageExploits{byContainer: map[string]assess.Exploit{}}
	refs := map[string][]assess.ImageRef{}
	for _, s := range a.Subjects {
		for _, c := range s.Containers {
			x.byContainer[s.Workload.Namespace+"/"+s.Workload.Pod+"/"+c.Name] = c.Exploit
			refs[s.Workload.Namespace+"/"+s.Workload.Pod] = append(refs[s.Workload.Namespace+"/"+s.Workload.Pod], c.Image)
		}
	}
	g, err := graph.Build(snap, graph.WithExploitability(x))
	if err != nil {
		t.Fatal(err)
	}
	pe, err := posture.NewEvaluator()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range a.Subjects {
		var pod *cluster.Pod
		for i := range snap.Pods {
			if snap.Pods[i].Namespace == want.Workload.Namespace && snap.Pods[i].Name == want.Workload.Pod {
				pod = &snap.Pods[i]
			}
		}
		got, err := assess.PodSubject(assess.PodFacts{Pod: pod, Snapshot: snap, Posture: pe, Graph: g,
			Images:  refs[want.Workload.Namespace+"/"+want.Workload.Pod],
			Scanned: func(d string) *assess.Image { return byDigest[d] }})
		if err != nil {
			t.Fatal(err)
		}
		// Provenance: Assess says why nobody verified; PodSubject says no verdict was given.
		for i := range got.Containers {
			got.Containers[i].Provenance = want.Containers[i].Provenance
		}
		if d := cmp.Diff(want, got, cmpopts.IgnoreUnexported(assess.Container{})); d != "" {
			t.Errorf("%s (-Assess +PodSubject):\n%s", want.Workload.Ref(), d)
		}
	}
}

// TestPodSubjectUnknowns: a pod with nothing known is unknown everywhere,
// never clean; a verdict maps to evidence without turning an error into
// "unsigned".
func TestPodSubjectUnknowns(t *testing.T) {
	snap := sampleCluster(t)
	pe, _ := posture.NewEvaluator()
	pod := snap.Pods[0]
	s, err := assess.PodSubject(assess.PodFacts{Pod: &pod, Posture: pe,
		Provenance: []assess.Evidence{assess.EvidenceOf(&provenance.Verdict{Status: provenance.Error, Detail: "registry down"})}})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Containers[0]
	if c.Image.Status != assess.NotScanned || c.Exploit.Known || c.BlastRadius != nil || c.Provenance.Status != assess.CheckError || len(s.Unknowns) == 0 {
		t.Fatalf("unknown facts must stay unknown: image %s, exploit known %v, blast %v, provenance %s, unknowns %v",
			c.Image.Status, c.Exploit.Known, c.BlastRadius, c.Provenance.Status, s.Unknowns)
	}
	if _, err := assess.PodSubject(assess.PodFacts{Pod: &pod}); err == nil {
		t.Fatal("no posture evaluator: want an error")
	}
}
