package store_test

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// The two migration files describe one schema: the same tables with the
// same columns, read back from each database's own catalog.
func TestSchemasAgree(t *testing.T) {
	got := map[string][]string{}
	each(t, func(t *testing.T, b backend) {
		dsn := b.dsn(t)
		open(t, dsn).Close()
		var db *sql.DB
		var err error
		var q string
		if b.name == "sqlite" {
			db, err = sql.Open("sqlite", strings.TrimPrefix(dsn, "sqlite://"))
			q = `SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`
		} else {
			db, err = sql.Open("pgx", dsn)
			q = `SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = 'public'`
		}
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.QueryContext(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var cols []string
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(c, "goose_db_version.") {
				cols = append(cols, c)
			}
		}
		slices.Sort(cols)
		if len(cols) < 50 {
			t.Fatalf("only %d columns: %v", len(cols), cols)
		}
		got[b.name] = cols
	})
	if a, b := got["sqlite"], got["postgres"]; a != nil && b != nil && !slices.Equal(a, b) {
		t.Errorf("schemas differ:\nsqlite   %v\npostgres %v", a, b)
	}
}
