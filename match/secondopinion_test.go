package match_test

import (
	"cmp"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/versions"
)

// osvScannerVersion is the peer built by scripts/setup.d/40-osv-scanner.sh.
const osvScannerVersion = "v2.2.4"

// knownInventoryDifferences are the packages one tool reports and the other
// does not, each with the reason; any other difference fails the test.
var knownInventoryDifferences = map[string]string{} // none on v2.2.4

// TestSecondOpinionOSVScanner runs osv-scanner offline on the fixture-app
// docker-archive with the same OSV archives, and compares it with
// credence's own scan of the same file: the inventory (every package
// either reports, OS and language, by ecosystem, name and version) and, for
// every package both report, the advisory ids. osv-scanner is a second
// opinion, not the oracle (that is in accuracy_test.go): a difference fails
// the test so that it gets looked at and explained here.
func TestSecondOpinionOSVScanner(t *testing.T) {
	bin := filepath.Join(testutil.CacheDir(t), "osv-scanner-"+osvScannerVersion, "osv-scanner")
	if _, err := os.Stat(bin); err != nil {
		testutil.NeedComponent(t, "osv-scanner "+osvScannerVersion, "scripts/setup.d/40-osv-scanner.sh builds it into $CREDENCE_CACHE")
	}
	db := shared(t)
	fx := testutil.DebianFixtures(t)
	archive := filepath.Join(fx, "fixture-app.docker.tar")
	data := filepath.Join(testutil.Shared(t), "data", "osv")
	cache := t.TempDir()
	entries, _ := os.ReadDir(data)
	for _, e := range entries {
		os.MkdirAll(filepath.Join(cache, "osv-scanner", e.Name()), 0o755)
		if err := os.Symlink(filepath.Join(data, e.Name(), "all.zip"), filepath.Join(cache, "osv-scanner", e.Name(), "all.zip")); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "scan", "image", "--offline", "--all-packages", "--format", "json", "--archive", archive)
	cmd.Env = append(os.Environ(), "OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY="+cache)
	out, _ := cmd.Output() // exit 1 means "vulnerabilities found"
	var rep struct {
		Results []struct {
			Packages []struct {
				Package struct {
					Name, Version, Ecosystem string
					// OSPackageName is the binary package; Name is then
					// the source package.
					OSPackageName string `json:"os_package_name"`
				}
				Vulnerabilities []struct{ ID string }
			}
		}
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("osv-scanner output: %v\n%.500s", err, out)
	}
	theirs := map[string][]string{}
	for _, r := range rep.Results {
		for _, p := range r.Packages {
			k := p.Package.Ecosystem + " " + cmp.Or(p.Package.OSPackageName, p.Package.Name) + " " + p.Package.Version
			ids := theirs[k]
			for _, v := range p.Vulnerabilities {
				if !slices.Contains(ids, v.ID) {
					ids = append(ids, v.ID)
				}
			}
			sort.Strings(ids)
			theirs[k] = ids
		}
	}

	// credence, from its own inventory of the same archive.
	inv := scanImage(t, "docker-archive:"+archive)
	res, err := match.Match(context.Background(), db, inv.Packages, match.WithDistro(inv.Distro))
	if err != nil {
		t.Fatal(err)
	}
	key := func(p *inventory.Package) string {
		v := p.Version
		if p.Ecosystem == "Go" {
			v = versions.Go(v)
		}
		return p.Ecosystem + " " + match.CanonicalName(p) + " " + v
	}
	ours := map[string][]string{}
	for _, p := range inv.Packages {
		if p.Ecosystem != "" {
			ours[key(p)] = nil
		}
	}
	for _, f := range res.Findings {
		k := key(f.Package)
		for _, a := range f.Advisories {
			if !slices.Contains(ours[k], a) {
				ours[k] = append(ours[k], a)
			}
		}
		sort.Strings(ours[k])
	}

	var onlyTheirs, onlyOurs []string
	for k := range theirs {
		if _, ok := ours[k]; !ok && knownInventoryDifferences[k] == "" {
			onlyTheirs = append(onlyTheirs, k)
		}
	}
	for k := range ours {
		if _, ok := theirs[k]; !ok && knownInventoryDifferences[k] == "" {
			onlyOurs = append(onlyOurs, k)
		}
	}
	sort.Strings(onlyTheirs)
	sort.Strings(onlyOurs)
	if len(onlyTheirs)+len(onlyOurs) > 0 {
		t.Errorf("inventories differ:\n  only osv-scanner: %s\n  only credence:    %s", strings.Join(onlyTheirs, "; "), strings.Join(onlyOurs, "; "))
	}
	both, vulnerable := 0, 0
	for k, ids := range theirs {
		mine, ok := ours[k]
		if !ok {
			continue
		}
		both++
		if len(ids) > 0 || len(mine) > 0 {
			vulnerable++
		}
		if diff := gocmp.Diff(ids, mine); diff != "" {
			t.Errorf("%s: advisories (-osv-scanner +credence):\n%s", k, diff)
		}
	}
	if both < 100 || vulnerable == 0 {
		t.Errorf("%d packages in both inventories, %d with advisories: the comparison checks too little", both, vulnerable)
	}
	t.Logf("osv-scanner %s: %d packages, credence: %d; %d in both, %d of them with advisories, compared id by id", osvScannerVersion, len(theirs), len(ours), both, vulnerable)
}
