package npminstalled_test

import (
	"bufio"
	"bytes"
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
	"github.com/credence-dev/credence/inventory/npminstalled"
)

func TestFileRequired(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"app/node_modules/lodash/package.json", true},
		{"node_modules/lodash/package.json", true},
		{"app/node_modules/@babel/core/package.json", true},
		{"app/node_modules/a/node_modules/b/package.json", true},
		{"app/node_modules/a/node_modules/@s/b/package.json", true},
		{"app/package.json", false},
		{"package.json", false},
		{"app/node_modules/package.json", false},
		{"app/node_modules/@babel/package.json", false},
		{"app/node_modules/.bin/package.json", false},
		{"app/node_modules/.cache/x/package.json", false},
		{"app/node_modules/lodash/test/fixture/package.json", false},
		{"app/node_modules/a/esm/package.json", false},
		{"app/node_modules/@/x/package.json", false},
		{"app/node_modules/lodash/package.json.orig", false},
		{"app/my_node_modules/lodash/package.json", false},
	}
	for _, tt := range tests {
		got := npminstalled.New().FileRequired(inventory.FileInfo{Path: tt.path, Mode: 0o644})
		if got != tt.want {
			t.Errorf("FileRequired(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func extract(t testing.TB, path string, data []byte) (inventory.Result, error) {
	t.Helper()
	in := inventory.NewInput(inventory.FileInfo{Path: path, Mode: 0o644, Size: int64(len(data))}, bytes.NewReader(data), "")
	defer in.Close()
	return npminstalled.New().Extract(context.Background(), in)
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExtract(t *testing.T) {
	pkg := func(ns, name, version, loc string, licenses []string, md *npminstalled.Metadata) []*inventory.Package {
		return []*inventory.Package{{Name: name, Namespace: ns, Version: version, Type: "npm", Licenses: licenses, Locations: []string{loc}, Metadata: md}}
	}
	tests := []struct {
		name         string
		path         string
		data         []byte
		want         []*inventory.Package
		wantWarnings []string
		wantErr      bool
	}{
		{
			name: "published by npm",
			path: "app/node_modules/lodash/package.json",
			data: readFile(t, "lodash.json"),
			want: pkg("", "lodash", "4.17.15", "app/node_modules/lodash/package.json", []string{"MIT"}, &npminstalled.Metadata{}),
		},
		{
			name: "scoped",
			path: "app/node_modules/@isaacs/string-locale-compare/package.json",
			data: readFile(t, "string-locale-compare.json"),
			want: pkg("@isaacs", "string-locale-compare", "1.1.0", "app/node_modules/@isaacs/string-locale-compare/package.json", []string{"ISC"}, &npminstalled.Metadata{}),
		},
		{
			name: "installed under an alias",
			path: "app/node_modules/old-minimist/package.json",
			data: readFile(t, "minimist.json"),
			want: pkg("", "minimist", "1.2.0", "app/node_modules/old-minimist/package.json", []string{"MIT"}, &npminstalled.Metadata{InstalledAs: "old-minimist"}),
		},
		{
			name: "legacy license fields",
			path: "node_modules/@s/x/package.json",
			data: []byte(`{"name": "@s/x", "version": "0.1.0", "private": true, "license": {"type": "BSD"}}`),
			want: pkg("@s", "x", "0.1.0", "node_modules/@s/x/package.json", []string{"BSD"}, &npminstalled.Metadata{Private: true}),
		},
		{
			name: "legacy licenses array",
			path: "node_modules/x/package.json",
			data: []byte(`{"name": "x", "version": "0.1.0", "licenses": [{"type": "MIT"}, {"type": "Apache-2.0"}]}`),
			want: pkg("", "x", "0.1.0", "node_modules/x/package.json", []string{"MIT", "Apache-2.0"}, &npminstalled.Metadata{}),
		},
		{
			name:         "no version",
			path:         "node_modules/x/package.json",
			data:         []byte(`{"name": "x"}`),
			wantWarnings: []string{"no name or no version: not an installed package"},
		},
		{
			name:         "wrong types",
			path:         "node_modules/x/package.json",
			data:         []byte(`{"name": "x", "version": 1}`),
			wantWarnings: []string{"json: cannot unmarshal number into Go struct field manifest.version of type string"},
		},
		{
			name:         "bad name",
			path:         "node_modules/x/package.json",
			data:         []byte(`{"name": "@evil/../../x", "version": "1.0.0"}`),
			wantWarnings: []string{`"@evil/../../x" is not an npm package name`},
		},
		{name: "not JSON", path: "node_modules/x/package.json", data: []byte(`name: x`), wantErr: true},
		{name: "deeply nested", path: "node_modules/x/package.json", data: []byte(`{"a": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := extract(t, tt.path, tt.data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Extract error = %v, want error: %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, res.Packages); diff != "" {
				t.Errorf("packages (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWarnings, res.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExtractTooLarge(t *testing.T) {
	data := []byte(`{"name": "x", "version": "1.0.0", "readme": "` + strings.Repeat("a", 16<<20) + `"}`)
	if _, err := extract(t, "node_modules/x/package.json", data); err == nil {
		t.Error("Extract of a 16 MiB package.json succeeded, want an error")
	}
}

// TestFixtureImage reads the real fixture-app image: its ground truth
// EXPECTED/npm.tsv (from node's require() of every node_modules package.json
// in the final root filesystem) must be found exactly, each in the layer that
// added it, and lodash 4.17.4 (deleted by a directory whiteout) must not.
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
		fields := strings.Split(sc.Text(), "\t") // name, version, /path/package.json
		if len(fields) != 3 {
			t.Fatalf("unexpected line in npm.tsv: %q", sc.Text())
		}
		want = append(want, fmt.Sprintf("%s %s %s layer 1", strings.TrimPrefix(fields[2], "/"), fields[0], fields[1]))
	}
	slices.Sort(want)

	for _, ref := range []string{"oci:" + filepath.Join(dir, "oci", "fixture-app"), "docker-archive:" + filepath.Join(dir, "fixture-app.docker.tar")} {
		img, err := image.Open(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := inventory.Run(context.Background(), img, []inventory.Extractor{npminstalled.New()}, inventory.WithTempDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range inv.Packages {
			layer := -1
			if p.Layer != nil {
				layer = p.Layer.Index
			}
			name := p.Name
			if p.Namespace != "" {
				name = p.Namespace + "/" + name
			}
			got = append(got, fmt.Sprintf("%s %s %s layer %d", strings.Join(p.Locations, ","), name, p.Version, layer))
		}
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: packages (-want +got):\n%s", ref, diff)
		}
		if inv.Status.State != inventory.Succeeded || len(inv.Status.Warnings) > 0 {
			t.Errorf("%s: status %+v", ref, inv.Status)
		}
	}
}

func FuzzExtract(f *testing.F) {
	for _, n := range []string{"lodash.json", "minimist.json", "string-locale-compare.json"} {
		f.Add(readFile(f, n))
	}
	f.Add([]byte(`{"name": "@s/x", "version": "1", "license": [{"type": "MIT"}], "licenses": ["a"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := extract(t, "app/node_modules/@s/x/package.json", data)
		if err != nil {
			return
		}
		for _, p := range res.Packages {
			if p.Name == "" || p.Version == "" || strings.Contains(p.Name, "/") {
				t.Errorf("bad package %+v", p)
			}
		}
	})
}
