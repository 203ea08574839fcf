package requirements_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/requirements"
)

func TestFileRequired(t *testing.T) {
	extractortest.FileRequired(t, requirements.New(), map[string]bool{
		"app/requirements.txt":                                        true,
		"requirements.txt":                                            true,
		"app/requirements-dev.txt":                                    true,
		"app/requirements_prod.txt":                                   true,
		"app/requirements/base.txt":                                   true,
		"requirements/base.txt":                                       true,
		"app/requirements.in":                                         false,
		"app/constraints.txt":                                         false,
		"app/dev-requirements.txt":                                    false,
		"usr/lib/python3/dist-packages/foo/requirements.txt":          false,
		"usr/local/lib/python3.11/site-packages/foo/requirements.txt": false,
		"app/node_modules/x/requirements.txt":                         false,
	})
}

func extract(t testing.TB, data []byte) (inventory.Result, error) {
	t.Helper()
	return extractortest.Extract(t, requirements.New(), "app/requirements.txt", data)
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
		wantErr      error // nil: no error; extractortest.ErrAny: any error
	}{
		{
			name: "pip-compile output and the corners of the format",
			data: extractortest.Testdata(t, "requirements.txt"),
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
		{name: "line too long", data: []byte("a==" + strings.Repeat("1", 2<<20)), wantErr: extractortest.ErrAny},
		{name: "continuation too long", data: bytes.Repeat([]byte(strings.Repeat("a", 1000)+"\\\n"), 2000), wantErr: extractortest.ErrAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := extract(t, tt.data)
			extractortest.CheckResult(t, res, err, tt.wantErr, tt.want, tt.wantWarnings)
		})
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(extractortest.Testdata(f, "requirements.txt"))
	f.Add([]byte("a[b]==1 ; x \\\n --hash=y\n"))
	extractortest.Fuzz(f, requirements.New(), "app/requirements.txt", func(p *inventory.Package) bool {
		return extractortest.HasNameAndVersion(p) && !strings.ContainsAny(p.Version, " *,;")
	})
}
