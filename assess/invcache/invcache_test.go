package invcache_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/assess/invcache"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/store"
)

func TestDefaultPath(t *testing.T) {
	t.Setenv(invcache.EnvPath, "/tmp/x/inv.db")
	if p, err := invcache.DefaultPath(); err != nil || p != "/tmp/x/inv.db" {
		t.Errorf("DefaultPath = %q, %v", p, err)
	}
}

func TestOpenIsAStore(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "sub", "inventory.db")
	c, err := invcache.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := assess.CacheKey{Digest: "sha256:aa", Platform: "linux/amd64", Extractors: "x@1"}
	if got, err := c.Get(ctx, k); got != nil || err != nil {
		t.Fatalf("empty cache: %v %v", got, err)
	}
	in := &assess.CachedInventory{Source: "oci:dir", ScannedAt: time.Unix(1700000000, 0).UTC(),
		Inventory: &inventory.Inventory{Packages: []*inventory.Package{{Name: "openssl", Version: "3.0.11-1", Type: "deb", Locations: []string{"var/lib/dpkg/status"}}}}}
	if err := c.Put(ctx, k, in); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, k)
	if err != nil || got == nil || got.Source != "oci:dir" || !got.ScannedAt.Equal(in.ScannedAt) || len(got.Inventory.Packages) != 1 || got.Inventory.Packages[0].Name != "openssl" {
		t.Errorf("round trip: %+v %v", got, err)
	}
	if _, err := invcache.Open(ctx, "mysql://x"); !errors.Is(err, store.ErrBadDSN) {
		t.Errorf("bad DSN: %v", err)
	}
}
