package requirements_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/requirements"
)

func TestFileRequired(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"app/requirements.txt", true},
		{"requirements.txt", true},
		{"app/requirements-dev.txt", true},
		{"app/requirements_prod.txt", true},
		{"app/requirements/base.txt", true},
		{"requirements/base.txt", true},
		{"app/requirements.in", false},
		{"app/constraints.txt", false},
		{"app/dev-requirements.txt", false},
		{"usr/lib/python3/dist-packages/foo/requirements.txt", false},
		{"usr/local/lib/python3.11/site-packages/foo/requirements.txt", false},
		{"app/node_modules/x/requirements.txt", false},
	}
	for _, tt := range tests {
		got := requirements.New().FileRequired(inventory.FileInfo{Path: tt.path, Mode: 0o644})
		if got != tt.want {
			t.Errorf("FileRequired(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func extract(t testing.TB, data []byte) (inventory.Result, error) {
	t.Helper()
	in := inventory.NewInput(inventory.FileInfo{Path: "app/requirements.txt", Mode: 0o644, Size: int64(len(data))}, bytes.NewReader(data), "")
	defer in.Close()
	return requirements.New().Extract(context.Background(), in)
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pypi(name, version string, md *requirements.Metadata) *inventory.Package {
	return &inventory.Package{Name: name, Version: version, Type: "pypi", Locations: []string{"app/requirements.txt"}, Metadata: md}
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
			name: "pip-compile output and the corners of the format",
			data: readFile(t, "requirements.txt"),
			want: []*inventory.Package{
				pypi("certifi", "2022.9.24", &requirements.Metadata{Line: 11}),
				pypi("charset-normalizer", "3.0.1", &requirements.Metadata{Line: 15}),
				pypi("requests", "2.28.1", &requirements.Metadata{Line: 18, Extras: []string{"socks", "security"}, Marker: `python_version >= "3.7"`}),
				pypi("urllib3", "1.26.12", &requirements.Metadata{Line: 19}),
				pypi("flask", "2.0.1", &requirements.Metadata{Line: 22}),
				pypi("Zope.Interface", "5.4.0", &requirements.Metadata{Line: 23}),
				pypi("typing-extensions", "4.4.0", &requirements.Metadata{Line: 25, Marker: `python_version < "3.8"`}),
				pypi("idna", "3.3", &requirements.Metadata{Line: 31}),
				pypi("attrs", "22.1.0", &requirements.Metadata{Line: 34}),
				pypi("simplejson", "3.17.6", &requirements.Metadata{Line: 37}),
			},
			wantWarnings: []string{
				`line 35: pytz: malformed version "${PYTZ_VERSION}"`,
				`line 36: broken: unclosed extras`,
				`line 38: conflict: conflicting pins ["1.0" "2.0"]`,
			},
		},
		{name: "empty", data: nil},
		{name: "CRLF", data: []byte("a==1.0\r\nb==2.0 \\\r\n  --hash=sha256:00\r\n"), want: []*inventory.Package{
			pypi("a", "1.0", &requirements.Metadata{Line: 1}), pypi("b", "2.0", &requirements.Metadata{Line: 2}),
		}},
		{name: "binary", data: []byte("\x00\x01\x02==\xff"), wantWarnings: []string{`line 1: not a requirement: "\x00\x01\x02==\xff"`}},
		{name: "line too long", data: []byte("a==" + strings.Repeat("1", 2<<20)), wantErr: true},
		{name: "continuation too long", data: bytes.Repeat([]byte(strings.Repeat("a", 1000)+"\\\n"), 2000), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := extract(t, tt.data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Extract error = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil {
				return
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
	f.Add(readFile(f, "requirements.txt"))
	f.Add([]byte("a[b]==1 ; x \\\n --hash=y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := extract(t, data)
		if err != nil {
			return
		}
		for _, p := range res.Packages {
			if p.Name == "" || p.Version == "" || strings.ContainsAny(p.Version, " *,;") {
				t.Errorf("bad package %+v", p)
			}
		}
	})
}
