package pythonmeta_test

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/pythonmeta"
)

func TestFileRequired(t *testing.T) {
	extractortest.FileRequired(t, pythonmeta.New(), map[string]bool{
		"usr/lib/python3/dist-packages/chardet-5.1.0.dist-info/METADATA":      true,
		"usr/local/lib/python3.11/site-packages/Flask-2.0.dist-info/METADATA": true,
		"usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO":          true,
		"usr/lib/python3/dist-packages/python_apt-2.6.0.egg-info":             true,
		"opt/eggs/foo-1.0-py3.11.egg/EGG-INFO/PKG-INFO":                       true,
		"usr/lib/python3/dist-packages/chardet-5.1.0.dist-info/RECORD":        false,
		"usr/lib/python3/dist-packages/six-1.16.0.egg-info/top_level.txt":     false,
		"src/foo-1.0/PKG-INFO": false,
		"METADATA":             false,
		"x/METADATA":           false,
		"x/.egg-info":          false,
		"x/foo.dist-info":      false,
	})
}

func TestExtract(t *testing.T) {
	pkg := func(name, version, loc string, licenses []string, md *pythonmeta.Metadata) []*inventory.Package {
		return []*inventory.Package{{Name: name, Version: version, Type: "pypi", Licenses: licenses, Locations: []string{loc}, Metadata: md}}
	}
	const dp = "usr/lib/python3/dist-packages/"
	tests := []extractortest.Case{
		{
			Name: "dist-info",
			Path: dp + "chardet-5.1.0.dist-info/METADATA",
			Data: extractortest.Testdata(t, "chardet.METADATA"),
			Want: pkg("chardet", "5.1.0", dp+"chardet-5.1.0.dist-info/METADATA", []string{"LGPL"},
				&pythonmeta.Metadata{MetadataVersion: "2.1", Summary: "Universal encoding detector for Python 3", Author: "Mark Pilgrim"}),
		},
		{
			Name: "dist-info, name spelled differently from the directory",
			Path: dp + "charset_normalizer-3.0.1.dist-info/METADATA",
			Data: extractortest.Testdata(t, "charset_normalizer.METADATA"),
			Want: pkg("charset-normalizer", "3.0.1", dp+"charset_normalizer-3.0.1.dist-info/METADATA", []string{"MIT"},
				&pythonmeta.Metadata{MetadataVersion: "2.1", Summary: "The Real First Universal Charset Detector. Open, modern and actively maintained alternative to Chardet.", Author: "Ahmed TAHRI"}),
		},
		{
			Name: "egg-info",
			Path: dp + "six-1.16.0.egg-info/PKG-INFO",
			Data: extractortest.Testdata(t, "six.PKG-INFO"),
			Want: pkg("six", "1.16.0", dp+"six-1.16.0.egg-info/PKG-INFO", []string{"MIT"},
				&pythonmeta.Metadata{MetadataVersion: "2.1", Summary: "Python 2 and 3 compatibility utilities", Author: "Benjamin Peterson"}),
		},
		{
			Name: "egg-info file, CRLF, continuation lines, classifier licences",
			Path: dp + "python_apt-2.6.0.egg-info",
			Data: []byte("Metadata-Version: 1.1\r\nName: python-apt\r\nVersion: 2.6.0\r\nSummary: Python bindings\r\n  for APT\r\nLicense: UNKNOWN\r\n" +
				"Classifier: License :: OSI Approved\r\nClassifier: License :: OSI Approved :: GNU General Public License (GPL)\r\n" +
				"Classifier: License :: Public Domain\r\nClassifier: Topic :: System\r\n\r\nName: not-this\r\n"),
			Want: pkg("python-apt", "2.6.0", dp+"python_apt-2.6.0.egg-info", []string{"GNU General Public License (GPL)", "Public Domain"},
				&pythonmeta.Metadata{MetadataVersion: "1.1", Summary: "Python bindings\nfor APT"}),
		},
		{
			Name: "License-Expression wins, licence text is no name",
			Path: "x/foo-1.0.dist-info/METADATA",
			Data: []byte("Metadata-Version: 2.4\nName: foo\nVersion: 1.0\nLicense-Expression: MIT OR Apache-2.0\nLicense: MIT\n"),
			Want: pkg("foo", "1.0", "x/foo-1.0.dist-info/METADATA", []string{"MIT OR Apache-2.0"}, &pythonmeta.Metadata{MetadataVersion: "2.4"}),
		},
		{
			Name: "licence text",
			Path: "x/foo-1.0.dist-info/METADATA",
			Data: []byte("Name: foo\nVersion: 1.0\nLicense: Copyright (c) 2020 Foo\n        Permission is hereby granted\nClassifier: License :: OSI Approved :: MIT License\n"),
			Want: pkg("foo", "1.0", "x/foo-1.0.dist-info/METADATA", []string{"MIT License"}, &pythonmeta.Metadata{}),
		},
		{
			Name:         "malformed lines are skipped",
			Path:         "x/foo-1.0.dist-info/METADATA",
			Data:         []byte(" orphan continuation\nName: foo\nthis is not a field\nVersion: 1.0\n"),
			Want:         pkg("foo", "1.0", "x/foo-1.0.dist-info/METADATA", nil, &pythonmeta.Metadata{}),
			WantWarnings: []string{`line 3: not a field: "this is not a field"`},
		},
		{
			Name:         "no version",
			Path:         "x/foo-1.0.dist-info/METADATA",
			Data:         []byte("Name: foo\n\nVersion: 1.0\n"),
			WantWarnings: []string{"no Name or no Version field"},
		},
		{
			Name:         "bad version",
			Path:         "x/foo-1.0.dist-info/METADATA",
			Data:         []byte("Name: foo\nVersion: 1.0 beta\n"),
			WantWarnings: []string{`Name "foo" or Version "1.0 beta" is malformed`},
		},
		{Name: "empty", Path: "x/foo.egg-info", Data: nil, WantWarnings: []string{"no Name or no Version field"}},
		{Name: "line too long", Path: "x/foo.egg-info", Data: []byte("Name: " + strings.Repeat("a", 2<<20)), WantErr: extractortest.ErrAny},
		{Name: "too many fields", Path: "x/foo.egg-info", Data: []byte(strings.Repeat("A: b\n", 10_001)), WantErr: extractortest.ErrAny},
	}
	extractortest.Run(t, pythonmeta.New(), "", tests)
}

// normalize is the PEP 503 normalised project name.
func normalize(name string) string {
	return strings.ToLower(regexp.MustCompile(`[-_.]+`).ReplaceAllString(name, "-"))
}

// TestFixtureImage reads the real fixture-app image: every metadata
// directory in its ground truth EXPECTED/python-metadata.txt (found with
// find(1) in the final root filesystem; Debian's python3-* packages) must
// give one package, whose name and version are those of the directory
// name, in the layer that added it; and nothing else.
func TestFixtureImage(t *testing.T) {
	var want []string
	for _, line := range extractortest.Expected(t, "python-metadata.txt") {
		// /usr/lib/python3/dist-packages/charset_normalizer-3.0.1.dist-info
		base := path.Base(line)
		nv := strings.TrimSuffix(strings.TrimSuffix(base, ".dist-info"), ".egg-info")
		name, version, ok := strings.Cut(nv, "-")
		if !ok {
			t.Fatalf("unexpected line in python-metadata.txt: %q", line)
		}
		want = append(want, fmt.Sprintf("%s %s %s layer 1", strings.TrimPrefix(line, "/"), normalize(name), version))
	}
	slices.Sort(want)

	inv := extractortest.ScanFixture(t, extractortest.FixtureRefs(t)[0], pythonmeta.New()) // the OCI layout
	var got []string
	for _, p := range inv.Packages {
		layer := -1
		if p.Layer != nil {
			layer = p.Layer.Index
		}
		loc := strings.TrimSuffix(strings.TrimSuffix(p.Locations[0], "/METADATA"), "/PKG-INFO")
		got = append(got, fmt.Sprintf("%s %s %s layer %d", loc, normalize(p.Name), p.Version, layer))
		if p.Ecosystem != "PyPI" || !strings.HasPrefix(p.PURL, "pkg:pypi/"+normalize(p.Name)+"@") {
			t.Errorf("%s: ecosystem %q, purl %q", p, p.Ecosystem, p.PURL)
		}
		if len(p.Licenses) == 0 {
			t.Errorf("%s: no licence", p)
		}
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	if inv.Status.State != inventory.Succeeded || len(inv.Status.Warnings) > 0 {
		t.Errorf("status %+v", inv.Status)
	}
}

func FuzzExtract(f *testing.F) {
	for _, n := range []string{"chardet.METADATA", "six.PKG-INFO", "requests.PKG-INFO"} {
		f.Add(extractortest.Testdata(f, n))
	}
	f.Add([]byte("Name: a\r\nVersion: 1\r\n  x\r\nClassifier: License :: A :: B\r\n\r\nbody"))
	extractortest.Fuzz(f, pythonmeta.New(), "x/a-1.dist-info/METADATA", extractortest.HasNameAndVersion)
}
