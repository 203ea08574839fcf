package cargolock_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/cargolock"
	"github.com/credence-dev/credence/inventory/extractortest"
)

func TestFileRequired(t *testing.T) {
	extractortest.FileRequiredInfo(t, cargolock.New(), map[inventory.FileInfo]bool{
		{Path: "app/Cargo.lock", Mode: 0o644, Size: 100}:                  true,
		{Path: "Cargo.lock", Mode: 0o644, Size: 100}:                      true,
		{Path: "app/Cargo.toml", Mode: 0o644, Size: 100}:                  false,
		{Path: "app/cargo.lock", Mode: 0o644, Size: 100}:                  false,
		{Path: "app/Cargo.lock", Mode: fs.ModeSymlink | 0o777, Size: 100}: false,
	})
}

func TestExtract(t *testing.T) {
	crate := func(name, version, sum string, lock int) *inventory.Package {
		return &inventory.Package{Name: name, Version: version, Type: "cargo", Metadata: &cargolock.Metadata{Checksum: sum, LockVersion: lock}}
	}
	tests := []struct {
		file         string
		want         []*inventory.Package
		wantWarnings []string
	}{
		{
			file: "testdata/v1.lock",
			want: []*inventory.Package{crate("libc", "0.2.40", "6fd41f331ac7c5b8ac259b8bf82c75c0fb2e469bbf37d2becbba9a6a2221965b", 1)},
			wantWarnings: []string{"1 crates from git or registries other than crates.io are not reported (no OSV ecosystem for them): " +
				"regex 1.0.0 (git+https://github.com/rust-lang/regex?rev=abc#abcdef0123456789abcdef0123456789abcdef01)"},
		},
		{
			file: "testdata/v2.lock",
			want: []*inventory.Package{crate("libc", "0.2.80", "4d58d1b70b004888f764dfbf6a26a3b0342a1632d33968e4a179d8011c760614", 2)},
			wantWarnings: []string{"1 crates from git or registries other than crates.io are not reported (no OSV ecosystem for them): " +
				"mylib 0.3.0 (registry+https://my-registry.example.com/index)"},
		},
		{
			file: "testdata/v3.lock",
			want: []*inventory.Package{crate("h2", "0.3.20", "97ec8491ebaf99c8eaa73058b045fe58073cd6be7f596ac993ced0b0a0c01049", 3)},
		},
		{
			file: "testdata/v4.lock",
			want: []*inventory.Package{
				crate("syn", "1.0.109", "72b64191b275b66ffe2469e8af2c1cfe3bafa67b529ead792a6d0160888b4237", 4),
				crate("syn", "2.0.119", "872831b642d1a07999a962a351ed35b955ea2cfc8f3862091e2a240a84f17297", 4),
				crate("tikv-jemalloc-sys", "0.7.1+5.3.1-0-g81034ce1f1373e37dc865038e1bc8eeecf559ce8", "1a2825c78386b4ae0314074867860ba9577875de945f05992c38815cbec327f0", 4),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			res, err := extract(t, data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, res.Packages); diff != "" {
				t.Errorf("packages (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWarnings, res.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			for _, p := range res.Packages {
				if purl := inventory.PURL(p, nil); purl != "pkg:cargo/"+p.Name+"@"+strings.ReplaceAll(p.Version, "+", "%2B") {
					t.Errorf("purl %s", purl)
				}
			}
		})
	}
}

func TestExtractMalformed(t *testing.T) {
	tests := map[string]string{
		"not toml":           "[[package]\nname = ",
		"package not tables": "package = 3\n",
		"deep nesting":       "x = " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n",
		"binary":             "\x00\x01\xff",
	}
	for name, data := range tests {
		if res, err := extract(t, []byte(data)); err == nil {
			t.Errorf("%s: %d packages and no error", name, len(res.Packages))
		}
	}
	res, err := extract(t, []byte("version = 3\n\n[[package]]\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n"))
	if err != nil || len(res.Packages) != 0 || len(res.Warnings) != 1 {
		t.Errorf("package without a name: %v, %q, %v; want a warning", res.Packages, res.Warnings, err)
	}
}

func FuzzExtract(f *testing.F) {
	for _, name := range []string{"v1", "v2", "v3", "v4"} {
		f.Add(extractortest.Testdata(f, name+".lock"))
	}
	extractortest.Fuzz(f, cargolock.New(), "app/Cargo.lock", extractortest.HasNameAndVersion)
}

func extract(t testing.TB, data []byte) (inventory.Result, error) {
	t.Helper()
	return extractortest.Extract(t, cargolock.New(), "app/Cargo.lock", data)
}

func BenchmarkExtract(b *testing.B) {
	// A lock file of 2,000 crates.io packages, v4 layout.
	var buf bytes.Buffer
	buf.WriteString("version = 4\n")
	for i := range 2000 {
		fmt.Fprintf(&buf, "\n[[package]]\nname = \"crate%d\"\nversion = \"1.0.%d\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"%064x\"\ndependencies = [\n \"crate%d\",\n]\n", i, i, i, i+1)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		res, err := extract(b, data)
		if err != nil || len(res.Packages) != 2000 {
			b.Fatal(len(res.Packages), err)
		}
	}
}
