package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/report/sarif"
)

// Rules of an assessment's SARIF log.
var assessRules = []sarif.Rule{
	{ID: "credence/workload-risk", Name: "WorkloadRisk",
		ShortDescription: sarif.Message{Text: "A workload is likely to be hit and a compromise of it reaches critical assets"},
		Help:             &sarif.Message{Text: "Risk = likelihood of being hit (exposure reach × exploitability of its images' findings) × impact (cluster-admin 1, a node 0.8, another critical asset 0.6, times the attack path's likelihood). The message explains the path; the cuts in the assessment say which change lowers it most."},
		Properties:       map[string]any{"tags": []string{"security", "blast-radius"}}},
	{ID: "credence/exposed-kev", Name: "ExposedKEV",
		ShortDescription: sarif.Message{Text: "A vulnerability exploited in the wild (CISA KEV) sits on an internet-exposed path"},
		Help:             &sarif.Message{Text: "The container is reachable from the internet, directly or over the network from an exposed container, and its image has a finding listed in CISA's Known Exploited Vulnerabilities catalog."},
		Properties:       map[string]any{"tags": []string{"security", "vulnerability", "kev"}, "security-severity": "9.0"}},
	{ID: "credence/not-assessed", Name: "NotAssessed",
		ShortDescription: sarif.Message{Text: "A workload could not be fully assessed: unknown is not clean"},
		Help:             &sarif.Message{Text: "An image could not be resolved or read, or some of its packages could not be checked. What was not checked may be vulnerable."},
		Properties:       map[string]any{"tags": []string{"security", "coverage"}}},
}

// WriteAssessSARIF writes an assessment as SARIF 2.1.0: one result per
// workload with risk (level by score: error at 50 and above, warning at 15,
// else note), one per KEV finding on an internet-exposed path, and one per
// workload that could not be fully assessed. Locations are logical: the
// workload and container.
func WriteAssessSARIF(w io.Writer, a *assess.Assessment) error {
	run := sarif.Run{
		Tool:       sarif.Credence("", assessRules),
		Results:    []sarif.Result{},
		Properties: map[string]any{"source": a.Source, "schema": a.Version},
	}
	loc := func(s *assess.Subject, container string) []sarif.Location {
		l := []sarif.LogicalLocation{{Name: s.Workload.Name, FullyQualifiedName: s.Workload.Namespace + "/" + s.Workload.Kind + "/" + s.Workload.Name, Kind: "module"}}
		if container != "" {
			l = append(l, sarif.LogicalLocation{Name: container, FullyQualifiedName: s.Workload.Namespace + "/" + s.Workload.Kind + "/" + s.Workload.Name + "/" + container, Kind: "object"})
		}
		return []sarif.Location{{LogicalLocations: l}}
	}
	for i := range a.Subjects {
		s := &a.Subjects[i]
		if s.Risk.Score > 0 {
			level := "note"
			switch {
			case s.Risk.Score >= 50:
				level = "error"
			case s.Risk.Score >= 15:
				level = "warning"
			}
			msg := fmt.Sprintf("%s %s: risk %.1f: %s.", s.Workload.Kind, s.Workload.Ref(), s.Risk.Score, s.Risk.Why)
			md := msg
			if p := entryPath(s); p != nil {
				msg += fmt.Sprintf(" Worst path: %d steps to %s (%.2f).", len(p.Steps), p.To, p.Likelihood)
				md += "\n\n" + pathMarkdown(p)
			}
			run.Results = append(run.Results, sarif.Result{RuleID: assessRules[0].ID, RuleIndex: 0, Level: level,
				Message: sarif.Message{Text: msg, Markdown: md}, Locations: loc(s, s.Risk.Entry),
				PartialFingerprints: map[string]string{"credence/v1": "risk|" + s.Workload.Namespace + "/" + s.Workload.Kind + "/" + s.Workload.Name},
				Properties:          map[string]any{"score": s.Risk.Score, "likelihood": s.Risk.Likelihood, "impact": s.Risk.Impact, "exploitabilityUnknown": s.Risk.Unknown}})
		}
		if len(s.Unknowns) > 0 {
			run.Results = append(run.Results, sarif.Result{RuleID: assessRules[2].ID, RuleIndex: 2, Level: "warning",
				Message:             sarif.Message{Text: fmt.Sprintf("%s %s could not be fully assessed: %s", s.Workload.Kind, s.Workload.Ref(), strings.Join(s.Unknowns, "; "))},
				Locations:           loc(s, ""),
				PartialFingerprints: map[string]string{"credence/v1": "unknown|" + s.Workload.Namespace + "/" + s.Workload.Kind + "/" + s.Workload.Name}})
		}
	}
	bySubject := map[string]*assess.Subject{}
	for i := range a.Subjects {
		bySubject[a.Subjects[i].Workload.Ref()] = &a.Subjects[i]
	}
	for _, k := range a.ExposedKEV {
		s := bySubject[k.Workload]
		if s == nil {
			continue
		}
		via := "it is exposed to the internet"
		if k.Via != k.Workload+"/"+k.Container {
			via = "it is reachable over the network from internet-exposed " + k.Via
		}
		run.Results = append(run.Results, sarif.Result{RuleID: assessRules[1].ID, RuleIndex: 1, Level: "error",
			Message:             sarif.Message{Text: fmt.Sprintf("%s (%s) in %s, container %s of %s: known exploited, and %s.", k.Finding, k.CVE, k.Package, k.Container, k.Workload, via)},
			Locations:           loc(s, k.Container),
			PartialFingerprints: map[string]string{"credence/v1": "kev|" + k.Workload + "/" + k.Container + "|" + k.Finding + "|" + k.Via},
			Properties:          map[string]any{"cve": k.CVE, "package": k.Package, "image": k.Image, "via": k.Via}})
	}
	return sarif.Write(w, run)
}

func entryPath(s *assess.Subject) *graph.Path {
	for _, c := range s.Containers {
		if c.Name == s.Risk.Entry && c.BlastRadius != nil {
			return c.BlastRadius.Path
		}
	}
	return nil
}

func pathMarkdown(p *graph.Path) string {
	var b strings.Builder
	for i, st := range p.Steps {
		fmt.Fprintf(&b, "%d. **%s** → **%s** (%s, %.2f): %s\n", i+1, st.From, st.To, st.Kind, st.Likelihood, st.Reason)
	}
	return b.String()
}
