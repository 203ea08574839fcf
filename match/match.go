// Package match decides which OSV advisories apply to an inventory's
// packages (per-ecosystem version order, ranges, aliases) and returns findings.
package match

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/versions"
	"github.com/credence-dev/credence/vulndb/epss"
	"github.com/credence-dev/credence/vulndb/kev"
	"github.com/credence-dev/credence/vulndb/osv"
)

// Source gives the advisories filed under one package name in one
// ecosystem ("Debian:12", "npm"); name is normalised with
// osv.NormalizeName. The vulnerability database implements it; it may
// return advisories whose other affected entries name other packages.
type Source interface {
	Advisories(ctx context.Context, ecosystem, name string) ([]*osv.Advisory, error)
}

// ExploitSource is an optional capability of a Source (found by type
// assertion): CISA KEV entries and EPSS scores by CVE id.
type ExploitSource interface {
	KEV(ctx context.Context, cves []string) (map[string]kev.Entry, error)
	EPSS(ctx context.Context, cves []string) (map[string]epss.Score, error)
}

// SeveritySource is an optional capability of a Source: the CVSS vectors
// any advisory in the database states for a CVE. Findings whose own records
// carry no vector (Alpine, Debian, Go) are scored from them.
type SeveritySource interface {
	CVSS(ctx context.Context, cves []string) (map[string][]osv.CVEVector, error)
}

// Finding is one vulnerability in one package: the advisories that name
// the same vulnerability (by id, alias, upstream, or the CVEs a distro
// advisory bundles) are merged into one finding.
type Finding struct {
	// ID is the preferred advisory id (a distro or ecosystem advisory over a
	// per-CVE mirror record, then the smallest).
	ID string `json:"id"`
	// Aliases are every other name of the vulnerability: the merged
	// advisories' ids, aliases, upstream ids and bundled CVEs.
	Aliases []string `json:"aliases,omitempty"`
	// Advisories are the ids of the records that matched.
	Advisories []string           `json:"advisories"`
	Summary    string             `json:"summary,omitempty"`
	Package    *inventory.Package `json:"package"`
	Installed  string             `json:"installedVersion"`
	Fixed      []string           `json:"fixedVersions,omitempty"`
	FixState   FixState           `json:"fixState"`
	Severity   Severity           `json:"severity"`
	KEV        *KEV               `json:"kev,omitempty"`
	// RelatedKEV are KEV entries of CVEs the advisories list as related
	// (a different but closely linked vulnerability, as GO-2023-2102's
	// CVE-2023-44487): shown, but not a KEV finding for --fail-on kev.
	RelatedKEV []KEV        `json:"relatedKEV,omitempty"`
	EPSS       *EPSS        `json:"epss,omitempty"`
	Reasons    []Reason     `json:"reasons"`
	Suppressed *Suppression `json:"suppressed,omitempty"`
	Matcher    string       `json:"matcher"`
	References []string     `json:"references,omitempty"`
	Published  *time.Time   `json:"published,omitempty"`
	advisories []*osv.Advisory
}

// FixState says whether a fixed version is known.
type FixState string

// Fix states.
const (
	FixAvailable FixState = "fixed"
	NoFixYet     FixState = "no fix yet"
)

// KEV is the CISA KEV entry of one of the finding's CVEs.
type KEV struct {
	CVE                        string `json:"cve"`
	DateAdded                  string `json:"dateAdded"`
	DueDate                    string `json:"dueDate,omitempty"`
	KnownRansomwareCampaignUse string `json:"knownRansomwareCampaignUse,omitempty"`
}

// EPSS is the highest EPSS score among the finding's CVEs.
type EPSS struct {
	CVE        string  `json:"cve"`
	Score      float64 `json:"score"`
	Percentile float64 `json:"percentile"`
}

// Undecided is a package (or one advisory for it) that could not be
// evaluated: unknown ecosystem, a version that does not parse, a range
// with bad events. It is not safe; it is unknown.
type Undecided struct {
	Package  *inventory.Package `json:"package"`
	Advisory string             `json:"advisory,omitempty"`
	Reason   string             `json:"reason"`
}

// Result is the outcome of matching one inventory.
type Result struct {
	Findings  []Finding   `json:"findings"`
	Undecided []Undecided `json:"undecided,omitempty"`
	// Matchers are name@version of every matcher that ran.
	Matchers []string      `json:"matchers"`
	Queries  int           `json:"queries"`
	Duration time.Duration `json:"durationNs"`
}

// Option configures Match.
type Option func(*options)

type options struct {
	now      time.Time
	matchers []Matcher
}

// WithTime sets "now" for withdrawn records (default time.Now).
func WithTime(t time.Time) Option { return func(o *options) { o.now = t } }

// WithMatchers replaces the matcher list (default Matchers()).
func WithMatchers(m ...Matcher) Option { return func(o *options) { o.matchers = m } }

type hit struct {
	adv     *osv.Advisory
	reasons []Reason
}

// Match finds the advisories of src that apply to pkgs. Errors are
// operational (the source failed, the context ended); packages that cannot
// be evaluated are reported in Result.Undecided.
func Match(ctx context.Context, src Source, pkgs []*inventory.Package, opts ...Option) (*Result, error) {
	start := time.Now()
	o := options{now: time.Now(), matchers: Matchers()}
	for _, opt := range opts {
		opt(&o)
	}
	res := &Result{Findings: []Finding{}}
	for _, m := range o.matchers {
		res.Matchers = append(res.Matchers, fmt.Sprintf("%s@%d", m.Name(), m.Version()))
	}
	cache := map[[2]string][]*osv.Advisory{}
	lookup := func(eco, name string) ([]*osv.Advisory, error) {
		k := [2]string{eco, name}
		if advs, ok := cache[k]; ok {
			return advs, nil
		}
		res.Queries++
		advs, err := src.Advisories(ctx, eco, name)
		if err != nil {
			return nil, fmt.Errorf("look up %s %s: %w", eco, name, err)
		}
		cache[k] = advs
		return advs, nil
	}
	if err := prefetch(ctx, src, pkgs, o.matchers, cache, &res.Queries); err != nil {
		return nil, err
	}
	for _, p := range pkgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if p.Ecosystem == "" {
			res.Undecided = append(res.Undecided, Undecided{Package: p, Reason: "no OSV ecosystem known for this package (unrecognised distribution?)"})
			continue
		}
		m := matcherFor(o.matchers, p)
		if m == nil {
			res.Undecided = append(res.Undecided, Undecided{Package: p, Reason: "no matcher handles this package type"})
			continue
		}
		var hits []hit
		seen := map[string]int{}
		for _, q := range m.Query(p) {
			if !versions.Supported(q.Ecosystem) {
				res.Undecided = append(res.Undecided, Undecided{Package: p, Reason: fmt.Sprintf("no version order known for ecosystem %s", q.Ecosystem)})
				continue
			}
			advs, err := lookup(q.Ecosystem, q.Name)
			if err != nil {
				return nil, err
			}
			if len(advs) == 0 {
				continue
			}
			// Only a package with advisories needs its version: one that
			// does not parse ("(devel)") is then undecided, not safe.
			v, err := versions.Parse(q.Ecosystem, q.Version)
			if err != nil {
				res.Undecided = append(res.Undecided, Undecided{Package: p, Reason: fmt.Sprintf("%s version: %v (%d advisories name this package)", q.Via, err, len(advs))})
				continue
			}
			for _, a := range advs {
				if a.IsWithdrawn(o.now) {
					continue
				}
				var reasons []Reason
				var undecided error
				for i := range a.Affected {
					af := &a.Affected[i]
					if af.Package.Ecosystem != q.Ecosystem || osv.NormalizeName(af.Package.Ecosystem, af.Package.Name) != q.Name {
						continue
					}
					rs, err := affects(q.Ecosystem, q.Version, v, af)
					if err != nil {
						undecided = err
						continue
					}
					for _, r := range rs {
						r.Advisory, r.Ecosystem, r.Package, r.Version = a.ID, q.Ecosystem, af.Package.Name, q.Version
						reasons = append(reasons, r)
					}
				}
				if len(reasons) == 0 {
					var u *Undecidable
					if errors.As(undecided, &u) {
						res.Undecided = append(res.Undecided, Undecided{Package: p, Advisory: a.ID, Reason: u.Msg})
					}
					continue
				}
				if i, ok := seen[a.ID]; ok {
					hits[i].reasons = append(hits[i].reasons, reasons...)
					continue
				}
				seen[a.ID] = len(hits)
				hits = append(hits, hit{adv: a, reasons: reasons})
			}
		}
		for _, f := range group(hits) {
			f.Package = p
			f.Installed = p.Version
			f.Matcher = fmt.Sprintf("%s@%d", m.Name(), m.Version())
			res.Findings = append(res.Findings, f)
		}
	}
	if ss, ok := src.(SeveritySource); ok {
		if err := scoreByCVE(ctx, ss, res.Findings); err != nil {
			return nil, err
		}
	}
	if es, ok := src.(ExploitSource); ok {
		if err := enrich(ctx, es, res.Findings); err != nil {
			return nil, err
		}
	}
	SortFindings(res.Findings)
	res.Duration = time.Since(start)
	return res, nil
}

// matcherFor returns the first matcher that handles p.
func matcherFor(ms []Matcher, p *inventory.Package) Matcher {
	for _, m := range ms {
		if m.Filter(p) {
			return m
		}
	}
	return nil
}

// prefetch runs every look-up the packages need, a few at a time (the
// store's work is mostly decoding records), into cache.
func prefetch(ctx context.Context, src Source, pkgs []*inventory.Package, ms []Matcher, cache map[[2]string][]*osv.Advisory, queries *int) error {
	var keys [][2]string
	seen := map[[2]string]bool{}
	for _, p := range pkgs {
		if p.Ecosystem == "" {
			continue
		}
		m := matcherFor(ms, p)
		if m == nil {
			continue
		}
		for _, q := range m.Query(p) {
			k := [2]string{q.Ecosystem, q.Name}
			if !seen[k] && versions.Supported(q.Ecosystem) {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	results := make([][]*osv.Advisory, len(keys))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(2, runtime.GOMAXPROCS(0)))
	for i, k := range keys {
		g.Go(func() error {
			advs, err := src.Advisories(ctx, k[0], k[1])
			if err != nil {
				return fmt.Errorf("look up %s %s: %w", k[0], k[1], err)
			}
			results[i] = advs
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, k := range keys {
		cache[k] = results[i]
	}
	*queries += len(keys)
	return nil
}

// SortFindings orders findings by package (name, version), then severity
// (worst first), then id.
func SortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.Package.Name, b.Package.Name),
			cmp.Compare(a.Package.Version, b.Package.Version),
			cmp.Compare(a.Package.Type, b.Package.Type),
			cmp.Compare(strings.Join(a.Package.Locations, ","), strings.Join(b.Package.Locations, ",")),
			-cmp.Compare(a.Severity.Level.Rank(), b.Severity.Level.Rank()),
			cmp.Compare(a.ID, b.ID),
		)
	})
}

// names are the identifiers that tie records of one vulnerability together.
func names(a *osv.Advisory) []string {
	ids := a.IDs()
	if osv.BundlesRelated(a.ID) {
		ids = append(ids, a.Related...)
	}
	return ids
}

// group merges hits that share a name into findings (union-find).
func group(hits []hit) []Finding {
	if len(hits) == 0 {
		return nil
	}
	parent := make([]int, len(hits))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	for i, h := range hits {
		for _, n := range names(h.adv) {
			if j, ok := owner[n]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[n] = i
			}
		}
	}
	groups := map[int][]hit{}
	var order []int
	for i, h := range hits {
		r := find(i)
		if _, ok := groups[r]; !ok {
			order = append(order, r)
		}
		groups[r] = append(groups[r], h)
	}
	var out []Finding
	for _, r := range order {
		out = append(out, finding(groups[r]))
	}
	return out
}

// mirrorRecord reports ids of per-CVE records that mirror a CVE in a
// distribution ("DEBIAN-CVE-2023-0286", "UBUNTU-CVE-…", "ALPINE-CVE-…"):
// a grouped finding prefers another id.
func mirrorRecord(id string) bool {
	_, rest, ok := strings.Cut(id, "-")
	return ok && strings.HasPrefix(rest, "CVE-")
}

func finding(hs []hit) Finding {
	slices.SortFunc(hs, func(a, b hit) int {
		am, bm := mirrorRecord(a.adv.ID), mirrorRecord(b.adv.ID)
		if am != bm {
			if am {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.adv.ID, b.adv.ID)
	})
	f := Finding{ID: hs[0].adv.ID}
	all := map[string]bool{}
	var fixed []string
	open := false
	for _, h := range hs {
		f.Advisories = append(f.Advisories, h.adv.ID)
		f.advisories = append(f.advisories, h.adv)
		for _, n := range names(h.adv) {
			all[n] = true
		}
		f.Reasons = append(f.Reasons, h.reasons...)
		for _, r := range h.reasons {
			if r.Fixed != "" {
				if !slices.Contains(fixed, r.Fixed) {
					fixed = append(fixed, r.Fixed)
				}
			} else {
				open = true
			}
		}
		if f.Summary == "" {
			f.Summary = summary(h.adv)
		}
		if f.Published == nil && h.adv.Published != nil {
			f.Published = h.adv.Published
		}
		for _, ref := range h.adv.References {
			if (ref.Type == "ADVISORY" || ref.Type == "WEB") && len(f.References) < 5 && !slices.Contains(f.References, ref.URL) {
				f.References = append(f.References, ref.URL)
			}
		}
	}
	delete(all, f.ID)
	for n := range all {
		f.Aliases = append(f.Aliases, n)
	}
	slices.Sort(f.Aliases)
	f.Fixed = fixed
	f.FixState = FixAvailable
	if len(fixed) == 0 {
		f.FixState = NoFixYet
	}
	_ = open
	f.Severity = severityOf(hs)
	return f
}

func summary(a *osv.Advisory) string {
	s := strings.TrimSpace(a.Summary)
	if s == "" {
		s, _, _ = strings.Cut(strings.TrimSpace(a.Details), "\n")
	}
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// CVEs returns the CVE ids of a finding (its id and aliases).
func (f *Finding) CVEs() []string {
	var out []string
	for _, id := range append([]string{f.ID}, f.Aliases...) {
		if strings.HasPrefix(id, "CVE-") {
			out = append(out, id)
		}
	}
	return out
}

func enrich(ctx context.Context, es ExploitSource, fs []Finding) error {
	var cves []string
	seen := map[string]bool{}
	for i := range fs {
		for _, c := range fs[i].CVEs() {
			if !seen[c] {
				seen[c] = true
				cves = append(cves, c)
			}
		}
	}
	for i := range fs {
		for _, c := range fs[i].relatedCVEs() {
			if !seen[c] {
				seen[c] = true
				cves = append(cves, c)
			}
		}
	}
	if len(cves) == 0 {
		return nil
	}
	kevs, err := es.KEV(ctx, cves)
	if err != nil {
		return fmt.Errorf("look up KEV: %w", err)
	}
	scores, err := es.EPSS(ctx, cves)
	if err != nil {
		return fmt.Errorf("look up EPSS: %w", err)
	}
	for i := range fs {
		for _, c := range fs[i].CVEs() {
			if e, ok := kevs[c]; ok && (fs[i].KEV == nil || e.DateAdded < fs[i].KEV.DateAdded) {
				fs[i].KEV = &KEV{CVE: c, DateAdded: e.DateAdded, DueDate: e.DueDate, KnownRansomwareCampaignUse: e.KnownRansomwareCampaignUse}
			}
			if s, ok := scores[c]; ok && (fs[i].EPSS == nil || s.EPSS > fs[i].EPSS.Score) {
				fs[i].EPSS = &EPSS{CVE: c, Score: s.EPSS, Percentile: s.Percentile}
			}
		}
		for _, c := range fs[i].relatedCVEs() {
			if e, ok := kevs[c]; ok {
				fs[i].RelatedKEV = append(fs[i].RelatedKEV, KEV{CVE: c, DateAdded: e.DateAdded, DueDate: e.DueDate, KnownRansomwareCampaignUse: e.KnownRansomwareCampaignUse})
			}
		}
	}
	return nil
}

// relatedCVEs are the CVEs the finding's advisories list as related, not
// already among its own names.
func (f *Finding) relatedCVEs() []string {
	own := map[string]bool{f.ID: true}
	for _, a := range f.Aliases {
		own[a] = true
	}
	var out []string
	for _, a := range f.advisories {
		for _, r := range a.Related {
			if strings.HasPrefix(r, "CVE-") && !own[r] && !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return out
}
