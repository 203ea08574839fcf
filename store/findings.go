package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/match"
)

// ImageMatch is the outcome of matching one image's inventory against one
// database version: what RecordMatch stores.
type ImageMatch struct {
	Digest string `json:"digest"`
	// DBVersion is the Seq of the version matched against: the current one,
	// or the pending one during an update.
	DBVersion int64             `json:"dbVersion"`
	Findings  []match.Finding   `json:"findings"`
	Undecided []match.Undecided `json:"undecided,omitempty"`
	// Unchecked says which packages could not be checked and why.
	Unchecked []string `json:"unchecked,omitempty"`
}

// MatchOf is the ImageMatch of an assessed image, or nil when the image
// was not scanned (or has no digest): its findings are unknown, and
// recording none would read as clean.
func MatchOf(img *assess.Image, dbVersion int64) *ImageMatch {
	if img == nil || img.Status != assess.Scanned || img.Digest == "" {
		return nil
	}
	return &ImageMatch{Digest: img.Digest, DBVersion: dbVersion, Findings: img.Findings, Undecided: img.Undecided, Unchecked: img.Unchecked}
}

// MatchChange says what RecordMatch changed.
type MatchChange struct {
	// Changed is true when the call changed what the store holds for the
	// image: a finding added, removed or updated, or its first match. (Which
	// images changed between two versions is ChangedDigests.)
	Changed bool `json:"changed"`
	// Added, Removed and Updated are finding keys (FindingKey).
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Updated []string `json:"updated,omitempty"`
}

// FindingKey identifies a finding within an image across database versions:
// its id and its package ("CVE-2024-1 deb//openssl@3.0.11-1 amd64").
func FindingKey(f *match.Finding) string {
	if f.Package == nil {
		return f.ID
	}
	p := f.Package
	return f.ID + " " + p.Type + "/" + p.Namespace + "/" + p.Name + "@" + p.Version + " " + p.Arch
}

type findingRow struct {
	key, id, pkg, severity, fix, hash, data string
	kev, suppressed                         bool
}

func rowsOf(fs []match.Finding) (map[string]findingRow, error) {
	out := make(map[string]findingRow, len(fs))
	for i := range fs {
		f := &fs[i]
		b, err := json.Marshal(f)
		if err != nil {
			return nil, fmt.Errorf("finding %s: %w", f.ID, err)
		}
		k := FindingKey(f)
		if _, dup := out[k]; dup {
			continue // the matcher merges by id and package; keep the first
		}
		pkg := ""
		if f.Package != nil {
			pkg = f.Package.Name + "@" + f.Package.Version
		}
		out[k] = findingRow{key: k, id: f.ID, pkg: pkg, severity: string(f.Severity.Level), fix: string(f.FixState),
			hash: hashOf(b), data: string(b), kev: f.KEV != nil, suppressed: f.Suppressed != nil}
	}
	return out, nil
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func setHash(rows map[string]findingRow) string {
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%s\n", k, rows[k].hash)
	}
	return hex.EncodeToString(h.Sum(nil))
}

type matchDetail struct {
	Undecided []match.Undecided `json:"undecided,omitempty"`
	Unchecked []string          `json:"unchecked,omitempty"`
}

// RecordMatch stores an image's findings under a database version (see
// Tx.RecordMatch).
func (s *Store) RecordMatch(ctx context.Context, m *ImageMatch) (MatchChange, error) {
	var c MatchChange
	err := s.Update(ctx, func(t *Tx) error {
		var err error
		c, err = t.RecordMatch(ctx, m)
		return err
	})
	return c, err
}

// RecordMatch stores an image's findings under database version
// m.DBVersion. Findings equal to the visible ones are kept as they are (an
// unchanged re-match writes nothing); a finding that changed or went away is
// closed and a new row opened. Under the current version the change is
// visible at once; under the pending one, when it is committed. A version
// that is neither, or older than the image's newest match, is refused with
// ErrStaleVersion.
func (t *Tx) RecordMatch(ctx context.Context, m *ImageMatch) (MatchChange, error) {
	var c MatchChange
	if m.Digest == "" {
		return c, errors.New("store: match without a digest")
	}
	v, err := t.s.dbVersionWhere(ctx, t.tx, `seq = ?`, m.DBVersion)
	if errors.Is(err, ErrNotFound) {
		return c, fmt.Errorf("%w: database version %d is unknown", ErrStaleVersion, m.DBVersion)
	}
	if err != nil {
		return c, err
	}
	pending := v.State == DBPending
	if !pending {
		var cur int64
		if err := t.row(ctx, `SELECT max(seq) FROM db_versions WHERE state = 'committed'`).Scan(&cur); err != nil {
			return c, classify(err)
		}
		if v.State != DBCommitted || v.Seq != cur {
			return c, fmt.Errorf("%w: %s was matched against database version %d (%s); the current one is %d", ErrStaleVersion, m.Digest, v.Seq, v.State, cur)
		}
	}
	last, err := t.lockImage(ctx, m.Digest)
	if err != nil {
		return c, err
	}
	if last > m.DBVersion {
		return c, fmt.Errorf("%w: %s already has findings from database version %d, newer than %d", ErrStaleVersion, m.Digest, last, m.DBVersion)
	}
	want, err := rowsOf(m.Findings)
	if err != nil {
		return c, err
	}
	newHash := setHash(want)
	detail, err := json.Marshal(matchDetail{Undecided: m.Undecided, Unchecked: m.Unchecked})
	if err != nil {
		return c, err
	}

	// The rows this version sees: visible and not closed by it, or its own.
	rows, err := t.query(ctx, `SELECT id, fkey, hash, valid_from FROM findings
		WHERE digest = ? AND valid_to IS NULL AND closed_seq IS NULL AND (valid_from IS NOT NULL OR from_seq = ?)`, m.Digest, m.DBVersion)
	if err != nil {
		return c, err
	}
	type have struct {
		id      int64
		hash    string
		visible bool
	}
	seen := map[string]have{}
	for rows.Next() {
		var h have
		var k string
		var from sql.NullInt64
		if err := rows.Scan(&h.id, &k, &h.hash, &from); err != nil {
			rows.Close()
			return c, classify(err)
		}
		h.visible = from.Valid
		seen[k] = h
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return c, classify(err)
	}

	now := us(t.now)
	closeRow := func(h have) error {
		var err error
		switch {
		case !h.visible: // written earlier under this pending version: never seen, so gone
			_, err = t.exec(ctx, `DELETE FROM findings WHERE id = ?`, h.id)
		case pending:
			_, err = t.exec(ctx, `UPDATE findings SET closed_seq = ? WHERE id = ?`, m.DBVersion, h.id)
		default:
			_, err = t.exec(ctx, `UPDATE findings SET closed_seq = ?, valid_to = ? WHERE id = ?`, m.DBVersion, now, h.id)
		}
		return err
	}
	var validFrom sql.NullInt64
	if !pending {
		validFrom = sql.NullInt64{Int64: now, Valid: true}
	}
	insert := func(r findingRow) error {
		_, err := t.exec(ctx, `INSERT INTO findings (digest, fkey, finding_id, package, severity, kev, suppressed, fix_state, hash, data, from_seq, recorded_at, valid_from)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.Digest, r.key, r.id, r.pkg, r.severity, b2i(r.kev), b2i(r.suppressed), r.fix, r.hash, r.data, m.DBVersion, now, validFrom)
		return err
	}
	for k, h := range seen {
		r, ok := want[k]
		switch {
		case !ok:
			c.Removed = append(c.Removed, k)
			if err := closeRow(h); err != nil {
				return c, err
			}
		case r.hash != h.hash:
			c.Updated = append(c.Updated, k)
			if err := closeRow(h); err != nil {
				return c, err
			}
			if err := insert(r); err != nil {
				return c, err
			}
		}
	}
	for k, r := range want {
		if _, ok := seen[k]; ok {
			continue
		}
		c.Added = append(c.Added, k)
		if err := insert(r); err != nil {
			return c, err
		}
	}
	sort.Strings(c.Added)
	sort.Strings(c.Removed)
	sort.Strings(c.Updated)

	// Changed relative to the image's previous version; a re-match under
	// the same version keeps that comparison.
	var prevHash sql.NullString
	err = t.row(ctx, `SELECT hash FROM image_matches WHERE digest = ? AND db_seq < ? ORDER BY db_seq DESC LIMIT 1`, m.Digest, m.DBVersion).Scan(&prevHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return c, classify(err)
	}
	versionChanged := !prevHash.Valid || prevHash.String != newHash
	var oldHash, oldDetail string
	err = t.row(ctx, `SELECT hash, detail FROM image_matches WHERE digest = ? AND db_seq = ?`, m.Digest, m.DBVersion).Scan(&oldHash, &oldDetail)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// A first match of the version; of the image too when there is no
		// previous one (unknown became known: a change, even with nothing found).
		c.Changed = len(c.Added)+len(c.Removed)+len(c.Updated) > 0 || !prevHash.Valid
		_, err = t.exec(ctx, `INSERT INTO image_matches (digest, db_seq, matched_at, hash, findings, changed, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			m.Digest, m.DBVersion, now, newHash, len(want), b2i(versionChanged), string(detail))
	case err != nil:
		return c, classify(err)
	case oldHash != newHash || oldDetail != string(detail):
		c.Changed = true
		_, err = t.exec(ctx, `UPDATE image_matches SET matched_at = ?, hash = ?, findings = ?, changed = ?, detail = ? WHERE digest = ? AND db_seq = ?`,
			now, newHash, len(want), b2i(versionChanged), string(detail), m.Digest, m.DBVersion)
	}
	if err != nil {
		return c, err
	}
	if last < m.DBVersion {
		_, err = t.exec(ctx, `UPDATE images SET last_seq = ? WHERE digest = ?`, m.DBVersion, m.Digest)
	}
	return c, err
}

// lockImage makes sure the image has its row, locks it (PostgreSQL: until
// the transaction ends, so writers of one image take turns) and returns the
// Seq of its newest match.
func (t *Tx) lockImage(ctx context.Context, digest string) (int64, error) {
	var last int64
	err := t.row(ctx, `SELECT last_seq FROM images WHERE digest = ?`+t.s.forUpdate(), digest).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := t.exec(ctx, `INSERT INTO images (digest, first_seen, last_seq) VALUES (?, ?, 0) ON CONFLICT (digest) DO NOTHING`, digest, us(t.now)); err != nil {
			return 0, err
		}
		err = t.row(ctx, `SELECT last_seq FROM images WHERE digest = ?`+t.s.forUpdate(), digest).Scan(&last)
	}
	return last, classify(err)
}

// ReadOption changes what a read returns.
type ReadOption func(*readOptions)

type readOptions struct {
	asOf time.Time
}

// AsOf reads what the store knew at t instead of now: the rows valid then.
func AsOf(t time.Time) ReadOption { return func(o *readOptions) { o.asOf = t } }

func readOpts(opts []ReadOption) readOptions {
	var o readOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// validWhere is the condition for a row of a versioned table being valid
// now (or at o.asOf), with its argument.
func (o readOptions) validWhere(alias string) (string, []any) {
	if o.asOf.IsZero() {
		return alias + `valid_from IS NOT NULL AND ` + alias + `valid_to IS NULL`, nil
	}
	t := us(o.asOf)
	return alias + `valid_from <= ? AND (` + alias + `valid_to IS NULL OR ` + alias + `valid_to > ?)`, []any{t, t}
}

// ImageFindings are an image's findings as the store knows them.
type ImageFindings struct {
	Digest string `json:"digest"`
	// DBVersion is the Seq of the database version of the newest visible
	// match, MatchedAt when it was recorded.
	DBVersion int64             `json:"dbVersion"`
	MatchedAt time.Time         `json:"matchedAt"`
	Findings  []match.Finding   `json:"findings"`
	Undecided []match.Undecided `json:"undecided,omitempty"`
	Unchecked []string          `json:"unchecked,omitempty"`
}

// Findings returns the image's findings: now, or AsOf a time. An image
// with no visible match returns ErrNotFound: unknown, never clean.
func (s *Store) Findings(ctx context.Context, digest string, opts ...ReadOption) (*ImageFindings, error) {
	o := readOpts(opts)
	q := `SELECT m.db_seq, m.matched_at, m.detail FROM image_matches m JOIN db_versions v ON v.seq = m.db_seq
		WHERE m.digest = ? AND v.state = 'committed'`
	args := []any{digest}
	if !o.asOf.IsZero() {
		q += ` AND m.matched_at <= ? AND v.committed_at <= ?`
		args = append(args, us(o.asOf), us(o.asOf))
	}
	out := &ImageFindings{Digest: digest, Findings: []match.Finding{}}
	var matched int64
	var detail string
	err := s.row(ctx, s.r, q+` ORDER BY m.db_seq DESC LIMIT 1`, args...).Scan(&out.DBVersion, &matched, &detail)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("findings of %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return nil, classify(err)
	}
	out.MatchedAt = fromUS(matched)
	var d matchDetail
	if err := json.Unmarshal([]byte(detail), &d); err != nil {
		return nil, fmt.Errorf("findings of %s: %w: %v", digest, ErrCorrupt, err)
	}
	out.Undecided, out.Unchecked = d.Undecided, d.Unchecked
	where, wargs := o.validWhere("")
	rows, err := s.query(ctx, s.r, `SELECT data FROM findings WHERE digest = ? AND `+where+` ORDER BY fkey`, append([]any{digest}, wargs...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, classify(err)
		}
		var f match.Finding
		if err := json.Unmarshal([]byte(data), &f); err != nil {
			return nil, fmt.Errorf("finding of %s: %w: %v", digest, ErrCorrupt, err)
		}
		out.Findings = append(out.Findings, f)
	}
	return out, classify(rows.Err())
}

// FindingCounts are an image's visible findings by kind, suppressed ones
// excluded (counted apart).
type FindingCounts struct {
	Findings   int            `json:"findings"`
	BySeverity map[string]int `json:"bySeverity"`
	KEV        int            `json:"kev"`
	Fixable    int            `json:"fixable"`
	Suppressed int            `json:"suppressed"`
}

// CountFindings counts the visible findings of each digest (what labels and
// metrics show) without decoding them. Digests never matched are absent.
func (s *Store) CountFindings(ctx context.Context, digests []string) (map[string]*FindingCounts, error) {
	out := map[string]*FindingCounts{}
	for len(digests) > 0 {
		n := min(len(digests), 500)
		batch := digests[:n]
		digests = digests[n:]
		rows, err := s.query(ctx, s.r, `SELECT digest, severity, kev, suppressed, fix_state, count(*) FROM findings
			WHERE valid_from IS NOT NULL AND valid_to IS NULL AND digest IN (`+placeholders(len(batch))+`)
			GROUP BY digest, severity, kev, suppressed, fix_state`, anys(batch)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var d, sev, fix string
			var kev, sup int64
			var n int
			if err := rows.Scan(&d, &sev, &kev, &sup, &fix, &n); err != nil {
				rows.Close()
				return nil, classify(err)
			}
			c := out[d]
			if c == nil {
				c = &FindingCounts{BySeverity: map[string]int{}}
				out[d] = c
			}
			if sup != 0 {
				c.Suppressed += n
				continue
			}
			c.Findings += n
			c.BySeverity[sev] += n
			if kev != 0 {
				c.KEV += n
			}
			if fix == string(match.FixAvailable) {
				c.Fixable += n
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, classify(err)
		}
	}
	return out, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anys[T any](v []T) []any {
	out := make([]any, len(v))
	for i := range v {
		out[i] = v[i]
	}
	return out
}
