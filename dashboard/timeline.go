package dashboard

import (
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/credence-dev/credence/store"
)

// maxEvents bounds a page's timeline: the newest are shown (the API has
// them all).
const maxEvents = 500

// eventView is one entry of a timeline.
type eventView struct {
	At    when
	Kind  string
	Label string
	// Basis says whose time At is: the advisory record's, CISA KEV's, or
	// credence's observation; Observed is when credence learned of a
	// record-dated event.
	Basis      string
	BasisText  string
	BasisTitle string
	Observed   when
	Finding    string
	Package    string
	Severity   string
	Workload   string
	WorkURL    string
	Digest     string
	ImageURL   string
	Detail     string
	DBVersion  int64
	// Later: after the time the page shows the workload as of.
	Later bool
	// AsOfURL shows the workload as it was from this event on (its own
	// changes only).
	AsOfURL string
}

// versioned are the events that begin a new version of a workload's
// Subject or decision: the page can show the workload as of then.
var versioned = map[store.EventKind]bool{store.FirstSeen: true, store.Returned: true, store.ImageChanged: true,
	store.SpecChanged: true, store.RiskChanged: true, store.DecisionChanged: true}

var eventLabels = map[store.EventKind]string{
	store.FirstSeen:       "first seen",
	store.Published:       "advisory published",
	store.Matched:         "matched by credence",
	store.KEVAdded:        "added to CISA KEV",
	store.FixAvailable:    "fix available",
	store.FindingGone:     "finding gone",
	store.WorkloadStarted: "workload started running it",
	store.WorkloadStopped: "workload stopped running it",
	store.ImageChanged:    "image changed",
	store.SpecChanged:     "spec changed",
	store.RiskChanged:     "risk changed",
	store.DecisionChanged: "decision changed",
	store.Removed:         "went away",
	store.Returned:        "came back",
}

var basisText = map[store.Basis]string{
	store.Observed:   "credence",
	store.Advisory:   "advisory",
	store.KEVCatalog: "CISA KEV",
}

var basisTitle = map[store.Basis]string{
	store.Observed:   "when credence observed it",
	store.Advisory:   "the advisory record's published date",
	store.KEVCatalog: "the CISA KEV catalog's dateAdded",
}

// events turns a timeline into its entries, the newest maxEvents of it
// (omitted counts the rest). The page's own workload or digest is not
// linked again; events after until (when set) are marked Later.
func (h *handler) events(ev []store.Event, self, selfDigest string, until time.Time) (out []eventView, omitted int) {
	if len(ev) > maxEvents {
		omitted = len(ev) - maxEvents
		ev = ev[omitted:]
	}
	for _, e := range ev {
		label := eventLabels[e.Kind]
		if label == "" {
			label = string(e.Kind)
		}
		v := eventView{At: h.when(e.At), Kind: string(e.Kind), Label: label, Basis: string(e.Basis), BasisText: basisText[e.Basis], BasisTitle: basisTitle[e.Basis],
			Finding: e.Finding, Package: e.Package, Severity: e.Severity, Detail: e.Detail, DBVersion: e.DBVersion,
			Later: !until.IsZero() && e.At.After(until)}
		if e.Basis == store.KEVCatalog {
			v.At = h.day(e.At)
		}
		if e.Basis != store.Observed && !e.ObservedAt.IsZero() {
			v.Observed = h.when(e.ObservedAt)
		}
		if e.Workload != "" && e.Workload != self {
			v.Workload, v.WorkURL = e.Workload, h.workloadKeyURL(e.Workload)
		}
		if self != "" && e.Workload == self && e.Finding == "" && versioned[e.Kind] {
			if u := h.workloadKeyURL(self); u != "" {
				v.AsOfURL = u + "?at=" + url.QueryEscape(e.At.UTC().Format(time.RFC3339Nano))
			}
		}
		if e.Digest != "" && e.Digest != selfDigest {
			v.Digest, v.ImageURL = e.Digest, h.imageURL(e.Digest)
		}
		out = append(out, v)
	}
	return out, omitted
}

// lifecycleRow is one finding of an image across its timeline: when its
// advisory was published, when credence matched it, when it entered KEV,
// when a fix appeared, when it went away.
type lifecycleRow struct {
	Finding, Package, Severity         string
	Published, Matched, KEV, Fix, Gone when
	MatchedLag                         string // from publication to the match
}

// lifecycle groups an image's finding events by finding and package,
// most recently matched first.
func (h *handler) lifecycle(ev []store.Event) []lifecycleRow {
	index := map[string]int{}
	var rows []lifecycleRow
	var matched []time.Time
	for _, e := range ev {
		if e.Finding == "" {
			continue
		}
		k := e.Finding + "\x00" + e.Package
		i, ok := index[k]
		if !ok {
			i = len(rows)
			index[k] = i
			rows = append(rows, lifecycleRow{Finding: e.Finding, Package: e.Package, Severity: e.Severity})
			matched = append(matched, time.Time{})
		}
		r := &rows[i]
		switch e.Kind {
		case store.Published:
			r.Published = h.when(e.At)
		case store.Matched:
			if r.Matched.IsZero() {
				r.Matched, matched[i] = h.when(e.At), e.At
			}
		case store.KEVAdded:
			r.KEV = h.day(e.At)
		case store.FixAvailable:
			if r.Fix.IsZero() {
				r.Fix = h.when(e.At)
			}
		case store.FindingGone:
			r.Gone = h.when(e.At)
		}
	}
	for i := range rows {
		if p, m := parseISO(rows[i].Published.ISO), matched[i]; !rows[i].Published.IsZero() && !m.IsZero() {
			rows[i].MatchedLag = span(m.Sub(p))
		}
	}
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return matched[order[a]].After(matched[order[b]]) })
	out := make([]lifecycleRow, len(rows))
	for i, j := range order {
		out[i] = rows[j]
	}
	return out
}

// span is a duration in words ("3 years", "5 days").
func span(d time.Duration) string {
	if d < time.Minute && d > -time.Minute {
		return "under a minute"
	}
	s := ago(d)
	return strings.TrimSuffix(strings.TrimPrefix(s, "in "), " ago")
}
