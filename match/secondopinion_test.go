package match_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
)

// TestSecondOpinionOSVScanner runs osv-scanner v2 (when built into
// $CREDENCE_CACHE/osv-scanner-*/; optional, see README) offline on the
// fixture-app image with the same OSV archives, and compares, for every
// package it reports, its advisory ids with credence's for the same
// package. osv-scanner is a second opinion, not the oracle (the oracle
// tests are in accuracy_test.go): a difference fails this test so that it
// gets looked at and explained. On v2.2.4 there is none.
func TestSecondOpinionOSVScanner(t *testing.T) {
	bins, _ := filepath.Glob(filepath.Join(testutil.CacheDir(t), "osv-scanner-*", "osv-scanner"))
	if len(bins) == 0 {
		testutil.NeedComponent(t, "osv-scanner", "scripts/setup.d/40-osv-scanner.sh builds it into $CREDENCE_CACHE/osv-scanner-v2.2.4")
	}
	db := shared(t)
	fx := testutil.DebianFixtures(t)
	data := filepath.Join(testutil.Shared(t), "data", "osv")
	cache := t.TempDir()
	entries, _ := os.ReadDir(data)
	for _, e := range entries {
		os.MkdirAll(filepath.Join(cache, "osv-scanner", e.Name()), 0o755)
		if err := os.Symlink(filepath.Join(data, e.Name(), "all.zip"), filepath.Join(cache, "osv-scanner", e.Name(), "all.zip")); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bins[len(bins)-1], "scan", "image", "--offline", "--format", "json", "--archive", filepath.Join(fx, "fixture-app.docker.tar"))
	cmd.Env = append(os.Environ(), "OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY="+cache)
	out, _ := cmd.Output() // exit 1 means "vulnerabilities found"
	var rep struct {
		Results []struct {
			Packages []struct {
				Package struct {
					Name, Version, Ecosystem string
				}
				Vulnerabilities []struct{ ID string }
			}
		}
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("osv-scanner output: %v\n%.500s", err, out)
	}
	types := map[string]string{"npm": "npm", "PyPI": "pypi", "Go": "golang", "crates.io": "cargo", "Maven": "maven"}
	n := 0
	for _, r := range rep.Results {
		for _, p := range r.Packages {
			typ, ok := types[p.Package.Ecosystem]
			if !ok {
				continue // distro packages: compared by the oracle tests
			}
			var theirs []string
			for _, v := range p.Vulnerabilities {
				theirs = append(theirs, v.ID)
			}
			pkg := &inventory.Package{Name: p.Package.Name, Version: p.Package.Version, Type: typ, Ecosystem: p.Package.Ecosystem}
			res, err := match.Match(context.Background(), db, []*inventory.Package{pkg})
			if err != nil {
				t.Fatal(err)
			}
			var ours []string
			for _, f := range res.Findings {
				for _, a := range f.Advisories {
					if !slices.Contains(ours, a) {
						ours = append(ours, a)
					}
				}
			}
			sort.Strings(theirs)
			sort.Strings(ours)
			n++
			if diff := cmp.Diff(theirs, ours); diff != "" {
				t.Errorf("%s %s %s: advisories (-osv-scanner +credence):\n%s", p.Package.Ecosystem, p.Package.Name, p.Package.Version, diff)
			}
		}
	}
	if n == 0 {
		t.Errorf("osv-scanner reported no language packages")
	}
	t.Logf("%d language packages compared with osv-scanner", n)
}
