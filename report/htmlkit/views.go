package htmlkit

import (
	"slices"
	"strings"

	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/posture"
)

// PathView is one explained path in text (the "paths" definition): it
// reads without JavaScript.
type PathView struct {
	To         string
	Likelihood float64
	Unknown    bool
	// Worst marks the path the risk score comes from.
	Worst bool
	Steps []StepView
}

// StepView is one step of a PathView.
type StepView struct {
	N          int
	From, To   string
	Kind       string
	Family     string
	Likelihood float64
	Unknown    bool
	Reason     string
	Evidence   []string
	Technique  string
	Weakened   []string
	Fixes      []string
}

// PathViews are paths in text. worst (when not nil) marks the matching
// path; without it the first path is marked.
func PathViews(paths []graph.Path, worst *graph.Path) []PathView {
	var out []PathView
	for _, p := range paths {
		pv := PathView{To: p.To, Likelihood: p.Likelihood, Unknown: p.Unknown}
		if worst != nil && p.To == worst.To && len(p.Steps) == len(worst.Steps) {
			pv.Worst = true
		}
		for i, s := range p.Steps {
			pv.Steps = append(pv.Steps, StepView{N: i + 1, From: s.From, To: s.To, Kind: string(s.Kind), Family: EdgeFamily(s.Kind),
				Likelihood: s.Likelihood, Unknown: s.Unknown, Reason: s.Reason, Evidence: evidenceStrings(s.Evidence),
				Technique: s.Technique, Weakened: s.Weakened, Fixes: fixSummaries(s.Fixes)})
		}
		out = append(out, pv)
	}
	if len(out) > 0 && worst == nil {
		out[0].Worst = true
	}
	return out
}

// SevCounts are an image's (or a workload's) findings by severity, for the
// "sev" definition. Known is false when some of it could not be checked:
// the counts are then a floor, not the whole.
type SevCounts struct {
	C, H, M, L, Other, KEV, Fixable int
	Known                           bool
}

// NewSevCounts counts from a total and its split by severity level
// ("critical", "high", "medium", "low"; the rest is Other).
func NewSevCounts(total int, bySeverity map[string]int, kev, fixable int, known bool) SevCounts {
	n := SevCounts{Known: known, C: bySeverity["critical"], H: bySeverity["high"], M: bySeverity["medium"], L: bySeverity["low"], KEV: kev, Fixable: fixable}
	n.Other = total - n.C - n.H - n.M - n.L
	return n
}

// Add sums two counts; the sum is known only when both are.
func (c SevCounts) Add(o SevCounts) SevCounts {
	return SevCounts{C: c.C + o.C, H: c.H + o.H, M: c.M + o.M, L: c.L + o.L, Other: c.Other + o.Other,
		KEV: c.KEV + o.KEV, Fixable: c.Fixable + o.Fixable, Known: c.Known && o.Known}
}

// Highlight is one posture fact worth a glance, rated.
type Highlight struct {
	Text  string
	Class string // bad, warn, good, unknown
	Title string // the reason, on hover
}

// PostureHighlights picks the isolation facts of a container worth a
// glance: privileged, root, added capabilities, host namespaces and paths,
// runtime sockets, seccomp, user namespaces, sandboxed runtimes, read-only
// root, the Pod Security level and each escape's verdict. A nil profile is
// one highlight: posture unknown.
func PostureHighlights(p *posture.Profile) []Highlight {
	if p == nil {
		return []Highlight{{Text: "posture unknown", Class: "unknown", Title: "the container's isolation profile could not be built"}}
	}
	var h []Highlight
	add := func(cond bool, text, class, title string) {
		if cond {
			h = append(h, Highlight{Text: text, Class: class, Title: title})
		}
	}
	add(p.Privileged, "privileged", "bad", "securityContext.privileged: every capability and device, no confinement")
	switch p.RunsAsRoot {
	case posture.Yes:
		add(true, "runs as root", "bad", p.RunsAsRootReason)
	case posture.No:
		add(true, "non-root", "good", p.RunsAsRootReason)
	default:
		add(true, "root: unknown", "unknown", p.RunsAsRootReason)
	}
	add(len(p.Capabilities.BeyondDefault) > 0 && !p.Privileged, "caps +"+strings.Join(p.Capabilities.BeyondDefault, ","), "bad", "capabilities beyond the runtime's default set")
	add(p.AllowPrivilegeEscalation && !p.Privileged, "privilege escalation allowed", "warn", "allowPrivilegeEscalation is not false: setuid binaries can gain privileges")
	add(p.HostNetwork, "hostNetwork", "bad", "shares the node's network namespace")
	add(p.HostPID, "hostPID", "bad", "shares the node's process namespace")
	add(p.HostIPC, "hostIPC", "bad", "shares the node's IPC namespace")
	for _, m := range p.HostPaths {
		class := "warn"
		if m.Risk.AtLeast(posture.RiskHigh) {
			class = "bad"
		}
		rw := "rw"
		if m.ReadOnly {
			rw = "ro"
		}
		add(true, "hostPath "+m.Path+" ("+rw+")", class, m.Reason)
	}
	for _, s := range p.RuntimeSockets {
		add(true, "runtime socket "+s, "bad", "the container runtime's socket: start a privileged container on the node")
	}
	seccompClass := "good"
	if p.Seccomp.Confined == posture.No {
		seccompClass = "bad"
	} else if p.Seccomp.Confined == posture.Unknown {
		seccompClass = "unknown"
	}
	add(true, "seccomp "+p.Seccomp.Profile, seccompClass, p.Seccomp.Reason)
	add(!p.HostUsers, "user namespace", "good", "hostUsers: false: container root is an unprivileged user on the node")
	add(p.RuntimeClass.Sandboxed == posture.Yes, "sandboxed runtime "+p.RuntimeClass.Handler, "good", p.RuntimeClass.Reason)
	add(p.ReadOnlyRootFilesystem, "read-only root", "good", "readOnlyRootFilesystem: true")
	if lvl := p.PodSecurity.Level; lvl != "" {
		class := map[string]string{"restricted": "good", "baseline": "warn", "privileged": "bad"}[lvl]
		add(true, "Pod Security "+lvl, class, "the most restrictive Pod Security level this container meets")
	}
	for _, e := range p.Escapes {
		class := map[posture.Verdict]string{posture.Open: "bad", posture.Weakened: "warn", posture.Blocked: "good"}[e.Verdict]
		add(true, "escape: "+e.Title+" ("+string(e.Verdict)+")", class, e.Reason)
	}
	return h
}

// FindingView is one finding as a row of a findings table.
type FindingView struct {
	ID       string
	Aliases  string
	Package  string
	Version  string
	Fixed    string // the fixed versions, or the fix state when there is none
	Severity string
	KEV      bool
	Summary  string
}

// FindingViews lists findings for a table: KEV first, then by severity,
// suppressed ones left out, at most max (more counts the rest).
func FindingViews(fs []match.Finding, max int) (views []FindingView, more int) {
	fs = slices.Clone(fs)
	slices.SortStableFunc(fs, func(a, b match.Finding) int {
		if (a.KEV != nil) != (b.KEV != nil) {
			if a.KEV != nil {
				return -1
			}
			return 1
		}
		return b.Severity.Level.Rank() - a.Severity.Level.Rank()
	})
	for _, f := range fs {
		if f.Suppressed != nil {
			continue
		}
		if len(views) == max {
			more++
			continue
		}
		fv := FindingView{ID: f.ID, Aliases: strings.Join(f.Aliases, ", "), Version: f.Installed,
			Fixed: strings.Join(f.Fixed, ", "), Severity: string(f.Severity.Level), KEV: f.KEV != nil, Summary: f.Summary}
		if f.Package != nil {
			fv.Package = f.Package.Name
		}
		if fv.Fixed == "" {
			fv.Fixed = string(f.FixState)
		}
		views = append(views, fv)
	}
	return views, more
}
