// Package poetrylock extracts Python packages from poetry.lock (Poetry's
// lockfile, lock-version 1.x and 2.x).
package poetrylock

import (
	"context"
	"fmt"
	"strings"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/internal/tomlsafe"
)

// Name of the extractor.
const Name = "python/poetrylock"

// Extractor reads poetry.lock files.
type Extractor struct{}

var _ inventory.Extractor = Extractor{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// maxSize bounds a poetry.lock: it is decoded whole (real ones are a few
// MiB at most).
const maxSize = 16 << 20

// Requirements implements inventory.Extractor.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: maxSize}
}

// FileRequired implements inventory.Extractor.
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	return f.Base() == "poetry.lock"
}

// Metadata is what poetry.lock records beyond name and version.
type Metadata struct {
	// Groups are the dependency groups that need the package ("main",
	// "dev"): the groups field of lock-version 2.1, else the category of
	// lock-version 1.x.
	Groups   []string `json:"groups,omitempty"`
	Optional bool     `json:"optional,omitempty"`
	// SourceType is "git", "url", "file", "directory" or "legacy" (a
	// private index) for a package not from PyPI.
	SourceType string `json:"sourceType,omitempty"`
	SourceURL  string `json:"sourceURL,omitempty"`
	// ResolvedReference is the commit of a git source.
	ResolvedReference string `json:"resolvedReference,omitempty"`
}

// lockfile is one [[package]] table of poetry.lock with what follows it.
type lockfile struct {
	Package []struct {
		Name     string   `toml:"name"`
		Version  string   `toml:"version"`
		Category string   `toml:"category"`
		Groups   []string `toml:"groups"`
		Optional bool     `toml:"optional"`
		Source   struct {
			Type              string `toml:"type"`
			URL               string `toml:"url"`
			ResolvedReference string `toml:"resolved_reference"`
		} `toml:"source"`
	} `toml:"package"`
}

// maxWarnings bounds the warnings of one file.
const maxWarnings = 100

// Extract implements inventory.Extractor. Every [[package]] is reported
// (the root project is not in the lockfile). The tables are decoded one at
// a time, so memory follows the largest table; one that does not parse, or
// has no name or version, is skipped with a warning.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) (inventory.Result, error) {
	b, err := in.ReadAll(maxSize)
	if err != nil {
		return inventory.Result{}, err
	}
	head, tables, err := tomlsafe.SplitArrayTables(b, "package")
	if err != nil {
		return inventory.Result{}, fmt.Errorf("read %s: %w", in.Path, err)
	}
	// What precedes the first [[package]] is comments in a real lockfile:
	// if it is not TOML, or not a lockfile, neither is the file.
	var top lockfile
	if err := tomlsafe.Decode(head, &top); err != nil {
		return inventory.Result{}, fmt.Errorf("read %s: %w", in.Path, err)
	}
	if len(top.Package) > 0 {
		return inventory.Result{}, fmt.Errorf("read %s: packages outside [[package]] tables", in.Path)
	}
	var res inventory.Result
	warnf := func(format string, args ...any) {
		if len(res.Warnings) < maxWarnings {
			res.Warnings = append(res.Warnings, fmt.Sprintf(format, args...))
		}
	}
	seen := map[string]bool{}
	for i, table := range tables {
		if i%1024 == 0 && ctx.Err() != nil {
			return inventory.Result{}, ctx.Err()
		}
		var lf lockfile
		if err := tomlsafe.Decode(table, &lf); err != nil {
			warnf("package %d: %v", i+1, err)
			continue
		}
		if len(lf.Package) != 1 {
			warnf("package %d: %d [[package]] tables", i+1, len(lf.Package))
			continue
		}
		p := lf.Package[0]
		if p.Name == "" || p.Version == "" || strings.ContainsAny(p.Name, " /\\\x00") || strings.ContainsAny(p.Version, " ,\x00") {
			warnf("package %d: name %.100q or version %.100q is missing or malformed", i+1, p.Name, p.Version)
			continue
		}
		if key := p.Name + "\x00" + p.Version; !seen[key] {
			seen[key] = true
		} else {
			continue
		}
		groups := p.Groups
		if len(groups) == 0 && p.Category != "" {
			groups = []string{p.Category}
		}
		res.Packages = append(res.Packages, &inventory.Package{
			Name:      p.Name,
			Version:   p.Version,
			Type:      inventory.TypePyPI,
			Locations: []string{in.Path},
			Metadata: &Metadata{
				Groups:            groups,
				Optional:          p.Optional,
				SourceType:        p.Source.Type,
				SourceURL:         p.Source.URL,
				ResolvedReference: p.Source.ResolvedReference,
			},
		})
	}
	return res, nil
}
