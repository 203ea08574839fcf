package match

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// IgnoreRule accepts the risk of one vulnerability (or of the
// vulnerabilities one advisory describes), optionally only in one package,
// until it expires. Accepted vulnerabilities stay in every output, marked,
// so nothing is hidden.
type IgnoreRule struct {
	// ID is the finding id or any of its aliases (a CVE id works).
	ID string `yaml:"id" json:"id"`
	// Package, when set, limits the rule to packages of that name (the
	// ecosystem's canonical name, "groupId:artifactId" for Maven, also
	// accepted: the plain name or the purl without version).
	Package string `yaml:"package,omitempty" json:"package,omitempty"`
	Reason  string `yaml:"reason" json:"reason"`
	// Expires is a date (2006-01-02) or an RFC 3339 time; after it the rule
	// stops applying and a warning says so. Empty: no expiry.
	Expires string `yaml:"expires,omitempty" json:"expires,omitempty"`
	expiry  time.Time
}

// Suppression marks a vulnerability (or a whole finding) as an accepted risk.
type Suppression struct {
	Reason  string `json:"reason"`
	Expires string `json:"expires,omitempty"`
	RuleID  string `json:"rule"`
}

// maxIgnoreFile bounds an ignore file.
const maxIgnoreFile = 4 << 20

// ParseIgnores reads an ignore file, YAML or JSON: either a list of rules
// or an object {"ignore": [rules]}. Every rule needs an id and a reason.
func ParseIgnores(r io.Reader) ([]IgnoreRule, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxIgnoreFile+1))
	if err != nil {
		return nil, fmt.Errorf("read ignore file: %w", err)
	}
	if len(b) > maxIgnoreFile {
		return nil, fmt.Errorf("read ignore file: larger than %d bytes", maxIgnoreFile)
	}
	var rules []IgnoreRule
	trim := bytes.TrimSpace(b)
	if len(trim) > 0 && trim[0] == '[' || bytes.HasPrefix(trim, []byte("- ")) || bytes.HasPrefix(trim, []byte("-\n")) {
		err = yaml.Unmarshal(b, &rules)
	} else {
		var doc struct {
			Ignore []IgnoreRule `yaml:"ignore"`
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err = dec.Decode(&doc); err == io.EOF {
			err = nil
		}
		rules = doc.Ignore
	}
	if err != nil {
		return nil, fmt.Errorf("parse ignore file: %w", err)
	}
	for i := range rules {
		r := &rules[i]
		if strings.TrimSpace(r.ID) == "" {
			return nil, fmt.Errorf("parse ignore file: rule %d has no id", i+1)
		}
		if strings.TrimSpace(r.Reason) == "" {
			return nil, fmt.Errorf("parse ignore file: rule %d (%s) has no reason: say why the risk is accepted", i+1, r.ID)
		}
		if r.Expires != "" {
			t, err := time.Parse(time.DateOnly, r.Expires)
			if err != nil {
				t, err = time.Parse(time.RFC3339, r.Expires)
			}
			if err != nil {
				return nil, fmt.Errorf("parse ignore file: rule %d (%s): expires %q is not a date (2006-01-02)", i+1, r.ID, r.Expires)
			}
			if len(r.Expires) == len(time.DateOnly) {
				t = t.Add(24*time.Hour - time.Nanosecond) // the whole day
			}
			r.expiry = t
		}
	}
	return rules, nil
}

// ApplyIgnores accepts the vulnerabilities the rules name, one by one. A
// rule's id may be a vulnerability of a finding (a CVE, or the id of a
// record that names none): that one is accepted. Or it may name one of the
// finding's records (its id or an alias: "DSA-5343-1", "GHSA-…"): the
// vulnerabilities that record describes are accepted, except a KEV-listed
// one among several, which only a rule naming it accepts (a bundle accepted
// for its known CVEs must not hide an exploited one). A finding is
// suppressed once all of its vulnerabilities are; until then it stays
// open, with its remaining severity and KEV status, and still gates.
// Expired rules do not apply; each gives a warning, as does a rule held
// back by a KEV-listed CVE.
func ApplyIgnores(fs []Finding, rules []IgnoreRule, now time.Time) (warnings []string) {
	for _, r := range rules {
		if !r.expiry.IsZero() && now.After(r.expiry) {
			warnings = append(warnings, fmt.Sprintf("ignore rule for %s expired on %s and no longer applies (%s)", r.ID, r.Expires, r.Reason))
			continue
		}
		for i := range fs {
			f := &fs[i]
			if r.Package != "" && !packageIs(f, r.Package) {
				continue
			}
			targets, several := f.named(r.ID)
			for _, vi := range targets {
				v := &f.Vulnerabilities[vi]
				if v.Suppressed != nil {
					continue
				}
				if several && v.KEV != nil && v.ID != r.ID {
					warnings = append(warnings, fmt.Sprintf("ignore rule for %s does not accept %s in %s %s: it is in the CISA KEV catalog; name %s in a rule of its own to accept it", r.ID, v.ID, CanonicalName(f.Package), f.Installed, v.ID))
					continue
				}
				v.Suppressed = &Suppression{Reason: r.Reason, Expires: r.Expires, RuleID: r.ID}
			}
			f.Suppressed = f.suppression()
		}
	}
	return warnings
}

// named returns the indexes of the vulnerabilities an ignore rule's id
// names in f, and whether it names them through a record that describes
// several.
func (f *Finding) named(id string) (idx []int, several bool) {
	for i, v := range f.Vulnerabilities {
		if v.ID == id {
			return []int{i}, false
		}
	}
	for _, a := range f.advisories {
		if !slices.Contains(a.IDs(), id) {
			continue
		}
		for i, v := range f.Vulnerabilities {
			if slices.Contains(v.Advisories, a.ID) && !slices.Contains(idx, i) {
				idx = append(idx, i)
			}
		}
	}
	return idx, len(idx) > 1
}

// suppression is the finding's suppression when every vulnerability is
// accepted: the rule's, or, when several rules did, all of them.
func (f *Finding) suppression() *Suppression {
	var rules []*Suppression
	for _, v := range f.Vulnerabilities {
		if v.Suppressed == nil {
			return nil
		}
		if !slices.ContainsFunc(rules, func(s *Suppression) bool { return *s == *v.Suppressed }) {
			rules = append(rules, v.Suppressed)
		}
	}
	if len(rules) == 1 {
		s := *rules[0]
		return &s
	}
	var out Suppression
	var reasons, ids []string
	for _, s := range rules {
		reasons = append(reasons, s.RuleID+": "+s.Reason)
		ids = append(ids, s.RuleID)
		if s.Expires != "" && (out.Expires == "" || s.Expires < out.Expires) {
			out.Expires = s.Expires
		}
	}
	out.Reason = strings.Join(reasons, "; ")
	out.RuleID = strings.Join(ids, ", ")
	return &out
}

func packageIs(f *Finding, name string) bool {
	p := f.Package
	if name == p.Name || name == CanonicalName(p) {
		return true
	}
	purl, _, _ := strings.Cut(p.PURL, "@")
	return purl != "" && name == purl
}
