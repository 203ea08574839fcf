// Package invcache keeps image inventories in an embedded SQLite file, keyed
// by image digest, platform and extractor-set version (an assess.InventoryCache).
//
// A digest names immutable content, so a cached inventory stays right until
// the extractors change; new advisories only need a new match, never a new
// read of the image. One file, WAL, one writer at a time; a corrupt or
// foreign file is reported, not silently replaced.
package invcache

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"
	_ "modernc.org/sqlite" // the SQLite driver, no cgo

	"github.com/credence-dev/credence/assess"
)

// EnvPath names the cache file when --cache is not given.
const EnvPath = "CREDENCE_INVENTORY_CACHE"

// schemaVersion is written into the file; a file of another version is
// rebuilt (its content is a cache: it can always be made again).
const schemaVersion = 1

// maxEntry bounds one stored inventory (compressed).
const maxEntry = 256 << 20

// DefaultPath is ~/.cache/credence/inventory.db (or $CREDENCE_INVENTORY_CACHE).
func DefaultPath() (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		return p, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: %w (use --cache FILE)", err)
	}
	return filepath.Join(dir, "credence", "inventory.db"), nil
}

// Cache is an inventory cache in one SQLite file.
type Cache struct {
	db   *sql.DB
	path string
	enc  *zstd.Encoder
	dec  *zstd.Decoder
}

var _ assess.InventoryCache = (*Cache)(nil)

// Open opens (creating if needed) the cache file at path.
func Open(path string) (*Cache, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("inventory cache %s: %w", path, err)
	}
	// busy_timeout before journal_mode: a second process waits instead of
	// failing; one connection makes this process a single writer.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("inventory cache %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	c := &Cache{db: db, path: path}
	if err := c.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("inventory cache %s: %w", path, err)
	}
	c.enc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	c.dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
	return c, nil
}

func (c *Cache) init() error {
	if _, err := c.db.Exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("not a credence inventory cache (or unreadable): %w", err)
	}
	var v string
	err := c.db.QueryRow(`SELECT value FROM meta WHERE key = 'schema'`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case v != fmt.Sprint(schemaVersion):
		if _, err := c.db.Exec(`DROP TABLE IF EXISTS inventories`); err != nil {
			return err
		}
	}
	if _, err := c.db.Exec(`CREATE TABLE IF NOT EXISTS inventories (
		digest TEXT NOT NULL, platform TEXT NOT NULL, extractors TEXT NOT NULL,
		scanned INTEGER NOT NULL, used INTEGER NOT NULL, data BLOB NOT NULL,
		PRIMARY KEY (digest, platform, extractors))`); err != nil {
		return err
	}
	_, err = c.db.Exec(`INSERT INTO meta (key, value) VALUES ('schema', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, fmt.Sprint(schemaVersion))
	return err
}

// Path is the cache file.
func (c *Cache) Path() string { return c.path }

// Get returns the inventory stored for k, or nil on a miss. An entry that
// does not decode is dropped and reported as a miss with an error.
func (c *Cache) Get(ctx context.Context, k assess.CacheKey) (*assess.CachedInventory, error) {
	var blob []byte
	err := c.db.QueryRowContext(ctx, `SELECT data FROM inventories WHERE digest = ? AND platform = ? AND extractors = ?`,
		k.Digest, k.Platform, k.Extractors).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	raw, err := c.dec.DecodeAll(blob, nil)
	var ci assess.CachedInventory
	if err == nil {
		err = json.Unmarshal(raw, &ci)
	}
	if err == nil && ci.Inventory == nil {
		err = errors.New("no inventory")
	}
	if err != nil {
		c.db.ExecContext(ctx, `DELETE FROM inventories WHERE digest = ? AND platform = ? AND extractors = ?`, k.Digest, k.Platform, k.Extractors)
		return nil, fmt.Errorf("entry for %s is damaged and was dropped: %w", k.Digest, err)
	}
	c.db.ExecContext(ctx, `UPDATE inventories SET used = ? WHERE digest = ? AND platform = ? AND extractors = ?`, time.Now().Unix(), k.Digest, k.Platform, k.Extractors)
	return &ci, nil
}

// Put stores an inventory (replacing an older one for the same key).
func (c *Cache) Put(ctx context.Context, k assess.CacheKey, ci *assess.CachedInventory) error {
	raw, err := json.Marshal(ci)
	if err != nil {
		return err
	}
	blob := c.enc.EncodeAll(raw, nil)
	if len(blob) > maxEntry {
		return fmt.Errorf("inventory of %s is %d bytes compressed: not cached", k.Digest, len(blob))
	}
	now := time.Now().Unix()
	_, err = c.db.ExecContext(ctx, `INSERT INTO inventories (digest, platform, extractors, scanned, used, data) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (digest, platform, extractors) DO UPDATE SET scanned = excluded.scanned, used = excluded.used, data = excluded.data`,
		k.Digest, k.Platform, k.Extractors, ci.ScannedAt.Unix(), now, blob)
	return err
}

// Prune removes entries not used since before.
func (c *Cache) Prune(ctx context.Context, before time.Time) (int64, error) {
	r, err := c.db.ExecContext(ctx, `DELETE FROM inventories WHERE used < ?`, before.Unix())
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

// Len counts the stored inventories.
func (c *Cache) Len(ctx context.Context) (int, error) {
	var n int
	err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM inventories`).Scan(&n)
	return n, err
}

// Close closes the file.
func (c *Cache) Close() error { return c.db.Close() }
