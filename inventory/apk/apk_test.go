package apk_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/apk"
	"github.com/credence-dev/credence/inventory/extractortest"
)

func TestFileRequired(t *testing.T) {
	extractortest.FileRequired(t, apk.New(), map[string]bool{
		"lib/apk/db/installed":     true,
		"lib/apk/db/installed.bak": false,
		"x/lib/apk/db/installed":   false,
		"lib/apk/db/lock":          false,
	})
}

func extract(t testing.TB, b []byte) inventory.Result {
	t.Helper()
	res, err := extractortest.Extract(t, apk.New(), "lib/apk/db/installed", b)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Every real database from the 16 Alpine releases in ../shared parses to
// its expected-apk.tsv (name, version, origin, arch, license), which was
// generated from the file by a separate tool.
func TestExtractAlpineReleases(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(testutil.Shared(t), "fixtures", "alpine", "*"))
	if err != nil || len(dirs) < 16 {
		t.Fatalf("want 16 Alpine fixtures, found %d (%v)", len(dirs), err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, "lib", "apk", "db", "installed"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, "expected-apk.tsv"))
			if err != nil {
				t.Fatal(err)
			}
			res := extract(t, b)
			got := []string{"name\tversion\torigin\tarch\tlicense"}
			for _, p := range res.Packages {
				got = append(got, strings.Join([]string{p.Name, p.Version, p.SourceName, p.Arch, strings.Join(p.Licenses, " ")}, "\t"))
			}
			wantLines := strings.Split(strings.TrimSpace(string(want)), "\n")
			slices.Sort(wantLines[1:])
			slices.Sort(got[1:])
			if diff := cmp.Diff(wantLines, got); diff != "" {
				t.Errorf("(-expected-apk.tsv +got):\n%s", diff)
			}
			if len(res.Warnings) > 0 {
				t.Errorf("warnings: %v", res.Warnings)
			}
		})
	}
}

// Malformed records are skipped with a warning; the good ones survive.
func TestExtractMalformed(t *testing.T) {
	db := "P:good\nV:1.0-r0\nA:x86_64\no:goodsrc\n\nP:noversion\nA:x86_64\n\ngarbage line\nP:second\nV:2.0-r1\n"
	res := extract(t, []byte(db))
	var got []string
	for _, p := range res.Packages {
		got = append(got, p.Name+"@"+p.Version+" src "+p.SourceName)
	}
	if diff := cmp.Diff([]string{"good@1.0-r0 src goodsrc", "second@2.0-r1 src second"}, got); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	if len(res.Warnings) != 2 {
		t.Errorf("warnings = %q, want one for the record without V: and one for the garbage line", res.Warnings)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add([]byte("P:a\nV:1\n\nP:b\nV:2\no:c\n"))
	f.Add([]byte("\n\n\nZ:\nP:\n"))
	extractortest.Fuzz(f, apk.New(), "lib/apk/db/installed", extractortest.HasNameAndVersion)
}
