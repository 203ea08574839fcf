// Package extractortest helps the tests of extractors: it hands them files as
// the runner does, checks their results, and scans the fixture-app image with them.
package extractortest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
)

// Extract hands data to e as the regular file at path (mode 0644, the data's
// size) with random access, spooling to t.TempDir(); the input is closed after.
func Extract(t testing.TB, e inventory.Extractor, path string, data []byte) (inventory.Result, error) {
	t.Helper()
	return ExtractReader(t, e, inventory.FileInfo{Path: path, Mode: 0o644, Size: int64(len(data))}, bytes.NewReader(data))
}

// ExtractExecutable hands data to e as the executable at path (mode 0755):
// streamed, through a reader without io.ReaderAt as the runner's layer tar
// gives, unless random.
func ExtractExecutable(t testing.TB, e inventory.Extractor, path string, data []byte, random bool) (inventory.Result, error) {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	if !random {
		r = streamOnly{r}
	}
	return ExtractReader(t, e, inventory.FileInfo{Path: path, Mode: 0o755, Size: int64(len(data))}, r)
}

// streamOnly hides the io.ReaderAt of a bytes.Reader.
type streamOnly struct{ io.Reader }

// ExtractReader hands the file info, read from r, to e, spooling to
// t.TempDir(); the input is closed after.
func ExtractReader(t testing.TB, e inventory.Extractor, info inventory.FileInfo, r io.Reader) (inventory.Result, error) {
	t.Helper()
	in := inventory.NewInput(info, r, t.TempDir())
	defer in.Close()
	return e.Extract(context.Background(), in)
}

// Testdata returns the content of testdata/name in the test's package.
func Testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FileRequired checks, for each path, that e wants the regular file there
// (mode 0644) exactly when want says so.
func FileRequired(t testing.TB, e inventory.Extractor, want map[string]bool) {
	t.Helper()
	for _, path := range slices.Sorted(maps.Keys(want)) {
		if got := e.FileRequired(inventory.FileInfo{Path: path, Mode: 0o644}); got != want[path] {
			t.Errorf("FileRequired(%q) = %v, want %v", path, got, want[path])
		}
	}
}

// FileRequiredInfo is FileRequired for tables that vary the mode or size.
func FileRequiredInfo(t testing.TB, e inventory.Extractor, want map[inventory.FileInfo]bool) {
	t.Helper()
	infos := slices.SortedFunc(maps.Keys(want), func(a, b inventory.FileInfo) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	})
	for _, f := range infos {
		if got := e.FileRequired(f); got != want[f] {
			t.Errorf("FileRequired(%q, %v, %d bytes) = %v, want %v", f.Path, f.Mode, f.Size, got, want[f])
		}
	}
}

// ErrAny, as a test case's wanted error, accepts any error.
var ErrAny = errors.New("any error")

// CheckResult checks what Extract returned against a test case: err must
// match wantErr (nil: no error; ErrAny: any error; else errors.Is), and the
// packages and warnings must be want and wantWarnings, compared with opts.
func CheckResult(t testing.TB, res inventory.Result, err, wantErr error, want []*inventory.Package, wantWarnings []string, opts ...cmp.Option) {
	t.Helper()
	switch {
	case wantErr == nil && err != nil:
		t.Fatalf("Extract: %v", err)
	case wantErr == ErrAny && err == nil, wantErr != nil && wantErr != ErrAny && !errors.Is(err, wantErr):
		t.Fatalf("Extract error = %v, want %v", err, wantErr)
	}
	if diff := cmp.Diff(want, res.Packages, opts...); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantWarnings, res.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// Case is one file handed to an extractor and what it must give.
type Case struct {
	Name string
	// Path is the file's path; empty means the path given to Run.
	Path         string
	Data         []byte
	Want         []*inventory.Package
	WantWarnings []string
	// WantErr is nil for no error, ErrAny for any error, else matched
	// with errors.Is.
	WantErr error
}

// Run runs each case as a subtest: e extracts the case's data (Extract)
// and CheckResult compares the outcome, with opts.
func Run(t *testing.T, e inventory.Extractor, path string, cases []Case, opts ...cmp.Option) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			p := c.Path
			if p == "" {
				p = path
			}
			res, err := Extract(t, e, p, c.Data)
			CheckResult(t, res, err, c.WantErr, c.Want, c.WantWarnings, opts...)
		})
	}
}

// HasNameAndVersion is the least a reported package must have.
func HasNameAndVersion(p *inventory.Package) bool { return p.Name != "" && p.Version != "" }

// CheckPackages reports every package that is not wellFormed.
func CheckPackages(t testing.TB, pkgs []*inventory.Package, wellFormed func(*inventory.Package) bool) {
	t.Helper()
	for _, p := range pkgs {
		if !wellFormed(p) {
			t.Errorf("bad package %+v", p)
		}
	}
}

// Fuzz feeds the fuzzer's inputs to e as the file at path: an error is
// fine, a panic or a package that is not wellFormed is a failure.
func Fuzz(f *testing.F, e inventory.Extractor, path string, wellFormed func(*inventory.Package) bool) {
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Extract(t, e, path, data)
		if err == nil {
			CheckPackages(t, res.Packages, wellFormed)
		}
	})
}

// FixtureRefs returns the fixture-app image of testutil.DebianFixtures as
// an OCI layout and as a docker-archive, in that order.
func FixtureRefs(t testing.TB) []string {
	t.Helper()
	dir := testutil.DebianFixtures(t)
	return []string{"oci:" + filepath.Join(dir, "oci", "fixture-app"), "docker-archive:" + filepath.Join(dir, "fixture-app.docker.tar")}
}

// Expected returns the lines of EXPECTED/name, the ground truth the fixture
// builder wrote beside fixture-app.
func Expected(t testing.TB, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(testutil.DebianFixtures(t), "EXPECTED", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ScanFixture opens the image ref and runs the extractors over it, with
// t.TempDir() for spooled files.
func ScanFixture(t testing.TB, ref string, extractors ...inventory.Extractor) *inventory.Inventory {
	t.Helper()
	img, err := image.Open(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Run(context.Background(), img, extractors, inventory.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// Lines summarises each package as "locations name version layer N"
// (locations joined by commas, name as namespace/name, layer -1 when
// unknown), sorted.
func Lines(inv *inventory.Inventory) []string {
	var out []string
	for _, p := range inv.Packages {
		layer := -1
		if p.Layer != nil {
			layer = p.Layer.Index
		}
		name := p.Name
		if p.Namespace != "" {
			name = p.Namespace + "/" + name
		}
		out = append(out, fmt.Sprintf("%s %s %s layer %d", strings.Join(p.Locations, ","), name, p.Version, layer))
	}
	slices.Sort(out)
	return out
}
