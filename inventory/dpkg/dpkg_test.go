package dpkg_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/dpkg"
)

func TestFileRequired(t *testing.T) {
	for path, want := range map[string]bool{
		"var/lib/dpkg/status":                    true,
		"var/lib/dpkg/status-old":                false,
		"var/lib/dpkg/status.d/base":             true,
		"var/lib/dpkg/status.d/base.md5sums":     false,
		"var/lib/dpkg/status.d/sub/dir":          false,
		"usr/share/doc/dpkg/var/lib/dpkg/status": false,
	} {
		if got := dpkg.New().FileRequired(inventory.FileInfo{Path: path, Mode: 0o644}); got != want {
			t.Errorf("FileRequired(%q) = %v, want %v", path, got, want)
		}
	}
}

func extract(t testing.TB, path string, b []byte) inventory.Result {
	t.Helper()
	in := inventory.NewInput(inventory.FileInfo{Path: path, Size: int64(len(b))}, bytes.NewReader(b), "")
	res, err := dpkg.New().Extract(context.Background(), in)
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
	b, err := os.ReadFile("testdata/status")
	if err != nil {
		t.Fatal(err)
	}
	res := extract(t, "var/lib/dpkg/status", b)
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
	b, _ := os.ReadFile("testdata/status")
	f.Add(b)
	f.Add([]byte("Package: a\n continuation\nVersion\n\n\nStatus:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := inventory.NewInput(inventory.FileInfo{Path: "var/lib/dpkg/status", Size: int64(len(b))}, bytes.NewReader(b), "")
		res, err := dpkg.New().Extract(context.Background(), in)
		if err != nil {
			return
		}
		for _, p := range res.Packages {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("package without name or version: %+v", p)
			}
		}
	})
}
