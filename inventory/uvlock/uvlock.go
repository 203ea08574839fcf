// Package uvlock extracts Python packages from uv.lock, the lockfile of the
// uv package manager.
package uvlock

import (
	"context"
	"fmt"
	"strings"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/internal/tomlsafe"
)

// Name of the extractor.
const Name = "python/uvlock"

// Extractor reads uv.lock files.
type Extractor struct{}

var _ inventory.Extractor = Extractor{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// maxSize bounds a uv.lock (real ones are a few MiB at most).
const maxSize = 32 << 20

// Requirements implements inventory.Extractor.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: maxSize}
}

// FileRequired implements inventory.Extractor.
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	return f.Base() == "uv.lock"
}

// Metadata is what uv.lock records beyond name and version.
type Metadata struct {
	// Source is the kind of source, "registry", "git", "url", "path" or
	// "directory", and SourceURL its value.
	Source    string `json:"source,omitempty"`
	SourceURL string `json:"sourceURL,omitempty"`
}

// lockfile is the top of uv.lock, or one [[package]] table.
type lockfile struct {
	Version int `toml:"version"`
	Package []struct {
		Name    string            `toml:"name"`
		Version string            `toml:"version"`
		Source  map[string]string `toml:"source"`
	} `toml:"package"`
}

// sourceKinds are the source kinds uv writes, in the order they are looked
// for; editable and virtual sources are the project and its workspace
// members, not dependencies.
var sourceKinds = []string{"registry", "git", "url", "path", "directory"}

const maxWarnings = 100

// Extract implements inventory.Extractor. Packages are reported except the
// project itself and its workspace members (editable or virtual sources).
// The [[package]] tables are decoded one at a time; one that does not parse
// or lacks a name or version is skipped with a warning.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) (inventory.Result, error) {
	b, err := in.ReadAll(maxSize)
	if err != nil {
		return inventory.Result{}, err
	}
	head, tables, err := tomlsafe.SplitArrayTables(b, "package")
	if err != nil {
		return inventory.Result{}, fmt.Errorf("read %s: %w", in.Path, err)
	}
	var top lockfile
	if err := tomlsafe.Decode(head, &top); err != nil {
		return inventory.Result{}, fmt.Errorf("read %s: %w", in.Path, err)
	}
	if top.Version == 0 || len(top.Package) > 0 {
		return inventory.Result{}, fmt.Errorf("read %s: not a uv lockfile (no version, or packages outside [[package]] tables)", in.Path)
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
		if _, ok := p.Source["editable"]; ok {
			continue
		}
		if _, ok := p.Source["virtual"]; ok {
			continue
		}
		if p.Name == "" || p.Version == "" || strings.ContainsAny(p.Name, " /\\\x00") || strings.ContainsAny(p.Version, " ,\x00") {
			warnf("package %d: name %.100q or version %.100q is missing or malformed", i+1, p.Name, p.Version)
			continue
		}
		key := p.Name + "\x00" + p.Version
		if seen[key] {
			continue
		}
		seen[key] = true
		md := &Metadata{}
		for _, k := range sourceKinds {
			if v, ok := p.Source[k]; ok {
				md.Source, md.SourceURL = k, v
				break
			}
		}
		res.Packages = append(res.Packages, &inventory.Package{
			Name:      p.Name,
			Version:   p.Version,
			Type:      inventory.TypePyPI,
			Locations: []string{in.Path},
			Metadata:  md,
		})
	}
	return res, nil
}
