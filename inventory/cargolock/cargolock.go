// Package cargolock extracts Rust crates from Cargo.lock files (lock format
// v1 to v4): the crates.io packages, with their checksums.
package cargolock

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/credence-dev/credence/inventory"
)

// Name of the extractor.
const Name = "rust/cargolock"

// Extractor reads Cargo.lock files.
type Extractor struct{}

var _ inventory.Extractor = Extractor{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// maxSize bounds a Cargo.lock; large workspaces have ~1 MB ones.
const maxSize = 32 << 20

// Requirements implements inventory.Extractor.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: maxSize}
}

// FileRequired implements inventory.Extractor.
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	return f.Base() == "Cargo.lock" && f.Mode.IsRegular()
}

// Metadata is what Cargo.lock records about a crate.
type Metadata struct {
	// Checksum is the sha256 of the .crate file ("checksum" in v2+, the
	// [metadata] table in v1).
	Checksum string `json:"checksum,omitempty"`
	// LockVersion is the lock file format (1 to 4).
	LockVersion int `json:"lockVersion"`
}

// Registry sources of crates.io: the git index cargo has always written,
// and the sparse index.
var cratesIO = map[string]bool{
	"registry+https://github.com/rust-lang/crates.io-index": true,
	"sparse+https://index.crates.io/":                       true,
}

// CratesIO reports whether a Cargo source string is the crates.io registry.
func CratesIO(source string) bool { return cratesIO[source] }

type lockfile struct {
	Version  int               `toml:"version"`
	Packages []lockPackage     `toml:"package"`
	Metadata map[string]string `toml:"metadata"`
}

type lockPackage struct {
	Name     string `toml:"name"`
	Version  string `toml:"version"`
	Source   string `toml:"source"`
	Checksum string `toml:"checksum"`
}

// maxNesting bounds how deeply arrays and inline tables may nest before the
// file reaches the TOML parser, which recurses once per level.
const maxNesting = 64

// Extract implements inventory.Extractor. Only crates from the crates.io
// registry are reported (type cargo, ecosystem crates.io). Crates without
// a source are the workspace's own (path dependencies): not reported.
// Crates from git repositories or other registries are not crates.io
// releases, so no crates.io advisory range applies to them; they are
// listed in a warning instead, so they stay visible as unknown.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) (inventory.Result, error) {
	data, err := in.ReadAll(maxSize)
	if err != nil {
		return inventory.Result{}, err
	}
	if d := nesting(data); d > maxNesting {
		return inventory.Result{}, fmt.Errorf("parse %s: arrays or tables nested %d deep (at most %d)", in.Path, d, maxNesting)
	}
	var lf lockfile
	if _, err := toml.Decode(string(data), &lf); err != nil {
		return inventory.Result{}, fmt.Errorf("parse %s: %w", in.Path, err)
	}
	version := lf.Version
	if version == 0 {
		version = 1 // v1 and v2 have no version key; v2 has per-package checksums
		for _, p := range lf.Packages {
			if p.Checksum != "" {
				version = 2
				break
			}
		}
	}
	var res inventory.Result
	var other []string
	for i, p := range lf.Packages {
		if p.Name == "" || p.Version == "" {
			res.Warnings = append(res.Warnings, fmt.Sprintf("package %d: no name or no version", i+1))
			continue
		}
		switch {
		case p.Source == "":
			continue // a workspace member or path dependency: the project itself
		case !CratesIO(p.Source):
			other = append(other, p.Name+" "+p.Version+" ("+p.Source+")")
			continue
		}
		sum := p.Checksum
		if sum == "" && lf.Metadata != nil { // v1: "checksum name version (source)" = "sum"
			sum = lf.Metadata["checksum "+p.Name+" "+p.Version+" ("+p.Source+")"]
		}
		res.Packages = append(res.Packages, &inventory.Package{
			Name: p.Name, Version: p.Version, Type: inventory.TypeCargo,
			Metadata: &Metadata{Checksum: sum, LockVersion: version},
		})
	}
	if len(other) > 0 {
		sort.Strings(other)
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d crates from git or registries other than crates.io are not reported (no OSV ecosystem for them): %s", len(other), strings.Join(other, ", ")))
	}
	return res, nil
}

// nesting returns the deepest nesting of [ ] and { } in TOML text outside
// strings and comments (a table header [[package]] counts 2).
func nesting(b []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '#':
			for i < len(b) && b[i] != '\n' {
				i++
			}
		case '"', '\'':
			// Skip a string; triple-quoted ones may span lines.
			q := []byte{c}
			if i+2 < len(b) && b[i+1] == c && b[i+2] == c {
				q = []byte{c, c, c}
			}
			i += len(q)
			for i < len(b) && !(b[i] == c && hasPrefixAt(b, i, q)) {
				if c == '"' && b[i] == '\\' {
					i++
				}
				i++
			}
			i += len(q) - 1
		case '[', '{':
			depth++
			deepest = max(deepest, depth)
		case ']', '}':
			depth = max(depth-1, 0)
		}
	}
	return deepest
}

func hasPrefixAt(b []byte, i int, p []byte) bool {
	return i+len(p) <= len(b) && string(b[i:i+len(p)]) == string(p)
}
