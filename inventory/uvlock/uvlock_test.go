package uvlock_test

import (
	"strings"
	"testing"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/internal/tomlsafe"
	"github.com/credence-dev/credence/inventory/uvlock"
)

func TestFileRequired(t *testing.T) {
	extractortest.FileRequired(t, uvlock.New(), map[string]bool{
		"app/uv.lock":   true,
		"uv.lock":       true,
		"app/uv.toml":   false,
		"app/myuv.lock": false,
	})
}

func extract(t testing.TB, data []byte) (inventory.Result, error) {
	t.Helper()
	return extractortest.Extract(t, uvlock.New(), "app/uv.lock", data)
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
		wantErr      error // nil: no error; extractortest.ErrAny: any error
	}{
		{
			name: "workspace with forked resolution",
			data: extractortest.Testdata(t, "uv.lock"),
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
		{name: "no version field", data: []byte("[[package]]\nname = \"a\"\nversion = \"1\"\n"), wantErr: extractortest.ErrAny},
		{name: "poetry.lock named uv.lock", data: []byte("# generated\n[[package]]\nname = \"a\"\nversion = \"1\"\n"), wantErr: extractortest.ErrAny},
		{name: "not TOML", data: []byte("version: 1\n"), wantErr: extractortest.ErrAny},
		{name: "deeply nested", data: []byte("version = 1\n[[package]]\nname = \"a\"\nwheels = " + strings.Repeat("[", 100_000) + "\n"), wantErr: tomlsafe.ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := extract(t, tt.data)
			extractortest.CheckResult(t, res, err, tt.wantErr, tt.want, tt.wantWarnings)
		})
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(extractortest.Testdata(f, "uv.lock"))
	extractortest.Fuzz(f, uvlock.New(), "app/uv.lock", extractortest.HasNameAndVersion)
}
