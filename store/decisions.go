package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Decision is a policy's verdict on a workload, kept as the policy package
// writes it (Data, JSON) with its verdict ("allow", "warn", "deny") pulled
// out for lists and timelines.
type Decision struct {
	Verdict string          `json:"verdict"`
	Data    json.RawMessage `json:"data"`
}

// StoredDecision is a Decision with its validity.
type StoredDecision struct {
	Decision
	ValidFrom time.Time `json:"validFrom"`
	ValidTo   time.Time `json:"validTo,omitzero"`
	Hash      string    `json:"hash"`
}

// PutDecision stores a workload's decision (see Tx.PutDecision).
func (s *Store) PutDecision(ctx context.Context, key string, d Decision) (Change, error) {
	var c Change
	err := s.Update(ctx, func(t *Tx) error {
		var err error
		c, err = t.PutDecision(ctx, key, d)
		return err
	})
	return c, err
}

// PutDecision stores d as the workload's current decision; an equal one
// (same verdict and data) writes nothing.
func (t *Tx) PutDecision(ctx context.Context, key string, d Decision) (Change, error) {
	var c Change
	if _, _, _, err := ParseWorkloadKey(key); err != nil {
		return c, err
	}
	if d.Verdict == "" {
		return c, errors.New("store: decision without a verdict")
	}
	if len(d.Data) == 0 {
		d.Data = json.RawMessage("null")
	}
	if !json.Valid(d.Data) {
		return c, errors.New("store: decision data is not JSON")
	}
	hash := hashOf(append([]byte(d.Verdict+"\x00"), d.Data...))
	if err := t.lockWorkload(ctx, key); err != nil {
		return c, err
	}
	var id, from int64
	var cur string
	err := t.row(ctx, `SELECT id, hash, valid_from FROM decisions WHERE workload = ? AND valid_to IS NULL`, key).Scan(&id, &cur, &from)
	switch {
	case err == nil && cur == hash:
		return c, nil
	case err == nil:
		c.Previous = fromUS(from)
		if _, err := t.exec(ctx, `UPDATE decisions SET valid_to = ? WHERE id = ?`, us(t.now), id); err != nil {
			return c, err
		}
	case !errors.Is(err, sql.ErrNoRows):
		return c, classify(err)
	}
	if _, err := t.exec(ctx, `INSERT INTO decisions (workload, hash, verdict, data, valid_from) VALUES (?, ?, ?, ?, ?)`,
		key, hash, d.Verdict, string(d.Data), us(t.now)); err != nil {
		return c, err
	}
	c.Changed = true
	return c, nil
}

// GetDecision returns the workload's decision: now, or AsOf a time.
func (s *Store) GetDecision(ctx context.Context, key string, opts ...ReadOption) (*StoredDecision, error) {
	where, args := readOpts(opts).validWhere("")
	var d StoredDecision
	var data string
	var from int64
	var to sql.NullInt64
	err := s.row(ctx, s.r, `SELECT verdict, data, hash, valid_from, valid_to FROM decisions WHERE workload = ? AND `+where,
		append([]any{key}, args...)...).Scan(&d.Verdict, &data, &d.Hash, &from, &to)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("decision of %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, classify(err)
	}
	d.Data, d.ValidFrom, d.ValidTo = json.RawMessage(data), fromUS(from), fromNullUS(to)
	return &d, nil
}
