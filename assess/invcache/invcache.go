// Package invcache opens the inventory cache of credence assess: a store
// (package store) used for its inventories, in ~/.cache/credence by default.
//
// There is one implementation of keeping inventories by image digest, the
// store's; this package only names the default file. Any store DSN works,
// so --cache postgres://… shares the server's inventories. A file written
// by the cache before the store is taken over (its content is a cache and
// can always be rebuilt); a foreign or corrupt file is refused, not replaced.
package invcache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/credence-dev/credence/store"
)

// EnvPath names the cache when --cache is not given.
const EnvPath = "CREDENCE_INVENTORY_CACHE"

// DefaultPath is $CREDENCE_INVENTORY_CACHE or ~/.cache/credence/inventory.db.
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

// Open opens (creating if needed) the cache named by dsn: a file path,
// sqlite:///PATH or postgres://….
func Open(ctx context.Context, dsn string) (*store.Store, error) {
	s, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("inventory cache: %w", err)
	}
	return s, nil
}
