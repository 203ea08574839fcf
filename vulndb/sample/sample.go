// Package sample embeds a small, licensed subset of real OSV records and of
// the CISA KEV catalog, so credence scan --db sample works offline anywhere.
package sample

import (
	"context"
	"embed"
	"fmt"

	"github.com/credence-dev/credence/vulndb"
)

// Name is the --db value that selects the sample database.
const Name = "sample"

//go:embed data
var data embed.FS

// Open loads the embedded records into an in-memory database. It is a
// demo: a few dozen advisories chosen for testdata/images/sample, never a
// substitute for a real database (see data/README.md).
func Open(ctx context.Context) (*vulndb.Memory, error) {
	ins, err := vulndb.InputsFS(data, "data", "embedded:sample")
	if err != nil {
		return nil, fmt.Errorf("open sample database: %w", err)
	}
	m, _, err := vulndb.LoadMemory(ctx, "embedded sample database", ins)
	if err != nil {
		return nil, fmt.Errorf("open sample database: %w", err)
	}
	return m, nil
}
