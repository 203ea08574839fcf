package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/posture"
)

// WorkloadKey names a workload in the store: "namespace/Kind/name"
// ("shop/Deployment/web", "debug/Pod/shell").
func WorkloadKey(w assess.Workload) string { return w.Namespace + "/" + w.Kind + "/" + w.Name }

// ParseWorkloadKey splits a WorkloadKey.
func ParseWorkloadKey(key string) (namespace, kind, name string, err error) {
	parts := strings.Split(key, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", fmt.Errorf("workload %q: want namespace/Kind/name", key)
	}
	return parts[0], parts[1], parts[2], nil
}

// Change says what a versioned write did.
type Change struct {
	// Changed is false when the content equalled the current version's:
	// nothing was written.
	Changed bool `json:"changed"`
	// Previous is when the version it replaced began (zero for a first
	// version).
	Previous time.Time `json:"previous,omitzero"`
}

// PutSubject stores a workload's Subject (see Tx.PutSubject).
func (s *Store) PutSubject(ctx context.Context, subj *assess.Subject) (Change, error) {
	var c Change
	err := s.Update(ctx, func(t *Tx) error {
		var err error
		c, err = t.PutSubject(ctx, subj)
		return err
	})
	return c, err
}

// PutSubject stores subj as its workload's current Subject. When its content
// hash equals the current version's, nothing is written; otherwise the
// current version is closed and a new one opened. A workload that had gone
// away is back.
func (t *Tx) PutSubject(ctx context.Context, subj *assess.Subject) (Change, error) {
	var c Change
	if subj.Version == "" {
		subj.Version = assess.SchemaVersion
	}
	if subj.Version != assess.SchemaVersion {
		return c, fmt.Errorf("store: Subject version %q, this credence keeps %q", subj.Version, assess.SchemaVersion)
	}
	key := WorkloadKey(subj.Workload)
	if _, _, _, err := ParseWorkloadKey(key); err != nil {
		return c, err
	}
	data, err := json.Marshal(subj)
	if err != nil {
		return c, err
	}
	hash := hashOf(data)
	if err := t.lockWorkload(ctx, key); err != nil {
		return c, err
	}
	var id int64
	var cur string
	var from int64
	err = t.row(ctx, `SELECT id, hash, valid_from FROM subjects WHERE workload = ? AND valid_to IS NULL`, key).Scan(&id, &cur, &from)
	switch {
	case err == nil && cur == hash:
		return c, nil
	case err == nil:
		c.Previous = fromUS(from)
		if _, err := t.exec(ctx, `UPDATE subjects SET valid_to = ? WHERE id = ?`, us(t.now), id); err != nil {
			return c, err
		}
	case !errors.Is(err, sql.ErrNoRows):
		return c, classify(err)
	}
	spec, err := specHash(subj)
	if err != nil {
		return c, err
	}
	var unknown int64
	if subj.Risk.Unknown {
		unknown = 1
	}
	var newID int64
	if err := t.row(ctx, `INSERT INTO subjects (workload, namespace, kind, name, hash, spec_hash, score, unknown, why, data, valid_from)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		key, subj.Workload.Namespace, subj.Workload.Kind, subj.Workload.Name, hash, spec, subj.Risk.Score, unknown, subj.Risk.Why, string(data), us(t.now)).Scan(&newID); err != nil {
		return c, classify(err)
	}
	seen := map[string]bool{}
	for _, ct := range subj.Containers {
		if ct.Image.Digest == "" || seen[ct.Name] {
			continue
		}
		seen[ct.Name] = true
		if _, err := t.exec(ctx, `INSERT INTO subject_images (subject_id, container, digest) VALUES (?, ?, ?)`, newID, ct.Name, ct.Image.Digest); err != nil {
			return c, err
		}
	}
	if _, err := t.exec(ctx, `UPDATE workloads SET removed_at = NULL WHERE workload = ? AND removed_at IS NOT NULL`, key); err != nil {
		return c, err
	}
	c.Changed = true
	return c, nil
}

// specHash hashes what the workload runs and how, leaving out what a
// re-evaluation changes (risk, exploitability, blast radius) and what a pod
// restart changes (the pod's name, its node): a new spec hash is "the
// workload changed".
func specHash(subj *assess.Subject) (string, error) {
	type container struct {
		Name    string                `json:"name"`
		Kind    posture.ContainerKind `json:"kind"`
		Ref     string                `json:"ref"`
		Digest  string                `json:"digest"`
		Posture *posture.Profile      `json:"posture,omitempty"`
	}
	w := subj.Workload
	spec := struct {
		Namespace, Kind, Name, ServiceAccount string
		Owners                                []string
		Template                              bool
		Containers                            []container
	}{w.Namespace, w.Kind, w.Name, w.ServiceAccount, w.Owners, w.Template, nil}
	for _, c := range subj.Containers {
		var p *posture.Profile
		if c.Posture != nil {
			cp := *c.Posture
			cp.Pod = ""
			p = &cp
		}
		spec.Containers = append(spec.Containers, container{c.Name, c.Kind, c.Image.Reference, c.Image.Digest, p})
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	return hashOf(b), nil
}

func (t *Tx) lockWorkload(ctx context.Context, key string) error {
	var k string
	err := t.row(ctx, `SELECT workload FROM workloads WHERE workload = ?`+t.s.forUpdate(), key).Scan(&k)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := t.exec(ctx, `INSERT INTO workloads (workload, first_seen) VALUES (?, ?) ON CONFLICT (workload) DO NOTHING`, key, us(t.now)); err != nil {
			return err
		}
		err = t.row(ctx, `SELECT workload FROM workloads WHERE workload = ?`+t.s.forUpdate(), key).Scan(&k)
	}
	return classify(err)
}

// RemoveWorkload records that a workload went away (see Tx.RemoveWorkload).
func (s *Store) RemoveWorkload(ctx context.Context, key string) (bool, error) {
	var removed bool
	err := s.Update(ctx, func(t *Tx) error {
		var err error
		removed, err = t.RemoveWorkload(ctx, key)
		return err
	})
	return removed, err
}

// RemoveWorkload closes the workload's current Subject and decision: it went
// away. It reports false when the workload had no current Subject.
func (t *Tx) RemoveWorkload(ctx context.Context, key string) (bool, error) {
	if err := t.lockWorkload(ctx, key); err != nil {
		return false, err
	}
	r, err := t.exec(ctx, `UPDATE subjects SET valid_to = ?, removed = 1 WHERE workload = ? AND valid_to IS NULL`, us(t.now), key)
	if err != nil {
		return false, err
	}
	n, err := r.RowsAffected()
	if err != nil || n == 0 {
		return false, classify(err)
	}
	if _, err := t.exec(ctx, `UPDATE decisions SET valid_to = ? WHERE workload = ? AND valid_to IS NULL`, us(t.now), key); err != nil {
		return false, err
	}
	_, err = t.exec(ctx, `UPDATE workloads SET removed_at = ? WHERE workload = ?`, us(t.now), key)
	return true, err
}

// RemoveWorkloadsExcept removes every current workload not in keep (a full
// resync after the informers relisted), returning the keys removed.
func (s *Store) RemoveWorkloadsExcept(ctx context.Context, keep []string) ([]string, error) {
	var removed []string
	err := s.Update(ctx, func(t *Tx) error {
		removed = nil
		cur, err := stringsOf(ctx, s, t.tx, `SELECT workload FROM subjects WHERE valid_to IS NULL ORDER BY workload`)
		if err != nil {
			return err
		}
		k := map[string]bool{}
		for _, w := range keep {
			k[w] = true
		}
		for _, w := range cur {
			if k[w] {
				continue
			}
			if ok, err := t.RemoveWorkload(ctx, w); err != nil {
				return err
			} else if ok {
				removed = append(removed, w)
			}
		}
		return nil
	})
	return removed, err
}

// StoredSubject is a Subject with its validity.
type StoredSubject struct {
	Subject   *assess.Subject `json:"subject"`
	ValidFrom time.Time       `json:"validFrom"`
	// ValidTo is when it was replaced or the workload went away (Removed);
	// zero while current.
	ValidTo time.Time `json:"validTo,omitzero"`
	Removed bool      `json:"removed,omitempty"`
	Hash    string    `json:"hash"`
}

// GetSubject returns the workload's Subject: now, or AsOf a time
// (ErrNotFound when it had none then).
func (s *Store) GetSubject(ctx context.Context, key string, opts ...ReadOption) (*StoredSubject, error) {
	where, args := readOpts(opts).validWhere("")
	var data, hash string
	var from int64
	var to sql.NullInt64
	var removed int64
	err := s.row(ctx, s.r, `SELECT data, hash, valid_from, valid_to, removed FROM subjects WHERE workload = ? AND `+where,
		append([]any{key}, args...)...).Scan(&data, &hash, &from, &to, &removed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("subject of %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, classify(err)
	}
	return decodeSubject(key, data, hash, from, to, removed)
}

func decodeSubject(key, data, hash string, from int64, to sql.NullInt64, removed int64) (*StoredSubject, error) {
	var subj assess.Subject
	if err := json.Unmarshal([]byte(data), &subj); err != nil {
		return nil, fmt.Errorf("subject of %s: %w: %v", key, ErrCorrupt, err)
	}
	return &StoredSubject{Subject: &subj, ValidFrom: fromUS(from), ValidTo: fromNullUS(to), Removed: removed != 0, Hash: hash}, nil
}

// SubjectHistory returns every version of the workload's Subject, oldest
// first.
func (s *Store) SubjectHistory(ctx context.Context, key string) ([]*StoredSubject, error) {
	rows, err := s.query(ctx, s.r, `SELECT data, hash, valid_from, valid_to, removed FROM subjects WHERE workload = ? ORDER BY valid_from, id`, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*StoredSubject
	for rows.Next() {
		var data, hash string
		var from, removed int64
		var to sql.NullInt64
		if err := rows.Scan(&data, &hash, &from, &to, &removed); err != nil {
			return nil, classify(err)
		}
		ss, err := decodeSubject(key, data, hash, from, to, removed)
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	return out, classify(rows.Err())
}

// WorkloadSummary is one row of the ranked list: what a list page shows
// without decoding the Subject.
type WorkloadSummary struct {
	Key       string  `json:"key"`
	Namespace string  `json:"namespace"`
	Kind      string  `json:"kind"`
	Name      string  `json:"name"`
	Score     float64 `json:"score"`
	// Unknown: the score rests on unknown exploitability.
	Unknown bool      `json:"unknown,omitempty"`
	Why     string    `json:"why"`
	Since   time.Time `json:"since"` // when this version of the Subject began
	// Digests are the images it runs, by container name.
	Digests map[string]string `json:"digests,omitempty"`
	// Verdict is the current decision's verdict ("" when none).
	Verdict string `json:"verdict,omitempty"`
}

// ListOptions bound ListWorkloads.
type ListOptions struct {
	Namespace string
	// Limit (default 100, at most 10,000) and the keyset cursor: rows after
	// (AfterScore, AfterKey) in the order score descending, key ascending
	// (the last row of the previous page).
	Limit      int
	AfterScore float64
	AfterKey   string
	MinScore   float64
	AsOf       time.Time
}

// ListWorkloads lists workloads ranked by risk, highest first.
func (s *Store) ListWorkloads(ctx context.Context, lo ListOptions) ([]WorkloadSummary, error) {
	if lo.Limit <= 0 {
		lo.Limit = 100
	}
	lo.Limit = min(lo.Limit, 10000)
	var ro []ReadOption
	if !lo.AsOf.IsZero() {
		ro = append(ro, AsOf(lo.AsOf))
	}
	o := readOpts(ro)
	where, args := o.validWhere("s.")
	dwhere, dargs := o.validWhere("d.")
	q := `SELECT s.id, s.workload, s.namespace, s.kind, s.name, s.score, s.unknown, s.why, s.valid_from, d.verdict
		FROM subjects s LEFT JOIN decisions d ON d.workload = s.workload AND ` + dwhere + `
		WHERE ` + where
	args = append(dargs, args...)
	if lo.Namespace != "" {
		q += ` AND s.namespace = ?`
		args = append(args, lo.Namespace)
	}
	if lo.MinScore > 0 {
		q += ` AND s.score >= ?`
		args = append(args, lo.MinScore)
	}
	if lo.AfterKey != "" {
		q += ` AND (s.score < ? OR (s.score = ? AND s.workload > ?))`
		args = append(args, lo.AfterScore, lo.AfterScore, lo.AfterKey)
	}
	q += ` ORDER BY s.score DESC, s.workload LIMIT ?`
	args = append(args, lo.Limit)
	rows, err := s.query(ctx, s.r, q, args...)
	if err != nil {
		return nil, err
	}
	out := []WorkloadSummary{}
	var ids []int64
	for rows.Next() {
		var w WorkloadSummary
		var id, unknown, since int64
		var verdict sql.NullString
		if err := rows.Scan(&id, &w.Key, &w.Namespace, &w.Kind, &w.Name, &w.Score, &unknown, &w.Why, &since, &verdict); err != nil {
			rows.Close()
			return nil, classify(err)
		}
		w.Unknown, w.Since, w.Verdict = unknown != 0, fromUS(since), verdict.String
		out = append(out, w)
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	if len(ids) == 0 {
		return out, nil
	}
	byID := map[int64]*WorkloadSummary{}
	for i := range out {
		byID[ids[i]] = &out[i]
	}
	for len(ids) > 0 {
		n := min(len(ids), 500)
		batch := ids[:n]
		ids = ids[n:]
		rows, err := s.query(ctx, s.r, `SELECT subject_id, container, digest FROM subject_images WHERE subject_id IN (`+placeholders(len(batch))+`)`, anys(batch)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var c, d string
			if err := rows.Scan(&id, &c, &d); err != nil {
				rows.Close()
				return nil, classify(err)
			}
			w := byID[id]
			if w.Digests == nil {
				w.Digests = map[string]string{}
			}
			w.Digests[c] = d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, classify(err)
		}
	}
	return out, nil
}

// WorkloadsRunning lists the current workloads that run any of the digests
// (what a database update must re-evaluate), sorted.
func (s *Store) WorkloadsRunning(ctx context.Context, digests []string) ([]string, error) {
	set := map[string]bool{}
	for len(digests) > 0 {
		n := min(len(digests), 500)
		batch := digests[:n]
		digests = digests[n:]
		ws, err := stringsOf(ctx, s, s.r, `SELECT DISTINCT s.workload FROM subjects s JOIN subject_images i ON i.subject_id = s.id
			WHERE s.valid_to IS NULL AND i.digest IN (`+placeholders(len(batch))+`)`, anys(batch)...)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			set[w] = true
		}
	}
	out := make([]string, 0, len(set))
	for w := range set {
		out = append(out, w)
	}
	sort.Strings(out)
	return out, nil
}

// Digests lists the digests current workloads run, sorted: the images a
// database update re-matches.
func (s *Store) Digests(ctx context.Context) ([]string, error) {
	return stringsOf(ctx, s, s.r, `SELECT DISTINCT i.digest FROM subjects s JOIN subject_images i ON i.subject_id = s.id WHERE s.valid_to IS NULL ORDER BY i.digest`)
}
