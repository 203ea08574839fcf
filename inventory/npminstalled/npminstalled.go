// Package npminstalled extracts npm packages installed in node_modules from
// their package.json (node_modules/<name>/ and node_modules/@scope/<name>/).
package npminstalled

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/credence-dev/credence/inventory"
)

// Name of the extractor.
const Name = "npm/installed"

// Extractor reads the package.json of installed npm packages.
type Extractor struct{}

var _ inventory.Extractor = Extractor{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// maxSize bounds a package.json (old npm versions copied the README into it).
const maxSize = 16 << 20

// Requirements implements inventory.Extractor.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: maxSize}
}

// FileRequired implements inventory.Extractor: package.json directly in
// node_modules/<name>/ or node_modules/@scope/<name>/, where npm installs a
// package, and not the package.json files deeper inside a package (test
// fixtures, "type": "module" markers).
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	dir, ok := strings.CutSuffix(f.Path, "/package.json")
	if !ok {
		return false
	}
	dir, name := cutLast(dir)
	if name == "" || name[0] == '.' {
		return false
	}
	dir, parent := cutLast(dir)
	if parent == "node_modules" {
		return name[0] != '@' // a scope directory, not a package
	}
	if len(parent) < 2 || parent[0] != '@' {
		return false
	}
	_, grand := cutLast(dir)
	return grand == "node_modules"
}

// cutLast splits "a/b/c" into "a/b" and "c".
func cutLast(p string) (dir, last string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// Metadata is what an installed package.json records beyond name and version.
type Metadata struct {
	// InstalledAs is the directory name when it differs from the package
	// name: an alias ("old-lodash" for "npm:lodash@4.17.4").
	InstalledAs string `json:"installedAs,omitempty"`
	Private     bool   `json:"private,omitempty"`
}

// manifest is the part of package.json the extractor reads.
type manifest struct {
	Name     string          `json:"name"`
	Version  string          `json:"version"`
	Private  bool            `json:"private"`
	License  json.RawMessage `json:"license"`
	Licenses json.RawMessage `json:"licenses"`
}

// Extract implements inventory.Extractor. A package.json without a name or
// version (a test fixture inside a package) gives a warning and no package.
func (Extractor) Extract(_ context.Context, in *inventory.Input) (inventory.Result, error) {
	b, err := in.ReadAll(maxSize)
	if err != nil {
		return inventory.Result{}, err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok {
			return inventory.Result{}, fmt.Errorf("parse %s: %w", in.Path, err)
		}
		return inventory.Result{Warnings: []string{err.Error()}}, nil
	}
	if m.Name == "" || m.Version == "" {
		return inventory.Result{Warnings: []string{"no name or no version: not an installed package"}}, nil
	}
	scope, name := splitScope(m.Name)
	if name == "" || strings.ContainsAny(name, "/\\\x00") || scope == "@" || len(m.Name) > 214 {
		return inventory.Result{Warnings: []string{fmt.Sprintf("%.240q is not an npm package name", m.Name)}}, nil
	}
	md := &Metadata{Private: m.Private}
	dir := path.Dir(in.Path)
	installedAs := path.Base(dir)
	if s := path.Base(path.Dir(dir)); strings.HasPrefix(s, "@") {
		installedAs = s + "/" + installedAs
	}
	if installedAs != m.Name {
		md.InstalledAs = installedAs
	}
	p := &inventory.Package{
		Name:      name,
		Namespace: scope,
		Version:   m.Version,
		Type:      inventory.TypeNPM,
		Licenses:  licenses(m.License, m.Licenses),
		Locations: []string{in.Path},
		Metadata:  md,
	}
	return inventory.Result{Packages: []*inventory.Package{p}}, nil
}

// splitScope splits "@scope/name" into "@scope" and "name".
func splitScope(name string) (scope, n string) {
	if strings.HasPrefix(name, "@") {
		if i := strings.IndexByte(name, '/'); i > 0 {
			return name[:i], name[i+1:]
		}
		return "@", ""
	}
	return "", name
}

// licenses reads "license" (an SPDX expression, or {"type": ...} in old
// packages) and the deprecated "licenses" ([{"type": ...}]).
func licenses(license, legacy json.RawMessage) []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" && len(out) < 16 {
			out = append(out, s)
		}
	}
	var s string
	var o struct{ Type string }
	var a []struct{ Type string }
	var as []string
	switch {
	case json.Unmarshal(license, &s) == nil:
		add(s)
	case json.Unmarshal(license, &o) == nil:
		add(o.Type)
	case json.Unmarshal(license, &a) == nil:
		for _, x := range a {
			add(x.Type)
		}
	}
	if len(out) == 0 && json.Unmarshal(legacy, &a) == nil {
		for _, x := range a {
			add(x.Type)
		}
	} else if len(out) == 0 && json.Unmarshal(legacy, &as) == nil {
		for _, x := range as {
			add(x)
		}
	}
	return out
}
