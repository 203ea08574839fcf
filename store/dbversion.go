package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DBState is the state of a vulnerability-database version in the store.
type DBState string

// Database version states.
const (
	// DBPending: begun, being matched; its findings are not visible yet.
	DBPending DBState = "pending"
	// DBCommitted: matched and made current (the newest committed version
	// is the current one).
	DBCommitted DBState = "committed"
	// DBAbandoned: given up (an update that failed); what it wrote is gone.
	DBAbandoned DBState = "abandoned"
)

// DBVersionInfo identifies a vulnerability database the caller matched
// against.
type DBVersionInfo struct {
	// ID names the database's content (its build time and sources'
	// digests, say): the same ID is the same version.
	ID string `json:"id"`
	// Built is when the database was built; DataAsOf the newest time its
	// data states (vulndb.Status).
	Built    time.Time `json:"built,omitzero"`
	DataAsOf time.Time `json:"dataAsOf,omitzero"`
	// Detail is any JSON the caller keeps with it (the sources' status).
	Detail json.RawMessage `json:"detail,omitempty"`
}

// DBVersion is a vulnerability-database version known to the store.
type DBVersion struct {
	DBVersionInfo
	// Seq orders versions: assigned by the store, increasing.
	Seq         int64     `json:"seq"`
	State       DBState   `json:"state"`
	StartedAt   time.Time `json:"startedAt"`
	CommittedAt time.Time `json:"committedAt,omitzero"`
}

// DBUpdate is what committing a version changed.
type DBUpdate struct {
	Version DBVersion `json:"version"`
	// Previous is the Seq of the version that was current before (0 if none).
	Previous int64 `json:"previous"`
	// Changed are the digests whose findings under this version differ from
	// what was visible before (first matches included): the images whose
	// Subjects and decisions need re-evaluating.
	Changed []string `json:"changed"`
	// Unmatched are digests with findings from an earlier version and none
	// from this one: their findings stay the earlier version's.
	Unmatched []string `json:"unmatched,omitempty"`
}

const dbVersionCols = `seq, id, built, data_as_of, detail, state, started_at, committed_at`

func scanDBVersion(sc interface{ Scan(...any) error }) (DBVersion, error) {
	var v DBVersion
	var built, asOf, committed sql.NullInt64
	var detail sql.NullString
	var started int64
	if err := sc.Scan(&v.Seq, &v.ID, &built, &asOf, &detail, &v.State, &started, &committed); err != nil {
		return v, err
	}
	v.Built, v.DataAsOf, v.CommittedAt = fromNullUS(built), fromNullUS(asOf), fromNullUS(committed)
	v.StartedAt = fromUS(started)
	if detail.Valid && detail.String != "" {
		v.Detail = json.RawMessage(detail.String)
	}
	return v, nil
}

func (s *Store) dbVersionWhere(ctx context.Context, db reader, where string, args ...any) (DBVersion, error) {
	v, err := scanDBVersion(s.row(ctx, db, `SELECT `+dbVersionCols+` FROM db_versions WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return v, ErrNotFound
	}
	return v, classify(err)
}

// CurrentDBVersion is the newest committed version (ErrNotFound before the
// first commit).
func (s *Store) CurrentDBVersion(ctx context.Context) (DBVersion, error) {
	return s.dbVersionWhere(ctx, s.r, `state = 'committed' ORDER BY seq DESC LIMIT 1`)
}

// PendingDBVersion is the version being matched, if any (ErrNotFound).
func (s *Store) PendingDBVersion(ctx context.Context) (DBVersion, error) {
	return s.dbVersionWhere(ctx, s.r, `state = 'pending'`)
}

// DBVersionAt is the version that was current at t (ErrNotFound).
func (s *Store) DBVersionAt(ctx context.Context, t time.Time) (DBVersion, error) {
	return s.dbVersionWhere(ctx, s.r, `state = 'committed' AND committed_at <= ? ORDER BY seq DESC LIMIT 1`, us(t))
}

// DBVersions lists every version, oldest first.
func (s *Store) DBVersions(ctx context.Context) ([]DBVersion, error) {
	rows, err := s.query(ctx, s.r, `SELECT `+dbVersionCols+` FROM db_versions ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DBVersion
	for rows.Next() {
		v, err := scanDBVersion(rows)
		if err != nil {
			return nil, classify(err)
		}
		out = append(out, v)
	}
	return out, classify(rows.Err())
}

// BeginDBVersion starts matching under a new database version. If info.ID
// is already current, that version is returned (State committed: nothing to
// do); if it is already pending, it is resumed; a pending version with
// another ID is abandoned first (an update that failed and was superseded).
func (s *Store) BeginDBVersion(ctx context.Context, info DBVersionInfo) (DBVersion, error) {
	if info.ID == "" {
		return DBVersion{}, errors.New("store: database version without an ID")
	}
	var out DBVersion
	err := s.Update(ctx, func(t *Tx) error {
		cur, err := s.dbVersionWhere(ctx, t.tx, `state = 'committed' ORDER BY seq DESC LIMIT 1`+s.forUpdate())
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err == nil && cur.ID == info.ID {
			out = cur
			return nil
		}
		p, err := s.dbVersionWhere(ctx, t.tx, `state = 'pending'`+s.forUpdate())
		switch {
		case err == nil && p.ID == info.ID:
			out = p
			return nil
		case err == nil:
			if err := t.abandon(ctx, p.Seq); err != nil {
				return err
			}
		case !errors.Is(err, ErrNotFound):
			return err
		}
		var detail sql.NullString
		if len(info.Detail) > 0 {
			if !json.Valid(info.Detail) {
				return errors.New("store: database version detail is not JSON")
			}
			detail = sql.NullString{String: string(info.Detail), Valid: true}
		}
		var seq int64
		if err := t.row(ctx, `INSERT INTO db_versions (id, built, data_as_of, detail, state, started_at) VALUES (?, ?, ?, ?, 'pending', ?) RETURNING seq`,
			info.ID, nullUS(info.Built), nullUS(info.DataAsOf), detail, us(t.now)).Scan(&seq); err != nil {
			return classify(err)
		}
		out = DBVersion{DBVersionInfo: info, Seq: seq, State: DBPending, StartedAt: t.now}
		return nil
	})
	return out, err
}

// CommitDBVersion makes the pending version seq current, in one
// transaction: its findings become visible and the ones it replaced stop
// being so, at the same instant. It returns the digests whose findings
// changed.
func (s *Store) CommitDBVersion(ctx context.Context, seq int64) (*DBUpdate, error) {
	var out *DBUpdate
	err := s.Update(ctx, func(t *Tx) error {
		v, err := s.dbVersionWhere(ctx, t.tx, `seq = ?`+s.forUpdate(), seq)
		if err != nil {
			return fmt.Errorf("commit database version %d: %w", seq, err)
		}
		if v.State != DBPending {
			return fmt.Errorf("commit database version %d: it is %s, not pending", seq, v.State)
		}
		var prev sql.NullInt64
		if err := t.row(ctx, `SELECT max(seq) FROM db_versions WHERE state = 'committed'`).Scan(&prev); err != nil {
			return classify(err)
		}
		now := us(t.now)
		if _, err := t.exec(ctx, `UPDATE db_versions SET state = 'committed', committed_at = ? WHERE seq = ?`, now, seq); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE findings SET valid_from = ? WHERE from_seq = ? AND valid_from IS NULL`, now, seq); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE findings SET valid_to = ? WHERE closed_seq = ? AND valid_to IS NULL`, now, seq); err != nil {
			return err
		}
		v.State, v.CommittedAt = DBCommitted, t.now
		out = &DBUpdate{Version: v, Previous: prev.Int64}
		if out.Changed, err = changedDigests(ctx, t.s, t.tx, seq); err != nil {
			return err
		}
		out.Unmatched, err = stringsOf(ctx, s, t.tx, `SELECT digest FROM images WHERE last_seq > 0 AND last_seq < ? ORDER BY digest`, seq)
		return err
	})
	return out, err
}

// AbandonDBVersion gives up the pending version seq: what was matched under
// it is removed and the rows it would have closed stay current.
func (s *Store) AbandonDBVersion(ctx context.Context, seq int64) error {
	return s.Update(ctx, func(t *Tx) error {
		v, err := s.dbVersionWhere(ctx, t.tx, `seq = ?`+s.forUpdate(), seq)
		if err != nil {
			return fmt.Errorf("abandon database version %d: %w", seq, err)
		}
		if v.State != DBPending {
			return fmt.Errorf("abandon database version %d: it is %s, not pending", seq, v.State)
		}
		return t.abandon(ctx, seq)
	})
}

func (t *Tx) abandon(ctx context.Context, seq int64) error {
	for _, q := range []string{
		`DELETE FROM findings WHERE from_seq = ? AND valid_from IS NULL`,
		`UPDATE findings SET closed_seq = NULL WHERE closed_seq = ? AND valid_to IS NULL`,
		`DELETE FROM image_matches WHERE db_seq = ?`,
		`UPDATE db_versions SET state = 'abandoned' WHERE seq = ?`,
	} {
		if _, err := t.exec(ctx, q, seq); err != nil {
			return err
		}
	}
	// Images whose newest match was under seq fall back to their previous one.
	_, err := t.exec(ctx, `UPDATE images SET last_seq = COALESCE((SELECT max(m.db_seq) FROM image_matches m WHERE m.digest = images.digest), 0) WHERE last_seq = ?`, seq)
	return err
}

// ChangedDigests lists the digests whose findings changed when matched
// under version seq (pending or committed), sorted.
func (s *Store) ChangedDigests(ctx context.Context, seq int64) ([]string, error) {
	return changedDigests(ctx, s, s.r, seq)
}

func changedDigests(ctx context.Context, s *Store, db reader, seq int64) ([]string, error) {
	return stringsOf(ctx, s, db, `SELECT digest FROM image_matches WHERE db_seq = ? AND changed = 1 ORDER BY digest`, seq)
}

func stringsOf(ctx context.Context, s *Store, db reader, query string, args ...any) ([]string, error) {
	rows, err := s.query(ctx, db, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, classify(err)
		}
		out = append(out, v)
	}
	return out, classify(rows.Err())
}

// forUpdate is the row-lock suffix of a SELECT in a write transaction:
// PostgreSQL locks the rows; SQLite's one writer already holds the file.
func (s *Store) forUpdate() string {
	if s.t.backend == Postgres {
		return ` FOR UPDATE`
	}
	return ``
}
