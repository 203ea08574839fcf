package match

import (
	"fmt"
	"slices"

	"github.com/credence-dev/credence/versions"
	"github.com/credence-dev/credence/vulndb/osv"
)

// Reason says why an affected entry of an advisory applies to a version:
// the range and the events around the installed version, or the explicit
// versions list.
type Reason struct {
	Advisory  string `json:"advisory"`
	Ecosystem string `json:"ecosystem"`
	// Package is the name the advisory was found under; for distro
	// packages it is often the source package.
	Package string `json:"package"`
	// Version is the version compared (for a source package match, the
	// source version).
	Version string `json:"version"`
	// RangeType is "SEMVER", "ECOSYSTEM", or "versions" for a listed version.
	RangeType string `json:"rangeType"`
	// Introduced is the introduced event the version is at or after ("0"
	// for every version); Fixed, LastAffected or Limit the event that ends
	// the affected interval, empty when nothing ends it (no fix yet).
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"lastAffected,omitempty"`
}

// String is one line for people: "DSA-5343-1: openssl 1.1.1n-0+deb11u3 in
// ECOSYSTEM range [introduced 0, fixed 1.1.1n-0+deb11u4)".
func (r Reason) String() string {
	if r.RangeType == "versions" {
		return fmt.Sprintf("%s: %s %s is listed in the advisory's versions", r.Advisory, r.Package, r.Version)
	}
	end := "no fix yet)"
	switch {
	case r.Fixed != "":
		end = "fixed " + r.Fixed + ")"
	case r.LastAffected != "":
		end = "last_affected " + r.LastAffected + "]"
	}
	return fmt.Sprintf("%s: %s %s in %s range [introduced %s, %s", r.Advisory, r.Package, r.Version, r.RangeType, r.Introduced, end)
}

// Undecidable is returned when an affected entry cannot be evaluated for a
// version: a version or event that does not parse, an ecosystem without a
// known order. The package is reported as undecided, never as safe.
type Undecidable struct{ Msg string }

func (e *Undecidable) Error() string { return e.Msg }

// affects evaluates one affected entry for version v (already parsed in
// eco), following the OSV evaluation algorithm: an explicit versions list,
// then each SEMVER or ECOSYSTEM range with its events sorted by version.
// GIT ranges are skipped: they need commit history. It returns the reasons
// the entry applies (none if it does not), or an *Undecidable error.
func affects(eco, installed string, v versions.Version, af *osv.Affected) ([]Reason, error) {
	raw := installed
	if osv.BaseEcosystem(eco) == "Go" {
		raw = versions.Go(installed)
	}
	listed := false
	for _, l := range af.Versions {
		if l == installed || l == raw {
			listed = true
		}
	}
	var reasons []Reason
	var undecided error
	for _, r := range af.Ranges {
		if r.Type != osv.RangeSemver && r.Type != osv.RangeEcosystem {
			continue
		}
		reason, ok, err := inRange(eco, v, r)
		if err != nil {
			undecided = err
			continue
		}
		if ok {
			reasons = append(reasons, reason)
		}
	}
	// Ranges say which fix applies, so they are preferred as the reason;
	// a listed version alone (GIT-only records) is enough to match.
	if len(reasons) > 0 {
		return reasons, nil
	}
	if listed {
		return []Reason{{RangeType: "versions"}}, nil
	}
	return nil, undecided
}

type parsedEvent struct {
	kind, value string
	v           versions.Version
	zero        bool // introduced "0": before every version
}

// inRange evaluates one range. Events are sorted by version ("introduced:
// 0" first); a version is affected after an introduced event and until a
// fixed event (exclusive), a last_affected event (inclusive) or a limit.
func inRange(eco string, v versions.Version, r osv.Range) (Reason, bool, error) {
	events := make([]parsedEvent, 0, len(r.Events))
	for _, e := range r.Events {
		kind, value := e.Kind(), e.Value()
		if kind == "" {
			return Reason{}, false, &Undecidable{"an event sets none or several of introduced, fixed, last_affected, limit"}
		}
		pe := parsedEvent{kind: kind, value: value}
		if kind == "introduced" && value == "0" {
			pe.zero = true
		} else {
			pv, err := versions.Parse(eco, value)
			if err != nil {
				return Reason{}, false, &Undecidable{fmt.Sprintf("%s event %q: %v", kind, value, err)}
			}
			pe.v = pv
		}
		events = append(events, pe)
	}
	slices.SortStableFunc(events, func(a, b parsedEvent) int {
		switch {
		case a.zero && b.zero:
			return 0
		case a.zero:
			return -1
		case b.zero:
			return 1
		}
		return a.v.Compare(b.v)
	})
	// Limits: versions at or above any limit are outside this range.
	for _, e := range events {
		if e.kind == "limit" && v.Compare(e.v) >= 0 {
			return Reason{}, false, nil
		}
	}
	affected := false
	var reason Reason
	for _, e := range events {
		switch e.kind {
		case "introduced":
			if e.zero || v.Compare(e.v) >= 0 {
				if !affected {
					reason = Reason{RangeType: r.Type, Introduced: e.value}
				}
				affected = true
			}
		case "fixed":
			if v.Compare(e.v) >= 0 {
				affected = false
			} else if affected && reason.Fixed == "" && reason.LastAffected == "" {
				reason.Fixed = e.value
			}
		case "last_affected":
			if v.Compare(e.v) > 0 {
				affected = false
			} else if affected && reason.Fixed == "" && reason.LastAffected == "" {
				reason.LastAffected = e.value
			}
		}
	}
	if !affected {
		return Reason{}, false, nil
	}
	return reason, true, nil
}
