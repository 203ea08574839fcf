package report

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/internal/version"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/posture"
)

// The page's assets: the template, its style and script, and the vendored
// cytoscape.js build (see html/vendor/README.md). All are inlined: the page
// needs no network at view time.
//
//go:embed html/report.html.tmpl html/report.css html/report.js html/vendor/cytoscape.min.js
var htmlAssets embed.FS

// Bounds that keep a report of a large cluster readable and its size sane.
const (
	// MaxPictures is the number of workloads (the riskiest) whose blast
	// radius is drawn; the paths of every workload are listed as text.
	MaxPictures = 100
	// maxFindingsListed bounds the findings listed per image (the JSON
	// output has them all).
	maxFindingsListed = 200
)

// HTMLOption configures WriteHTML.
type HTMLOption func(*htmlOptions)

type htmlOptions struct {
	database string
}

// WithDatabase names the vulnerability database the assessment was matched
// against ("sample (37 advisories)"), for the page's header.
func WithDatabase(label string) HTMLOption {
	return func(o *htmlOptions) { o.database = label }
}

// WriteHTML writes a as one self-contained HTML page: a summary, the ranked
// workloads, the changes that cut the most risk, KEV findings on exposed
// paths, runtime alerts, what could not be established, and per workload its
// containers and a picture of its blast radius (each step's reason and
// evidence on hover or click). Every value from the cluster or its images is
// escaped by html/template; the pictures' data is embedded as JSON and drawn
// by the inlined cytoscape.js. A Content-Security-Policy allows only the
// page's own two scripts and no network access. Tables read without
// JavaScript; the pictures need it, and list their paths as text too.
func WriteHTML(w io.Writer, a *assess.Assessment, opts ...HTMLOption) error {
	var o htmlOptions
	for _, opt := range opts {
		opt(&o)
	}
	t, err := htmlTemplate()
	if err != nil {
		return err
	}
	p, err := newHTMLPage(a, o)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return fmt.Errorf("render HTML report: %w", err)
	}
	_, err = w.Write(b.Bytes())
	return err
}

var scriptCloser = regexp.MustCompile(`(?i)</script|<!--|<script`)

// htmlScripts reads the two inlined scripts and refuses any that could end
// the <script> element it is inlined into.
func htmlScripts() (cytoscape, app string, err error) {
	for _, f := range []struct {
		name string
		dst  *string
	}{{"html/vendor/cytoscape.min.js", &cytoscape}, {"html/report.js", &app}} {
		b, err := htmlAssets.ReadFile(f.name)
		if err != nil {
			return "", "", err
		}
		if scriptCloser.Match(b) {
			return "", "", fmt.Errorf("report: %s contains </script, <script or <!--: it cannot be inlined", f.name)
		}
		*f.dst = string(b)
	}
	return cytoscape, app, nil
}

func htmlTemplate() (*template.Template, error) {
	src, err := htmlAssets.ReadFile("html/report.html.tmpl")
	if err != nil {
		return nil, err
	}
	return template.New("report").Funcs(template.FuncMap{
		"f2":     func(f float64) string { return fmt.Sprintf("%.2f", f) },
		"f1":     func(f float64) string { return fmt.Sprintf("%.1f", f) },
		"pct":    func(f float64) string { return fmt.Sprintf("%.0f%%", 100*clamp01(f)) },
		"short":  shortDigestHTML,
		"plural": pluralHTML,
		"join":   strings.Join,
		"add":    func(a, b int) int { return a + b },
	}).Parse(string(src))
}

// htmlPage is what the template renders.
type htmlPage struct {
	Title      string
	Source     string
	Generated  string
	Database   string
	Schema     string
	Tool       string
	Stats      assess.Stats
	ExposedKEV []kevRow
	KEVTotal   int
	Unknowns   []unknownRow
	Rows       []rankRow
	Workloads  []workloadView
	Cuts       []assess.Cut
	Alerts     []alertView
	Images     []imageView
	Omitted    int // workloads beyond MaxPictures, not drawn
	MaxDrawn   int
	// Pictures is the data of every drawn picture, embedded as JSON.
	Pictures []picture
	// Scripts, inlined verbatim, and the CSP that allows exactly them.
	Cytoscape template.JS
	App       template.JS
	CSS       template.CSS
	CSP       string
}

type rankRow struct {
	Rank        int
	Anchor      string
	Workload    string
	Kind        string
	Score       float64
	ScoreWidth  string // CSS width of the risk bar
	Hit         float64
	HitUnknown  bool
	Impact      float64
	Exposure    string
	C, H, M, L  int
	KEV         int
	VulnUnknown bool
	WorstPath   string
	PathUnknown bool
	Compromised bool
}

type workloadView struct {
	Rank       int
	Anchor     string
	Subject    *assess.Subject
	Containers []containerView
	// Picture is the DOM id of the blast-radius picture ("" when not drawn).
	Picture   string
	PicLabel  string
	NoPicture string // why there is none
	Paths     []pathView
	BR        *assess.BlastRadius
	Entry     string
}

type containerView struct {
	C          *assess.Container
	Entry      bool
	Image      *assess.Image
	Counts     sevCounts
	Highlights []highlight
	Unknowns   []string
}

type sevCounts struct {
	C, H, M, L, Other, KEV, Fixable int
	Known                           bool
}

// highlight is one posture fact worth a glance, rated.
type highlight struct {
	Text  string
	Class string // bad, warn, good, unknown
	Title string // the reason, on hover
}

type pathView struct {
	To         string
	Likelihood float64
	Unknown    bool
	Worst      bool
	Steps      []stepView
}

type stepView struct {
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

type kevRow struct {
	assess.ExposedKEV
	Anchor string
	Itself bool
}

type unknownRow struct {
	Where  string
	Anchor string
	What   string
}

type alertView struct {
	R         *assess.AlertResult
	Anchor    string
	Picture   string
	PicLabel  string
	Paths     []pathView
	Container string
}

type imageView struct {
	I        *assess.Image
	Anchor   string
	Counts   sevCounts
	Findings []findingView
	More     int
}

type findingView struct {
	ID       string
	Aliases  string
	Package  string
	Version  string
	Fixed    string
	Severity string
	KEV      bool
	Summary  string
}

// picture is one blast-radius drawing, as JSON for the page's script.
type picture struct {
	ID    string    `json:"id"`
	Root  string    `json:"root"`
	Nodes []picNode `json:"nodes"`
	Edges []picEdge `json:"edges"`
}

type picNode struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Role is entry (the container the picture starts from), alert (the
	// runtime alert), critical (a critical asset) or step.
	Role     string `json:"role"`
	Critical string `json:"critical,omitempty"`
}

type picEdge struct {
	ID         string   `json:"id"`
	Source     string   `json:"source"`
	Target     string   `json:"target"`
	From       string   `json:"from"`
	To         string   `json:"to"`
	Kind       string   `json:"kind"`
	Family     string   `json:"family"`
	Likelihood float64  `json:"likelihood"`
	Unknown    bool     `json:"unknown"`
	Reason     string   `json:"reason"`
	Evidence   []string `json:"evidence,omitempty"`
	Technique  string   `json:"technique,omitempty"`
	Weakened   []string `json:"weakened,omitempty"`
	Fixes      []string `json:"fixes,omitempty"`
}

func newHTMLPage(a *assess.Assessment, o htmlOptions) (*htmlPage, error) {
	cy, app, err := htmlScripts()
	if err != nil {
		return nil, err
	}
	css, err := htmlAssets.ReadFile("html/report.css")
	if err != nil {
		return nil, err
	}
	p := &htmlPage{
		Title:     "credence assessment: " + a.Source,
		Source:    a.Source,
		Database:  o.database,
		Schema:    a.Version,
		Tool:      "credence " + version.Get().Version,
		Stats:     a.Stats,
		Cytoscape: template.JS(cy),
		App:       template.JS(app),
		CSS:       template.CSS(css),
		Pictures:  []picture{},
		MaxDrawn:  MaxPictures,
		CSP: "default-src 'none'; script-src " + cspHash(cy) + " " + cspHash(app) +
			"; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'",
	}
	if !a.Generated.IsZero() {
		p.Generated = a.Generated.UTC().Format(time.RFC3339)
	}
	byDigest := map[string]*assess.Image{}
	for i, img := range a.Images {
		byDigest[img.Digest] = img
		p.Images = append(p.Images, newImageView(img, i))
	}
	imageAnchor := map[string]string{}
	for _, iv := range p.Images {
		imageAnchor[iv.I.Digest] = iv.Anchor
	}
	anchorOf := map[string]string{} // workload ref -> anchor
	for i := range a.Subjects {
		s := &a.Subjects[i]
		anchor := fmt.Sprintf("w%d", i+1)
		if _, ok := anchorOf[s.Workload.Ref()]; !ok {
			anchorOf[s.Workload.Ref()] = anchor
		}
		row, wv := newWorkload(s, i+1, anchor, byDigest)
		p.Rows = append(p.Rows, row)
		if wv.BR != nil && len(wv.Paths) > 0 {
			if i < MaxPictures {
				wv.Picture = "pic-" + anchor
				wv.PicLabel = fmt.Sprintf("Blast radius of %s/%s from container %s", s.Workload.Namespace, s.Workload.Name, wv.Entry)
				p.Pictures = append(p.Pictures, newPicture(wv.Picture, wv.BR.Paths, wv.BR.Path, wv.BR.Assets, ""))
			} else {
				// Past the riskiest, keep the worst path only: the page of a
				// large cluster stays a sane size (-o json has them all).
				wv.NoPicture = fmt.Sprintf("Not drawn: only the %d riskiest workloads are. The worst path is listed below; -o json has all %d.", MaxPictures, len(wv.Paths))
				wv.Paths = worstOnly(wv.Paths)
				p.Omitted++
			}
		}
		p.Workloads = append(p.Workloads, wv)
	}
	for _, k := range a.ExposedKEV {
		p.ExposedKEV = append(p.ExposedKEV, kevRow{ExposedKEV: k, Anchor: anchorOf[k.Workload], Itself: k.Via == k.Workload+"/"+k.Container})
	}
	for _, img := range a.Images {
		p.KEVTotal += img.Counts.KEV
	}
	for _, u := range a.Unknowns {
		p.Unknowns = append(p.Unknowns, unknownRow{Where: "cluster", What: u})
	}
	for i := range a.Subjects {
		s := &a.Subjects[i]
		for _, u := range s.Unknowns {
			p.Unknowns = append(p.Unknowns, unknownRow{Where: s.Workload.Ref(), Anchor: anchorOf[s.Workload.Ref()], What: u})
		}
	}
	p.Cuts = a.Cuts
	for i := range a.Alerts {
		r := &a.Alerts[i]
		av := alertView{R: r, Anchor: anchorOf[r.Workload], Container: strings.TrimPrefix(r.Container, "container:")}
		if br := r.BlastRadius; br != nil && len(br.Paths) > 0 {
			av.Paths = pathViews(br.Paths, nil)
			av.Picture = fmt.Sprintf("pic-alert%d", i+1)
			av.PicLabel = fmt.Sprintf("What falls from container %s after runtime alert %q", av.Container, r.Alert.Rule)
			p.Pictures = append(p.Pictures, newPicture(av.Picture, br.Paths, nil, br.Assets, br.From))
		}
		p.Alerts = append(p.Alerts, av)
	}
	return p, nil
}

func worstOnly(paths []pathView) []pathView {
	for _, p := range paths {
		if p.Worst {
			return []pathView{p}
		}
	}
	return paths[:1]
}

// cspHash is the CSP source expression allowing an inline script.
func cspHash(script string) string {
	h := sha256.Sum256([]byte(script))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}

func newWorkload(s *assess.Subject, rank int, anchor string, byDigest map[string]*assess.Image) (rankRow, workloadView) {
	row := rankRow{Rank: rank, Anchor: anchor, Workload: s.Workload.Namespace + "/" + s.Workload.Name, Kind: s.Workload.Kind,
		Score: s.Risk.Score, ScoreWidth: fmt.Sprintf("%.0f%%", min(100, max(0, s.Risk.Score))),
		Hit: s.Risk.Likelihood, HitUnknown: s.Risk.Unknown, Impact: s.Risk.Impact, Exposure: "none", WorstPath: "no critical asset reached"}
	wv := workloadView{Rank: rank, Anchor: anchor, Subject: s, Entry: s.Risk.Entry}
	for i := range s.Containers {
		c := &s.Containers[i]
		cv := containerView{C: c, Entry: c.Name == s.Risk.Entry, Image: byDigest[c.Image.Digest]}
		cv.Counts = countsOf(cv.Image)
		if !cv.Counts.Known {
			row.VulnUnknown = true
		}
		row.C += cv.Counts.C
		row.H += cv.Counts.H
		row.M += cv.Counts.M
		row.L += cv.Counts.L
		row.KEV += cv.Counts.KEV
		if c.Compromised != nil {
			row.Compromised = true
		}
		cv.Highlights = postureHighlights(c.Posture)
		if c.Posture != nil {
			cv.Unknowns = append(cv.Unknowns, c.Posture.Unknowns...)
		}
		if c.BlastRadius != nil {
			cv.Unknowns = append(cv.Unknowns, c.BlastRadius.Unknowns...)
		}
		if cv.Entry {
			row.Exposure = c.Exposure.Level
			wv.BR = c.BlastRadius
			if br := c.BlastRadius; br != nil && br.Path != nil {
				row.WorstPath = fmt.Sprintf("%d step%s to %s (%.2f)", len(br.Path.Steps), pluralHTML(len(br.Path.Steps)), br.Path.To, br.Path.Likelihood)
				row.PathUnknown = br.Path.Unknown
			}
		}
		wv.Containers = append(wv.Containers, cv)
	}
	if wv.BR != nil {
		paths := wv.BR.Paths
		if len(paths) == 0 && wv.BR.Path != nil {
			paths = []graph.Path{*wv.BR.Path}
		}
		wv.Paths = pathViews(paths, wv.BR.Path)
	}
	return row, wv
}

func countsOf(img *assess.Image) sevCounts {
	if img == nil || img.Status != assess.Scanned {
		return sevCounts{}
	}
	c := img.Counts
	n := sevCounts{Known: len(img.Unchecked) == 0, C: c.BySeverity["critical"], H: c.BySeverity["high"],
		M: c.BySeverity["medium"], L: c.BySeverity["low"], KEV: c.KEV, Fixable: c.Fixable}
	n.Other = c.Findings - n.C - n.H - n.M - n.L
	return n
}

func pathViews(paths []graph.Path, worst *graph.Path) []pathView {
	var out []pathView
	for _, p := range paths {
		pv := pathView{To: p.To, Likelihood: p.Likelihood, Unknown: p.Unknown}
		if worst != nil && p.To == worst.To && len(p.Steps) == len(worst.Steps) {
			pv.Worst = true
		}
		for i, s := range p.Steps {
			pv.Steps = append(pv.Steps, stepView{N: i + 1, From: s.From, To: s.To, Kind: string(s.Kind), Family: edgeFamily(s.Kind),
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

// newPicture draws the union of paths (or the one path): each distinct
// node name once, each distinct step (from, to, kind) once. root names the
// start when the paths do not begin there (an alert's container).
func newPicture(id string, paths []graph.Path, one *graph.Path, assets []graph.Asset, start string) picture {
	if len(paths) == 0 && one != nil {
		paths = []graph.Path{*one}
	}
	pic := picture{ID: id, Nodes: []picNode{}, Edges: []picEdge{}}
	critical := map[string]string{}
	for _, a := range assets {
		critical[a.Name] = a.Critical
	}
	for _, p := range paths {
		if _, ok := critical[p.To]; !ok {
			critical[p.To] = "reached"
		}
	}
	index := map[string]int{} // node name -> index in pic.Nodes
	node := func(name string) int {
		if i, ok := index[name]; ok {
			return i
		}
		n := picNode{ID: fmt.Sprintf("n%d", len(pic.Nodes)), Name: name, Role: "step"}
		if c, ok := critical[name]; ok {
			n.Role, n.Critical = "critical", c
		}
		index[name] = len(pic.Nodes)
		pic.Nodes = append(pic.Nodes, n)
		return index[name]
	}
	seen := map[string]bool{}
	for _, p := range paths {
		for i, s := range p.Steps {
			from, to := node(s.From), node(s.To)
			if i == 0 && pic.Root == "" {
				pic.Root = pic.Nodes[from].ID
				pic.Nodes[from].Role = "entry"
				if s.Kind == "ALERT" {
					pic.Nodes[from].Role = "alert"
				}
			}
			key := s.From + "\x00" + s.To + "\x00" + string(s.Kind)
			if seen[key] {
				continue
			}
			seen[key] = true
			pic.Edges = append(pic.Edges, picEdge{ID: fmt.Sprintf("e%d", len(pic.Edges)), Source: pic.Nodes[from].ID, Target: pic.Nodes[to].ID,
				From: s.From, To: s.To, Kind: string(s.Kind), Family: edgeFamily(s.Kind), Likelihood: s.Likelihood, Unknown: s.Unknown,
				Reason: s.Reason, Evidence: evidenceStrings(s.Evidence), Technique: s.Technique, Weakened: s.Weakened, Fixes: fixSummaries(s.Fixes)})
		}
	}
	if i, ok := index[start]; ok && start != "" && pic.Nodes[i].Role != "critical" {
		pic.Nodes[i].Role = "compromised"
	}
	return pic
}

// edgeFamily groups edge kinds for the picture's colours.
func edgeFamily(k graph.EdgeKind) string {
	s := string(k)
	switch {
	case k == graph.EdgeUnknown:
		return "unknown"
	case s == "ALERT":
		return "alert"
	case strings.HasPrefix(s, "NET_") || k == graph.EdgeSamePod:
		return "network"
	case k == graph.EdgeTokenSteal || k == graph.EdgeSecretMount || k == graph.EdgeSecretToken || k == graph.EdgeRBACToken:
		return "token"
	case strings.HasPrefix(s, "RBAC_") || k == graph.EdgeScopeMember:
		return "rbac"
	case k == graph.EdgeEscape || k == graph.EdgeHostNetwork || k == graph.EdgeColocated:
		return "escape"
	case k == graph.EdgeSharedNS || k == graph.EdgeSharedVol:
		return "shared"
	}
	return "other"
}

func evidenceStrings(ev []graph.Evidence) []string {
	var out []string
	for _, e := range ev {
		out = append(out, e.String())
	}
	return out
}

func fixSummaries(fs []graph.Fix) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Summary)
	}
	return out
}

// postureHighlights picks the isolation facts worth a glance.
func postureHighlights(p *posture.Profile) []highlight {
	if p == nil {
		return []highlight{{Text: "posture unknown", Class: "unknown", Title: "the container's isolation profile could not be built"}}
	}
	var h []highlight
	add := func(cond bool, text, class, title string) {
		if cond {
			h = append(h, highlight{Text: text, Class: class, Title: title})
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

func newImageView(img *assess.Image, i int) imageView {
	iv := imageView{I: img, Anchor: fmt.Sprintf("img%d", i+1), Counts: countsOf(img)}
	fs := slices.Clone(img.Findings)
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
		if len(iv.Findings) == maxFindingsListed {
			iv.More++
			continue
		}
		fv := findingView{ID: f.ID, Aliases: strings.Join(f.Aliases, ", "), Version: f.Installed,
			Fixed: strings.Join(f.Fixed, ", "), Severity: string(f.Severity.Level), KEV: f.KEV != nil, Summary: f.Summary}
		if f.Package != nil {
			fv.Package = f.Package.Name
		}
		if fv.Fixed == "" {
			fv.Fixed = string(f.FixState)
		}
		iv.Findings = append(iv.Findings, fv)
	}
	return iv
}

func shortDigestHTML(d string) string {
	if strings.HasPrefix(d, "sha256:") && len(d) > 19 {
		return d[:19]
	}
	return d
}

func pluralHTML(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func clamp01(f float64) float64 { return min(1, max(0, f)) }
