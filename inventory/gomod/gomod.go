// Package gomod extracts the module requirements of go.mod files in source
// trees, after the file's replace directives, marking indirect ones.
package gomod

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/credence-dev/credence/inventory"
)

// Name of the extractor.
const Name = "go/mod"

// Extractor reads go.mod files.
type Extractor struct{}

var _ inventory.Extractor = Extractor{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// maxSize bounds a go.mod; the biggest real ones (kubernetes) are ~20 KB.
const maxSize = 4 << 20

// Requirements implements inventory.Extractor.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: maxSize}
}

// FileRequired implements inventory.Extractor: go.mod files, except those
// of the module cache (a directory named "path@version", as in
// root/go/pkg/mod/golang.org/x/net@v0.17.0/go.mod), which describe
// downloaded dependencies, not a source tree.
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	if f.Base() != "go.mod" || !f.Mode.IsRegular() {
		return false
	}
	for _, elem := range strings.Split(f.Path, "/") {
		if strings.Contains(elem, "@") {
			return false
		}
	}
	return true
}

// Metadata is what go.mod records about a requirement.
type Metadata struct {
	// Indirect is set for requirements marked "// indirect": needed by a
	// dependency, not imported by the module itself.
	Indirect bool `json:"indirect,omitempty"`
	// MainModule is the path in the file's module directive.
	MainModule string `json:"mainModule,omitempty"`
	// Replaces is "path@version" of the requirement a replace directive
	// swapped for this module ("path@version => ./dir" for a local
	// directory, which has no version).
	Replaces string `json:"replaces,omitempty"`
}

// Extract implements inventory.Extractor. It reports every require line
// (since Go 1.17 go.mod lists the whole build list, indirect ones
// included), each replaced as the file's replace directives say. The
// module itself, the go and toolchain lines (minimums, not the toolchain a
// binary was built with) are not packages. A file golang.org/x/mod cannot
// parse fails as a whole.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) (inventory.Result, error) {
	data, err := in.ReadAll(maxSize)
	if err != nil {
		return inventory.Result{}, err
	}
	f, err := modfile.Parse(in.Path, data, nil) // not ParseLax: it drops replace directives
	if err != nil {
		return inventory.Result{}, fmt.Errorf("parse %s: %w", in.Path, err)
	}
	main := ""
	if f.Module != nil {
		main = f.Module.Mod.Path
	}
	var res inventory.Result
	for _, r := range f.Require {
		md := &Metadata{Indirect: r.Indirect, MainModule: main}
		p := &inventory.Package{Name: r.Mod.Path, Version: r.Mod.Version, Type: inventory.TypeGolang, Metadata: md}
		if rep := replacement(f.Replace, r.Mod.Path, r.Mod.Version); rep != nil {
			md.Replaces = r.Mod.Path + "@" + r.Mod.Version
			if rep.New.Version != "" {
				p.Name, p.Version = rep.New.Path, rep.New.Version
			} else {
				md.Replaces += " => " + rep.New.Path
				p.Version = ""
			}
		}
		res.Packages = append(res.Packages, p)
	}
	return res, nil
}

// replacement finds the replace directive that applies to path@version: one
// naming that exact version wins over one naming the path alone (as the go
// command resolves them).
func replacement(reps []*modfile.Replace, path, version string) *modfile.Replace {
	var any *modfile.Replace
	for _, r := range reps {
		if r.Old.Path != path {
			continue
		}
		if r.Old.Version == version {
			return r
		}
		if r.Old.Version == "" {
			any = r
		}
	}
	return any
}
