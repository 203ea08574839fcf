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

func pypi(name, version string, md *requirements.Metadata) *inventory.Package {
	return &inventory.Package{Name: name, Version: version, Type: "pypi", Locations: []string{"app/requirements.txt"}, Metadata: md}
}

func TestExtract(t *testing.T) {
	tests := []extractortest.Case{
		{
			Name: "pip-compile output and the corners of the format",
			Data: extractortest.Testdata(t, "requirements.txt"),
			Want: []*inventory.Package{
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
			WantWarnings: []string{
				`line 35: pytz: malformed version "${PYTZ_VERSION}"`,
				`line 36: broken: unclosed extras`,
				`line 38: conflict: conflicting pins ["1.0" "2.0"]`,
			},
		},
		{Name: "empty", Data: nil},
		{Name: "CRLF", Data: []byte("a==1.0\r\nb==2.0 \\\r\n  --hash=sha256:00\r\n"), Want: []*inventory.Package{
			pypi("a", "1.0", &requirements.Metadata{Line: 1}), pypi("b", "2.0", &requirements.Metadata{Line: 2}),
		}},
		{Name: "binary", Data: []byte("\x00\x01\x02==\xff"), WantWarnings: []string{`line 1: not a requirement: "\x00\x01\x02==\xff"`}},
		{Name: "line too long", Data: []byte("a==" + strings.Repeat("1", 2<<20)), WantErr: extractortest.ErrAny},
		{Name: "continuation too long", Data: bytes.Repeat([]byte(strings.Repeat("a", 1000)+"\\\n"), 2000), WantErr: extractortest.ErrAny},
	}
	extractortest.Run(t, requirements.New(), "app/requirements.txt", tests)
}

func FuzzExtract(f *testing.F) {
	f.Add(extractortest.Testdata(f, "requirements.txt"))
	f.Add([]byte("a[b]==1 ; x \\\n --hash=y\n"))
	extractortest.Fuzz(f, requirements.New(), "app/requirements.txt", func(p *inventory.Package) bool {
		return extractortest.HasNameAndVersion(p) && !strings.ContainsAny(p.Version, " *,;")
	})
}
