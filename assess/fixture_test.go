package assess_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/vulndb"
)

// countLines counts the non-comment lines of an EXPECTED file, optionally
// only those starting with one of prefixes.
func countLines(t *testing.T, path string, prefixes ...string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if len(prefixes) == 0 || slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(l, p) }) {
			n++
		}
	}
	return n
}

// End to end on the real fixture images (Debian fixture-app as an OCI layout
// and debian-bookworm as a docker-archive, built by
// ../shared/fixtures/build-debian-image.sh) and the sample image, mapped
// with --images, against the real OSV data of ../shared/data. Ground truth:
// the fixtures' EXPECTED/ files and ../shared/data/README.md.
func TestFixtureImages(t *testing.T) {
	fx := testutil.DebianFixtures(t)
	data := filepath.Join(testutil.Shared(t), "data")
	ctx := context.Background()
	var ins []vulndb.Input
	for _, p := range []string{"osv/Go/all.zip", "osv/npm/all.zip", "osv/PyPI/all.zip", "osv/Debian/all.zip", "osv/Maven/all.zip", "osv/crates.io/all.zip", "osv/Alpine/all.zip", "kev/known_exploited_vulnerabilities.json"} {
		in, err := vulndb.Inputs(filepath.Join(data, p))
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in...)
	}
	db, _, err := vulndb.LoadMemory(ctx, "shared data", ins)
	if err != nil {
		t.Fatal(err)
	}
	y := `apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: fixture}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
        - {name: app, image: registry.example.com/team/fixture-app:latest}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: fixture}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: migrate, image: registry.example.com/team/fixture-app:latest}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: base, namespace: fixture}
spec:
  selector: {matchLabels: {app: base}}
  template:
    metadata: {labels: {app: base}}
    spec:
      containers:
        - {name: base, image: fixture/debian:bookworm}
        - {name: sidecar, image: example.com/sample:1}
`
	f := filepath.Join(t.TempDir(), "fixture.yaml")
	if err := os.WriteFile(f, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := cluster.FromManifests(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	dirs, warn, err := assess.NewImageDirs(ctx, []string{filepath.Join(fx, "oci"), fx},
		[]string{"example.com/sample:1=oci:" + filepath.Join(root(t), "testdata", "images", "sample")})
	if err != nil || len(warn) > 0 {
		t.Fatal(err, warn)
	}
	a := run(t, snap, db, assess.WithImageDirs(dirs), assess.WithJobs(2))
	if a.Stats.Images != 3 || a.Stats.ImagesRead != 3 || a.Stats.Unknown != 0 {
		t.Errorf("stats %+v: want 3 distinct images, each read once, none unknown", a.Stats)
	}
	var app *assess.Image
	for _, img := range a.Images {
		if slices.Contains(img.References, "registry.example.com/team/fixture-app:latest") {
			app = img
		}
	}
	if app == nil || app.Status != assess.Scanned {
		t.Fatalf("fixture-app not scanned: %+v", app)
	}
	exp := filepath.Join(fx, "EXPECTED")
	want := map[string]int{
		"deb":  countLines(t, filepath.Join(exp, "dpkg.tsv")),
		"npm":  countLines(t, filepath.Join(exp, "npm.tsv")),
		"pypi": countLines(t, filepath.Join(exp, "python-metadata.txt")),
		// goapp's main module and dependencies, plus the standard library.
		"golang": countLines(t, filepath.Join(exp, "go-binaries.txt"), "mod\t", "dep\t") + 1,
	}
	for typ, n := range want {
		if got := app.Inventory.ByType[typ]; got != n {
			t.Errorf("fixture-app %s packages: %d, EXPECTED/ says %d", typ, got, n)
		}
	}
	if len(app.References) != 1 {
		t.Errorf("fixture-app references %v", app.References)
	}
	ids := findingIDs(app)
	// ../shared/data/README.md: GO-2023-2102 affects golang.org/x/net at the
	// fixture's version; GHSA-jf85-cpcp-j695 does not affect lodash 4.17.15.
	if !slices.Contains(ids, "GO-2023-2102") {
		t.Errorf("fixture-app lacks GO-2023-2102: %v", ids)
	}
	if slices.Contains(ids, "GHSA-jf85-cpcp-j695") {
		t.Error("fixture-app reports GHSA-jf85-cpcp-j695 on lodash 4.17.15")
	}
	// The sample image's Log4Shell, from the real KEV catalog.
	base := subject(t, a, "fixture/base")
	if len(base.Containers) != 2 {
		t.Fatalf("base containers %+v", base.Containers)
	}
	side := base.Containers[1]
	if side.Image.Status != assess.Scanned || !side.Exploit.Known || side.Exploit.Likelihood < 0.9 {
		t.Errorf("sample sidecar %+v %+v", side.Image, side.Exploit)
	}
	deb := base.Containers[0]
	if deb.Image.Status != assess.Scanned || !strings.HasPrefix(deb.Image.ResolvedBy, "images docker-archive:") {
		t.Errorf("debian-bookworm from the docker-archive: %+v", deb.Image)
	}
	for _, img := range a.Images {
		if img.Inventory != nil && img.Inventory.Distro != nil && img.Inventory.Distro.Ecosystem == "Debian:12" && len(img.Unchecked) > 0 {
			t.Errorf("%s: Debian:12 has data, yet unchecked: %v", img.Digest, img.Unchecked)
		}
	}
}
