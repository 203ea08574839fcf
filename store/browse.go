package store

import (
	"context"
	"strings"
	"unicode/utf8"
)

// Namespaces lists the namespaces of the workloads current now (or AsOf a
// time), sorted: what a namespace filter offers.
func (s *Store) Namespaces(ctx context.Context, opts ...ReadOption) ([]string, error) {
	where, args := currentSubjects(readOpts(opts))
	// The namespace is the workload key's first part: taken from the key,
	// SQLite reads the index on current rows, not every row (a Subject's
	// row holds its JSON).
	ns := `substr(workload, 1, instr(workload, '/') - 1)`
	if s.t.backend == Postgres {
		ns = `split_part(workload, '/', 1)`
	}
	return stringsOf(ctx, s, s.r, `SELECT DISTINCT `+ns+` AS ns FROM subjects WHERE `+where+` ORDER BY ns`, args...)
}

// CountWorkloads counts the workloads ListWorkloads would list over all its
// pages (lo's Namespace, MinScore and AsOf apply; its Limit and cursor do
// not) and, in the same pass, how many of them score at least each of
// scores: atLeast[i] for scores[i].
func (s *Store) CountWorkloads(ctx context.Context, lo ListOptions, scores ...float64) (total int, atLeast []int, err error) {
	where, args := currentSubjects(readOptions{asOf: lo.AsOf})
	cols := []string{"count(*)"}
	var colArgs []any
	for _, sc := range scores {
		cols = append(cols, "count(CASE WHEN score >= ? THEN 1 END)")
		colArgs = append(colArgs, sc)
	}
	q := `SELECT ` + strings.Join(cols, ", ") + ` FROM subjects WHERE ` + where
	args = append(colArgs, args...)
	if lo.Namespace != "" {
		// The key's prefix, as in Namespaces: answered from the index.
		q += ` AND substr(workload, 1, ?) = ?`
		args = append(args, utf8.RuneCountInString(lo.Namespace)+1, lo.Namespace+"/")
	}
	if lo.MinScore > 0 {
		q += ` AND score >= ?`
		args = append(args, lo.MinScore)
	}
	out := make([]int64, len(cols))
	dst := make([]any, len(cols))
	for i := range out {
		dst[i] = &out[i]
	}
	if err := s.row(ctx, s.r, q, args...).Scan(dst...); err != nil {
		return 0, nil, classify(err)
	}
	atLeast = make([]int, len(scores))
	for i := range scores {
		atLeast[i] = int(out[i+1])
	}
	return int(out[0]), atLeast, nil
}

// currentSubjects is the condition for a subjects row being current now
// (or as of o.asOf). A Subject row always has valid_from, so "now" needs
// only valid_to, which the partial indexes on current rows answer (on
// SQLite valid_from sits after the row's JSON: reading it would read every
// row's overflow pages).
func currentSubjects(o readOptions) (string, []any) {
	if o.asOf.IsZero() {
		return `valid_to IS NULL`, nil
	}
	return o.validWhere("")
}
