package vulndb

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/credence-dev/credence/vulndb/epss"
	"github.com/credence-dev/credence/vulndb/kev"
	"github.com/credence-dev/credence/vulndb/osv"
)

// Memory is a vulnerability database held in memory, built from inputs
// with the same checks as Import. It serves the embedded sample data and
// tests. It implements match.Source and match.ExploitSource.
type Memory struct {
	name    string
	byKey   map[[2]string][]*osv.Advisory
	ids     map[string]bool
	kevs    map[string]kev.Entry
	scores  map[string]epss.Score
	vectors map[string][]osv.CVEVector
	sources []SourceStatus
	source  string
}

// LoadMemory imports inputs into a new Memory database called name.
func LoadMemory(ctx context.Context, name string, inputs []Input) (*Memory, *ImportReport, error) {
	m := &Memory{name: name, byKey: map[[2]string][]*osv.Advisory{}, ids: map[string]bool{}, kevs: map[string]kev.Entry{}, scores: map[string]epss.Score{}, vectors: map[string][]osv.CVEVector{}}
	report := &ImportReport{}
	im := &importer{report: report}
	start := time.Now()
	for _, in := range inputs {
		if err := im.run(ctx, m, in); err != nil {
			return nil, nil, err
		}
	}
	report.Duration = time.Since(start)
	return m, report, nil
}

func (m *Memory) beginSource(in Input) error { m.source = in.Name; return nil }

func (m *Memory) add(r *record) error {
	if m.ids[r.adv.ID] {
		return fmt.Errorf("advisory %s appears twice", r.adv.ID)
	}
	m.ids[r.adv.ID] = true
	for _, v := range r.adv.CVEVectors() {
		m.vectors[v.CVE] = append(m.vectors[v.CVE], v)
	}
	for _, k := range r.keys {
		m.byKey[k] = append(m.byKey[k], r.adv)
	}
	return nil
}

func (m *Memory) kev(c *kev.Catalog) error {
	for _, e := range c.Vulnerabilities {
		m.kevs[e.CVE] = e
	}
	return nil
}

func (m *Memory) epss(s epss.Score) error { m.scores[s.CVE] = s; return nil }

func (m *Memory) endSource(st *SourceStatus) error {
	m.sources = append(m.sources, *st)
	return nil
}

// Advisories implements match.Source.
func (m *Memory) Advisories(_ context.Context, ecosystem, name string) ([]*osv.Advisory, error) {
	return slices.Clone(m.byKey[[2]string{ecosystem, name}]), nil
}

// EcosystemRecords implements match.EcosystemSource.
func (m *Memory) EcosystemRecords(_ context.Context, ecosystem string) (int, error) {
	ids := map[string]bool{}
	for k, advs := range m.byKey {
		if k[0] == ecosystem {
			for _, a := range advs {
				ids[a.ID] = true
			}
		}
	}
	return len(ids), nil
}

// KEV implements match.ExploitSource.
func (m *Memory) KEV(_ context.Context, cves []string) (map[string]kev.Entry, error) {
	out := map[string]kev.Entry{}
	for _, c := range cves {
		if e, ok := m.kevs[c]; ok {
			out[c] = e
		}
	}
	return out, nil
}

// EPSS implements match.ExploitSource.
func (m *Memory) EPSS(_ context.Context, cves []string) (map[string]epss.Score, error) {
	out := map[string]epss.Score{}
	for _, c := range cves {
		if s, ok := m.scores[c]; ok {
			out[c] = s
		}
	}
	return out, nil
}

// CVSS implements match.SeveritySource.
func (m *Memory) CVSS(_ context.Context, cves []string) (map[string][]osv.CVEVector, error) {
	out := map[string][]osv.CVEVector{}
	for _, c := range cves {
		if v, ok := m.vectors[c]; ok {
			out[c] = slices.Clone(v)
		}
	}
	return out, nil
}

// Status describes the in-memory database.
func (m *Memory) Status(context.Context) (*Status, error) {
	st := &Status{Path: m.name, Schema: SchemaVersion, Sources: slices.Clone(m.sources), Advisories: len(m.ids), KEV: len(m.kevs), EPSS: len(m.scores)}
	counts := map[string]map[string]bool{}
	for k, advs := range m.byKey {
		if counts[k[0]] == nil {
			counts[k[0]] = map[string]bool{}
		}
		for _, a := range advs {
			counts[k[0]][a.ID] = true
		}
	}
	for eco, ids := range counts {
		st.Ecosystems = append(st.Ecosystems, EcosystemCount{Ecosystem: eco, Records: len(ids)})
	}
	slices.SortFunc(st.Ecosystems, func(a, b EcosystemCount) int {
		if a.Ecosystem < b.Ecosystem {
			return -1
		}
		if a.Ecosystem > b.Ecosystem {
			return 1
		}
		return 0
	})
	return st, nil
}
