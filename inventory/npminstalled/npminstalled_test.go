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
	tests := []extractortest.Case{
		{
			Name: "published by npm",
			Path: "app/node_modules/lodash/package.json",
			Data: extractortest.Testdata(t, "lodash.json"),
			Want: pkg("", "lodash", "4.17.15", "app/node_modules/lodash/package.json", []string{"MIT"}, &npminstalled.Metadata{}),
		},
		{
			Name: "scoped",
			Path: "app/node_modules/@isaacs/string-locale-compare/package.json",
			Data: extractortest.Testdata(t, "string-locale-compare.json"),
			Want: pkg("@isaacs", "string-locale-compare", "1.1.0", "app/node_modules/@isaacs/string-locale-compare/package.json", []string{"ISC"}, &npminstalled.Metadata{}),
		},
		{
			Name: "installed under an alias",
			Path: "app/node_modules/old-minimist/package.json",
			Data: extractortest.Testdata(t, "minimist.json"),
			Want: pkg("", "minimist", "1.2.0", "app/node_modules/old-minimist/package.json", []string{"MIT"}, &npminstalled.Metadata{InstalledAs: "old-minimist"}),
		},
		{
			Name: "legacy license fields",
			Path: "node_modules/@s/x/package.json",
			Data: []byte(`{"name": "@s/x", "version": "0.1.0", "private": true, "license": {"type": "BSD"}}`),
			Want: pkg("@s", "x", "0.1.0", "node_modules/@s/x/package.json", []string{"BSD"}, &npminstalled.Metadata{Private: true}),
		},
		{
			Name: "legacy licenses array",
			Path: "node_modules/x/package.json",
			Data: []byte(`{"name": "x", "version": "0.1.0", "licenses": [{"type": "MIT"}, {"type": "Apache-2.0"}]}`),
			Want: pkg("", "x", "0.1.0", "node_modules/x/package.json", []string{"MIT", "Apache-2.0"}, &npminstalled.Metadata{}),
		},
		{
			Name:         "no version",
			Path:         "node_modules/x/package.json",
			Data:         []byte(`{"name": "x"}`),
			WantWarnings: []string{"no name or no version: not an installed package"},
		},
		{
			Name:         "wrong types",
			Path:         "node_modules/x/package.json",
			Data:         []byte(`{"name": "x", "version": 1}`),
			WantWarnings: []string{"json: cannot unmarshal number into Go struct field manifest.version of type string"},
		},
		{
			Name:         "bad name",
			Path:         "node_modules/x/package.json",
			Data:         []byte(`{"name": "@evil/../../x", "version": "1.0.0"}`),
			WantWarnings: []string{`"@evil/../../x" is not an npm package name`},
		},
		{Name: "not JSON", Path: "node_modules/x/package.json", Data: []byte(`name: x`), WantErr: extractortest.ErrAny},
		{Name: "deeply nested", Path: "node_modules/x/package.json", Data: []byte(`{"a": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`), WantErr: extractortest.ErrAny},
	}
	extractortest.Run(t, npminstalled.New(), "", tests)
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
