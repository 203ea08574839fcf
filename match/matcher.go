package match

import (
	"strings"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/versions"
	"github.com/credence-dev/credence/vulndb/osv"
)

// Query is one look-up a matcher asks for: advisories filed under Name in
// Ecosystem, compared against Version.
type Query struct {
	Ecosystem string
	Name      string // normalised (osv.NormalizeName)
	Version   string
	// Via says what the name is, for people: "package", "source package",
	// "Go toolchain".
	Via string
}

// Matcher decides which advisories apply to the packages of some
// ecosystems, in the manner of claircore's matchers: Filter says which
// packages it handles, Query what to look up for one, and the shared OSV
// evaluation decides vulnerability for each affected entry found.
type Matcher interface {
	// Name identifies the matcher in results ("distro", "language").
	Name() string
	// Version is bumped on every change of behaviour; results carry it.
	Version() int
	// Filter reports whether the matcher handles p.
	Filter(p *inventory.Package) bool
	// Query returns the look-ups for p; several when a package may be filed
	// under its own name and its source package's.
	Query(p *inventory.Package) []Query
}

// Matchers is the explicit list of matchers, in the order they are offered
// each package; the first whose Filter accepts a package handles it.
func Matchers() []Matcher {
	return []Matcher{goStdlib{}, distro{}, language{}}
}

// distro matches packages of Linux distributions: Debian, Ubuntu and
// Alpine advisories are filed under the source package (dpkg Source, apk
// origin) and compare the source version; rpm distributions (AlmaLinux,
// Rocky, Red Hat, SUSE) file advisories under binary package names, and some
// under the source rpm name, so both are looked up (for Red Hat, in the
// BaseOS, AppStream and CodeReady Builder streams of the release).
type distro struct{}

func (distro) Name() string                     { return "distro" }
func (distro) Version() int                     { return 2 }
func (distro) Filter(p *inventory.Package) bool { return p.OSPackage() }

func (distro) Query(p *inventory.Package) []Query {
	if p.Ecosystem == "" {
		return nil
	}
	srcName, srcVersion := p.SourceName, p.SourceVersion
	if srcVersion == "" {
		srcVersion = p.Version
	}
	switch p.Type {
	case inventory.TypeDeb, inventory.TypeAPK:
		if srcName == "" {
			return []Query{{Ecosystem: p.Ecosystem, Name: p.Name, Version: p.Version, Via: "package"}}
		}
		return []Query{{Ecosystem: p.Ecosystem, Name: srcName, Version: srcVersion, Via: "source package"}}
	default: // rpm
		qs := []Query{{Ecosystem: p.Ecosystem, Name: p.Name, Version: p.Version, Via: "package"}}
		// A source rpm's file name has no epoch, but its packages share the
		// spec's epoch: without it 1:3.0.7 would compare as 0:3.0.7.
		if epoch, _, ok := strings.Cut(p.Version, ":"); ok && p.SourceVersion != "" && !strings.Contains(srcVersion, ":") {
			srcVersion = epoch + ":" + srcVersion
		}
		if srcName != "" && srcName != p.Name {
			qs = append(qs, Query{Ecosystem: p.Ecosystem, Name: srcName, Version: srcVersion, Via: "source package"})
		}
		// Red Hat files advisories per product stream; an image's
		// os-release names BaseOS, but its packages may come from AppStream
		// or CodeReady Builder of the same release.
		if stem, ok := strings.CutSuffix(p.Ecosystem, "::baseos"); ok && strings.HasPrefix(stem, "Red Hat:") {
			n := len(qs)
			for _, stream := range []string{"::appstream", "::crb"} {
				for _, q := range qs[:n] {
					q.Ecosystem = stem + stream
					qs = append(qs, q)
				}
			}
		}
		return qs
	}
}

// language matches packages of language ecosystems (npm, PyPI, Go
// modules, Maven, crates.io) by their ecosystem's canonical name: npm
// "@scope/name", Maven "groupId:artifactId", PyPI per PEP 503.
type language struct{}

func (language) Name() string { return "language" }
func (language) Version() int { return 1 }
func (language) Filter(p *inventory.Package) bool {
	return !p.OSPackage() && p.Ecosystem != ""
}

func (language) Query(p *inventory.Package) []Query {
	return []Query{{Ecosystem: p.Ecosystem, Name: osv.NormalizeName(p.Ecosystem, CanonicalName(p)), Version: p.Version, Via: "package"}}
}

// goStdlib matches the Go standard library compiled into a binary, which
// the inventory reports as the Go package "stdlib" with the toolchain
// version ("go1.21.2"), against the Go database's "stdlib" entries.
type goStdlib struct{}

func (goStdlib) Name() string { return "go-stdlib" }
func (goStdlib) Version() int { return 1 }
func (goStdlib) Filter(p *inventory.Package) bool {
	return p.Type == inventory.TypeGolang && p.Name == "stdlib"
}

func (goStdlib) Query(p *inventory.Package) []Query {
	return []Query{{Ecosystem: "Go", Name: "stdlib", Version: versions.Go(p.Version), Via: "Go toolchain"}}
}

// CanonicalName is the name advisories use for p in its ecosystem: npm
// "@scope/name", Maven "groupId:artifactId", otherwise the name.
func CanonicalName(p *inventory.Package) string {
	switch p.Type {
	case inventory.TypeNPM:
		if p.Namespace != "" && !strings.HasPrefix(p.Name, "@") {
			ns := p.Namespace
			if !strings.HasPrefix(ns, "@") {
				ns = "@" + ns
			}
			return ns + "/" + p.Name
		}
	case inventory.TypeMaven:
		if p.Namespace != "" && !strings.Contains(p.Name, ":") {
			return p.Namespace + ":" + p.Name
		}
	}
	return p.Name
}
