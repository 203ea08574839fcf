package npmlock_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/npmlock"
)

// TestFixtureImage reads the real fixture-app image. Its ground truth
// EXPECTED/npm.tsv lists the packages installed under /app, which
// app/package-lock.json must list too, in the layer that added it (L2,
// index 1). /opt/legacy/package-lock.json survives the whiteout that deletes
// /opt/legacy/node_modules (EXPECTED/removed.txt), so the lockfile still
// lists lodash 4.17.4, but the runner drops it: what it lists is gone.
func TestFixtureImage(t *testing.T) {
	var want []string
	for _, line := range extractortest.Expected(t, "npm.tsv") {
		fields := strings.Split(line, "\t") // name, version, /app/node_modules/x/package.json
		if len(fields) != 3 || !strings.HasPrefix(fields[2], "/app/") {
			t.Fatalf("unexpected line in npm.tsv: %q", line)
		}
		want = append(want, fmt.Sprintf("app/package-lock.json %s %s layer 1", fields[0], fields[1]))
	}
	slices.Sort(want)

	for _, ref := range extractortest.FixtureRefs(t) {
		inv := extractortest.ScanFixture(t, ref, npmlock.New())
		for _, p := range inv.Packages {
			if p.Ecosystem != "npm" || !strings.HasPrefix(p.PURL, "pkg:npm/") {
				t.Errorf("%s: ecosystem %q, purl %q", p, p.Ecosystem, p.PURL)
			}
		}
		if diff := cmp.Diff(want, extractortest.Lines(inv)); diff != "" {
			t.Errorf("%s: packages (-want +got):\n%s", ref, diff)
		}
		wantWarning := "npm/lockfile: opt/legacy/package-lock.json lists lodash@4.17.4 (npm), but a later layer deleted it from opt/legacy/node_modules/lodash: not reported"
		if inv.Status.State != inventory.Succeeded || !slices.Equal(inv.Status.Warnings, []string{wantWarning}) {
			t.Errorf("%s: status %+v", ref, inv.Status)
		}
	}
}
