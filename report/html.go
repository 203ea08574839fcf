package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/internal/version"
	"github.com/credence-dev/credence/report/htmlkit"
)

// The page's template. Its style, the picture script and the vendored
// cytoscape.js build come from htmlkit (shared with the dashboard); all are
// inlined: the page needs no network at view time.
//
//go:embed html/report.html.tmpl
var reportTemplate string

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

func htmlTemplate() (*template.Template, error) {
	t, err := htmlkit.NewTemplate("report", nil)
	if err != nil {
		return nil, err
	}
	return t.Parse(reportTemplate)
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
	Pictures []htmlkit.Picture
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
	Paths     []htmlkit.PathView
	BR        *assess.BlastRadius
	Entry     string
}

type containerView struct {
	C          *assess.Container
	Entry      bool
	Image      *assess.Image
	Counts     htmlkit.SevCounts
	Highlights []htmlkit.Highlight
	Unknowns   []string
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
	Paths     []htmlkit.PathView
	Container string
}

type imageView struct {
	I        *assess.Image
	Anchor   string
	Counts   htmlkit.SevCounts
	Findings []htmlkit.FindingView
	More     int
}

func newHTMLPage(a *assess.Assessment, o htmlOptions) (*htmlPage, error) {
	scripts, err := htmlkit.PictureScripts()
	if err != nil {
		return nil, err
	}
	cy, app := scripts[0], scripts[1]
	p := &htmlPage{
		Title:     "credence assessment: " + a.Source,
		Source:    a.Source,
		Database:  o.database,
		Schema:    a.Version,
		Tool:      "credence " + version.Get().Version,
		Stats:     a.Stats,
		Cytoscape: cy.JS(),
		App:       app.JS(),
		CSS:       template.CSS(htmlkit.Stylesheet()),
		Pictures:  []htmlkit.Picture{},
		MaxDrawn:  MaxPictures,
		CSP: "default-src 'none'; script-src " + cy.CSPSource() + " " + app.CSPSource() +
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
				p.Pictures = append(p.Pictures, htmlkit.NewPicture(wv.Picture, wv.BR.Paths, wv.BR.Path, wv.BR.Assets, ""))
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
			av.Paths = htmlkit.PathViews(br.Paths, nil)
			av.Picture = fmt.Sprintf("pic-alert%d", i+1)
			av.PicLabel = fmt.Sprintf("What falls from container %s after runtime alert %q", av.Container, r.Alert.Rule)
			p.Pictures = append(p.Pictures, htmlkit.NewPicture(av.Picture, br.Paths, nil, br.Assets, br.From))
		}
		p.Alerts = append(p.Alerts, av)
	}
	return p, nil
}

func worstOnly(paths []htmlkit.PathView) []htmlkit.PathView {
	for _, p := range paths {
		if p.Worst {
			return []htmlkit.PathView{p}
		}
	}
	return paths[:1]
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
		cv.Highlights = htmlkit.PostureHighlights(c.Posture)
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
				row.WorstPath = fmt.Sprintf("%d step%s to %s (%.2f)", len(br.Path.Steps), htmlkit.Plural(len(br.Path.Steps)), br.Path.To, br.Path.Likelihood)
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
		wv.Paths = htmlkit.PathViews(paths, wv.BR.Path)
	}
	return row, wv
}

func countsOf(img *assess.Image) htmlkit.SevCounts {
	if img == nil || img.Status != assess.Scanned {
		return htmlkit.SevCounts{}
	}
	c := img.Counts
	return htmlkit.NewSevCounts(c.Findings, c.BySeverity, c.KEV, c.Fixable, len(img.Unchecked) == 0)
}

func newImageView(img *assess.Image, i int) imageView {
	iv := imageView{I: img, Anchor: fmt.Sprintf("img%d", i+1), Counts: countsOf(img)}
	iv.Findings, iv.More = htmlkit.FindingViews(img.Findings, maxFindingsListed)
	return iv
}
