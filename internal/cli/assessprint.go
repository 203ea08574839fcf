//go:build !node && !scan

package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/graph"
)

// printAssess writes the ranking for people: one row per workload with its
// risk and the short form of its worst path, the riskiest workload's path
// explained, KEV findings on internet-exposed paths, the best cuts, alerts,
// and what could not be established.
func printAssess(w io.Writer, res *assess.Assessment, db string, top int) error {
	st := res.Stats
	fmt.Fprintf(w, "Cluster:  %s (%s, %s)\n", res.Source, count(st.Workloads, "workload", "workloads"), count(st.Containers, "container", "containers"))
	fmt.Fprintf(w, "Images:   %d distinct: %d read, %d from the inventory cache, %d unknown (not scanned)\n", st.Images, st.ImagesRead, st.CacheHits, st.Unknown)
	fmt.Fprintf(w, "Database: %s\n\n", db)

	byDigest := map[string]*assess.Image{}
	for _, img := range res.Images {
		byDigest[img.Digest] = img
	}
	subjects := res.Subjects
	if top > 0 && len(subjects) > top {
		subjects = subjects[:top]
	}
	t := newTable(w, "#", "WORKLOAD", "RISK", "HIT", "IMPACT", "EXPOSURE", "VULNS C/H/M/L/?", "KEV", "WORST PATH")
	for i, s := range subjects {
		entry := entryOf(&s)
		exposure, vulns, kev := "-", "-", "-"
		if entry != nil {
			exposure = entry.Exposure.Level
		}
		c, h, m, l, u, k, unknown := 0, 0, 0, 0, 0, 0, false
		for _, ct := range s.Containers {
			img := byDigest[ct.Image.Digest]
			if img == nil || img.Status != assess.Scanned {
				unknown = true
				continue
			}
			c += img.Counts.BySeverity["critical"]
			h += img.Counts.BySeverity["high"]
			m += img.Counts.BySeverity["medium"]
			l += img.Counts.BySeverity["low"]
			u += img.Counts.BySeverity["unknown"]
			k += img.Counts.KEV
		}
		vulns = fmt.Sprintf("%d/%d/%d/%d/%d", c, h, m, l, u)
		if unknown {
			vulns += " +unknown"
		}
		if k > 0 {
			kev = fmt.Sprint(k)
		}
		hit := fmt.Sprintf("%.2f", s.Risk.Likelihood)
		if s.Risk.Unknown {
			hit += "?"
		}
		t.row(fmt.Sprint(i+1), s.Workload.Namespace+"/"+s.Workload.Kind+"/"+s.Workload.Name, fmt.Sprintf("%.1f", s.Risk.Score), hit,
			fmt.Sprintf("%.2f", s.Risk.Impact), exposure, vulns, kev, shortPath(entry))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(subjects) < len(res.Subjects) {
		fmt.Fprintf(w, "(%s more; --top 0 shows all)\n", count(len(res.Subjects)-len(subjects), "workload", "workloads"))
	}
	fmt.Fprintln(w, "VULNS: findings by severity (critical/high/medium/low/unknown) in the workload's images; +unknown: an image not scanned.")
	fmt.Fprintln(w, "HIT: likelihood of being hit (exposure reach × exploitability; ? = exploitability unknown, assumed 0.30).")
	fmt.Fprintln(w, "IMPACT: how much a compromise hurts (cluster-admin 1, a node 0.8, another critical asset 0.6, × the path's likelihood).")

	if len(res.Subjects) > 0 {
		s := res.Subjects[0]
		fmt.Fprintf(w, "\nRiskiest: %s/%s %s (risk %.1f): %s\n", s.Workload.Namespace, s.Workload.Name, s.Workload.Kind, s.Risk.Score, s.Risk.Why)
		if e := entryOf(&s); e != nil {
			fmt.Fprintf(w, "  entry container %s, image %s", e.Name, e.Image.Reference)
			if e.Image.Digest != "" {
				fmt.Fprintf(w, " (%s)", shortDigest(e.Image.Digest))
			}
			fmt.Fprintf(w, "\n  exploitability: %s\n", e.Exploit.Reason)
			if e.Exposure.Why != "" {
				fmt.Fprintf(w, "  exposure: %s\n", e.Exposure.Why)
			}
			if e.BlastRadius != nil && e.BlastRadius.Path != nil {
				printPath(w, e.BlastRadius.Path)
			}
		}
	}
	if len(res.ExposedKEV) > 0 {
		fmt.Fprintf(w, "\nKEV findings on internet-exposed paths:\n")
		t := newTable(w, "  WORKLOAD", "CONTAINER", "FINDING", "CVE", "PACKAGE", "REACHED FROM")
		for _, k := range res.ExposedKEV {
			via := k.Via
			if via == k.Workload+"/"+k.Container {
				via = "itself (exposed)"
			}
			t.row("  "+k.Workload, k.Container, k.Finding, k.CVE, k.Package, via)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(res.Kernels) > 0 {
		fmt.Fprintf(w, "\nNode kernels (the shared-kernel escape of every container on the node):\n")
		t := newTable(w, "  NODE", "KERNEL", "MATCHED AS", "ESCAPE", "WHY")
		for _, k := range res.Kernels {
			esc := "unknown"
			if k.Escape.Known {
				esc = fmt.Sprintf("%.2f", k.Escape.Likelihood)
			}
			as := "-"
			if k.Package != "" {
				as = k.Ecosystem + " " + k.Package + " " + k.Version
			}
			t.row("  "+k.Node, k.KernelVersion, as, esc, k.Escape.Reason)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(res.Cuts) > 0 {
		fmt.Fprintf(w, "\nChanges that cut the most risk (drop in the sum of workload risk scores, re-measured):\n")
		for i, c := range res.Cuts {
			fmt.Fprintf(w, "  %d. %s\n     −%.1f over %s (%s): %s\n", i+1, c.Summary, c.RiskCut, count(c.Workloads, "workload", "workloads"), c.Kind, c.Why)
		}
	} else if len(res.Subjects) > 0 {
		fmt.Fprintf(w, "\nNo single change lowers the risk of the riskiest workloads.\n")
	}
	for _, a := range res.Alerts {
		fmt.Fprintf(w, "\nAlert %q (%s): ", a.Alert.Rule, a.Alert.Source)
		if a.Status != "matched" {
			fmt.Fprintf(w, "unknown: %s\n", a.Reason)
			continue
		}
		fmt.Fprintf(w, "container %s of %s, matched by %s\n", strings.TrimPrefix(a.Container, "container:"), a.Workload, a.MatchedBy)
		if br := a.BlastRadius; br != nil {
			fmt.Fprintf(w, "  falls with it: %s, %s, %s, %s; cluster-admin: %v\n",
				count(br.Counts.Containers, "container", "containers"), count(br.Counts.Identities, "identity", "identities"),
				count(br.Counts.Secrets, "secret", "secrets"), count(br.Counts.Nodes, "node", "nodes"), br.Counts.ClusterAdmin)
			if len(br.Paths) > 0 {
				printPath(w, &br.Paths[0])
			}
		}
	}
	if len(res.Unknowns) > 0 || hasSubjectUnknowns(res) {
		fmt.Fprintf(w, "\nCould not establish (unknown, not safe):\n")
		for _, u := range res.Unknowns {
			fmt.Fprintf(w, "  - %s\n", u)
		}
		for _, s := range res.Subjects {
			for _, u := range s.Unknowns {
				fmt.Fprintf(w, "  - %s: %s\n", s.Workload.Ref(), u)
			}
		}
	}
	return nil
}

func hasSubjectUnknowns(res *assess.Assessment) bool {
	for _, s := range res.Subjects {
		if len(s.Unknowns) > 0 {
			return true
		}
	}
	return false
}

func entryOf(s *assess.Subject) *assess.Container {
	for i := range s.Containers {
		if s.Containers[i].Name == s.Risk.Entry {
			return &s.Containers[i]
		}
	}
	return nil
}

// shortPath is "3 steps to cluster-admin (0.42)".
func shortPath(c *assess.Container) string {
	if c == nil || c.BlastRadius == nil || c.BlastRadius.Path == nil {
		return "no critical asset reached"
	}
	p := c.BlastRadius.Path
	u := ""
	if p.Unknown {
		u = ", unknown steps"
	}
	return fmt.Sprintf("%s to %s (%.2f%s)", count(len(p.Steps), "step", "steps"), p.To, p.Likelihood, u)
}

func printPath(w io.Writer, p *graph.Path) {
	fmt.Fprintf(w, "  path to %s (likelihood %.2f):\n", p.To, p.Likelihood)
	for i, st := range p.Steps {
		mark := ""
		if st.Unknown {
			mark = " [unknown]"
		}
		fmt.Fprintf(w, "    %d. %s → %s  %s (%.2f)%s\n       %s\n", i+1, st.From, st.To, st.Kind, st.Likelihood, mark, st.Reason)
		if len(st.Evidence) > 0 {
			var ev []string
			for _, e := range st.Evidence {
				ev = append(ev, e.String())
			}
			fmt.Fprintf(w, "       evidence: %s\n", strings.Join(ev, "; "))
		}
	}
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
