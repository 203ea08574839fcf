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

func pypi(name, version, source, url string) *inventory.Package {
	return &inventory.Package{Name: name, Version: version, Type: "pypi", Locations: []string{"app/uv.lock"}, Metadata: &uvlock.Metadata{Source: source, SourceURL: url}}
}

func TestExtract(t *testing.T) {
	const pypiURL = "https://pypi.org/simple"
	tests := []extractortest.Case{
		{
			Name: "workspace with forked resolution",
			Data: extractortest.Testdata(t, "uv.lock"),
			Want: []*inventory.Package{
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
			Name:         "malformed tables",
			Data:         []byte("version = 1\n[[package]]\nname = \"a\"\nsource = { directory = \"a\" }\n[[package]]\nname = = 1\n[[package]]\nname = \"b\"\nversion = \"1\"\n"),
			Want:         []*inventory.Package{pypi("b", "1", "", "")},
			WantWarnings: []string{`package 1: name "a" or version "" is missing or malformed`, "package 2: parse TOML: toml: line 2 (last key \"package.name\"): expected value but found '=' instead"},
		},
		{Name: "no version field", Data: []byte("[[package]]\nname = \"a\"\nversion = \"1\"\n"), WantErr: extractortest.ErrAny},
		{Name: "poetry.lock named uv.lock", Data: []byte("# generated\n[[package]]\nname = \"a\"\nversion = \"1\"\n"), WantErr: extractortest.ErrAny},
		{Name: "not TOML", Data: []byte("version: 1\n"), WantErr: extractortest.ErrAny},
		{Name: "deeply nested", Data: []byte("version = 1\n[[package]]\nname = \"a\"\nwheels = " + strings.Repeat("[", 100_000) + "\n"), WantErr: tomlsafe.ErrTooDeep},
	}
	extractortest.Run(t, uvlock.New(), "app/uv.lock", tests)
}

func FuzzExtract(f *testing.F) {
	f.Add(extractortest.Testdata(f, "uv.lock"))
	extractortest.Fuzz(f, uvlock.New(), "app/uv.lock", extractortest.HasNameAndVersion)
}
