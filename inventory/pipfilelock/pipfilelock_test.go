package pipfilelock_test

import (
	"strings"
	"testing"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/pipfilelock"
)

func TestFileRequired(t *testing.T) {
	extractortest.FileRequired(t, pipfilelock.New(), map[string]bool{
		"app/Pipfile.lock":     true,
		"Pipfile.lock":         true,
		"app/Pipfile":          false,
		"app/pipfile.lock":     false,
		"app/Pipfile.lock.bak": false,
	})
}

func pypi(name, version string, md *pipfilelock.Metadata) *inventory.Package {
	return &inventory.Package{Name: name, Version: version, Type: "pypi", Locations: []string{"app/Pipfile.lock"}, Metadata: md}
}

func TestExtract(t *testing.T) {
	tests := []extractortest.Case{
		{
			Name: "pipenv lockfile",
			Data: extractortest.Testdata(t, "Pipfile.lock"),
			Want: []*inventory.Package{
				pypi("certifi", "2022.9.24", &pipfilelock.Metadata{Markers: "python_version >= '3.6'"}),
				pypi("charset-normalizer", "3.0.1", &pipfilelock.Metadata{Markers: "python_full_version >= '3.6.0'"}),
				pypi("pytest", "7.2.0", &pipfilelock.Metadata{Dev: true}),
				pypi("requests", "2.28.1", &pipfilelock.Metadata{}),
				pypi("urllib3", "1.26.12", &pipfilelock.Metadata{Markers: "python_version >= '2.7' and python_version not in '3.0, 3.1, 3.2, 3.3, 3.4, 3.5' and python_version < '4'"}),
			},
			WantWarnings: []string{
				`default: "tool": no version (a git dependency)`,
				`develop: "weird": version ">=1.0" is not a pin`,
				`develop: "wrongshape": json: cannot unmarshal array into Go value of type pipfilelock.lockedPackage`,
			},
		},
		{Name: "no sections", Data: []byte(`{"_meta": {}}`)},
		{Name: "wrong section type", Data: []byte(`{"default": []}`), WantErr: extractortest.ErrAny},
		{Name: "not JSON", Data: []byte(`[default]`), WantErr: extractortest.ErrAny},
		{Name: "deeply nested", Data: []byte(`{"default": {"a": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`), WantErr: extractortest.ErrAny},
	}
	extractortest.Run(t, pipfilelock.New(), "app/Pipfile.lock", tests)
}

func FuzzExtract(f *testing.F) {
	f.Add(extractortest.Testdata(f, "Pipfile.lock"))
	extractortest.Fuzz(f, pipfilelock.New(), "app/Pipfile.lock", extractortest.HasNameAndVersion)
}
