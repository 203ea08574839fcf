package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"database/sql"

	_ "modernc.org/sqlite"

	"github.com/credence-dev/credence/store"
)

func TestOpenPicksBackend(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		dsn  string
		want store.Backend
	}{
		{"sqlite://" + filepath.Join(dir, "a.db"), store.SQLite},
		{"sqlite:" + filepath.Join(dir, "b.db"), store.SQLite},
		{filepath.Join(dir, "c.db"), store.SQLite},
	} {
		s, err := store.Open(context.Background(), tc.dsn)
		if err != nil {
			t.Fatalf("%s: %v", tc.dsn, err)
		}
		if s.Backend() != tc.want || !strings.HasPrefix(s.String(), "sqlite:///") {
			t.Errorf("%s: backend %s, %s", tc.dsn, s.Backend(), s)
		}
		s.Close()
	}
	for _, bad := range []string{"", "mysql://root@localhost/x", ":memory:", "sqlite:", "file:x.db?mode=memory", "sqlite:///x.db?cache=shared"} {
		if _, err := store.Open(context.Background(), bad); !errors.Is(err, store.ErrBadDSN) {
			t.Errorf("%q: err = %v, want ErrBadDSN", bad, err)
		}
	}
}

func TestOpenMigratesOnce(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		dsn := b.dsn(t)
		// Replicas starting at once: every Open succeeds, the schema is
		// applied once (a second apply would fail on CREATE TABLE).
		const n = 6
		var wg sync.WaitGroup
		errs := make([]error, n)
		stores := make([]*store.Store, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stores[i], errs[i] = store.Open(context.Background(), dsn)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("open %d: %v", i, err)
			}
			defer stores[i].Close()
		}
		// The last migration of the dialect's directory (each applied once).
		files, _ := filepath.Glob(filepath.Join("migrations", map[string]string{"sqlite": "sqlite", "postgres": "postgres"}[b.name], "*.sql"))
		v, err := stores[0].SchemaVersion(context.Background())
		if err != nil || v != int64(len(files)) || v < 2 {
			t.Errorf("schema version %d, %v; want %d (the migrations in the directory)", v, err, len(files))
		}
		if b.name == "postgres" && !strings.Contains(stores[0].String(), "postgres://") {
			t.Errorf("String() = %s", stores[0])
		}
	})
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database\n", 300)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(context.Background(), garbage); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("garbage file: err = %v, want ErrCorrupt", err)
	}
	b, _ := os.ReadFile(garbage)
	if !strings.HasPrefix(string(b), "not a database") {
		t.Error("the garbage file was changed")
	}

	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := store.Open(context.Background(), foreign); !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "customers") {
		t.Errorf("foreign database: err = %v, want ErrCorrupt naming its tables", err)
	}
}

// The inventory cache of credence before the store is taken over: its
// tables are dropped (a cache can be rebuilt) and the store made in place.
func TestOpenAdoptsOldInventoryCache(t *testing.T) {
	p := filepath.Join(t.TempDir(), "inventory.db")
	db, err := sql.Open("sqlite", p)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`INSERT INTO meta VALUES ('schema', '1')`,
		`CREATE TABLE inventories (digest TEXT NOT NULL, platform TEXT NOT NULL, extractors TEXT NOT NULL, scanned INTEGER NOT NULL, used INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (digest, platform, extractors))`,
		`INSERT INTO inventories VALUES ('sha256:aa', 'linux/amd64', 'x', 1, 1, x'00')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s := open(t, p)
	inv, err := s.Inventories(context.Background())
	if err != nil || len(inv) != 0 {
		t.Errorf("inventories after adoption: %v, %v", inv, err)
	}
}
