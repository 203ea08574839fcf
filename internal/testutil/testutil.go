// Package testutil helps tests find the real components they run against
// (../shared data and fixtures, cached fixture images) and compare golden files.
package testutil

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/ (or set UPDATE_GOLDEN=1)")

// Updating reports whether golden files should be rewritten: go test -update
// in a package that imports testutil, or UPDATE_GOLDEN=1 for go test ./... .
func Updating() bool { return *update || os.Getenv("UPDATE_GOLDEN") == "1" }

// Golden compares got with the file at path (relative to the test's
// package), rewriting the file instead when Updating.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if Updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (create it with UPDATE_GOLDEN=1 go test ./...): %v", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs (-want +got); rewrite with UPDATE_GOLDEN=1 if the change is intended:\n%s", path, cmp.Diff(string(want), string(got)))
	}
}

// RepoRoot returns the directory holding the module's go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// BuildCredence builds ./cmd/credence of the module at root into out with
// the build tags tags ("" for the full build, "node", "scan").
func BuildCredence(root, out, tags string) error {
	cmd := exec.Command("go", "build", "-tags", tags, "-o", out, "./cmd/credence")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build -tags %q ./cmd/credence: %w\n%s", tags, err, b)
	}
	return nil
}

// MissingMarker starts the message of a test that lacks a real component;
// scripts/test lists every test that printed it.
const MissingMarker = "MISSING COMPONENT"

// InCI reports whether the tests run under CI (CI=true, as CI services set
// it).
func InCI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// NeedComponent ends a test whose real component (a binary, a cached build,
// shared data, root) is missing: under CI it fails, since a CI run that
// skips its integration tests proves nothing; elsewhere it skips loudly.
// howToGet says how to install it (scripts/setup.d installs what it can).
func NeedComponent(t testing.TB, name, howToGet string) {
	t.Helper()
	msg := fmt.Sprintf("%s %s: %s", MissingMarker, name, howToGet)
	if InCI() {
		t.Fatal(msg + " (CI=true: a missing component fails the test)")
	}
	t.Skip("SKIPPED LOUDLY: " + msg)
}

// MissingPart is NeedComponent for a component only part of a test needs:
// under CI the test fails; elsewhere the test goes on without that part,
// and says so.
func MissingPart(t testing.TB, name, howToGet string) {
	t.Helper()
	msg := fmt.Sprintf("%s %s: %s", MissingMarker, name, howToGet)
	if InCI() {
		t.Fatal(msg + " (CI=true: a missing component fails the test)")
	}
	t.Log("PARTLY SKIPPED: " + msg + " (that part of the test is not run)")
}

// Shared returns the ../shared directory beside the repository (or
// $CREDENCE_SHARED); without it the test needs a component (NeedComponent).
func Shared(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("CREDENCE_SHARED")
	if dir == "" {
		dir = filepath.Join(filepath.Dir(RepoRoot(t)), "shared")
	}
	if _, err := os.Stat(filepath.Join(dir, "fixtures")); err != nil {
		NeedComponent(t, "shared data and fixtures", dir+" is absent: put the project's shared/ beside the repository or set CREDENCE_SHARED")
	}
	return dir
}

// CacheDir is where tests and scripts/setup keep built binaries and images,
// outside the repository: $CREDENCE_CACHE, default ~/.cache/credence.
func CacheDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("CREDENCE_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(home, ".cache", "credence")
}

var fixtureBuild sync.Mutex

// DebianFixtures returns the directory of the real fixture images built by
// ../shared/fixtures/build-debian-image.sh (oci/, *.docker.tar, EXPECTED/),
// building them once into the cache when missing (root, 1-7 min).
func DebianFixtures(t testing.TB) string {
	t.Helper()
	shared := Shared(t)
	out := filepath.Join(CacheDir(t), "fixtures", "debian-bookworm-v1")
	if _, err := os.Stat(filepath.Join(out, ".done")); err == nil {
		return out
	}
	fixtureBuild.Lock()
	defer fixtureBuild.Unlock()
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// Serialize with other test processes building the same images.
	lock, err := os.OpenFile(out+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, ".done")); err == nil {
		return out
	}
	if os.Geteuid() != 0 {
		NeedComponent(t, "Debian fixture images", "missing from "+out+" and building them needs root: run scripts/setup as root (scripts/setup.d/10-fixture-images.sh)")
	}
	t.Logf("building fixture images into %s (1-7 min, once)", out)
	cmd := exec.Command("bash", filepath.Join(shared, "fixtures", "build-debian-image.sh"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build fixture images: %v\n%s", err, b)
	}
	return out
}
