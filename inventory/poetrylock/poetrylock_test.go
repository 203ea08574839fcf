package poetrylock_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/internal/tomlsafe"
	"github.com/credence-dev/credence/inventory/poetrylock"
)

func TestFileRequired(t *testing.T) {
	extractortest.FileRequired(t, poetrylock.New(), map[string]bool{
		"app/poetry.lock":      true,
		"poetry.lock":          true,
		"app/pyproject.toml":   false,
		"app/poetry.lock.orig": false,
	})
}

func extract(t testing.TB, data []byte) (inventory.Result, error) {
	t.Helper()
	return extractortest.Extract(t, poetrylock.New(), "app/poetry.lock", data)
}

func pypi(name, version string, md *poetrylock.Metadata) *inventory.Package {
	return &inventory.Package{Name: name, Version: version, Type: "pypi", Locations: []string{"app/poetry.lock"}, Metadata: md}
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name         string
		data         []byte
		want         []*inventory.Package
		wantWarnings []string
		wantErr      error // nil: no error; extractortest.ErrAny: any error
	}{
		{
			name: "lock-version 2.0",
			data: extractortest.Testdata(t, "poetry-1.8.lock"),
			want: []*inventory.Package{
				pypi("certifi", "2022.9.24", &poetrylock.Metadata{}),
				pypi("charset-normalizer", "2.1.1", &poetrylock.Metadata{}),
				pypi("mylib", "0.1.0", &poetrylock.Metadata{SourceType: "directory", SourceURL: "../mylib"}),
				pypi("pysocks", "1.7.1", &poetrylock.Metadata{Optional: true}),
				pypi("requests", "2.28.1", &poetrylock.Metadata{}),
				pypi("tool", "0.3.0", &poetrylock.Metadata{SourceType: "git", SourceURL: "https://github.com/example/tool.git", ResolvedReference: "6b2c0fa0e3ad8b3bb1ab2a74b0a6dbb9b3a1f6c1"}),
			},
		},
		{
			name: "lock-version 1.1",
			data: extractortest.Testdata(t, "poetry-1.1.lock"),
			want: []*inventory.Package{
				pypi("pytest", "7.2.0", &poetrylock.Metadata{Groups: []string{"dev"}}),
				pypi("six", "1.16.0", &poetrylock.Metadata{Groups: []string{"main"}}),
			},
		},
		{
			name: "lock-version 2.1",
			data: extractortest.Testdata(t, "poetry-2.1.lock"),
			want: []*inventory.Package{
				pypi("colorama", "0.4.6", &poetrylock.Metadata{Groups: []string{"dev"}}),
				pypi("idna", "3.3", &poetrylock.Metadata{Groups: []string{"main", "dev"}}),
			},
		},
		{
			name:         "malformed packages",
			data:         []byte("[[package]]\nname = \"a\"\n[[package]]\nversion = \"1\"\n[[package]]\nname = \"b c\"\nversion = \"1\"\n[[package]]\nname = \"d\"\nversion = \"1\"\n[[package]]\nname = \"d\"\nversion = \"1\"\n"),
			want:         []*inventory.Package{pypi("d", "1", &poetrylock.Metadata{})},
			wantWarnings: []string{`package 1: name "a" or version "" is missing or malformed`, `package 2: name "" or version "1" is missing or malformed`, `package 3: name "b c" or version "1" is missing or malformed`},
		},
		{name: "empty", data: nil},
		{name: "wrong types", data: []byte("package = 5\n"), wantErr: extractortest.ErrAny},
		{name: "not TOML", data: []byte(`{"package": []}`), wantErr: extractortest.ErrAny},
		{name: "deeply nested", data: []byte("[[package]]\nname = \"a\"\nx = " + strings.Repeat("{b=", 50_000) + "1" + strings.Repeat("}", 50_000) + "\n"), wantErr: tomlsafe.ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := extract(t, tt.data)
			extractortest.CheckResult(t, res, err, tt.wantErr, tt.want, tt.wantWarnings)
		})
	}
}

// TestExtractLarge reads a lockfile near the size limit (40,000 packages).
func TestExtractLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large input")
	}
	var b bytes.Buffer
	for i := range 40_000 {
		fmt.Fprintf(&b, "[[package]]\nname = \"p%d\"\nversion = \"1.0.%d\"\noptional = false\nfiles = [\n    {file = \"p%d-1.0.%d.tar.gz\", hash = \"sha256:%064d\"},\n]\n\n", i, i, i, i, i)
	}
	if b.Len() > 16<<20 {
		t.Fatalf("input is %d bytes, over the limit", b.Len())
	}
	res, err := extract(t, b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Packages) != 40_000 {
		t.Errorf("got %d packages, want 40000", len(res.Packages))
	}
}

func FuzzExtract(f *testing.F) {
	for _, n := range []string{"poetry-1.8.lock", "poetry-1.1.lock", "poetry-2.1.lock"} {
		f.Add(extractortest.Testdata(f, n))
	}
	extractortest.Fuzz(f, poetrylock.New(), "app/poetry.lock", extractortest.HasNameAndVersion)
}
