package npminstalled_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/npminstalled"
)

func TestFileRequired(t *testing.T) {
	extractortest.FileRequired(t, npminstalled.New(), map[string]bool{
		"app/node_modules/lodash/package.json":              true,
		"node_modules/lodash/package.json":                  true,
		"app/node_modules/@babel/core/package.json":         true,
		"app/node_modules/a/node_modules/b/package.json":    true,
		"app/node_modules/a/node_modules/@s/b/package.json": true,
		"app/package.json":                                  false,
		"package.json":                                      false,
		"app/node_modules/package.json":                     false,
		"app/node_modules/@babel/package.json":              false,
		"app/node_modules/.bin/package.json":                false,
		"app/node_modules/.cache/x/package.json":            false,
		"app/node_modules/lodash/test/fixture/package.json": false,
		"app/node_modules/a/esm/package.json":               false,
		"app/node_modules/@/x/package.json":                 false,
		"app/node_modules/lodash/package.json.orig":         false,
		"app/my_node_modules/lodash/package.json":           false,
	})
}

func extract(t testing.TB, path string, data []byte) (inventory.Result, error) {
	t.Helper()
	return extractortest.Extract(t, npminstalled.New(), path, data)
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
		wantErr      error // nil: no error; extractortest.ErrAny: any error
	}{
		{
			name: "published by npm",
			path: "app/node_modules/lodash/package.json",
			data: extractortest.Testdata(t, "lodash.json"),
			want: pkg("", "lodash", "4.17.15", "app/node_modules/lodash/package.json", []string{"MIT"}, &npminstalled.Metadata{}),
		},
		{
			name: "scoped",
			path: "app/node_modules/@isaacs/string-locale-compare/package.json",
			data: extractortest.Testdata(t, "string-locale-compare.json"),
			want: pkg("@isaacs", "string-locale-compare", "1.1.0", "app/node_modules/@isaacs/string-locale-compare/package.json", []string{"ISC"}, &npminstalled.Metadata{}),
		},
		{
			name: "installed under an alias",
			path: "app/node_modules/old-minimist/package.json",
			data: extractortest.Testdata(t, "minimist.json"),
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
		{name: "not JSON", path: "node_modules/x/package.json", data: []byte(`name: x`), wantErr: extractortest.ErrAny},
		{name: "deeply nested", path: "node_modules/x/package.json", data: []byte(`{"a": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`), wantErr: extractortest.ErrAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := extract(t, tt.path, tt.data)
			extractortest.CheckResult(t, res, err, tt.wantErr, tt.want, tt.wantWarnings)
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
	var want []string
	for _, line := range extractortest.Expected(t, "npm.tsv") {
		fields := strings.Split(line, "\t") // name, version, /path/package.json
		if len(fields) != 3 {
			t.Fatalf("unexpected line in npm.tsv: %q", line)
		}
		want = append(want, fmt.Sprintf("%s %s %s layer 1", strings.TrimPrefix(fields[2], "/"), fields[0], fields[1]))
	}
	slices.Sort(want)

	for _, ref := range extractortest.FixtureRefs(t) {
		inv := extractortest.ScanFixture(t, ref, npminstalled.New())
		if diff := cmp.Diff(want, extractortest.Lines(inv)); diff != "" {
			t.Errorf("%s: packages (-want +got):\n%s", ref, diff)
		}
		if inv.Status.State != inventory.Succeeded || len(inv.Status.Warnings) > 0 {
			t.Errorf("%s: status %+v", ref, inv.Status)
		}
	}
}

func FuzzExtract(f *testing.F) {
	for _, n := range []string{"lodash.json", "minimist.json", "string-locale-compare.json"} {
		f.Add(extractortest.Testdata(f, n))
	}
	f.Add([]byte(`{"name": "@s/x", "version": "1", "license": [{"type": "MIT"}], "licenses": ["a"]}`))
	extractortest.Fuzz(f, npminstalled.New(), "app/node_modules/@s/x/package.json", func(p *inventory.Package) bool {
		return extractortest.HasNameAndVersion(p) && !strings.Contains(p.Name, "/")
	})
}
