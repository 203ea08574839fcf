// Package osv holds the OSV schema (https://ossf.github.io/osv-schema/) as Go
// types, and parses and checks single records. It depends on the standard library only.
package osv

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Advisory is one OSV record. Only the fields credence reads are typed; the
// rest of the record is kept by the store as raw JSON.
type Advisory struct {
	SchemaVersion    string          `json:"schema_version,omitempty"`
	ID               string          `json:"id"`
	Modified         time.Time       `json:"modified"`
	Published        *time.Time      `json:"published,omitempty"`
	Withdrawn        *time.Time      `json:"withdrawn,omitempty"`
	Aliases          []string        `json:"aliases,omitempty"`
	Related          []string        `json:"related,omitempty"`
	Upstream         []string        `json:"upstream,omitempty"`
	Summary          string          `json:"summary,omitempty"`
	Details          string          `json:"details,omitempty"`
	Severity         []Severity      `json:"severity,omitempty"`
	Affected         []Affected      `json:"affected,omitempty"`
	References       []Reference     `json:"references,omitempty"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Severity is a score in a named system: CVSS_V2, CVSS_V3, CVSS_V4 (the
// vector string), or an ecosystem's own rating such as Ubuntu's priority.
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Severity types.
const (
	SeverityCVSSv2 = "CVSS_V2"
	SeverityCVSSv3 = "CVSS_V3"
	SeverityCVSSv4 = "CVSS_V4"
	SeverityUbuntu = "Ubuntu"
)

// Affected names one package and the versions of it a record affects.
type Affected struct {
	Package           Package         `json:"package"`
	Severity          []Severity      `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Package identifies a package in an ecosystem ("Debian:12", "npm", ...).
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// Range types.
const (
	RangeSemver    = "SEMVER"
	RangeEcosystem = "ECOSYSTEM"
	RangeGit       = "GIT"
)

// Range is a list of events over one version order. The schema does not
// require events to be sorted; evaluators sort them.
type Range struct {
	Type   string  `json:"type"`
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one point of a Range. Exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Kind names the set field: "introduced", "fixed", "last_affected", "limit",
// or "" when none or several are set.
func (e Event) Kind() string {
	kind, n := "", 0
	for _, f := range []struct{ k, v string }{{"introduced", e.Introduced}, {"fixed", e.Fixed}, {"last_affected", e.LastAffected}, {"limit", e.Limit}} {
		if f.v != "" {
			kind = f.k
			n++
		}
	}
	if n != 1 {
		return ""
	}
	return kind
}

// Value is the version the event names.
func (e Event) Value() string {
	switch e.Kind() {
	case "introduced":
		return e.Introduced
	case "fixed":
		return e.Fixed
	case "last_affected":
		return e.LastAffected
	case "limit":
		return e.Limit
	}
	return ""
}

// String is "introduced 1.2.3".
func (e Event) String() string { return e.Kind() + " " + e.Value() }

// Reference is a link with its type (ADVISORY, FIX, WEB, ...).
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// ErrInvalid marks a record that does not follow the schema.
var ErrInvalid = errors.New("invalid OSV record")

// MaxRecordSize bounds one record; the largest real records are a few MB.
const MaxRecordSize = 32 << 20

// Parse decodes one OSV record and checks the fields credence depends on.
func Parse(b []byte) (*Advisory, error) {
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes is over the %d limit", ErrInvalid, len(b), MaxRecordSize)
	}
	var a Advisory
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := a.Check(); err != nil {
		return nil, err
	}
	return &a, nil
}

// Check reports the first schema problem that would make matching wrong:
// no id, an affected entry without ecosystem or name, an event with zero or
// several fields set, or a range type credence does not know.
func (a *Advisory) Check() error {
	if strings.TrimSpace(a.ID) == "" {
		return fmt.Errorf("%w: no id", ErrInvalid)
	}
	for i, af := range a.Affected {
		if af.Package.Ecosystem == "" || af.Package.Name == "" {
			return fmt.Errorf("%w: %s: affected[%d] has no package ecosystem or name", ErrInvalid, a.ID, i)
		}
		for j, r := range af.Ranges {
			switch r.Type {
			case RangeSemver, RangeEcosystem, RangeGit:
			default:
				return fmt.Errorf("%w: %s: affected[%d].ranges[%d] has unknown type %q", ErrInvalid, a.ID, i, j, r.Type)
			}
			if len(r.Events) == 0 {
				return fmt.Errorf("%w: %s: affected[%d].ranges[%d] has no events", ErrInvalid, a.ID, i, j)
			}
			for k, e := range r.Events {
				if e.Kind() == "" {
					return fmt.Errorf("%w: %s: affected[%d].ranges[%d].events[%d] must set exactly one of introduced, fixed, last_affected, limit", ErrInvalid, a.ID, i, j, k)
				}
			}
		}
	}
	return nil
}

// Withdrawn reports whether the record was withdrawn at or before now.
func (a *Advisory) IsWithdrawn(now time.Time) bool {
	return a.Withdrawn != nil && !a.Withdrawn.After(now)
}

// IDs returns the record's id followed by its aliases and upstream ids,
// without duplicates: every name the same vulnerability goes by.
func (a *Advisory) IDs() []string {
	seen := map[string]bool{}
	var ids []string
	for _, list := range [][]string{{a.ID}, a.Aliases, a.Upstream} {
		for _, id := range list {
			if id != "" && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// CVEs returns the CVE ids among IDs and, for distro advisories that bundle
// CVEs (DSA, DLA, ALSA, ...), among related.
func (a *Advisory) CVEs() []string {
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		if strings.HasPrefix(id, "CVE-") && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, id := range a.IDs() {
		add(id)
	}
	if BundlesRelated(a.ID) {
		for _, id := range a.Related {
			add(id)
		}
	}
	return out
}

// BundlesRelated reports whether a record with this id is a distro advisory
// whose related list names the CVEs it fixes (Debian DSA/DLA/DTSA, AlmaLinux
// ALSA/ALBA/ALEA, Ubuntu USN), so the CVEs are the same vulnerability for
// grouping purposes.
func BundlesRelated(id string) bool {
	prefix, _, _ := strings.Cut(id, "-")
	switch prefix {
	case "DSA", "DLA", "DTSA", "ALSA", "ALBA", "ALEA", "USN", "RHSA", "RLSA":
		return true
	}
	return false
}

// BaseEcosystem strips a release suffix: "Debian:12" → "Debian".
func BaseEcosystem(eco string) string {
	base, _, _ := strings.Cut(eco, ":")
	return base
}

// CVEVector is a CVSS vector an advisory states for one of its CVEs; the
// database indexes them so a finding from a record without a score (Alpine,
// Debian) can be scored from another record of the same CVE (Ubuntu, GHSA).
type CVEVector struct {
	CVE      string `json:"cve"`
	Type     string `json:"type"` // CVSS_V3 or CVSS_V4
	Vector   string `json:"vector"`
	Advisory string `json:"advisory"` // the record that states it
}

// CVEVectors lists the CVSS v3/v4 vectors of a record by CVE: the record's
// own top-level severity, for each CVE among its id, aliases and upstream.
func (a *Advisory) CVEVectors() []CVEVector {
	var out []CVEVector
	for _, s := range a.Severity {
		if s.Type != SeverityCVSSv3 && s.Type != SeverityCVSSv4 {
			continue
		}
		for _, id := range a.IDs() {
			if strings.HasPrefix(id, "CVE-") {
				out = append(out, CVEVector{CVE: id, Type: s.Type, Vector: s.Score, Advisory: a.ID})
			}
		}
	}
	return out
}

// Digest returns the part of a record that matching reads: everything but
// details (its first line becomes the summary when there is none), free-form
// database_specific (except a "severity" rating) and ecosystem_specific
// (except a Go record's imports: the vulnerable packages and symbols),
// and all but five ADVISORY or WEB references. The database stores it
// beside the full record so a scan parses a fraction of the JSON.
func (a *Advisory) Digest() *Advisory {
	d := *a
	if d.Summary == "" {
		d.Summary, _, _ = strings.Cut(strings.TrimSpace(a.Details), "\n")
		if len(d.Summary) > 200 {
			d.Summary = d.Summary[:197] + "..."
		}
	}
	d.Details = ""
	d.DatabaseSpecific = nil
	if len(a.DatabaseSpecific) > 0 {
		var ds struct {
			Severity string `json:"severity"`
		}
		if json.Unmarshal(a.DatabaseSpecific, &ds) == nil && ds.Severity != "" {
			d.DatabaseSpecific, _ = json.Marshal(ds)
		}
	}
	d.References = nil
	for _, r := range a.References {
		if (r.Type == "ADVISORY" || r.Type == "WEB") && len(d.References) < 5 {
			d.References = append(d.References, r)
		}
	}
	d.Affected = make([]Affected, len(a.Affected))
	for i, af := range a.Affected {
		es := af.EcosystemSpecific
		af.EcosystemSpecific, af.DatabaseSpecific = nil, nil
		if af.Package.Ecosystem == "Go" {
			if imps := GoImports(es); len(imps) > 0 {
				af.EcosystemSpecific, _ = json.Marshal(goSpecific{Imports: imps})
			}
		}
		d.Affected[i] = af
	}
	return &d
}

// GoImport is one entry of a Go record's ecosystem_specific.imports: a
// package of the affected module and the vulnerable functions in it
// ("Func", "Type.Method"); no symbols means the whole package.
type GoImport struct {
	Path    string   `json:"path"`
	Symbols []string `json:"symbols,omitempty"`
}

type goSpecific struct {
	Imports []GoImport `json:"imports,omitempty"`
}

// GoImports reads the vulnerable packages and symbols of an affected
// entry of the Go vulnerability database (kept in Digest, matching reads
// them). Nil when there are none or the field does not parse.
func GoImports(ecosystemSpecific json.RawMessage) []GoImport {
	if len(ecosystemSpecific) == 0 {
		return nil
	}
	var es goSpecific
	if json.Unmarshal(ecosystemSpecific, &es) != nil {
		return nil
	}
	out := es.Imports[:0]
	for _, imp := range es.Imports {
		if imp.Path != "" {
			out = append(out, imp)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
