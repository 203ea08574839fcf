package uvlock_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/internal/tomlsafe"
	"github.com/credence-dev/credence/inventory/uvlock"
)

func TestFileRequired(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"app/uv.lock", true},
		{"uv.lock", true},
		{"app/uv.toml", false},
		{"app/myuv.lock", false},
	}
	for _, tt := range tests {
		got := uvlock.New().FileRequired(inventory.FileInfo{Path: tt.path, Mode: 0o644})
		if got != tt.want {
			t.Errorf("FileRequired(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func extract(t testing.TB, data []byte) (inventory.Result, error) {
	t.Helper()
	in := inventory.NewInput(inventory.FileInfo{Path: "app/uv.lock", Mode: 0o644, Size: int64(len(data))}, bytes.NewReader(data), "")
	defer in.Close()
	return uvlock.New().Extract(context.Background(), in)
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pypi(name, version, source, url string) *inventory.Package {
	return &inventory.Package{Name: name, Version: version, Type: "pypi", Locations: []string{"app/uv.lock"}, Metadata: &uvlock.Metadata{Source: source, SourceURL: url}}
}

func TestExtract(t *testing.T) {
	const pypiURL = "https://pypi.org/simple"
	tests := []struct {
		name         string
		data         []byte
		want         []*inventory.Package
		wantWarnings []string
		wantErr      error // nil: no error; errAny: any error
	}{
		{
			name: "workspace with forked resolution",
			data: readFile(t, "uv.lock"),
			want: []*inventory.Package{
				pypi("anyio", "4.6.2.post1", "registry", pypiURL),
				pypi("idna", "3.10", "registry", pypiURL),
				pypi("numpy", "2.0.2", "registry", pypiURL),
				pypi("numpy", "2.1.3", "registry", pypiURL),
				pypi("sniffio", "1.3.1", "registry", pypiURL),
				pypi("tool", "0.3.0", "git", "https://github.com/example/tool?rev=main#6b2c0fa0e3ad8b3bb1ab2a74b0a6dbb9b3a1f6c1"),
				pypi("vendored", "1.0.0", "path", "vendor/vendored-1.0.0-py3-none-any.whl"),
			},
		},
		{
			name:         "malformed tables",
			data:         []byte("version = 1\n[[package]]\nname = \"a\"\nsource = { directory = \"a\" }\n[[package]]\nname = = 1\n[[package]]\nname = \"b\"\nversion = \"1\"\n"),
			want:         []*inventory.Package{pypi("b", "1", "", "")},
			wantWarnings: []string{`package 1: name "a" or version "" is missing or malformed`, "package 2: parse TOML: toml: line 2 (last key \"package.name\"): expected value but found '=' instead"},
		},
		{name: "no version field", data: []byte("[[package]]\nname = \"a\"\nversion = \"1\"\n"), wantErr: errAny},
		{name: "poetry.lock named uv.lock", data: []byte("# generated\n[[package]]\nname = \"a\"\nversion = \"1\"\n"), wantErr: errAny},
		{name: "not TOML", data: []byte("version: 1\n"), wantErr: errAny},
		{name: "deeply nested", data: []byte("version = 1\n[[package]]\nname = \"a\"\nwheels = " + strings.Repeat("[", 100_000) + "\n"), wantErr: tomlsafe.ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := extract(t, tt.data)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Extract: %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("Extract error = %v, want %v", err, tt.wantErr)
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

var errAny = errors.New("any error")

func FuzzExtract(f *testing.F) {
	f.Add(readFile(f, "uv.lock"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := extract(t, data)
		if err != nil {
			return
		}
		for _, p := range res.Packages {
			if p.Name == "" || p.Version == "" {
				t.Errorf("bad package %+v", p)
			}
		}
	})
}
