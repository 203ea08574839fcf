package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/match"
)

// EventKind names a timeline event.
type EventKind string

// Timeline events. An image's: FirstSeen, Published, Matched, KEVAdded,
// FixAvailable, FindingGone, WorkloadStarted, WorkloadStopped. A
// workload's: FirstSeen, ImageChanged, SpecChanged, RiskChanged,
// DecisionChanged, Removed, Returned, and its images' finding events while
// it ran them. Recorded events (AlertReceived) join either.
const (
	FirstSeen       EventKind = "first-seen"
	Published       EventKind = "published"     // the advisory's publication date (basis advisory)
	Matched         EventKind = "matched"       // credence first found the finding in the image
	KEVAdded        EventKind = "kev-added"     // CISA's dateAdded (basis kev)
	FixAvailable    EventKind = "fix-available" // credence first saw a fixed version for it
	FindingGone     EventKind = "finding-gone"  // no longer matched (withdrawn, range changed)
	WorkloadStarted EventKind = "workload-started"
	WorkloadStopped EventKind = "workload-stopped"
	ImageChanged    EventKind = "image-changed"
	SpecChanged     EventKind = "spec-changed"
	RiskChanged     EventKind = "risk-changed"
	DecisionChanged EventKind = "decision-changed"
	Removed         EventKind = "removed"
	Returned        EventKind = "returned"
	// AlertReceived: a runtime alert named one of the workload's containers
	// (recorded with AddEvent, with the blast radius it was answered with).
	AlertReceived EventKind = "alert"
)

// Basis says where an event's time comes from.
type Basis string

// Bases.
const (
	// Observed: when credence recorded it (the row's validity).
	Observed Basis = "observed"
	// Advisory: the advisory record's published date.
	Advisory Basis = "advisory"
	// KEVCatalog: CISA KEV's dateAdded.
	KEVCatalog Basis = "kev"
)

// Event is one entry of a timeline.
type Event struct {
	At    time.Time `json:"at"`
	Kind  EventKind `json:"kind"`
	Basis Basis     `json:"basis"`
	// ObservedAt is when credence learned of it, for events dated by a
	// record (Published, KEVAdded): At is the record's date.
	ObservedAt time.Time `json:"observedAt,omitzero"`
	Digest     string    `json:"digest,omitempty"`
	Workload   string    `json:"workload,omitempty"`
	Finding    string    `json:"finding,omitempty"`
	Package    string    `json:"package,omitempty"`
	Severity   string    `json:"severity,omitempty"`
	// DBVersion is the Seq of the database version the event came from.
	DBVersion int64  `json:"dbVersion,omitempty"`
	Detail    string `json:"detail,omitempty"`
	// Data is a recorded event's document (an alert and its blast radius).
	Data json.RawMessage `json:"data,omitempty"`
}

var kindOrder = map[EventKind]int{FirstSeen: 0, Returned: 1, WorkloadStarted: 2, ImageChanged: 3, SpecChanged: 4, Published: 5, KEVAdded: 6,
	Matched: 7, FixAvailable: 8, FindingGone: 9, RiskChanged: 10, DecisionChanged: 11, AlertReceived: 12, WorkloadStopped: 13, Removed: 14}

func sortEvents(ev []Event) {
	sort.SliceStable(ev, func(i, j int) bool {
		a, b := ev[i], ev[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		if kindOrder[a.Kind] != kindOrder[b.Kind] {
			return kindOrder[a.Kind] < kindOrder[b.Kind]
		}
		if a.Finding != b.Finding {
			return a.Finding < b.Finding
		}
		return a.Package < b.Package
	})
}

// Timeline returns the timeline of an image digest ("sha256:…") or of a
// workload ("namespace/Kind/name"), oldest first.
func (s *Store) Timeline(ctx context.Context, ref string) ([]Event, error) {
	if strings.Count(ref, "/") == 2 {
		return s.WorkloadTimeline(ctx, ref)
	}
	return s.ImageTimeline(ctx, ref)
}

// ImageTimeline derives an image's timeline from its versioned rows: when
// it was first seen, for each finding the advisory's publication, when
// credence matched it, when it entered KEV, when a fix appeared, when it went
// away, and which workloads started and stopped running the image.
// ErrNotFound for an image never seen.
func (s *Store) ImageTimeline(ctx context.Context, digest string) ([]Event, error) {
	var first int64
	err := s.row(ctx, s.r, `SELECT first_seen FROM images WHERE digest = ?`, digest).Scan(&first)
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("timeline of %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return nil, classify(err)
	}
	ev := []Event{{At: fromUS(first), Kind: FirstSeen, Basis: Observed, Digest: digest}}
	fe, err := s.findingEvents(ctx, digest)
	if err != nil {
		return nil, err
	}
	for _, f := range fe {
		ev = append(ev, f.events...)
	}
	runs, err := s.runsOf(ctx, `i.digest = ?`, digest)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		ev = append(ev, Event{At: r.from, Kind: WorkloadStarted, Basis: Observed, Digest: digest, Workload: r.workload, Detail: "container " + r.container})
		if !r.to.IsZero() {
			ev = append(ev, Event{At: r.to, Kind: WorkloadStopped, Basis: Observed, Digest: digest, Workload: r.workload, Detail: "container " + r.container})
		}
	}
	if ev, err = s.recordedFor(ctx, ev, digest); err != nil {
		return nil, err
	}
	sortEvents(ev)
	return ev, nil
}

// findingHistory is one finding key's rows in an image, and the events
// derived from them.
type findingHistory struct {
	key    string
	spans  [][2]time.Time // visible [from, to) intervals; to zero while open
	events []Event
}

func (s *Store) findingEvents(ctx context.Context, digest string) ([]*findingHistory, error) {
	rows, err := s.query(ctx, s.r, `SELECT fkey, data, from_seq, valid_from, valid_to FROM findings
		WHERE digest = ? AND valid_from IS NOT NULL ORDER BY fkey, valid_from, id`, digest)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*findingHistory
	var cur *findingHistory
	var prevTo time.Time
	var kevSeen, fixSeen bool
	for rows.Next() {
		var key, data string
		var seq, from int64
		var to sql.NullInt64
		if err := rows.Scan(&key, &data, &seq, &from, &to); err != nil {
			return nil, classify(err)
		}
		var f match.Finding
		if err := json.Unmarshal([]byte(data), &f); err != nil {
			return nil, fmt.Errorf("finding %s of %s: %w: %v", key, digest, ErrCorrupt, err)
		}
		vf, vt := fromUS(from), fromNullUS(to)
		base := Event{Basis: Observed, Digest: digest, Finding: f.ID, Severity: string(f.Severity.Level), DBVersion: seq}
		if f.Package != nil {
			base.Package = f.Package.Name + "@" + f.Package.Version
		}
		if cur == nil || cur.key != key {
			if cur != nil && !prevTo.IsZero() {
				cur.events = append(cur.events, gone(cur, prevTo))
			}
			cur = &findingHistory{key: key}
			out = append(out, cur)
			kevSeen, fixSeen = false, false
			e := base
			e.At, e.Kind = vf, Matched
			e.Detail = f.Summary
			cur.events = append(cur.events, e)
			if f.Published != nil && !f.Published.IsZero() {
				e := base
				e.At, e.Kind, e.Basis, e.ObservedAt, e.Detail = f.Published.UTC(), Published, Advisory, vf, ""
				cur.events = append(cur.events, e)
			}
		} else if !prevTo.IsZero() && vf.After(prevTo) {
			// A gap: the finding went away and came back.
			cur.events = append(cur.events, gone(cur, prevTo))
			e := base
			e.At, e.Kind, e.Detail = vf, Matched, "matched again"
			cur.events = append(cur.events, e)
		}
		cur.spans = append(cur.spans, [2]time.Time{vf, vt})
		if f.KEV != nil && !kevSeen {
			kevSeen = true
			e := base
			e.Kind, e.Basis, e.ObservedAt, e.Detail = KEVAdded, KEVCatalog, vf, f.KEV.CVE
			if d, err := time.Parse("2006-01-02", f.KEV.DateAdded); err == nil {
				e.At = d
			} else {
				e.At, e.Basis = vf, Observed
			}
			cur.events = append(cur.events, e)
		}
		if (f.FixState == match.FixAvailable || f.FixState == match.FixPartial) && !fixSeen {
			fixSeen = true
			e := base
			e.At, e.Kind = vf, FixAvailable
			e.Detail = string(f.FixState) + " in " + strings.Join(f.Fixed, ", ")
			if len(cur.spans) == 1 {
				e.Detail += " (already known when first matched)"
			}
			cur.events = append(cur.events, e)
		}
		prevTo = vt
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	if cur != nil && !prevTo.IsZero() {
		cur.events = append(cur.events, gone(cur, prevTo))
	}
	return out, nil
}

func gone(h *findingHistory, at time.Time) Event {
	m := h.events[0]
	return Event{At: at, Kind: FindingGone, Basis: Observed, Digest: m.Digest, Finding: m.Finding, Package: m.Package, Severity: m.Severity}
}

// run is one interval during which a workload's container ran a digest.
type run struct {
	workload, container, digest string
	from, to                    time.Time // to zero while running
}

// runsOf merges consecutive Subject versions that ran the same digest in
// the same container into intervals.
func (s *Store) runsOf(ctx context.Context, where string, arg string) ([]run, error) {
	rows, err := s.query(ctx, s.r, `SELECT s.workload, i.container, i.digest, s.valid_from, s.valid_to FROM subjects s
		JOIN subject_images i ON i.subject_id = s.id WHERE `+where+` ORDER BY s.workload, i.container, i.digest, s.valid_from`, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []run
	for rows.Next() {
		var r run
		var from int64
		var to sql.NullInt64
		if err := rows.Scan(&r.workload, &r.container, &r.digest, &from, &to); err != nil {
			return nil, classify(err)
		}
		r.from, r.to = fromUS(from), fromNullUS(to)
		if n := len(out); n > 0 {
			p := &out[n-1]
			if p.workload == r.workload && p.container == r.container && p.digest == r.digest && !p.to.IsZero() && p.to.Equal(r.from) {
				p.to = r.to
				continue
			}
		}
		out = append(out, r)
	}
	return out, classify(rows.Err())
}

// WorkloadTimeline derives a workload's timeline: when it was first seen,
// each change of image, spec, risk and decision, when it went away (and
// came back), and its images' finding events while it ran them (advisories
// published, KEV entries, and what credence matched, found fixed or saw go
// during the run). ErrNotFound for a workload never seen.
func (s *Store) WorkloadTimeline(ctx context.Context, key string) ([]Event, error) {
	hist, err := s.SubjectHistory(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(hist) == 0 {
		return nil, fmt.Errorf("timeline of %s: %w", key, ErrNotFound)
	}
	specs, err := s.specHashes(ctx, key)
	if err != nil {
		return nil, err
	}
	var ev []Event
	for i, h := range hist {
		e := Event{At: h.ValidFrom, Basis: Observed, Workload: key}
		switch {
		case i == 0:
			e.Kind, e.Detail = FirstSeen, riskDetail(h.Subject)
			ev = append(ev, e)
		case hist[i-1].Removed:
			e.Kind, e.Detail = Returned, riskDetail(h.Subject)
			ev = append(ev, e)
		default:
			ev = append(ev, changes(e, hist[i-1].Subject, h.Subject, specs[i-1] != specs[i])...)
		}
		if h.Removed {
			ev = append(ev, Event{At: h.ValidTo, Kind: Removed, Basis: Observed, Workload: key})
		}
	}
	dev, err := s.decisionEvents(ctx, key)
	if err != nil {
		return nil, err
	}
	ev = append(ev, dev...)
	runs, err := s.runsOf(ctx, `s.workload = ?`, key)
	if err != nil {
		return nil, err
	}
	byDigest := map[string][]run{}
	for _, r := range runs {
		byDigest[r.digest] = append(byDigest[r.digest], r)
	}
	for d, rs := range byDigest {
		fh, err := s.findingEvents(ctx, d)
		if err != nil {
			return nil, err
		}
		for _, h := range fh {
			for _, e := range h.events {
				if keepForRuns(e, h, rs) {
					e.Workload = key
					ev = append(ev, e)
				}
			}
		}
	}
	if ev, err = s.recordedFor(ctx, ev, key); err != nil {
		return nil, err
	}
	sortEvents(ev)
	return ev, nil
}

// keepForRuns: record-dated events (published, KEV) of a finding visible
// while the workload ran the image; observed events that happened during a
// run.
func keepForRuns(e Event, h *findingHistory, rs []run) bool {
	in := func(t time.Time, r run) bool { return !t.Before(r.from) && (r.to.IsZero() || t.Before(r.to)) }
	for _, r := range rs {
		if e.Basis != Observed {
			for _, sp := range h.spans {
				if (r.to.IsZero() || sp[0].Before(r.to)) && (sp[1].IsZero() || sp[1].After(r.from)) {
					return true
				}
			}
			continue
		}
		if in(e.At, r) {
			return true
		}
	}
	return false
}

func riskDetail(s *assess.Subject) string {
	return fmt.Sprintf("risk %.0f: %s", s.Risk.Score, s.Risk.Why)
}

func changes(base Event, prev, cur *assess.Subject, specChanged bool) []Event {
	var ev []Event
	pd := map[string]string{}
	for _, c := range prev.Containers {
		pd[c.Name] = c.Image.Digest
	}
	var imgs []string
	for _, c := range cur.Containers {
		if old, ok := pd[c.Name]; ok && old != c.Image.Digest {
			imgs = append(imgs, fmt.Sprintf("%s: %s → %s", c.Name, short(old), short(c.Image.Digest)))
		} else if !ok {
			imgs = append(imgs, fmt.Sprintf("%s: added (%s)", c.Name, short(c.Image.Digest)))
		}
		delete(pd, c.Name)
	}
	for name := range pd {
		imgs = append(imgs, name+": removed")
	}
	sort.Strings(imgs)
	switch {
	case len(imgs) > 0:
		e := base
		e.Kind, e.Detail = ImageChanged, strings.Join(imgs, "; ")
		ev = append(ev, e)
	case specChanged:
		e := base
		e.Kind, e.Detail = SpecChanged, "the pod spec or its posture changed"
		ev = append(ev, e)
	}
	if prev.Risk.Score != cur.Risk.Score || prev.Risk.Unknown != cur.Risk.Unknown {
		e := base
		e.Kind, e.Detail = RiskChanged, fmt.Sprintf("risk %.0f → %.0f: %s", prev.Risk.Score, cur.Risk.Score, cur.Risk.Why)
		ev = append(ev, e)
	}
	return ev
}

func short(d string) string {
	if d == "" {
		return "unresolved"
	}
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

func (s *Store) specHashes(ctx context.Context, key string) ([]string, error) {
	return stringsOf(ctx, s, s.r, `SELECT spec_hash FROM subjects WHERE workload = ? ORDER BY valid_from, id`, key)
}

func (s *Store) decisionEvents(ctx context.Context, key string) ([]Event, error) {
	rows, err := s.query(ctx, s.r, `SELECT verdict, valid_from, valid_to FROM decisions WHERE workload = ? ORDER BY valid_from, id`, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ev []Event
	prev := ""
	var prevTo time.Time
	for rows.Next() {
		var v string
		var from int64
		var to sql.NullInt64
		if err := rows.Scan(&v, &from, &to); err != nil {
			return nil, classify(err)
		}
		at := fromUS(from)
		switch {
		case prev == "" || !prevTo.Equal(at):
			ev = append(ev, Event{At: at, Kind: DecisionChanged, Basis: Observed, Workload: key, Detail: v})
		case prev != v:
			ev = append(ev, Event{At: at, Kind: DecisionChanged, Basis: Observed, Workload: key, Detail: prev + " → " + v})
		}
		prev, prevTo = v, fromNullUS(to)
	}
	return ev, classify(rows.Err())
}
