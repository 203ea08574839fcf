// Package pipfilelock extracts Python packages from Pipfile.lock (pipenv),
// its "default" and "develop" sections.
package pipfilelock

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/credence-dev/credence/inventory"
)

// Name of the extractor.
const Name = "python/pipfilelock"

// Extractor reads Pipfile.lock files.
type Extractor struct{}

var _ inventory.Extractor = Extractor{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// maxSize bounds a Pipfile.lock (real ones are well under 1 MiB).
const maxSize = 32 << 20

// Requirements implements inventory.Extractor.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: maxSize}
}

// FileRequired implements inventory.Extractor.
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	return f.Base() == "Pipfile.lock"
}

// Metadata is what Pipfile.lock records beyond name and version.
type Metadata struct {
	// Dev is true for a package only in the "develop" section.
	Dev bool `json:"dev,omitempty"`
	// Markers is the environment marker the package is installed under.
	Markers string `json:"markers,omitempty"`
}

// lockfile is the part of Pipfile.lock the extractor reads.
type lockfile struct {
	Default map[string]json.RawMessage `json:"default"`
	Develop map[string]json.RawMessage `json:"develop"`
}

type lockedPackage struct {
	Version  string `json:"version"`
	Markers  string `json:"markers"`
	Editable bool   `json:"editable"`
	Path     string `json:"path"`
	Git      string `json:"git"`
	File     string `json:"file"`
}

// Extract implements inventory.Extractor. Editable and local path entries
// (the project itself) are skipped; an entry with no "==" version (a git or
// URL dependency) or of the wrong shape is skipped with a warning.
func (Extractor) Extract(_ context.Context, in *inventory.Input) (inventory.Result, error) {
	b, err := in.ReadAll(maxSize)
	if err != nil {
		return inventory.Result{}, err
	}
	var lf lockfile
	if err := json.Unmarshal(b, &lf); err != nil {
		return inventory.Result{}, fmt.Errorf("parse %s: %w", in.Path, err)
	}
	var res inventory.Result
	byKey := map[string]*inventory.Package{}
	for _, section := range []struct {
		name    string
		entries map[string]json.RawMessage
	}{{"default", lf.Default}, {"develop", lf.Develop}} {
		for _, name := range slices.Sorted(maps.Keys(section.entries)) {
			var e lockedPackage
			if err := json.Unmarshal(section.entries[name], &e); err != nil {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %.100q: %v", section.name, name, err))
				continue
			}
			if e.Editable || e.Path != "" && e.Version == "" {
				continue // a local project, the Pipfile's own or a path dependency
			}
			version, ok := strings.CutPrefix(e.Version, "==")
			version = strings.TrimPrefix(version, "=") // "===" arbitrary equality
			switch {
			case name == "" || strings.ContainsAny(name, " /\\\x00"):
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %.100q is not a package name", section.name, name))
				continue
			case e.Version == "":
				what := "no version"
				if e.Git != "" {
					what = "no version (a git dependency)"
				} else if e.File != "" {
					what = "no version (a URL dependency)"
				}
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %.100q: %s", section.name, name, what))
				continue
			case !ok || version == "" || strings.ContainsAny(version, " ,*<>!~"):
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %.100q: version %.100q is not a pin", section.name, name, e.Version))
				continue
			}
			key := name + "\x00" + version
			if p := byKey[key]; p != nil {
				continue // in both sections: not only a development dependency
			}
			p := &inventory.Package{
				Name:      name,
				Version:   version,
				Type:      inventory.TypePyPI,
				Locations: []string{in.Path},
				Metadata:  &Metadata{Dev: section.name == "develop", Markers: e.Markers},
			}
			byKey[key] = p
			res.Packages = append(res.Packages, p)
		}
	}
	slices.SortFunc(res.Packages, func(a, b *inventory.Package) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	return res, nil
}
