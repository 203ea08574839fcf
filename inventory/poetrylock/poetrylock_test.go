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
	tests := []extractortest.Case{
		{
			Name: "lock-version 2.0",
			Data: extractortest.Testdata(t, "poetry-1.8.lock"),
			Want: []*inventory.Package{
				pypi("certifi", "2022.9.24", &poetrylock.Metadata{}),
				pypi("charset-normalizer", "2.1.1", &poetrylock.Metadata{}),
				pypi("mylib", "0.1.0", &poetrylock.Metadata{SourceType: "directory", SourceURL: "../mylib"}),
				pypi("pysocks", "1.7.1", &poetrylock.Metadata{Optional: true}),
				pypi("requests", "2.28.1", &poetrylock.Metadata{}),
				pypi("tool", "0.3.0", &poetrylock.Metadata{SourceType: "git", SourceURL: "https://github.com/example/tool.git", ResolvedReference: "6b2c0fa0e3ad8b3bb1ab2a74b0a6dbb9b3a1f6c1"}),
			},
		},
		{
			Name: "lock-version 1.1",
			Data: extractortest.Testdata(t, "poetry-1.1.lock"),
			Want: []*inventory.Package{
				pypi("pytest", "7.2.0", &poetrylock.Metadata{Groups: []string{"dev"}}),
				pypi("six", "1.16.0", &poetrylock.Metadata{Groups: []string{"main"}}),
			},
		},
		{
			Name: "lock-version 2.1",
			Data: extractortest.Testdata(t, "poetry-2.1.lock"),
			Want: []*inventory.Package{
				pypi("colorama", "0.4.6", &poetrylock.Metadata{Groups: []string{"dev"}}),
				pypi("idna", "3.3", &poetrylock.Metadata{Groups: []string{"main", "dev"}}),
			},
		},
		{
			Name:         "malformed packages",
			Data:         []byte("[[package]]\nname = \"a\"\n[[package]]\nversion = \"1\"\n[[package]]\nname = \"b c\"\nversion = \"1\"\n[[package]]\nname = \"d\"\nversion = \"1\"\n[[package]]\nname = \"d\"\nversion = \"1\"\n"),
			Want:         []*inventory.Package{pypi("d", "1", &poetrylock.Metadata{})},
			WantWarnings: []string{`package 1: name "a" or version "" is missing or malformed`, `package 2: name "" or version "1" is missing or malformed`, `package 3: name "b c" or version "1" is missing or malformed`},
		},
		{Name: "empty", Data: nil},
		{Name: "wrong types", Data: []byte("package = 5\n"), WantErr: extractortest.ErrAny},
		{Name: "not TOML", Data: []byte(`{"package": []}`), WantErr: extractortest.ErrAny},
		{Name: "deeply nested", Data: []byte("[[package]]\nname = \"a\"\nx = " + strings.Repeat("{b=", 50_000) + "1" + strings.Repeat("}", 50_000) + "\n"), WantErr: tomlsafe.ErrTooDeep},
	}
	extractortest.Run(t, poetrylock.New(), "app/poetry.lock", tests)
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
