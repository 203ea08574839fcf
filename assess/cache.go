package assess

import (
	"context"
	"time"

	"github.com/credence-dev/credence/inventory"
)

// CacheKey identifies a stored inventory: the same image digest, read for
// the same platform by the same extractor set, is the same inventory.
type CacheKey struct {
	Digest     string
	Platform   string
	Extractors string // inventory.SetVersion of the extractors
}

// CachedInventory is what a cache keeps of one scan.
type CachedInventory struct {
	Source         string               `json:"source"`
	ManifestDigest string               `json:"manifestDigest,omitempty"`
	ConfigDigest   string               `json:"configDigest,omitempty"`
	ScannedAt      time.Time            `json:"scannedAt"`
	Inventory      *inventory.Inventory `json:"inventory"`
}

// InventoryCache keeps inventories by image digest. Get returns nil, nil on
// a miss. Implementations must be safe for concurrent use. Package store
// implements it (SQLite or PostgreSQL); invcache opens it for credence assess.
type InventoryCache interface {
	Get(ctx context.Context, k CacheKey) (*CachedInventory, error)
	Put(ctx context.Context, k CacheKey, c *CachedInventory) error
}
