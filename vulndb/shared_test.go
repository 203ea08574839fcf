package vulndb_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/vulndb"
)

// sharedDB imports all of ../shared/data once per test binary.
var sharedDBPath string

func sharedDB(t *testing.T) *vulndb.DB {
	t.Helper()
	data := filepath.Join(testutil.Shared(t), "data")
	if sharedDBPath == "" {
		dir := t.TempDir()
		p := filepath.Join(dir, "vuln.db")
		ins, err := vulndb.Inputs(data)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := vulndb.Import(context.Background(), p, ins)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("imported %d records from %d sources in %v, %d skipped, warnings: %q", rep.Records, len(rep.Sources), rep.Duration, rep.Skipped, rep.Warnings)
		sharedDBPath = p
	}
	db, err := vulndb.Open(sharedDBPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestImportSharedCounts(t *testing.T) {
	db := sharedDB(t)
	st, err := db.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Advisories != 75702 {
		t.Errorf("advisories = %d, want 75702 (data/README.md)", st.Advisories)
	}
	if st.KEV != 1404 {
		t.Errorf("KEV = %d, want 1404", st.KEV)
	}
	t.Logf("size %d bytes, %d ecosystems", st.SizeBytes, len(st.Ecosystems))
}
