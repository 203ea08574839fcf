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
	// Fixed are the fixed versions of the ranges that matched; FixState
	// says whether every one of them has a fix.
	Fixed    []string `json:"fixedVersions,omitempty"`
	FixState FixState `json:"fixState"`
	// Severity is the worst among the finding's vulnerabilities.
	Severity Severity `json:"severity"`
	// KEV is the earliest KEV entry among the finding's vulnerabilities.
	KEV *KEV `json:"kev,omitempty"`
	// RelatedKEV are KEV entries of CVEs the advisories list as related
	// (a different but closely linked vulnerability, as GO-2023-2102's
	// CVE-2023-44487): shown, but not a KEV finding for --fail-on kev.
	RelatedKEV []KEV    `json:"relatedKEV,omitempty"`
	EPSS       *EPSS    `json:"epss,omitempty"`
	Reasons    []Reason `json:"reasons"`
	// Vulnerabilities are the distinct vulnerabilities merged into the
	// finding (one per CVE of a DSA that bundles several), each with its
	// own severity, fix, KEV entry and acceptance.
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
	// Suppressed is set when ignore rules accept every vulnerability of the
	// finding; while one is open the finding stays open and gates.
	Suppressed *Suppression `json:"suppressed,omitempty"`
	// Reachability, for a Go module or standard library finding, says
	// whether the vulnerable code is linked into the binary (not linked
	// only when every vulnerability's is not); nil for other ecosystems.
	// A finding that is not linked is still a finding: it is shown, and
	// gates as any other.
	Reachability *Reachability `json:"reachability,omitempty"`
	Matcher      string        `json:"matcher"`
	References   []string      `json:"references,omitempty"`
	Published    *time.Time    `json:"published,omitempty"`
	advisories   []*osv.Advisory
}

// FixState says whether a fixed version is known.
type FixState string

// Fix states.
const (
	// FixAvailable: every range that matched ends in a fixed version.
	FixAvailable FixState = "fixed"
	// NoFixYet: no range that matched has a fixed version.
	NoFixYet FixState = "no fix yet"
	// FixPartial: some ranges that matched have a fixed version and some
	// have none (a merged record with no fix yet for one CVE): upgrading to
	// a fixed version leaves the package affected.
	FixPartial FixState = "partly fixed"
)

// Vulnerability is one vulnerability inside a finding: a CVE, or the id of
// a record that names no CVE. Ignore rules accept vulnerabilities one by
// one, so accepting one CVE of a bundle never hides the others.
type Vulnerability struct {
	ID string `json:"id"`
	// Advisories are the finding's records that describe it.
	Advisories []string     `json:"advisories"`
	Severity   Severity     `json:"severity"`
	Fixed      []string     `json:"fixedVersions,omitempty"`
	FixState   FixState     `json:"fixState"`
	KEV        *KEV         `json:"kev,omitempty"`
	Suppressed *Suppression `json:"suppressed,omitempty"`
	// Reachability is what the records of this vulnerability say of the
	// Go binary its package is in (see Finding.Reachability).
	Reachability *Reachability `json:"reachability,omitempty"`
}

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
// evaluated: a version that does not parse, a range with bad events. It is
// not safe; it is unknown, and its package is in a GapUndecided coverage
// gap. (Packages that could not be looked up at all are only in gaps.)
type Undecided struct {
	Package  *inventory.Package `json:"package"`
	Advisory string             `json:"advisory,omitempty"`
	Reason   string             `json:"reason"`
}

// Result is the outcome of matching one inventory.
type Result struct {
	Findings []Finding `json:"findings"`
	// Coverage lists the packages that could not be checked, and why:
	// unknown, not clean. Gates fail on them unless told otherwise.
	Coverage  Coverage    `json:"coverage"`
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
	distro   *inventory.Distro
}

// WithDistro names the distribution the packages come from (the
// inventory's), so packages without an ecosystem are explained: no
// os-release, a distribution credence does not recognise, or one OSV
// publishes no advisories for.
func WithDistro(d *inventory.Distro) Option { return func(o *options) { o.distro = d } }

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
	var gap gaps
	counts := &ecosystemCounts{known: map[string]int{}}
	if es, ok := src.(EcosystemSource); ok {
		counts.src = es
	}
	for _, p := range pkgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if p.Ecosystem == "" {
			if p.OSPackage() {
				reason, detail := noEcosystem(o.distro)
				gap.add(p, reason, "", detail)
			} else {
				gap.add(p, GapNoMatcher, "", fmt.Sprintf("no OSV ecosystem is known for %s packages", p.Type))
			}
			continue
		}
		m := matcherFor(o.matchers, p)
		if m == nil {
			gap.add(p, GapNoMatcher, p.Ecosystem, fmt.Sprintf("no matcher handles %s packages", p.Type))
			continue
		}
		var hits []hit
		seen := map[string]int{}
		covered, emptyEco, silent := false, "", false
		for _, q := range m.Query(p) {
			if !versions.Supported(q.Ecosystem) {
				gap.add(p, GapNoVersionOrder, q.Ecosystem, fmt.Sprintf("credence knows no version order for ecosystem %s", q.Ecosystem))
				continue
			}
			switch n, err := counts.records(ctx, q.Ecosystem); {
			case err != nil:
				return nil, err
			case n > 0:
				covered = true
			case n == 0 && emptyEco == "":
				emptyEco = q.Ecosystem
			case n < 0:
				silent = true
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
		switch {
		case covered:
		case emptyEco != "":
			gap.add(p, GapNoRecords, emptyEco, fmt.Sprintf("the database holds no advisories for ecosystem %s", emptyEco))
		case silent:
			gap.add(p, GapNoRecords, p.Ecosystem, "the database cannot say which ecosystems it holds advisories for")
		}
		for _, f := range group(hits) {
			f.Package = p
			f.Installed = p.Version
			f.Matcher = fmt.Sprintf("%s@%d", m.Name(), m.Version())
			setReachability(&f, p)
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
	for _, u := range res.Undecided {
		gap.add(u.Package, GapUndecided, u.Package.Ecosystem, "an advisory for the package, or its version, could not be evaluated (see undecided)")
	}
	res.Coverage = gap.coverage()
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
	for _, h := range hs {
		f.Advisories = append(f.Advisories, h.adv.ID)
		f.advisories = append(f.advisories, h.adv)
		for _, n := range names(h.adv) {
			all[n] = true
		}
		f.Reasons = append(f.Reasons, h.reasons...)
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
	f.Fixed, f.FixState = fixOf(f.Reasons)
	f.Vulnerabilities = vulnerabilities(hs)
	f.Severity = f.worst(false)
	return f
}

// fixOf reads the fixed versions and the fix state of the ranges that
// matched: every range must end in a fix for the state to be "fixed".
func fixOf(reasons []Reason) ([]string, FixState) {
	var fixed []string
	open := false
	for _, r := range reasons {
		if r.Fixed == "" {
			open = true
			continue
		}
		if !slices.Contains(fixed, r.Fixed) {
			fixed = append(fixed, r.Fixed)
		}
	}
	switch {
	case len(fixed) == 0:
		return nil, NoFixYet
	case open:
		return fixed, FixPartial
	}
	return fixed, FixAvailable
}

// vulnerabilities splits the records of one finding into the
// vulnerabilities they describe: each CVE a record names (its id, aliases,
// upstream, and the CVEs a distro advisory bundles), or, for a record that
// names none, the CVE of a single-CVE record it shares an id with, else the
// record itself. Each has the records that cover it, and their ranges.
func vulnerabilities(hs []hit) []Vulnerability {
	index := map[string]int{}
	var vs []Vulnerability
	var covers [][]hit
	add := func(id string, h hit) {
		i, ok := index[id]
		if !ok {
			i = len(vs)
			index[id] = i
			vs = append(vs, Vulnerability{ID: id})
			covers = append(covers, nil)
		}
		if !slices.Contains(vs[i].Advisories, h.adv.ID) {
			vs[i].Advisories = append(vs[i].Advisories, h.adv.ID)
			covers[i] = append(covers[i], h)
		}
	}
	var orphans []hit
	for _, h := range hs {
		cves := h.adv.CVEs()
		if len(cves) == 0 {
			orphans = append(orphans, h)
			continue
		}
		for _, c := range cves {
			add(c, h)
		}
	}
	for _, h := range orphans {
		target := h.adv.ID
		for _, o := range hs {
			if cves := o.adv.CVEs(); o.adv != h.adv && len(cves) == 1 && sharesID(h.adv, o.adv) {
				target = cves[0]
				break
			}
		}
		add(target, h)
	}
	for i := range vs {
		var reasons []Reason
		for _, h := range covers[i] {
			reasons = append(reasons, h.reasons...)
		}
		vs[i].Fixed, vs[i].FixState = fixOf(reasons)
		vs[i].Severity = severityOf(covers[i])
	}
	slices.SortFunc(vs, func(a, b Vulnerability) int { return cmp.Compare(a.ID, b.ID) })
	return vs
}

func sharesID(a, b *osv.Advisory) bool {
	ids := b.IDs()
	for _, id := range a.IDs() {
		if slices.Contains(ids, id) {
			return true
		}
	}
	return false
}

// worst is the worst severity among the finding's vulnerabilities (only
// the open ones, not accepted by an ignore rule, when open is set).
func (f *Finding) worst(open bool) Severity {
	best := Severity{Level: Unknown}
	for _, v := range f.Vulnerabilities {
		if open && v.Suppressed != nil {
			continue
		}
		s := v.Severity
		if s.Level.Rank() > best.Level.Rank() || (s.Level == best.Level && s.Score > best.Score) {
			best = s
		}
	}
	return best
}

// Open returns the vulnerabilities of the finding that no ignore rule
// accepts. A finding is suppressed only when none is left open.
func (f *Finding) Open() []Vulnerability {
	var out []Vulnerability
	for _, v := range f.Vulnerabilities {
		if v.Suppressed == nil {
			out = append(out, v)
		}
	}
	return out
}

// OpenSeverity is the worst severity among the open vulnerabilities: what
// --fail-on levels compare (Unknown when every one is accepted).
func (f *Finding) OpenSeverity() Severity { return f.worst(true) }

// OpenKEV is the KEV entry of an open vulnerability (the earliest added),
// nil when none is in the catalog: what --fail-on kev looks at.
func (f *Finding) OpenKEV() *KEV {
	var out *KEV
	for _, v := range f.Vulnerabilities {
		if v.Suppressed == nil && v.KEV != nil && (out == nil || v.KEV.DateAdded < out.DateAdded) {
			out = v.KEV
		}
	}
	return out
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
		for j := range fs[i].Vulnerabilities {
			v := &fs[i].Vulnerabilities[j]
			if e, ok := kevs[v.ID]; ok {
				v.KEV = &KEV{CVE: v.ID, DateAdded: e.DateAdded, DueDate: e.DueDate, KnownRansomwareCampaignUse: e.KnownRansomwareCampaignUse}
			}
		}
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
