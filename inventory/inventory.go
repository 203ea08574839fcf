// Package inventory holds what a scan finds inside an image (packages, the
// distribution, the layer of each package) and the Extractor contract that
// format packages under inventory/ implement; Run offers every file to them once.
package inventory

import (
	"fmt"
	"time"
)

// Package is one piece of installed software found in an image.
type Package struct {
	// Name as the package manager spells it (dpkg binary package, npm name
	// without scope, Go module path, Maven artifactId, ...).
	Name string `json:"name"`
	// Version exactly as recorded (dpkg "1:2.3-4", rpm "[epoch:]version-release",
	// Go "v0.3.5", ...). Empty only when the format records none.
	Version string `json:"version"`
	// Type is the purl type: "deb", "apk", "rpm", "npm", "pypi", "golang",
	// "maven", "cargo". It decides the ecosystem; see Ecosystem.
	Type string `json:"type"`
	// Namespace is the purl namespace of language packages: the npm scope
	// ("@babel"), the Maven groupId. OS packages leave it empty: the runner
	// fills the distribution ID.
	Namespace string `json:"namespace,omitempty"`
	// Ecosystem is the OSV ecosystem ("Debian:12", "Alpine:v3.18", "npm",
	// "Go", ...), set by the runner. Empty when it could not be determined
	// (an OS package in an image whose distribution was not recognised):
	// unknown, not safe.
	Ecosystem string `json:"ecosystem,omitempty"`
	// PURL is the package URL, set by the runner.
	PURL string `json:"purl,omitempty"`
	// SourceName and SourceVersion name the source package where the format
	// records one: dpkg "Source:", apk origin, the rpm source rpm. Distro
	// advisories are filed against the source package.
	SourceName    string   `json:"sourceName,omitempty"`
	SourceVersion string   `json:"sourceVersion,omitempty"`
	Arch          string   `json:"arch,omitempty"`
	Licenses      []string `json:"licenses,omitempty"`
	// Layer is the image layer that added this package (for a package
	// database, the lowest layer from which every later version of the
	// database still lists it). Nil for a dir: scan of a plain directory.
	Layer *Layer `json:"layer,omitempty"`
	// Locations are the paths (relative to the image root, no leading slash)
	// the package was found at; a jar nested in a jar reads "a.jar!/b.jar".
	Locations []string `json:"locations"`
	// Extractor names the extractor and its version, "dpkg@1".
	Extractor string `json:"extractor"`
	// Metadata carries format details (rpm epoch and modularity label, Go
	// build info, ...). Its concrete type depends on the extractor.
	Metadata any `json:"metadata,omitempty"`
	// Linked is, for a Go module (or the standard library) compiled into
	// a binary, what the binary's function table says of its code: which
	// of its packages and functions were linked in. Nil when no binary was
	// read (a go.mod, a lockfile, another ecosystem): then nothing is known.
	Linked *GoLinked `json:"linked,omitempty"`
}

// GoLinked is what a Go binary's function table (pclntab) says of one
// module: the functions of it the linker kept. It is stored with the
// inventory so that advisories published later are matched against it
// without reading the image again, so it lists every function, not only
// those some advisory names today.
type GoLinked struct {
	// Unknown, when set, says why the binary's function table could not
	// be read (Packages is then empty): unknown, not "nothing linked".
	Unknown string `json:"unknown,omitempty"`
	// Packages maps the import path of each package of the module with at
	// least one function in the binary ("golang.org/x/net/http2",
	// "net/http", "main") to the names of those functions, sorted and
	// written as OSV records write symbols: "Func", "Type.Method" (no
	// pointer or parentheses), with closures ("F.func1"), generic
	// instantiations ("F[...]") and method values ("T.M-fm") folded into
	// the function they belong to. Functions inlined everywhere count as
	// linked: their code is in the binary. A package of the module that is
	// absent here has no function in the binary. For a module replaced by
	// another (Name is the replacement's path), the paths are written
	// under the replacement's path, as its advisories name them, although
	// the binary links them under the replaced module's import paths.
	Packages map[string][]string `json:"packages,omitempty"`
}

// Key identifies a package for de-duplication and for following it across
// layers: the same name, version, type, namespace and arch.
func (p *Package) Key() string {
	return p.Type + "\x00" + p.Namespace + "\x00" + p.Name + "\x00" + p.Version + "\x00" + p.Arch
}

// String is "name@version (type)".
func (p *Package) String() string { return fmt.Sprintf("%s@%s (%s)", p.Name, p.Version, p.Type) }

// OSPackage reports whether the package comes from a distribution package
// manager, so its ecosystem depends on the distribution.
func (p *Package) OSPackage() bool {
	switch p.Type {
	case TypeDeb, TypeAPK, TypeRPM:
		return true
	}
	return false
}

// Package types (purl types).
const (
	TypeDeb    = "deb"
	TypeAPK    = "apk"
	TypeRPM    = "rpm"
	TypeNPM    = "npm"
	TypePyPI   = "pypi"
	TypeGolang = "golang"
	TypeMaven  = "maven"
	TypeCargo  = "cargo"
)

// languageEcosystems maps a language package type to its OSV ecosystem.
var languageEcosystems = map[string]string{
	TypeNPM:    "npm",
	TypePyPI:   "PyPI",
	TypeGolang: "Go",
	TypeMaven:  "Maven",
	TypeCargo:  "crates.io",
}

// Installed is implemented by the metadata of packages a manifest lists
// as installed elsewhere (a lockfile and its node_modules): InstallPaths
// are where, relative to the root. In an image, a package whose every
// install path a later layer deleted is not reported: the manifest
// outlived what it describes. One whose install path never existed (a
// bundled app) is reported, since its code may be inside the bundle.
type Installed interface {
	InstalledAt() []string
}

// Layer identifies one image layer.
type Layer struct {
	// Index counts from 0 at the base layer.
	Index int `json:"index"`
	// Digest is the layer blob digest from the manifest; empty for images
	// read from a docker-archive, whose layers have only a DiffID.
	Digest string `json:"digest,omitempty"`
	// DiffID is the digest of the uncompressed layer tar.
	DiffID string `json:"diffID,omitempty"`
	// CreatedBy is the history line that made the layer.
	CreatedBy string `json:"createdBy,omitempty"`
}

// Distro is the distribution an image is built on, from os-release.
type Distro struct {
	ID              string `json:"id"`                        // "debian", "alpine", "almalinux", ...
	VersionID       string `json:"versionID,omitempty"`       // "12", "3.18.9", "9.3"
	VersionCodename string `json:"versionCodename,omitempty"` // "bookworm"
	PrettyName      string `json:"prettyName,omitempty"`
	// Ecosystem is the OSV ecosystem of its packages ("Debian:12",
	// "Alpine:v3.18", "Ubuntu:22.04:LTS", "AlmaLinux:9"); empty when the
	// distribution has no OSV ecosystem credence knows.
	Ecosystem string `json:"ecosystem,omitempty"`
	// Path is the file it was read from.
	Path string `json:"path"`
}

// Inventory is everything a scan found in one image or directory.
type Inventory struct {
	Distro   *Distro    `json:"distro,omitempty"`
	Packages []*Package `json:"packages"`
	Layers   []Layer    `json:"layers,omitempty"`
	Status   Status     `json:"status"`
}

// Status says how completely a scan succeeded. A file that fails to parse
// does not abort the scan; it is recorded here and the scan is Partial.
type Status struct {
	State      State         `json:"state"`
	FileErrors []FileError   `json:"fileErrors,omitempty"`
	Warnings   []string      `json:"warnings,omitempty"`
	Extractors []string      `json:"extractors"` // name@version of every extractor that ran
	Duration   time.Duration `json:"durationNs"`
}

// State of a scan.
type State string

// Scan states.
const (
	Succeeded State = "succeeded"
	Partial   State = "partial" // some files could not be read; see FileErrors
)

// FileError is a file an extractor could not read.
type FileError struct {
	Path      string `json:"path"`
	Layer     int    `json:"layer"`
	Extractor string `json:"extractor"`
	Error     string `json:"error"`
}
