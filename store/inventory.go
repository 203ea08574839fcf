package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/credence-dev/credence/assess"
)

// maxInventory bounds one stored inventory (compressed).
const maxInventory = 256 << 20

// usedEvery: Get refreshes an inventory's used_at (for Prune) at most this
// often, so reads do not turn into a write each.
const usedEvery = time.Hour

var _ assess.InventoryCache = (*Store)(nil)

// Get returns the inventory stored for k, or nil, nil when there is none
// (assess.InventoryCache). An entry that does not decode is dropped and
// reported as a miss with an error.
func (s *Store) Get(ctx context.Context, k assess.CacheKey) (*assess.CachedInventory, error) {
	var blob []byte
	var used int64
	err := s.row(ctx, s.r, `SELECT data, used_at FROM inventories WHERE digest = ? AND platform = ? AND extractors = ?`,
		k.Digest, k.Platform, k.Extractors).Scan(&blob, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err)
	}
	ci, err := s.decodeInventory(blob)
	if err != nil {
		_ = s.Update(ctx, func(t *Tx) error {
			_, err := t.exec(ctx, `DELETE FROM inventories WHERE digest = ? AND platform = ? AND extractors = ?`, k.Digest, k.Platform, k.Extractors)
			return err
		})
		return nil, fmt.Errorf("inventory of %s is damaged and was dropped: %w", k.Digest, err)
	}
	if now := s.now(); now.Sub(fromUS(used)) > usedEvery {
		_ = s.Update(ctx, func(t *Tx) error {
			_, err := t.exec(ctx, `UPDATE inventories SET used_at = ? WHERE digest = ? AND platform = ? AND extractors = ?`, us(now), k.Digest, k.Platform, k.Extractors)
			return err
		})
	}
	return ci, nil
}

func (s *Store) decodeInventory(blob []byte) (*assess.CachedInventory, error) {
	raw, err := s.dec.DecodeAll(blob, nil)
	if err != nil {
		return nil, err
	}
	var ci assess.CachedInventory
	if err := json.Unmarshal(raw, &ci); err != nil {
		return nil, err
	}
	if ci.Inventory == nil {
		return nil, errors.New("no inventory")
	}
	return &ci, nil
}

// Put stores an inventory, replacing one stored for the same key
// (assess.InventoryCache).
func (s *Store) Put(ctx context.Context, k assess.CacheKey, ci *assess.CachedInventory) error {
	return s.Update(ctx, func(t *Tx) error { return t.PutInventory(ctx, k, ci) })
}

// PutInventory stores an inventory within the transaction.
func (t *Tx) PutInventory(ctx context.Context, k assess.CacheKey, ci *assess.CachedInventory) error {
	if k.Digest == "" {
		return errors.New("store: inventory without a digest")
	}
	raw, err := json.Marshal(ci)
	if err != nil {
		return err
	}
	blob := t.s.enc.EncodeAll(raw, nil)
	if len(blob) > maxInventory {
		return fmt.Errorf("inventory of %s is %d bytes compressed (limit %d): not stored", k.Digest, len(blob), maxInventory)
	}
	_, err = t.exec(ctx, `INSERT INTO inventories (digest, platform, extractors, scanned_at, used_at, size, data) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (digest, platform, extractors) DO UPDATE SET scanned_at = excluded.scanned_at, used_at = excluded.used_at, size = excluded.size, data = excluded.data`,
		k.Digest, k.Platform, k.Extractors, us(ci.ScannedAt), us(t.now), len(raw), blob)
	return err
}

// InventoryInfo describes one stored inventory.
type InventoryInfo struct {
	Key       assess.CacheKey `json:"key"`
	ScannedAt time.Time       `json:"scannedAt"`
	UsedAt    time.Time       `json:"usedAt"`
	// Size is the inventory's JSON size (uncompressed), in bytes.
	Size int64 `json:"size"`
}

// Inventories lists the stored inventories (what a database update
// re-matches), by digest.
func (s *Store) Inventories(ctx context.Context) ([]InventoryInfo, error) {
	rows, err := s.query(ctx, s.r, `SELECT digest, platform, extractors, scanned_at, used_at, size FROM inventories ORDER BY digest, platform, extractors`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []InventoryInfo
	for rows.Next() {
		var i InventoryInfo
		var scanned, used int64
		if err := rows.Scan(&i.Key.Digest, &i.Key.Platform, &i.Key.Extractors, &scanned, &used, &i.Size); err != nil {
			return nil, classify(err)
		}
		i.ScannedAt, i.UsedAt = fromUS(scanned), fromUS(used)
		out = append(out, i)
	}
	return out, classify(rows.Err())
}

// PruneInventories removes inventories not used since before.
func (s *Store) PruneInventories(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.Update(ctx, func(t *Tx) error {
		r, err := t.exec(ctx, `DELETE FROM inventories WHERE used_at < ?`, us(before))
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	return n, err
}
