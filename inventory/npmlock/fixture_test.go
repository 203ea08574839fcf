package npmlock_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/npmlock"
)

// TestFixtureImage reads the real fixture-app image. Its ground truth
// EXPECTED/npm.tsv lists the packages installed under /app, which
// app/package-lock.json must list too, in the layer that added it (L2,
// index 1). /opt/legacy/package-lock.json survives the whiteout that deletes
// /opt/legacy/node_modules (EXPECTED/removed.txt), so the lockfile still
// lists lodash 4.17.4, but the runner drops it: what it lists is gone.
func TestFixtureImage(t *testing.T) {
	dir := testutil.DebianFixtures(t)
	f, err := os.Open(filepath.Join(dir, "EXPECTED", "npm.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t") // name, version, /app/node_modules/x/package.json
		if len(fields) != 3 || !strings.HasPrefix(fields[2], "/app/") {
			t.Fatalf("unexpected line in npm.tsv: %q", sc.Text())
		}
		want = append(want, fmt.Sprintf("app/package-lock.json %s %s layer 1", fields[0], fields[1]))
	}
	slices.Sort(want)

	for _, ref := range []string{"oci:" + filepath.Join(dir, "oci", "fixture-app"), "docker-archive:" + filepath.Join(dir, "fixture-app.docker.tar")} {
		img, err := image.Open(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := inventory.Run(context.Background(), img, []inventory.Extractor{npmlock.New()}, inventory.WithTempDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range inv.Packages {
			layer := -1
			if p.Layer != nil {
				layer = p.Layer.Index
			}
			got = append(got, fmt.Sprintf("%s %s %s layer %d", strings.Join(p.Locations, ","), p.Name, p.Version, layer))
			if p.Ecosystem != "npm" || !strings.HasPrefix(p.PURL, "pkg:npm/") {
				t.Errorf("%s: ecosystem %q, purl %q", p, p.Ecosystem, p.PURL)
			}
		}
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: packages (-want +got):\n%s", ref, diff)
		}
		wantWarning := "npm/lockfile: opt/legacy/package-lock.json lists lodash@4.17.4 (npm), but a later layer deleted it from opt/legacy/node_modules/lodash: not reported"
		if inv.Status.State != inventory.Succeeded || !slices.Equal(inv.Status.Warnings, []string{wantWarning}) {
			t.Errorf("%s: status %+v", ref, inv.Status)
		}
	}
}
