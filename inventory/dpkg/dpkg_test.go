package dpkg_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/dpkg"
	"github.com/credence-dev/credence/inventory/extractortest"
)

func TestFileRequired(t *testing.T) {
	extractortest.FileRequired(t, dpkg.New(), map[string]bool{
		"var/lib/dpkg/status":                    true,
		"var/lib/dpkg/status-old":                false,
		"var/lib/dpkg/status.d/base":             true,
		"var/lib/dpkg/status.d/base.md5sums":     false,
		"var/lib/dpkg/status.d/sub/dir":          false,
		"usr/share/doc/dpkg/var/lib/dpkg/status": false,
	})
}

func extract(t testing.TB, path string, b []byte) inventory.Result {
	t.Helper()
	res, err := extractortest.Extract(t, dpkg.New(), path, b)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

type pkg struct{ Name, Version, Source, SourceVersion, Arch string }

func summary(res inventory.Result) []pkg {
	var out []pkg
	for _, p := range res.Packages {
		out = append(out, pkg{p.Name, p.Version, p.SourceName, p.SourceVersion, p.Arch})
	}
	return out
}

func TestExtract(t *testing.T) {
	res := extract(t, "var/lib/dpkg/status", extractortest.Testdata(t, "status"))
	want := []pkg{
		{"libc6", "2.36-9+deb12u4", "glibc", "2.36-9+deb12u4", "amd64"},
		{"libext2fs2", "1.47.0-2+b2", "e2fsprogs", "1.47.0-2", "amd64"},
		{"half", "3:1.2", "half", "3:1.2", "amd64"}, // half-installed: its files are on disk
	}
	if diff := cmp.Diff(want, summary(res)); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	if len(res.Warnings) != 1 {
		t.Errorf("warnings = %q, want one for the paragraph without Version", res.Warnings)
	}
}

// Distroless images keep one paragraph per file, without a Status field.
func TestExtractDistrolessStatusD(t *testing.T) {
	res := extract(t, "var/lib/dpkg/status.d/tzdata", []byte("Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n"))
	if diff := cmp.Diff([]pkg{{"tzdata", "2024a-0+deb12u1", "tzdata", "2024a-0+deb12u1", "all"}}, summary(res)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(extractortest.Testdata(f, "status"))
	f.Add([]byte("Package: a\n continuation\nVersion\n\n\nStatus:\n"))
	extractortest.Fuzz(f, dpkg.New(), "var/lib/dpkg/status", extractortest.HasNameAndVersion)
}
