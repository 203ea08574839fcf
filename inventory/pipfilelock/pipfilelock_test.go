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

func extract(t testing.TB, data []byte) (inventory.Result, error) {
	t.Helper()
	return extractortest.Extract(t, pipfilelock.New(), "app/Pipfile.lock", data)
}

func pypi(name, version string, md *pipfilelock.Metadata) *inventory.Package {
	return &inventory.Package{Name: name, Version: version, Type: "pypi", Locations: []string{"app/Pipfile.lock"}, Metadata: md}
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
			name: "pipenv lockfile",
			data: extractortest.Testdata(t, "Pipfile.lock"),
			want: []*inventory.Package{
				pypi("certifi", "2022.9.24", &pipfilelock.Metadata{Markers: "python_version >= '3.6'"}),
				pypi("charset-normalizer", "3.0.1", &pipfilelock.Metadata{Markers: "python_full_version >= '3.6.0'"}),
				pypi("pytest", "7.2.0", &pipfilelock.Metadata{Dev: true}),
				pypi("requests", "2.28.1", &pipfilelock.Metadata{}),
				pypi("urllib3", "1.26.12", &pipfilelock.Metadata{Markers: "python_version >= '2.7' and python_version not in '3.0, 3.1, 3.2, 3.3, 3.4, 3.5' and python_version < '4'"}),
			},
			wantWarnings: []string{
				`default: "tool": no version (a git dependency)`,
				`develop: "weird": version ">=1.0" is not a pin`,
				`develop: "wrongshape": json: cannot unmarshal array into Go value of type pipfilelock.lockedPackage`,
			},
		},
		{name: "no sections", data: []byte(`{"_meta": {}}`)},
		{name: "wrong section type", data: []byte(`{"default": []}`), wantErr: extractortest.ErrAny},
		{name: "not JSON", data: []byte(`[default]`), wantErr: extractortest.ErrAny},
		{name: "deeply nested", data: []byte(`{"default": {"a": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`), wantErr: extractortest.ErrAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := extract(t, tt.data)
			extractortest.CheckResult(t, res, err, tt.wantErr, tt.want, tt.wantWarnings)
		})
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(extractortest.Testdata(f, "Pipfile.lock"))
	extractortest.Fuzz(f, pipfilelock.New(), "app/Pipfile.lock", extractortest.HasNameAndVersion)
}
