package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Value returns the value of key and its version (ErrNotFound if unset).
// The version increases with every write: pass it to SwapValue.
func (s *Store) Value(ctx context.Context, key string) ([]byte, int64, error) {
	var v []byte
	var ver int64
	err := s.row(ctx, s.r, `SELECT value, version FROM kv WHERE k = ?`, key).Scan(&v, &ver)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("value %s: %w", key, ErrNotFound)
	}
	return v, ver, classify(err)
}

// SetValue sets key to value (see Tx.SetValue).
func (s *Store) SetValue(ctx context.Context, key string, value []byte) error {
	return s.Update(ctx, func(t *Tx) error { return t.SetValue(ctx, key, value) })
}

// SetValue sets key to value, whatever it was.
func (t *Tx) SetValue(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := t.exec(ctx, `INSERT INTO kv (k, value, version, updated_at) VALUES (?, ?, 1, ?)
		ON CONFLICT (k) DO UPDATE SET value = excluded.value, version = kv.version + 1, updated_at = excluded.updated_at`, key, value, us(t.now))
	return err
}

// SwapValue sets key to value only if its version is still version (0: the
// key must be unset), so replicas can update bookkeeping without a leader:
// the one that loses gets ErrConflict, re-reads and decides again.
func (s *Store) SwapValue(ctx context.Context, key string, version int64, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	return s.Update(ctx, func(t *Tx) error {
		var r sql.Result
		var err error
		if version == 0 {
			r, err = t.exec(ctx, `INSERT INTO kv (k, value, version, updated_at) VALUES (?, ?, 1, ?) ON CONFLICT (k) DO NOTHING`, key, value, us(t.now))
		} else {
			r, err = t.exec(ctx, `UPDATE kv SET value = ?, version = version + 1, updated_at = ? WHERE k = ? AND version = ?`, value, us(t.now), key, version)
		}
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil {
			return classify(err)
		} else if n == 0 {
			return fmt.Errorf("value %s: version %d is not current: %w", key, version, ErrConflict)
		}
		return nil
	})
}
