// Package rpm extracts rpm packages from the rpm database in its three
// formats (Berkeley DB, SQLite, ndb), with source rpm, epoch and modularity label.
//
// Parsing is done by github.com/knqyf263/go-rpmdb. That library trusts its
// input: on malformed databases its reader goroutines can panic (which no
// recover can catch), loop forever, allocate gigabytes or block forever.
// So every database is first checked by preflight (preflight.go), which walks
// the same structures the library will walk, with bounds, and refuses what
// would trip it; only then is the library run on it. What is left: a header
// that passes preflight but that go-rpmdb still rejects makes ListPackages
// return while its reader goroutine waits forever to send the next header
// (one goroutine and one header per such database; the file is closed).
package rpm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver go-rpmdb opens rpmdb.sqlite with (pure Go)

	"github.com/credence-dev/credence/inventory"
)

// Name of the extractor.
const Name = "rpm"

// Extractor reads rpm databases.
type Extractor struct{}

var _ inventory.Extractor = Extractor{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// maxDBSize bounds the databases read; the biggest real ones (a full RHEL
// install) are a few hundred MB.
const maxDBSize = 1 << 30

// Requirements implements inventory.Extractor.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: maxDBSize}
}

// dbPaths are where rpm keeps its database: the classic location and the
// one Fedora 36+, RHEL 9 and SUSE moved to (var/lib/rpm is then a symlink,
// and the runner offers the real file).
var dbPaths = map[string]bool{
	"var/lib/rpm/Packages":              true, // Berkeley DB (RHEL ≤ 8, CentOS, Amazon Linux 2)
	"var/lib/rpm/Packages.db":           true, // ndb
	"var/lib/rpm/rpmdb.sqlite":          true, // SQLite (RHEL 9, Fedora ≥ 33, CBL-Mariner)
	"usr/lib/sysimage/rpm/Packages":     true, // Berkeley DB (older openSUSE)
	"usr/lib/sysimage/rpm/Packages.db":  true, // ndb (SLES 15, openSUSE)
	"usr/lib/sysimage/rpm/rpmdb.sqlite": true, // SQLite (Fedora ≥ 36)
}

// FileRequired implements inventory.Extractor.
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	return dbPaths[f.Path] && f.Mode.IsRegular()
}

// Metadata is what rpm records beyond name, version and arch.
type Metadata struct {
	// Epoch is the package epoch; 0 when the package has none (rpm
	// compares a missing epoch as 0).
	Epoch int `json:"epoch,omitempty"`
	// Release is the release part of the version ("60.el9_2.7").
	Release string `json:"release,omitempty"`
	// SourceRPM is the source rpm file name ("glibc-2.34-60.el9.src.rpm").
	SourceRPM string `json:"sourceRPM,omitempty"`
	// ModularityLabel is "name:stream:version:context" for packages from a
	// module stream (RHEL 8 AppStream); advisories for modular packages
	// apply to that stream only.
	ModularityLabel string `json:"modularityLabel,omitempty"`
	Vendor          string `json:"vendor,omitempty"`
}

// PURLQualifiers gives the purl "epoch" qualifier (purl-spec rpm type) when
// the epoch is not 0.
func (m *Metadata) PURLQualifiers() map[string]string {
	if m == nil || m.Epoch == 0 {
		return nil
	}
	return map[string]string{"epoch": fmt.Sprint(m.Epoch)}
}

// Extract implements inventory.Extractor. The database is spooled to a
// temporary file (go-rpmdb opens files by path), checked by preflight, then
// parsed; any problem fails the whole file, because a database read halfway
// would silently drop packages.
//
// Package.Version is "epoch:version-release" when the epoch is not 0 and
// "version-release" otherwise: the form OSV's Red Hat family ecosystems
// (AlmaLinux, Rocky) use in their ranges ("1:1.1.1k-6.el8_5" for openssl,
// "2.34-60.el9_2.7" for glibc), and that rpm's version comparison reads.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) (inventory.Result, error) {
	path, err := in.LocalPath()
	if err != nil {
		return inventory.Result{}, err
	}
	defer removeSideFiles(path)
	n, err := preflight(ctx, path)
	if err != nil {
		return inventory.Result{}, fmt.Errorf("read rpm database %s: %w", in.Path, err)
	}
	if err := ctx.Err(); err != nil {
		return inventory.Result{}, err
	}
	infos, err := list(path)
	if err != nil {
		return inventory.Result{}, fmt.Errorf("read rpm database %s: %w", in.Path, err)
	}
	if len(infos) != n {
		return inventory.Result{}, fmt.Errorf("read rpm database %s: %d package headers, but only %d could be read", in.Path, n, len(infos))
	}
	var res inventory.Result
	for i, info := range infos {
		p, warn := toPackage(info)
		if warn != "" {
			res.Warnings = append(res.Warnings, fmt.Sprintf("header %d: %s", i+1, warn))
			continue
		}
		res.Packages = append(res.Packages, p)
	}
	return res, nil
}

// list runs go-rpmdb on a database preflight has accepted. Panics in the
// header parser (which runs on this goroutine) become errors.
func list(path string) (infos []*rpmdb.PackageInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			infos, err = nil, fmt.Errorf("%w: go-rpmdb panicked: %v", ErrMalformed, r)
		}
	}()
	db, err := rpmdb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer db.Close()
	infos, err = db.ListPackages()
	if err != nil {
		return nil, fmt.Errorf("list packages: %w", err)
	}
	return infos, nil
}

// removeSideFiles deletes what SQLite may leave beside a database it opened
// read-write (go-rpmdb opens it so), so nothing outlives the spooled copy.
func removeSideFiles(path string) {
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			continue
		}
	}
}

func toPackage(info *rpmdb.PackageInfo) (*inventory.Package, string) {
	if info.Name == "" || info.Version == "" {
		return nil, fmt.Sprintf("no name or no version (name %q, version %q)", info.Name, info.Version)
	}
	md := &Metadata{
		Epoch:           info.EpochNum(),
		Release:         info.Release,
		SourceRPM:       info.SourceRpm,
		ModularityLabel: info.Modularitylabel,
		Vendor:          info.Vendor,
	}
	version := info.Version
	if info.Release != "" {
		version += "-" + info.Release
	}
	if md.Epoch != 0 {
		version = fmt.Sprintf("%d:%s", md.Epoch, version)
	}
	p := &inventory.Package{
		Name:     info.Name,
		Version:  version,
		Type:     inventory.TypeRPM,
		Arch:     info.Arch,
		Metadata: md,
	}
	if info.License != "" {
		p.Licenses = []string{info.License}
	}
	p.SourceName, p.SourceVersion = ParseSourceRPM(info.SourceRpm)
	return p, ""
}

// ParseSourceRPM splits a source rpm file name into the source package name
// and its "version-release": "glibc-2.34-60.el9.src.rpm" gives "glibc" and
// "2.34-60.el9". Names that do not have that shape give "", "".
func ParseSourceRPM(file string) (name, version string) {
	base, ok := strings.CutSuffix(file, ".src.rpm")
	if !ok {
		if base, ok = strings.CutSuffix(file, ".nosrc.rpm"); !ok {
			return "", ""
		}
	}
	i := strings.LastIndexByte(base, '-')
	if i <= 0 {
		return "", ""
	}
	j := strings.LastIndexByte(base[:i], '-')
	if j <= 0 || j+1 == i || i+1 == len(base) {
		return "", ""
	}
	return base[:j], base[j+1:]
}
