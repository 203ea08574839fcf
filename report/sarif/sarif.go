// Package sarif writes SARIF 2.1.0 logs for code scanning dashboards: the
// object model credence's reports share, and the log of one image's findings.
package sarif

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/credence-dev/credence/internal/version"
	"github.com/credence-dev/credence/match"
)

// Image is what an image's log describes: one scanned image, its
// findings, and the packages that could not be checked.
type Image struct {
	ImageRef string
	ImageID  string
	Findings []match.Finding
	Coverage match.Coverage
	// ToolVersion defaults to the running binary's version.
	ToolVersion string
}

// SARIF 2.1.0 object model (the subset credence writes).
type Log struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []Run  `json:"runs"`
}

type Run struct {
	Tool        Tool         `json:"tool"`
	Invocations []Invocation `json:"invocations,omitempty"`
	Results     []Result     `json:"results"`
	// Properties of the run: the scanned image.
	Properties map[string]any `json:"properties,omitempty"`
}

type Tool struct {
	Driver Driver `json:"driver"`
}

type Driver struct {
	Name           string `json:"name"`
	Version        string `json:"version,omitempty"`
	InformationURI string `json:"informationUri,omitempty"`
	Rules          []Rule `json:"rules"`
}

type Message struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type Rule struct {
	ID               string         `json:"id"`
	Name             string         `json:"name,omitempty"`
	ShortDescription Message        `json:"shortDescription"`
	FullDescription  *Message       `json:"fullDescription,omitempty"`
	HelpURI          string         `json:"helpUri,omitempty"`
	Help             *Message       `json:"help,omitempty"`
	Properties       map[string]any `json:"properties,omitempty"`
}

// Invocation says how the run went; its notifications carry what
// could not be checked.
type Invocation struct {
	ExecutionSuccessful        bool           `json:"executionSuccessful"`
	ToolExecutionNotifications []Notification `json:"toolExecutionNotifications,omitempty"`
}

type Notification struct {
	Level   string  `json:"level"`
	Message Message `json:"message"`
}

type Result struct {
	RuleID    string `json:"ruleId"`
	RuleIndex int    `json:"ruleIndex"`
	// Kind is "open" for a package that could not be checked (SARIF
	// 2.1.0 §3.27.9: the tool could not decide); absent means "fail".
	Kind         string        `json:"kind,omitempty"`
	Level        string        `json:"level"`
	Message      Message       `json:"message"`
	Locations    []Location    `json:"locations,omitempty"`
	Suppressions []Suppression `json:"suppressions,omitempty"`
	// PartialFingerprints keep a result's identity across runs.
	PartialFingerprints map[string]string `json:"partialFingerprints,omitempty"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type Location struct {
	PhysicalLocation *PhysicalLocation `json:"physicalLocation,omitempty"`
	LogicalLocations []LogicalLocation `json:"logicalLocations,omitempty"`
}

// LogicalLocation names a location that is not a file: a workload, a container.
type LogicalLocation struct {
	Name               string `json:"name,omitempty"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind,omitempty"`
}

type PhysicalLocation struct {
	ArtifactLocation ArtifactLocation `json:"artifactLocation"`
}

type ArtifactLocation struct {
	URI string `json:"uri"`
}

type Suppression struct {
	Kind          string `json:"kind"`
	Status        string `json:"status,omitempty"`
	Justification string `json:"justification,omitempty"`
}

// levelOf maps severity to SARIF result levels.
func levelOf(l match.Level) string {
	switch l {
	case match.Critical, match.High:
		return "error"
	case match.Medium:
		return "warning"
	}
	return "note"
}

// WriteImage writes an image's SARIF 2.1.0 log: one rule per vulnerability id, one
// result per (vulnerability, package), located at the package's paths in the
// image. Rules carry "security-severity" (the CVSS score) as code scanning
// dashboards expect; suppressed findings carry an external suppression; a
// partly accepted finding stays an active result at the level of what is
// open, listing what was accepted. A Go finding carries its reachability
// (linked, not linked into the binary, unknown) as a "reachability"
// property, and a not linked one says so in its message; its level is
// still its severity's and it has no suppression: not linked is shown,
// not hidden. Each package that could not be checked is
// a result of kind "open" under a "credence/not-checked/<reason>" rule, and
// each gap a notification of the run's invocation.
func WriteImage(w io.Writer, in Image) error {
	run := Run{
		Tool:       Credence(in.ToolVersion, []Rule{}),
		Results:    []Result{},
		Properties: map[string]any{"image": in.ImageRef, "imageID": in.ImageID},
	}
	ruleIndex := map[string]int{}
	for _, f := range in.Findings {
		idx, ok := ruleIndex[f.ID]
		if !ok {
			idx = len(run.Tool.Driver.Rules)
			ruleIndex[f.ID] = idx
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rule(f))
		}
		pkg := match.CanonicalName(f.Package)
		msg := fmt.Sprintf("%s %s is affected by %s", pkg, f.Installed, f.ID)
		if f.Summary != "" {
			msg += ": " + f.Summary
		}
		switch f.FixState {
		case match.NoFixYet:
			msg += ". No fix yet."
		case match.FixPartial:
			msg += ". Fixed in " + strings.Join(f.Fixed, ", ") + " for some of it; part has no fix yet."
		default:
			msg += ". Fixed in " + strings.Join(f.Fixed, ", ") + "."
		}
		level := levelOf(f.Severity.Level)
		var accepted []map[string]string
		var open []string
		for _, v := range f.Vulnerabilities {
			if v.Suppressed != nil {
				accepted = append(accepted, map[string]string{"id": v.ID, "reason": v.Suppressed.Reason, "rule": v.Suppressed.RuleID})
			} else {
				open = append(open, v.ID)
			}
		}
		if f.Suppressed == nil && len(accepted) > 0 {
			level = levelOf(f.OpenSeverity().Level)
			var ids []string
			for _, a := range accepted {
				ids = append(ids, a["id"])
			}
			msg += " Accepted: " + strings.Join(ids, ", ") + "; still open: " + strings.Join(open, ", ") + "."
		}
		if f.KEV != nil {
			msg += " Known exploited (CISA KEV, added " + f.KEV.DateAdded + ")."
		}
		if f.NotLinked() {
			msg += " Not linked into the binary: " + f.Reachability.Reason + "."
		}
		res := Result{
			RuleID: f.ID, RuleIndex: idx, Level: level,
			Message:             Message{Text: msg},
			PartialFingerprints: map[string]string{"credence/v1": f.ID + "|" + f.Package.PURL + "|" + strings.Join(f.Package.Locations, ",")},
			Properties: map[string]any{
				"package": pkg, "installedVersion": f.Installed, "ecosystem": f.Package.Ecosystem, "purl": f.Package.PURL,
				"fixedVersions": f.Fixed, "fixState": string(f.FixState), "severity": string(f.Severity.Level), "aliases": f.Aliases,
			},
		}
		if f.Package.Layer != nil {
			res.Properties["layer"] = f.Package.Layer.Index
			res.Properties["layerDigest"] = cmpOr(f.Package.Layer.Digest, f.Package.Layer.DiffID)
		}
		if f.KEV != nil {
			res.Properties["kev"] = f.KEV
		}
		if len(accepted) > 0 {
			res.Properties["acceptedVulnerabilities"] = accepted
			res.Properties["openVulnerabilities"] = open
		}
		if len(f.RelatedKEV) > 0 {
			res.Properties["relatedKEV"] = f.RelatedKEV
		}
		if f.EPSS != nil {
			res.Properties["epss"] = f.EPSS
		}
		if f.Reachability != nil {
			// The level stays the severity's: not linked is evidence to
			// weigh, shown, never a suppression or a lower level.
			res.Properties["reachability"] = f.Reachability
		}
		for _, loc := range f.Package.Locations {
			res.Locations = append(res.Locations, Location{PhysicalLocation: &PhysicalLocation{ArtifactLocation: ArtifactLocation{URI: uriPath(loc)}}})
		}
		if f.Suppressed != nil {
			res.Suppressions = []Suppression{{Kind: "external", Status: "accepted", Justification: f.Suppressed.Reason}}
		}
		run.Results = append(run.Results, res)
	}
	addCoverage(&run, in.Coverage)
	return Write(w, run)
}

// Credence is the tool of a run: credence at toolVersion (the running
// binary's when empty), with rules.
func Credence(toolVersion string, rules []Rule) Tool {
	if toolVersion == "" {
		toolVersion = version.Get().Version
	}
	return Tool{Driver: Driver{Name: "credence", Version: toolVersion, InformationURI: "https://github.com/credence-dev/credence", Rules: rules}}
}

// Write writes a SARIF 2.1.0 log of runs, indented, with "<", ">" and "&"
// kept as they are.
func Write(w io.Writer, runs ...Run) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(Log{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: runs})
}

func rule(f match.Finding) Rule {
	short := f.Summary
	if short == "" {
		short = f.ID
	}
	r := Rule{ID: f.ID, ShortDescription: Message{Text: short}, Properties: map[string]any{"tags": []string{"security", "vulnerability"}}}
	if len(f.References) > 0 {
		r.HelpURI = f.References[0]
	}
	help := f.ID
	if len(f.Aliases) > 0 {
		help += " (also " + strings.Join(f.Aliases, ", ") + ")"
	}
	r.Help = &Message{Text: help}
	if f.Severity.Score > 0 {
		r.Properties["security-severity"] = strconv.FormatFloat(f.Severity.Score, 'f', 1, 64)
	} else if s, ok := levelScore[f.Severity.Level]; ok {
		r.Properties["security-severity"] = s
	}
	if f.Severity.Vector != "" {
		r.Properties["cvssVector"] = f.Severity.Vector
	}
	if slices.Contains(f.CVEs(), f.ID) {
		r.Name = f.ID
	}
	return r
}

// levelScore stands in for a CVSS score when only a rating is known, at the
// bottom of the rating's CVSS band.
var levelScore = map[match.Level]string{match.Critical: "9.0", match.High: "7.0", match.Medium: "4.0", match.Low: "0.1"}

func uriPath(p string) string {
	// Paths inside nested archives ("a.jar!/b.jar") keep the outer file.
	p, _, _ = strings.Cut(p, "!")
	return strings.ReplaceAll(strings.TrimPrefix(p, "/"), " ", "%20")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// addCoverage adds the packages that could not be checked: one rule per
// reason, one "open" result per package, one notification per gap.
func addCoverage(run *Run, c match.Coverage) {
	inv := Invocation{ExecutionSuccessful: true}
	for _, g := range c.Gaps {
		id := "credence/not-checked/" + string(g.Reason)
		idx := -1
		for i, r := range run.Tool.Driver.Rules {
			if r.ID == id {
				idx = i
			}
		}
		if idx < 0 {
			idx = len(run.Tool.Driver.Rules)
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, Rule{ID: id, Name: "NotChecked",
				ShortDescription: Message{Text: "Packages credence could not check for vulnerabilities (" + string(g.Reason) + "): unknown, not clean"},
				Properties:       map[string]any{"tags": []string{"security", "coverage"}}})
		}
		names := make([]string, 0, len(g.Packages))
		for _, p := range g.Packages {
			pkg := match.CanonicalName(p)
			names = append(names, pkg+" "+p.Version)
			res := Result{RuleID: id, RuleIndex: idx, Kind: "open", Level: "none",
				Message:             Message{Text: pkg + " " + p.Version + " could not be checked: " + g.Detail + "."},
				PartialFingerprints: map[string]string{"credence/v1": id + "|" + p.PURL + "|" + strings.Join(p.Locations, ",")},
				Properties:          map[string]any{"package": pkg, "installedVersion": p.Version, "ecosystem": g.Ecosystem, "purl": p.PURL, "reason": string(g.Reason)}}
			for _, loc := range p.Locations {
				res.Locations = append(res.Locations, Location{PhysicalLocation: &PhysicalLocation{ArtifactLocation: ArtifactLocation{URI: uriPath(loc)}}})
			}
			run.Results = append(run.Results, res)
		}
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, Notification{Level: "error",
			Message: Message{Text: fmt.Sprintf("%d packages not checked (%s): %s: %s", len(g.Packages), g.Reason, g.Detail, strings.Join(names, ", "))}})
	}
	run.Invocations = []Invocation{inv}
}
