package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/report/htmlkit"
	"github.com/credence-dev/credence/store"
)

// Bounds that keep a workload's page readable.
const (
	maxFindingsListed = 200 // per image; the API has them all
	maxCuts           = 12
	maxUpgrades       = 8
)

type workloadView struct {
	Chrome
	Key   string
	S     *assess.Subject
	Level string
	// Since is when this version of the Subject began.
	Since when
	// AsOf is set when the page shows the workload as it was then; Gone
	// when it went away (the page then shows its last Subject).
	AsOf       *when
	Gone       *when
	CurrentURL string
	Decision   *decisionView
	Containers []containerView
	Blasts     []blastView
	Pictures   []htmlkit.Picture
	Cuts       []cutView
	MoreCuts   int
	Upgrades   []upgradeView
	UpgradeIn  string
	Images     []imageView
	Unknowns   []unknownView
	// Changes are the workload's own events (first seen, image, spec,
	// risk and decision changes, removal); Advisories its images' finding
	// events while it ran them. Together: its timeline.
	Changes     []eventView
	Advisories  []eventView
	Omitted     int
	Labels      []keyValue
	Annotations []keyValue

	findings map[string][]match.Finding // by digest, as the store returned them
}

type keyValue struct{ Key, Value string }

type decisionView struct {
	Verdict  string
	Since    when
	Decision *policy.Decision // nil when the stored data is not a policy decision
}

type containerView struct {
	C          *assess.Container
	Entry      bool
	ImageURL   string
	Counts     htmlkit.SevCounts
	Matched    bool
	Highlights []htmlkit.Highlight
	Prov       string // chip class of the provenance status
}

type blastView struct {
	Container string
	Entry     bool
	BR        *assess.BlastRadius
	Picture   string // DOM id; "" when there is no path to draw
	PicLabel  string
	Paths     []htmlkit.PathView
}

// cutView is one change that removes steps of this workload's paths.
type cutView struct {
	Summary string
	// Paths it breaks, of All explained paths; Worst when the path the
	// risk score comes from is among them.
	Paths, All int
	Worst      bool
	Targets    []string
	Containers []string
}

// upgradeView is one package upgrade that removes findings from the image
// the risk score's container runs.
type upgradeView struct {
	Package, Installed string
	// Fixed are the fixed versions its findings name (the first few;
	// FixedMore counts the rest), IDs the findings (MoreIDs the rest).
	Fixed                   []string
	FixedMore               int
	Findings, KEV, Critical int
	IDs                     []string
	MoreIDs                 int
}

// Bounds of an upgrade's line.
const (
	maxFixedShown = 3
	maxIDsShown   = 6
)

type imageView struct {
	Digest     string
	URL        string
	Containers []string
	References []string
	// Status: matched, unresolved (no digest), not scanned, or not
	// matched (no committed database version matched it).
	Status    string
	Reason    string
	MatchedAt when
	DBVersion int64
	Counts    htmlkit.SevCounts
	Findings  []htmlkit.FindingView
	More      int
	Unchecked []string
	Undecided int
}

type unknownView struct {
	Where, What string
}

func (h *handler) workload(r *http.Request) (*rendered, error) {
	ctx := r.Context()
	ns, kind, name := r.PathValue("ns"), r.PathValue("kind"), r.PathValue("name")
	key := ns + "/" + kind + "/" + name
	if _, _, _, err := store.ParseWorkloadKey(key); err != nil || len(key) > maxParam {
		return nil, notFound("No workload %s: a workload is namespace/Kind/name.", clip(ns+"/"+kind+"/"+name, 200))
	}
	v := &workloadView{Chrome: h.chrome(ctx, ns+"/"+name+" ("+kind+")"), Key: key, CurrentURL: h.workloadURL(ns, kind, name)}
	var opts []store.ReadOption
	if at := r.URL.Query().Get("at"); at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil || len(at) > 64 {
			return nil, badRequest("The time %q is not RFC 3339 (2026-01-02T15:04:05Z).", at)
		}
		w := h.when(t)
		v.AsOf = &w
		opts = append(opts, store.AsOf(t))
	}
	ss, err := h.src.GetSubject(ctx, key, opts...)
	if errors.Is(err, store.ErrNotFound) {
		ss, err = h.lastSubject(r, key, v)
	}
	if err != nil {
		return nil, err
	}
	s := ss.Subject
	v.S, v.Level, v.Since = s, riskLevel(s.Risk.Score), h.when(ss.ValidFrom)
	if v.Gone != nil || v.AsOf != nil {
		// What the store knew then.
		opts = []store.ReadOption{store.AsOf(ss.ValidTo.Add(-time.Microsecond))}
		if v.AsOf != nil {
			opts = []store.ReadOption{store.AsOf(parseISO(v.AsOf.ISO))}
		}
	}
	v.Labels, v.Annotations = sortedKV(s.Workload.Labels), sortedKV(s.Workload.Annotations)

	if d, err := h.src.GetDecision(ctx, key, opts...); err == nil {
		dv := &decisionView{Verdict: d.Verdict, Since: h.when(d.ValidFrom)}
		var pd policy.Decision
		if json.Unmarshal(d.Data, &pd) == nil && pd.Outcome != "" {
			dv.Decision = &pd
		}
		v.Decision = dv
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}

	images, findings, err := h.images(r, s, opts)
	if err != nil {
		return nil, err
	}
	v.Images, v.findings = images, findings
	byDigest := map[string]*imageView{}
	for i := range images {
		byDigest[images[i].Digest] = &images[i]
	}
	for i := range s.Containers {
		c := &s.Containers[i]
		cv := containerView{C: c, Entry: c.Name == s.Risk.Entry, ImageURL: h.imageURL(c.Image.Digest), Highlights: htmlkit.PostureHighlights(c.Posture)}
		if iv := byDigest[c.Image.Digest]; iv != nil && c.Image.Digest != "" && iv.Status == "matched" {
			cv.Counts, cv.Matched = iv.Counts, true
		}
		cv.Prov = map[assess.EvidenceStatus]string{assess.Verified: "good", assess.Unsigned: "bad", assess.Failed: "bad"}[c.Provenance.Status]
		if cv.Prov == "" {
			cv.Prov = "unknown"
		}
		v.Containers = append(v.Containers, cv)
	}
	v.blasts(s)
	v.Cuts, v.MoreCuts = cutsOf(v.Blasts)
	v.upgrades(s, byDigest)
	v.unknowns(s)
	if len(v.Pictures) > 0 {
		h.withScripts(&v.Chrome)
	}

	ev, err := h.src.WorkloadTimeline(ctx, key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var until time.Time
	if v.AsOf != nil {
		until = parseISO(v.AsOf.ISO)
	}
	// A workload that runs one image: its events need not name it.
	var only string
	if len(v.Images) == 1 {
		only = v.Images[0].Digest
	}
	events, omitted := h.events(ev, key, only, until)
	v.Omitted = omitted
	for _, e := range events {
		if e.Finding != "" {
			v.Advisories = append(v.Advisories, e)
		} else {
			v.Changes = append(v.Changes, e)
		}
	}
	return &rendered{tmpl: "workload", data: v, scripts: len(v.Pictures) > 0}, nil
}

// lastSubject is the Subject of a workload that has none now (it went
// away) or had none at the time asked for: its last one, with the time it
// went away; ErrNotFound (a 404 page) when the store never saw it.
func (h *handler) lastSubject(r *http.Request, key string, v *workloadView) (*store.StoredSubject, error) {
	ctx := r.Context()
	ev, err := h.src.WorkloadTimeline(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("credence has never seen the workload %s.", key)
	}
	if err != nil {
		return nil, err
	}
	if v.AsOf != nil {
		return nil, notFound("%s had no Subject at %s (it was first seen %s).", key, v.AsOf.Text, h.when(ev[0].At).Text)
	}
	var gone time.Time
	for _, e := range ev {
		if e.Kind == store.Removed {
			gone = e.At
		}
	}
	if gone.IsZero() {
		return nil, notFound("%s has no current Subject.", key)
	}
	w := h.when(gone)
	v.Gone = &w
	return h.src.GetSubject(ctx, key, store.AsOf(gone.Add(-time.Microsecond)))
}

func parseISO(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func sortedKV(m map[string]string) []keyValue {
	var out []keyValue
	for k, v := range m {
		out = append(out, keyValue{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// images reads the findings of each distinct image the workload runs.
func (h *handler) images(r *http.Request, s *assess.Subject, opts []store.ReadOption) ([]imageView, map[string][]match.Finding, error) {
	var out []imageView
	findings := map[string][]match.Finding{}
	index := map[string]int{}
	for _, c := range s.Containers {
		d := c.Image.Digest
		key := d
		if d == "" {
			key = "ref:" + c.Image.Reference
		}
		if i, ok := index[key]; ok {
			out[i].Containers = append(out[i].Containers, c.Name)
			if !slices.Contains(out[i].References, c.Image.Reference) {
				out[i].References = append(out[i].References, c.Image.Reference)
			}
			continue
		}
		index[key] = len(out)
		iv := imageView{Digest: d, URL: h.imageURL(d), Containers: []string{c.Name}, References: []string{c.Image.Reference}}
		switch {
		case d == "":
			iv.Status, iv.Reason = "unresolved", c.Image.Reason
		case c.Image.Status != assess.Scanned:
			iv.Status, iv.Reason = "not scanned", c.Image.Reason
		default:
			f, err := h.src.Findings(r.Context(), d, opts...)
			if errors.Is(err, store.ErrNotFound) {
				iv.Status, iv.Reason = "not matched", "no committed vulnerability database has matched this image yet"
				break
			}
			if err != nil {
				return nil, nil, err
			}
			findings[d] = f.Findings
			iv.Status, iv.MatchedAt, iv.DBVersion = "matched", h.when(f.MatchedAt), f.DBVersion
			iv.Unchecked, iv.Undecided = f.Unchecked, len(f.Undecided)
			iv.Counts = countFindings(f.Findings, len(f.Unchecked) == 0 && len(f.Undecided) == 0)
			iv.Findings, iv.More = htmlkit.FindingViews(f.Findings, maxFindingsListed)
		}
		out = append(out, iv)
	}
	return out, findings, nil
}

func countFindings(fs []match.Finding, known bool) htmlkit.SevCounts {
	by := map[string]int{}
	n, kev, fixable := 0, 0, 0
	for _, f := range fs {
		if f.Suppressed != nil {
			continue
		}
		n++
		by[string(f.Severity.Level)]++
		if f.KEV != nil {
			kev++
		}
		if f.FixState == match.FixAvailable {
			fixable++
		}
	}
	return htmlkit.NewSevCounts(n, by, kev, fixable, known)
}

// blasts are the containers' blast radii, the entry container's first,
// each with a picture when it has paths.
func (v *workloadView) blasts(s *assess.Subject) {
	for i := range s.Containers {
		c := &s.Containers[i]
		if c.BlastRadius == nil {
			continue
		}
		b := blastView{Container: c.Name, Entry: c.Name == s.Risk.Entry, BR: c.BlastRadius}
		paths := c.BlastRadius.Paths
		if len(paths) == 0 && c.BlastRadius.Path != nil {
			paths = []graph.Path{*c.BlastRadius.Path}
		}
		b.Paths = htmlkit.PathViews(paths, c.BlastRadius.Path)
		v.Blasts = append(v.Blasts, b)
	}
	sort.SliceStable(v.Blasts, func(i, j int) bool { return v.Blasts[i].Entry && !v.Blasts[j].Entry })
	for i := range v.Blasts {
		b := &v.Blasts[i]
		if len(b.Paths) == 0 {
			continue
		}
		b.Picture = fmt.Sprintf("pic-%d", i+1)
		b.PicLabel = fmt.Sprintf("Blast radius of %s/%s from container %s", s.Workload.Namespace, s.Workload.Name, b.Container)
		v.Pictures = append(v.Pictures, htmlkit.NewPicture(b.Picture, b.BR.Paths, b.BR.Path, b.BR.Assets, ""))
	}
}

// cutsOf ranks the changes named on the steps of the workload's explained
// paths: each breaks every path one of whose steps it removes. The one
// that breaks the path the risk score comes from first, then by the paths
// broken. (The target may still be reached another way; credence assess
// re-measures each change over the whole cluster.)
func cutsOf(blasts []blastView) ([]cutView, int) {
	byKey := map[string]*cutView{}
	var order []string
	all := 0
	for _, b := range blasts {
		for _, p := range b.Paths {
			all++
			seen := map[string]bool{}
			for _, st := range p.Steps {
				for _, fix := range st.Fixes {
					if seen[fix] {
						continue
					}
					seen[fix] = true
					c := byKey[fix]
					if c == nil {
						c = &cutView{Summary: fix}
						byKey[fix] = c
						order = append(order, fix)
					}
					c.Paths++
					if b.Entry && p.Worst {
						c.Worst = true
					}
					if !slices.Contains(c.Targets, p.To) {
						c.Targets = append(c.Targets, p.To)
					}
					if !slices.Contains(c.Containers, b.Container) {
						c.Containers = append(c.Containers, b.Container)
					}
				}
			}
		}
	}
	var out []cutView
	for _, k := range order {
		c := byKey[k]
		c.All = all
		out = append(out, *c)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Worst != out[j].Worst {
			return out[i].Worst
		}
		return out[i].Paths > out[j].Paths
	})
	more := 0
	if len(out) > maxCuts {
		more = len(out) - maxCuts
		out = out[:maxCuts]
	}
	return out, more
}

// upgrades: the package upgrades that remove findings from the image of
// the container the risk score comes from, KEV and critical first.
func (v *workloadView) upgrades(s *assess.Subject, byDigest map[string]*imageView) {
	for _, c := range s.Containers {
		if c.Name != s.Risk.Entry || c.Image.Digest == "" {
			continue
		}
		if iv := byDigest[c.Image.Digest]; iv == nil || iv.Status != "matched" {
			return
		}
		v.UpgradeIn = c.Image.Reference
		v.Upgrades = upgradesOf(v.findings[c.Image.Digest])
	}
}

func upgradesOf(fs []match.Finding) []upgradeView {
	type key struct{ pkg, installed string }
	byPkg := map[key]*upgradeView{}
	var order []key
	for _, f := range fs {
		if f.Suppressed != nil || f.Package == nil || len(f.Fixed) == 0 || (f.FixState != match.FixAvailable && f.FixState != match.FixPartial) {
			continue
		}
		k := key{f.Package.Name, f.Installed}
		u := byPkg[k]
		if u == nil {
			u = &upgradeView{Package: f.Package.Name, Installed: f.Installed}
			byPkg[k] = u
			order = append(order, k)
		}
		u.Findings++
		if len(u.IDs) < maxIDsShown {
			u.IDs = append(u.IDs, f.ID)
		} else {
			u.MoreIDs++
		}
		if f.KEV != nil {
			u.KEV++
		}
		if f.Severity.Level == match.Critical {
			u.Critical++
		}
		for _, fx := range f.Fixed {
			if !slices.Contains(u.Fixed, fx) {
				u.Fixed = append(u.Fixed, fx)
			}
		}
	}
	var out []upgradeView
	for _, k := range order {
		u := *byPkg[k]
		if len(u.Fixed) > maxFixedShown {
			u.FixedMore, u.Fixed = len(u.Fixed)-maxFixedShown, u.Fixed[:maxFixedShown]
		}
		out = append(out, u)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.KEV != b.KEV {
			return a.KEV > b.KEV
		}
		if a.Critical != b.Critical {
			return a.Critical > b.Critical
		}
		return a.Findings > b.Findings
	})
	return out[:min(len(out), maxUpgrades)]
}

// unknowns gathers what could not be established: the workload's, each
// container's (posture, blast radius), and images whose findings are not
// known.
func (v *workloadView) unknowns(s *assess.Subject) {
	for _, u := range s.Unknowns {
		v.Unknowns = append(v.Unknowns, unknownView{Where: "workload", What: u})
	}
	for _, c := range s.Containers {
		if c.Posture != nil {
			for _, u := range c.Posture.Unknowns {
				v.Unknowns = append(v.Unknowns, unknownView{Where: "container " + c.Name, What: u})
			}
		}
		if c.BlastRadius != nil {
			for _, u := range c.BlastRadius.Unknowns {
				v.Unknowns = append(v.Unknowns, unknownView{Where: "container " + c.Name, What: u})
			}
		}
	}
	for _, iv := range v.Images {
		switch {
		case iv.Status != "matched":
			v.Unknowns = append(v.Unknowns, unknownView{Where: "image " + strings.Join(iv.References, ", "), What: iv.Status + ": its findings are unknown" + reasonSuffix(iv.Reason)})
		case len(iv.Unchecked) > 0 || iv.Undecided > 0:
			v.Unknowns = append(v.Unknowns, unknownView{Where: "image " + strings.Join(iv.References, ", "),
				What: fmt.Sprintf("%d part%s could not be checked and %d version%s could not be decided: the findings listed are a floor",
					len(iv.Unchecked), htmlkit.Plural(len(iv.Unchecked)), iv.Undecided, htmlkit.Plural(iv.Undecided))})
		}
	}
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}
