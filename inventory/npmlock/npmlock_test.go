package npmlock_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/npmlock"
)

func TestFileRequired(t *testing.T) {
	extractortest.FileRequired(t, npmlock.New(), map[string]bool{
		"app/package-lock.json":                  true,
		"package-lock.json":                      true,
		"srv/web/npm-shrinkwrap.json":            true,
		"app/package.json":                       false,
		"app/node_modules/.package-lock.json":    false,
		"app/node_modules/foo/package-lock.json": false,
		"node_modules/foo/npm-shrinkwrap.json":   false,
		"app/yarn.lock":                          false,
		"app/package-lock.json.bak":              false,
		"app/my_node_modules/package-lock.json":  true,
	})
}

func extract(t testing.TB, path string, data []byte) (inventory.Result, error) {
	t.Helper()
	return extractortest.Extract(t, npmlock.New(), path, data)
}

func npm(ns, name, version, loc string, licenses []string, md *npmlock.Metadata) *inventory.Package {
	return &inventory.Package{Name: name, Namespace: ns, Version: version, Type: "npm", Licenses: licenses, Locations: []string{loc}, Metadata: md}
}

// sample is what the lockfiles in testdata/v*/ hold (npm 11 wrote them from
// testdata/sample-package.json); v1 records no licenses.
func sample(version int, loc string) []*inventory.Package {
	lic := func(l string) []string {
		if version == 1 {
			return nil
		}
		return []string{l}
	}
	md := func(paths ...string) *npmlock.Metadata {
		return &npmlock.Metadata{LockfileVersion: version, InstallPaths: paths}
	}
	lodash := md("node_modules/old-lodash")
	lodash.Aliases = []string{"old-lodash"}
	minimist := md("node_modules/minimist")
	minimist.Dev = true
	isNumber := md("node_modules/is-number")
	isNumber.Optional = true
	return []*inventory.Package{
		npm("", "debug", "2.6.9", loc, lic("MIT"), md("node_modules/debug")),
		npm("", "is-number", "7.0.0", loc, lic("MIT"), isNumber),
		npm("", "lodash", "4.17.4", loc, lic("MIT"), lodash),
		npm("", "minimist", "1.2.0", loc, lic("MIT"), minimist),
		npm("", "ms", "2.0.0", loc, lic("MIT"), md("node_modules/debug/node_modules/ms")),
		npm("", "ms", "2.1.3", loc, lic("MIT"), md("node_modules/ms")),
		npm("@isaacs", "string-locale-compare", "1.1.0", loc, lic("ISC"), md("node_modules/@isaacs/string-locale-compare")),
	}
}

func TestExtract(t *testing.T) {
	tests := []extractortest.Case{
		{Name: "v1", Path: "app/package-lock.json", Data: extractortest.Testdata(t, "v1/package-lock.json"), Want: sample(1, "app/package-lock.json")},
		{Name: "v2", Path: "app/package-lock.json", Data: extractortest.Testdata(t, "v2/package-lock.json"), Want: sample(2, "app/package-lock.json")},
		{Name: "v3", Path: "app/package-lock.json", Data: extractortest.Testdata(t, "v3/package-lock.json"), Want: sample(3, "app/package-lock.json")},
		{Name: "shrinkwrap", Path: "npm-shrinkwrap.json", Data: extractortest.Testdata(t, "v3/package-lock.json"), Want: sample(3, "npm-shrinkwrap.json")},
		{
			Name: "v2 packages win over dependencies in any order",
			Path: "package-lock.json",
			Data: []byte(`{"dependencies": {"a": {"version": "9.9.9"}}, "lockfileVersion": 2,
				"packages": {"": {"name": "root", "version": "1.0.0"}, "node_modules/a": {"version": "1.0.0"}}}`),
			Want: []*inventory.Package{npm("", "a", "1.0.0", "package-lock.json", nil, &npmlock.Metadata{LockfileVersion: 2, InstallPaths: []string{"node_modules/a"}})},
		},
		{
			Name: "same package at several paths is one package",
			Path: "package-lock.json",
			Data: []byte(`{"lockfileVersion": 3, "packages": {
				"node_modules/b/node_modules/a": {"version": "1.0.0", "dev": true},
				"node_modules/c/node_modules/a": {"version": "1.0.0"},
				"node_modules/x": {"name": "a", "version": "1.0.0", "dev": true},
				"packages/ws/node_modules/@s/y": {"version": "2.0.0", "devOptional": true}}}`),
			Want: []*inventory.Package{
				npm("", "a", "1.0.0", "package-lock.json", nil, &npmlock.Metadata{LockfileVersion: 3,
					InstallPaths: []string{"node_modules/b/node_modules/a", "node_modules/c/node_modules/a", "node_modules/x"}, Aliases: []string{"x"}}),
				npm("@s", "y", "2.0.0", "package-lock.json", nil, &npmlock.Metadata{LockfileVersion: 3,
					InstallPaths: []string{"packages/ws/node_modules/@s/y"}, Optional: true}),
			},
		},
		{
			Name: "malformed entries are skipped with warnings",
			Path: "package-lock.json",
			Data: []byte(`{"lockfileVersion": "x", "packages": {
				"node_modules/noversion": {},
				"node_modules/badtype": {"version": 7},
				"node_modules/../../etc": {"version": "1.0.0"},
				"node_modules/@scope": {"version": "1.0.0"},
				"node_modules/evil": {"name": "../x", "version": "1.0.0"},
				"node_modules/ok": {"version": "1.0.0", "license": {"type": "BSD"}}}}`),
			Want: []*inventory.Package{npm("", "ok", "1.0.0", "package-lock.json", []string{"BSD"}, &npmlock.Metadata{InstallPaths: []string{"node_modules/ok"}})},
			WantWarnings: []string{
				`lockfileVersion x is not a known version`,
				`package "node_modules/noversion" has no version`,
				`package "node_modules/badtype": json: cannot unmarshal number into Go struct field entry.version of type string`,
				`package "node_modules/../../etc": "../../etc" is not an npm package name`,
				`package "node_modules/@scope": "@scope" is not an npm package name`,
				`package "node_modules/evil": name "../x" is not an npm package name`,
			},
		},
		{
			Name: "v1 aliases, links, bad entries",
			Path: "package-lock.json",
			Data: []byte(`{"lockfileVersion": 1, "dependencies": {
				"x": {"version": "npm:@s/y@2.0.0", "dependencies": {"z": {"version": "3.0.0", "dev": true}}},
				"l": {"version": "file:../l"},
				"bad": {"version": "npm:nope"},
				"nov": {"dependencies": {"w": {"version": "1.0.0"}}}}}`),
			Want: []*inventory.Package{
				npm("", "w", "1.0.0", "package-lock.json", nil, &npmlock.Metadata{LockfileVersion: 1, InstallPaths: []string{"node_modules/nov/node_modules/w"}}),
				npm("", "z", "3.0.0", "package-lock.json", nil, &npmlock.Metadata{LockfileVersion: 1, InstallPaths: []string{"node_modules/x/node_modules/z"}, Dev: true}),
				npm("@s", "y", "2.0.0", "package-lock.json", nil, &npmlock.Metadata{LockfileVersion: 1, InstallPaths: []string{"node_modules/x"}, Aliases: []string{"x"}}),
			},
			WantWarnings: []string{
				`dependency "node_modules/bad": alias "npm:nope" is not name@version`,
				`dependency "node_modules/nov" has no version`,
			},
		},
		{Name: "no packages", Path: "package-lock.json", Data: []byte(`{"name": "x", "lockfileVersion": 3}`)},
		{Name: "not JSON", Path: "package-lock.json", Data: []byte("lockfileVersion: 3"), WantErr: extractortest.ErrAny},
		{Name: "not an object", Path: "package-lock.json", Data: []byte(`[1, 2]`), WantErr: extractortest.ErrAny},
		{Name: "truncated", Path: "package-lock.json", Data: extractortest.Testdata(t, "v3/package-lock.json")[:900], WantErr: extractortest.ErrAny},
		{Name: "trailing garbage inside", Path: "package-lock.json", Data: []byte(`{"packages": {"node_modules/a": {"version": "1"}, 5}}`), WantErr: extractortest.ErrAny},
		{Name: "deeply nested skipped value", Path: "package-lock.json", Data: nested(`{"x": `, 100_000, "0", `}`), WantErr: extractortest.ErrAny},
		{Name: "deeply nested entry", Path: "package-lock.json", Data: nested(`{"packages": {"node_modules/a": `, 100_000, "0", `}}`), WantErr: extractortest.ErrAny},
		{Name: "deeply nested v1 tree", Path: "package-lock.json", Data: nestedV1(20_000), WantErr: extractortest.ErrAny},
		{Name: "too many entries", Path: "package-lock.json", Data: manyEntries(250_001), WantErr: npmlock.ErrTooManyEntries},
	}
	extractortest.Run(t, npmlock.New(), "", tests, cmpopts.IgnoreUnexported(npmlock.Metadata{}))
}

func nested(prefix string, depth int, inner, suffix string) []byte {
	return []byte(prefix + strings.Repeat("[", depth) + inner + strings.Repeat("]", depth) + suffix)
}

func nestedV1(depth int) []byte {
	var b strings.Builder
	b.WriteString(`{"dependencies": `)
	for range depth {
		b.WriteString(`{"a": {"version": "1.0.0", "dependencies": `)
	}
	b.WriteString(`{}`)
	for range depth {
		b.WriteString(`}}`)
	}
	b.WriteString(`}`)
	return []byte(b.String())
}

func manyEntries(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"lockfileVersion": 3, "packages": {`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"node_modules/p%d": {"version": "1.0.%d"}`, i, i)
	}
	b.WriteString(`}}`)
	return b.Bytes()
}

// TestExtractMatchesNpm compares the installs found in each lockfile version
// with what npm itself reads from it: testdata/npm-ls.txt is the output of
// "npm ls --all --parseable --long --package-lock-only" (npm 11.19.1), the
// same for v1, v2 and v3 apart from the linked local package.
func TestExtractMatchesNpm(t *testing.T) {
	var want []string
	sc := bufio.NewScanner(bytes.NewReader(extractortest.Testdata(t, "npm-ls.txt")))
	for sc.Scan() {
		// ./node_modules/old-lodash:old-lodash@npm:lodash@4.17.4
		dir, spec, _ := strings.Cut(sc.Text(), ":")
		if dir == "." || strings.Count(sc.Text(), ":") > 1 && !strings.Contains(spec, "@npm:") {
			continue // the root project and the link to a local directory
		}
		if _, real, ok := strings.Cut(spec, "@npm:"); ok {
			spec = real
		}
		at := strings.LastIndexByte(spec, '@')
		want = append(want, strings.TrimPrefix(dir, "./")+" "+spec[:at]+" "+spec[at+1:])
	}
	slices.Sort(want)
	for _, v := range []string{"v1", "v2", "v3"} {
		res, err := extract(t, "package-lock.json", extractortest.Testdata(t, v+"/package-lock.json"))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range res.Packages {
			name := p.Name
			if p.Namespace != "" {
				name = p.Namespace + "/" + name
			}
			for _, ip := range p.Metadata.(*npmlock.Metadata).InstallPaths {
				got = append(got, ip+" "+name+" "+p.Version)
			}
		}
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: installs differ from npm ls (-want +got):\n%s", v, diff)
		}
	}
}

func TestExtractCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := manyEntries(10_000)
	in := inventory.NewInput(inventory.FileInfo{Path: "package-lock.json", Size: int64(len(data))}, bytes.NewReader(data), "")
	if _, err := npmlock.New().Extract(ctx, in); !errors.Is(err, context.Canceled) {
		t.Errorf("Extract with a cancelled context = %v, want context.Canceled", err)
	}
}

func FuzzExtract(f *testing.F) {
	for _, v := range []string{"v1", "v2", "v3"} {
		f.Add(extractortest.Testdata(f, v+"/package-lock.json"))
	}
	f.Add([]byte(`{"dependencies": {"x": {"version": "npm:@s/y@2.0.0", "dependencies": {"z": {"version": "3"}}}}}`))
	extractortest.Fuzz(f, npmlock.New(), "app/package-lock.json", func(p *inventory.Package) bool {
		return extractortest.HasNameAndVersion(p) && p.Type == inventory.TypeNPM && !strings.Contains(p.Name, "/")
	})
}

// BenchmarkExtractLarge reads a 100,000-entry v3 lockfile (about 14 MB;
// real ones have up to tens of thousands). Memory follows the packages
// found, not the file: compare B/op with the file size it reports.
func BenchmarkExtractLarge(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`{"name": "big", "lockfileVersion": 3, "requires": true, "packages": {"": {"name": "big"}`)
	for i := range 100_000 {
		fmt.Fprintf(&buf, `, "node_modules/p%d": {"version": "1.0.%d", "resolved": "https://registry.npmjs.org/p%d/-/p%d-1.0.%d.tgz", "integrity": "sha512-%0100d", "license": "MIT"}`, i, i, i, i, i, i)
	}
	buf.WriteString(`}}`)
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := extract(b, "package-lock.json", data)
		if err != nil || len(res.Packages) != 100_000 {
			b.Fatalf("%d packages, %v", len(res.Packages), err)
		}
	}
}
