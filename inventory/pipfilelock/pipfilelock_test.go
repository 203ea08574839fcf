package pipfilelock_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/pipfilelock"
)

func TestFileRequired(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"app/Pipfile.lock", true},
		{"Pipfile.lock", true},
		{"app/Pipfile", false},
		{"app/pipfile.lock", false},
		{"app/Pipfile.lock.bak", false},
	}
	for _, tt := range tests {
		got := pipfilelock.New().FileRequired(inventory.FileInfo{Path: tt.path, Mode: 0o644})
		if got != tt.want {
			t.Errorf("FileRequired(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func extract(t testing.TB, data []byte) (inventory.Result, error) {
	t.Helper()
	in := inventory.NewInput(inventory.FileInfo{Path: "app/Pipfile.lock", Mode: 0o644, Size: int64(len(data))}, bytes.NewReader(data), "")
	defer in.Close()
	return pipfilelock.New().Extract(context.Background(), in)
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
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
		wantErr      bool
	}{
		{
			name: "pipenv lockfile",
			data: readFile(t, "Pipfile.lock"),
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
		{name: "wrong section type", data: []byte(`{"default": []}`), wantErr: true},
		{name: "not JSON", data: []byte(`[default]`), wantErr: true},
		{name: "deeply nested", data: []byte(`{"default": {"a": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := extract(t, tt.data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Extract error = %v, want error: %v", err, tt.wantErr)
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

func FuzzExtract(f *testing.F) {
	f.Add(readFile(f, "Pipfile.lock"))
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
