// Package npmlock extracts npm packages from package-lock.json and
// npm-shrinkwrap.json, lockfile versions 1, 2 and 3, streaming the file.
package npmlock

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/credence-dev/credence/inventory"
)

// Name of the extractor.
const Name = "npm/lockfile"

// Extractor reads npm lockfiles.
type Extractor struct{}

var _ inventory.Extractor = Extractor{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// Requirements implements inventory.Extractor. Lockfiles are streamed, so
// memory follows the number of packages, not the file size.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: 256 << 20}
}

// FileRequired implements inventory.Extractor. Lockfiles inside node_modules
// belong to installed packages, whose own installs are found by the
// npm/installed extractor; npm ignores them (node_modules/.package-lock.json,
// npm's hidden lockfile, is not read either: it only mirrors node_modules).
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	base := f.Base()
	if base != "package-lock.json" && base != "npm-shrinkwrap.json" {
		return false
	}
	return !strings.HasPrefix(f.Path, "node_modules/") && !strings.Contains(f.Path, "/node_modules/")
}

// Metadata is what a lockfile records beyond name and version.
type Metadata struct {
	// LockfileVersion is the lockfileVersion field (1, 2 or 3).
	LockfileVersion int `json:"lockfileVersion"`
	// InstallPaths are where the package is installed, relative to the
	// lockfile's directory ("node_modules/a/node_modules/b"), sorted.
	InstallPaths []string `json:"installPaths"`
	// Aliases are the names it is installed under when they differ from
	// its own ("old-lodash" for "npm:lodash@4.17.4").
	Aliases []string `json:"aliases,omitempty"`
	// Dev is true when every install is a development dependency; Optional
	// when every install is optional.
	Dev      bool `json:"dev,omitempty"`
	Optional bool `json:"optional,omitempty"`

	dir string // the lockfile's directory, relative to the root
}

var _ inventory.Installed = (*Metadata)(nil)

// InstalledAt implements inventory.Installed: the install paths relative to
// the image root, so the runner can drop packages a later layer deleted.
func (m *Metadata) InstalledAt() []string {
	out := make([]string, len(m.InstallPaths))
	for i, p := range m.InstallPaths {
		out[i] = path.Join(m.dir, p)
	}
	return out
}

// Limits on hostile lockfiles.
const (
	// maxEntries bounds the install entries of one lockfile (real ones
	// have tens of thousands).
	maxEntries = 250_000
	// maxDepth bounds the nesting of JSON values this package skips; the
	// values it decodes are bounded by encoding/json (10000).
	maxDepth = 512
	// maxInstallPaths bounds the install paths kept for one package.
	maxInstallPaths = 1000
)

// ErrTooManyEntries is returned for a lockfile with more than maxEntries
// packages.
var ErrTooManyEntries = errors.New("too many lockfile entries")

// entry is one value of the v2/v3 "packages" map.
type entry struct {
	Name        string  `json:"name"`
	Version     string  `json:"version"`
	Link        bool    `json:"link"`
	Dev         bool    `json:"dev"`
	Optional    bool    `json:"optional"`
	DevOptional bool    `json:"devOptional"`
	License     license `json:"license"`
}

// dependency is one value of the v1 "dependencies" tree.
type dependency struct {
	Version      string                 `json:"version"`
	Dev          bool                   `json:"dev"`
	Optional     bool                   `json:"optional"`
	Dependencies map[string]*dependency `json:"dependencies"`
}

// license is the "license" field: a string, or an object or array of
// objects with a "type" in old packages.
type license []string

func (l *license) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != "" {
			*l = license{s}
		}
		return nil
	}
	var o struct{ Type string }
	if json.Unmarshal(b, &o) == nil {
		if o.Type != "" {
			*l = license{o.Type}
		}
		return nil
	}
	var a []struct{ Type string }
	if json.Unmarshal(b, &a) == nil {
		for _, x := range a {
			if x.Type != "" {
				*l = append(*l, x.Type)
			}
		}
	}
	return nil // an unreadable license is no reason to drop the package
}

// parser holds the state of one Extract call.
type parser struct {
	ctx      context.Context
	path     string
	entries  int
	version  int
	warnings []string
	// byKey collects packages (one per name and version) from "packages"
	// (v2, v3) and from "dependencies" (v1) separately: the first wins when
	// both are present, as npm 7+ reads it.
	packages, deps map[string]*inventory.Package
	sawPackages    bool
}

// Extract implements inventory.Extractor. It streams the top-level object
// and decodes one package entry at a time. Entries without a version, local
// links and the root project are skipped; a malformed entry is skipped with
// a warning.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) (inventory.Result, error) {
	p := &parser{ctx: ctx, path: in.Path, packages: map[string]*inventory.Package{}, deps: map[string]*inventory.Package{}}
	dec := json.NewDecoder(bufio.NewReaderSize(in.Reader, 64<<10))
	if err := p.parse(dec); err != nil {
		return inventory.Result{}, fmt.Errorf("read %s: %w", in.Path, err)
	}
	found := p.deps
	if p.sawPackages {
		found = p.packages
	}
	res := inventory.Result{Warnings: p.warnings}
	for _, pkg := range found {
		md := pkg.Metadata.(*Metadata)
		md.LockfileVersion = p.version
		md.dir = path.Dir(in.Path)
		slices.Sort(md.InstallPaths)
		slices.Sort(md.Aliases)
		md.Aliases = slices.Compact(md.Aliases)
		res.Packages = append(res.Packages, pkg)
	}
	slices.SortFunc(res.Packages, func(a, b *inventory.Package) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	return res, nil
}

func (p *parser) parse(dec *json.Decoder) error {
	if err := expectDelim(dec, '{'); err != nil {
		return fmt.Errorf("not a lockfile: %w", err)
	}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return err
		}
		switch key {
		case "lockfileVersion":
			tok, err := dec.Token() // a number, unless the file is broken
			if err != nil {
				return fmt.Errorf("lockfileVersion: %w", err)
			}
			if n, ok := tok.(float64); ok && n >= 1 && n <= 1000 && n == float64(int(n)) {
				p.version = int(n)
			} else {
				p.warnf("lockfileVersion %.40v is not a known version", tok)
				if _, ok := tok.(json.Delim); ok {
					return errors.New("lockfileVersion is not a number")
				}
			}
		case "packages":
			p.sawPackages = true
			if err := p.parsePackages(dec); err != nil {
				return fmt.Errorf("packages: %w", err)
			}
		case "dependencies":
			if p.sawPackages { // npm 7+ reads "packages" and ignores these
				if err := skip(dec); err != nil {
					return err
				}
				continue
			}
			if err := p.parseDependencies(dec); err != nil {
				return fmt.Errorf("dependencies: %w", err)
			}
		default:
			if err := skip(dec); err != nil {
				return err
			}
		}
	}
	return expectDelim(dec, '}')
}

// parsePackages reads the v2/v3 "packages" map, keyed by install path.
func (p *parser) parsePackages(dec *json.Decoder) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return err
		}
		if err := p.count(); err != nil {
			return err
		}
		var e entry
		if err := dec.Decode(&e); err != nil {
			if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
				p.warnf("package %.200q: %v", key, err)
				continue
			}
			return fmt.Errorf("package %.200q: %w", key, err)
		}
		p.addEntry(key, &e)
	}
	return expectDelim(dec, '}')
}

func (p *parser) addEntry(key string, e *entry) {
	// "" is the root project; keys outside node_modules are workspace or
	// linked source directories, and link entries point at them.
	i := strings.LastIndex(key, "node_modules/")
	if i < 0 || e.Link || (i > 0 && key[i-1] != '/') {
		return
	}
	installedAs := key[i+len("node_modules/"):]
	if !validName(installedAs) {
		p.warnf("package %.200q: %q is not an npm package name", key, installedAs)
		return
	}
	name := installedAs
	if e.Name != "" {
		if !validName(e.Name) {
			p.warnf("package %.200q: name %.200q is not an npm package name", key, e.Name)
			return
		}
		name = e.Name
	}
	if e.Version == "" {
		p.warnf("package %.200q has no version", key)
		return
	}
	p.add(p.packages, name, installedAs, e.Version, key, e.Dev, e.Optional || e.DevOptional, e.License)
}

// parseDependencies reads the v1 "dependencies" tree, one top-level
// dependency (with its nested ones) at a time.
func (p *parser) parseDependencies(dec *json.Decoder) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		name, err := stringToken(dec)
		if err != nil {
			return err
		}
		var d dependency
		if err := dec.Decode(&d); err != nil {
			if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
				p.warnf("dependency %.200q: %v", name, err)
				continue
			}
			return fmt.Errorf("dependency %.200q: %w", name, err)
		}
		if err := p.addDependency("", name, &d); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

// addDependency adds a v1 dependency installed at parent/node_modules/name
// and, recursively, the ones nested below it. encoding/json bounds the depth.
func (p *parser) addDependency(parent, name string, d *dependency) error {
	if d == nil {
		return nil
	}
	if err := p.count(); err != nil {
		return err
	}
	key := parent + "node_modules/" + name
	switch {
	case !validName(name):
		p.warnf("dependency %.200q is not an npm package name", key)
		return nil
	case d.Version == "":
		p.warnf("dependency %.200q has no version", key)
	case strings.HasPrefix(d.Version, "file:") || strings.HasPrefix(d.Version, "link:"):
		// a local directory, like the link entries of v2/v3
	default:
		real, version := name, d.Version
		if rest, ok := strings.CutPrefix(d.Version, "npm:"); ok { // "npm:lodash@4.17.4"
			at := strings.LastIndexByte(rest, '@')
			if at <= 0 || !validName(rest[:at]) || at == len(rest)-1 {
				p.warnf("dependency %.200q: alias %.200q is not name@version", key, d.Version)
				break
			}
			real, version = rest[:at], rest[at+1:]
		}
		p.add(p.deps, real, name, version, key, d.Dev, d.Optional, nil)
	}
	names := make([]string, 0, len(d.Dependencies))
	for n := range d.Dependencies {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := p.addDependency(key+"/", n, d.Dependencies[n]); err != nil {
			return err
		}
	}
	return nil
}

// add records one install of name@version at key.
func (p *parser) add(into map[string]*inventory.Package, name, installedAs, version, key string, dev, optional bool, lic license) {
	ns, n := splitScope(name)
	k := ns + "\x00" + n + "\x00" + version
	pkg := into[k]
	if pkg == nil {
		pkg = &inventory.Package{
			Name:      n,
			Namespace: ns,
			Version:   version,
			Type:      inventory.TypeNPM,
			Locations: []string{p.path},
			Metadata:  &Metadata{Dev: true, Optional: true},
		}
		into[k] = pkg
	}
	md := pkg.Metadata.(*Metadata)
	if len(md.InstallPaths) < maxInstallPaths {
		md.InstallPaths = append(md.InstallPaths, key)
	}
	if installedAs != name {
		md.Aliases = append(md.Aliases, installedAs)
	}
	md.Dev = md.Dev && dev
	md.Optional = md.Optional && optional
	for _, l := range lic {
		if !slices.Contains(pkg.Licenses, l) {
			pkg.Licenses = append(pkg.Licenses, l)
		}
	}
}

func (p *parser) count() error {
	p.entries++
	if p.entries > maxEntries {
		return fmt.Errorf("%w: over %d", ErrTooManyEntries, maxEntries)
	}
	if p.entries%4096 == 0 {
		return p.ctx.Err()
	}
	return nil
}

func (p *parser) warnf(format string, args ...any) {
	if len(p.warnings) < 100 {
		p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
	} else if len(p.warnings) == 100 {
		p.warnings = append(p.warnings, "more warnings left out")
	}
}

// splitScope splits "@scope/name" into "@scope" and "name".
func splitScope(name string) (scope, n string) {
	if strings.HasPrefix(name, "@") {
		if i := strings.IndexByte(name, '/'); i > 0 {
			return name[:i], name[i+1:]
		}
	}
	return "", name
}

// validName reports whether s can be an installed package name: "name" or
// "@scope/name", with no path tricks.
func validName(s string) bool {
	scope, n := splitScope(s)
	if s == "" || strings.HasPrefix(s, "@") && scope == "" {
		return false
	}
	if scope == "@" || n == "" || strings.ContainsAny(n, "/\\\x00") || n == "." || n == ".." {
		return false
	}
	return path.Clean(s) == s && len(s) <= 214 // npm's limit on name length
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, found %.40v", want, tok)
	}
	return nil
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("expected an object key, found %.40v", tok)
	}
	return s, nil
}

// skip consumes one JSON value token by token, so that neither a large nor
// a deeply nested value is held in memory.
func skip(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
				if depth > maxDepth {
					return fmt.Errorf("JSON nested deeper than %d levels", maxDepth)
				}
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}
