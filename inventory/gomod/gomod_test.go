package gomod_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/gomod"
)

func TestFileRequired(t *testing.T) {
	extractortest.FileRequiredInfo(t, gomod.New(), map[inventory.FileInfo]bool{
		{Path: "app/go.mod", Mode: 0o644, Size: 100}:                                      true,
		{Path: "go.mod", Mode: 0o644, Size: 100}:                                          true,
		{Path: "usr/local/go/src/go.mod", Mode: 0o644, Size: 100}:                         true,
		{Path: "root/go/pkg/mod/golang.org/x/net@v0.17.0/go.mod", Mode: 0o444, Size: 100}: false,
		{Path: "app/go.sum", Mode: 0o644, Size: 100}:                                      false,
		{Path: "app/go.mod.bak", Mode: 0o644, Size: 100}:                                  false,
		{Path: "app/go.mod", Mode: fs.ModeSymlink | 0o777, Size: 100}:                     false,
	})
}

func TestExtract(t *testing.T) {
	md := func(indirect bool, replaces string) *gomod.Metadata {
		return &gomod.Metadata{Indirect: indirect, MainModule: "example.com/app", Replaces: replaces}
	}
	want := []*inventory.Package{
		{Name: "github.com/google/go-cmp", Version: "v0.6.0", Type: "golang", Metadata: md(false, "")},
		{Name: "golang.org/x/net", Version: "v0.17.0", Type: "golang", Metadata: md(false, "")},
		{Name: "golang.org/x/text", Version: "v0.14.0", Type: "golang", Metadata: md(true, "")},
		{Name: "github.com/someone/forked", Version: "v1.0.1", Type: "golang", Metadata: md(false, "example.com/forked@v1.0.0")},
		{Name: "example.com/local", Version: "", Type: "golang", Metadata: md(false, "example.com/local@v0.0.0-00010101000000-000000000000 => ./local")},
		{Name: "example.com/pinned", Version: "v1.2.1", Type: "golang", Metadata: md(true, "example.com/pinned@v1.2.0")},
		{Name: "gopkg.in/yaml.v3", Version: "v3.0.1", Type: "golang", Metadata: md(true, "")},
	}
	res, err := extract(t, "app/go.mod", extractortest.Testdata(t, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, res.Packages); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestExtractMatchesGoCommand compares the requirements and replacements
// read with those of the go command's own parser (go mod edit -json).
func TestExtractMatchesGoCommand(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			testutil.NeedComponent(t, "go toolchain", "install Go to compare with the go command's parser")
		}
	}
	cmd := exec.Command(goBin, "mod", "edit", "-json", "testdata/go.mod")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod edit -json: %v", err)
	}
	type mod struct{ Path, Version string }
	var gf struct {
		Require []struct {
			Path, Version string
			Indirect      bool
		}
		Replace []struct{ Old, New mod }
	}
	if err := json.Unmarshal(out, &gf); err != nil {
		t.Fatal(err)
	}
	res, err := extract(t, "go.mod", extractortest.Testdata(t, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Packages) != len(gf.Require) {
		t.Fatalf("%d packages, go mod edit lists %d requirements", len(res.Packages), len(gf.Require))
	}
	for i, r := range gf.Require {
		p := res.Packages[i]
		md := p.Metadata.(*gomod.Metadata)
		name, version := r.Path, r.Version
		if md.Replaces != "" {
			found := false
			for _, rep := range gf.Replace {
				if rep.New.Path == p.Name && rep.New.Version == p.Version && rep.Old.Path == r.Path && (rep.Old.Version == "" || rep.Old.Version == r.Version) {
					found, name, version = true, rep.New.Path, rep.New.Version
				}
				if rep.New.Version == "" && rep.Old.Path == r.Path && p.Version == "" {
					found, version = true, ""
				}
			}
			if !found {
				t.Errorf("%s: no replace directive of go mod edit gives %s@%s", r.Path, p.Name, p.Version)
			}
		}
		if p.Name != name || p.Version != version || md.Indirect != r.Indirect {
			t.Errorf("requirement %d: got %s@%s indirect %v, go mod edit: %s@%s indirect %v", i, p.Name, p.Version, md.Indirect, name, version, r.Indirect)
		}
	}
}

func TestExtractMalformed(t *testing.T) {
	for name, data := range map[string]string{
		"unknown directive": "module a\n\nfrobnicate b\n",
		"bad version":       "module a\n\nrequire b v1..2\n",
		"unterminated":      "module a\n\nrequire (\n\tb v1.0.0\n",
		"binary":            "\x00\x01\x02\xff",
	} {
		if res, err := extract(t, "go.mod", []byte(data)); err == nil {
			t.Errorf("%s: %d packages and no error", name, len(res.Packages))
		}
	}
	res, err := extract(t, "go.mod", []byte("module a\n\ngo 1.21\n"))
	if err != nil || len(res.Packages) != 0 {
		t.Errorf("no requirements: %v, %v", res.Packages, err)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(extractortest.Testdata(f, "go.mod"))
	f.Add([]byte("module a\nrequire b v1.0.0\nreplace b => ../b\n"))
	extractortest.Fuzz(f, gomod.New(), "go.mod", func(p *inventory.Package) bool { return p.Name != "" })
}

func extract(t testing.TB, path string, data []byte) (inventory.Result, error) {
	t.Helper()
	return extractortest.Extract(t, gomod.New(), path, data)
}

func BenchmarkExtract(b *testing.B) {
	data := extractortest.Testdata(b, "go.mod")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := extract(b, "go.mod", data); err != nil {
			b.Fatal(err)
		}
	}
}
