package match_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/gobinary"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/vulndb"
)

// The records the reachability test is built on, from the Go
// vulnerability database (../shared/data/osv/Go/all.zip), and the
// function of each that the "calls" program calls and "nocall" does not:
//
//   - GO-2026-5025, golang.org/x/net before v0.55.0: golang.org/x/net/html,
//     symbols Parse, ParseFragment, ... (the programs use x/net v0.46.0;
//     "calls" calls html.Parse, "nocall" only html.EscapeString);
//   - GO-2026-5038, the standard library before go1.26.4: mime, symbol
//     WordDecoder.DecodeHeader ("calls" calls it, "nocall" only
//     mime.TypeByExtension).
const (
	xnetRecord, xnetPath, xnetSymbol = "GO-2026-5025", "golang.org/x/net/html", "Parse"
	stdRecord, stdPath, stdSymbol    = "GO-2026-5038", "mime", "WordDecoder.DecodeHeader"
	xnetVersion                      = "v0.46.0"
	// stdlibVersion is put in place of the toolchain's (go1.26.8, past
	// every standard library fix in the data) so that the mime record
	// matches: the binaries and their function tables are real, only the
	// version compared with the record's ranges is not.
	stdlibVersion = "v1.26.3"
)

var reachPrograms = map[string]string{
	"calls": `package main

import (
	"fmt"
	"mime"
	"os"
	"strings"

	"golang.org/x/net/html"
)

func main() {
	doc, err := html.Parse(strings.NewReader(os.Args[0]))
	h, _ := new(mime.WordDecoder).DecodeHeader(os.Args[0])
	fmt.Println(doc != nil, err, h)
}
`,
	"nocall": `package main

import (
	"fmt"
	"mime"
	"os"

	"golang.org/x/net/html"
)

func main() { fmt.Println(html.EscapeString(os.Args[0]), mime.TypeByExtension(".html")) }
`,
}

// TestGoReachability builds two programs against golang.org/x/net v0.46.0
// (from the Go module proxy) with the local toolchain, plain and stripped
// (-ldflags=-s -w), reads them with the Go binary extractor as an image
// streams them, and matches them against the Go database imported into a
// real store. The oracle is the record (read here from the archive, not
// through credence) and which function each program calls: the finding is
// present for both programs (never hidden), linked with the symbol as
// evidence where the program calls it, not linked where it does not; a
// record whose packages `go list -deps` says the program does not build
// at all is not linked; one naming no packages stays unknown.
func TestGoReachability(t *testing.T) {
	shared := testutil.Shared(t)
	zipPath := filepath.Join(shared, "data", "osv", "Go", "all.zip")
	records := readGoRecords(t, zipPath)
	for id, want := range map[string][2]string{xnetRecord: {xnetPath, xnetSymbol}, stdRecord: {stdPath, stdSymbol}} {
		if !slices.Contains(records[id][want[0]], want[1]) {
			t.Fatalf("%s does not name %s.%s (imports %v): the test's premise is gone", id, want[0], want[1], records[id])
		}
	}
	bins, deps := buildReachPrograms(t)
	db := goDB(t, filepath.Join(shared, "data", "osv", "Go"))
	found := map[string][]string{} // binary → finding ids
	for _, b := range bins {
		t.Run(b.name, func(t *testing.T) {
			data, err := os.ReadFile(b.path)
			if err != nil {
				t.Fatal(err)
			}
			res, err := extractortest.ExtractExecutable(t, gobinary.New(), "usr/bin/"+b.program, data, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range res.Packages {
				p.Ecosystem = "Go" // what the runner sets for golang packages
				if p.Name == "stdlib" {
					p.Version = stdlibVersion
				}
			}
			out, err := match.Match(context.Background(), db, res.Packages)
			if err != nil {
				t.Fatal(err)
			}
			// An inventory cached as JSON and matched again (assess's
			// inventory cache) gives the same reachability.
			cached, err := json.Marshal(res.Packages)
			if err != nil {
				t.Fatal(err)
			}
			var decoded []*inventory.Package
			if err := json.Unmarshal(cached, &decoded); err != nil {
				t.Fatal(err)
			}
			again, err := match.Match(context.Background(), db, decoded)
			if err != nil {
				t.Fatal(err)
			}
			for i := range again.Findings {
				if a, b := out.Findings[i].Reachability, again.Findings[i].Reachability; a == nil || b == nil || a.State != b.State || !slices.Equal(a.Symbols, b.Symbols) {
					t.Errorf("%s: reachability %+v, from the cached inventory %+v", out.Findings[i].ID, a, b)
				}
			}
			calls := b.program == "calls"
			byID := map[string]*match.Finding{}
			states := map[match.Reach]int{}
			defer func() { t.Logf("%d findings: %v", len(out.Findings), states) }()
			for i := range out.Findings {
				f := &out.Findings[i]
				byID[f.ID] = f
				found[b.name] = append(found[b.name], f.ID+" "+f.Package.Name)
				if f.Reachability == nil {
					t.Errorf("%s on %s: no reachability", f.ID, f.Package.Name)
					continue
				}
				states[f.Reachability.State]++
				// Records naming no packages: unknown, as before.
				imps, ok := records[f.ID]
				if !ok || len(imps) == 0 {
					if f.Reachability.State != match.ReachUnknown && len(f.Vulnerabilities) == 1 {
						t.Errorf("%s names no packages: reachability %+v, want unknown", f.ID, f.Reachability)
					}
					continue
				}
				// Records naming only packages the program does not build.
				if !slices.ContainsFunc(keys(imps), func(p string) bool { return deps[b.program][p] }) && len(f.Vulnerabilities) == 1 {
					if f.Reachability.State != match.ReachNotLinked {
						t.Errorf("%s names %v, none built into %s: reachability %+v, want not linked", f.ID, keys(imps), b.program, f.Reachability)
					}
				}
			}
			for _, c := range []struct{ id, module, path, symbol string }{
				{xnetRecord, "golang.org/x/net", xnetPath, xnetSymbol},
				{stdRecord, "stdlib", stdPath, stdSymbol},
			} {
				f := byID[c.id]
				if f == nil {
					t.Fatalf("%s: no finding on %s (never hidden)", c.id, c.module)
				}
				r := f.Reachability
				switch {
				case r == nil:
					t.Errorf("%s: no reachability", c.id)
				case calls && (r.State != match.ReachLinked || !slices.Contains(r.Symbols, c.path+"."+c.symbol)):
					t.Errorf("%s: %+v, want linked with %s.%s", c.id, r, c.path, c.symbol)
				case !calls && r.State != match.ReachNotLinked:
					t.Errorf("%s: %+v, want not linked", c.id, r)
				case !calls && !f.NotLinked():
					t.Errorf("%s: NotLinked() false for a finding not linked", c.id)
				}
				t.Logf("%s on %s: %s: %s", c.id, c.module, r.State, r.Reason)
			}
		})
	}
	// Never hidden: the programs use the same module versions, so they
	// have the same findings.
	if !slices.Equal(sorted(found["calls"]), sorted(found["nocall"])) || !slices.Equal(sorted(found["calls"]), sorted(found["calls-stripped"])) ||
		!slices.Equal(sorted(found["nocall"]), sorted(found["nocall-stripped"])) {
		t.Errorf("findings differ between the binaries:\n%v", found)
	}
}

func keys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

type reachBinary struct{ name, program, path string }

// buildReachPrograms builds the programs (plain and stripped) and lists
// the packages each builds (`go list -deps`).
func buildReachPrograms(t *testing.T) ([]reachBinary, map[string]map[string]bool) {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			testutil.NeedComponent(t, "go toolchain", "install Go to build the test programs")
		}
	}
	dir := t.TempDir()
	files := map[string]string{"go.mod": "module example.com/reach\n\ngo 1.21\n\nrequire golang.org/x/net " + xnetVersion + "\n"}
	for name, src := range reachPrograms {
		files[filepath.Join(name, "main.go")] = src
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Modules come from the Go module proxy into the usual module cache.
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off", "CGO_ENABLED=0")
	run := func(args ...string) []byte {
		cmd := exec.Command(goBin, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			msg := ""
			if errors.As(err, &ee) {
				msg = string(ee.Stderr)
			}
			if strings.Contains(msg, "dial tcp") || strings.Contains(msg, "lookup ") {
				testutil.NeedComponent(t, "Go module proxy", "golang.org/x/net "+xnetVersion+" could not be downloaded: "+msg)
			}
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
		}
		return out
	}
	var bins []reachBinary
	deps := map[string]map[string]bool{}
	for name := range reachPrograms {
		for _, v := range []struct{ suffix, flags string }{{"", ""}, {"-stripped", "-ldflags=-s -w"}} {
			exe := filepath.Join(dir, "bin", name+v.suffix)
			args := []string{"build", "-o", exe}
			if v.flags != "" {
				args = append(args, v.flags)
			}
			run(append(args, "./"+name)...)
			bins = append(bins, reachBinary{name + v.suffix, name, exe})
		}
		deps[name] = map[string]bool{}
		for _, p := range strings.Fields(string(run("list", "-deps", "./"+name))) {
			deps[name][p] = true
		}
	}
	slices.SortFunc(bins, func(a, b reachBinary) int { return strings.Compare(a.name, b.name) })
	return bins, deps
}

// readGoRecords reads, straight from the archive, each record's
// vulnerable packages and symbols (affected[].ecosystem_specific.imports).
func readGoRecords(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]map[string][]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			ID       string `json:"id"`
			Affected []struct {
				EcosystemSpecific struct {
					Imports []struct {
						Path    string   `json:"path"`
						Symbols []string `json:"symbols"`
					} `json:"imports"`
				} `json:"ecosystem_specific"`
			} `json:"affected"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		imps := map[string][]string{}
		for _, a := range rec.Affected {
			for _, imp := range a.EcosystemSpecific.Imports {
				imps[imp.Path] = append(imps[imp.Path], imp.Symbols...)
			}
		}
		out[rec.ID] = imps
	}
	return out
}

var (
	goDBOnce sync.Once
	goDBVal  *vulndb.DB
	goDBErr  error
)

// goDB imports the Go database into a store once per test binary: the
// digests matching reads must keep the records' imports.
func goDB(t *testing.T, dir string) *vulndb.DB {
	t.Helper()
	goDBOnce.Do(func() {
		tmp, err := os.MkdirTemp("", "credence-reach-")
		if err != nil {
			goDBErr = err
			return
		}
		p := filepath.Join(tmp, "vuln.db")
		ins, err := vulndb.Inputs(dir)
		if err == nil {
			_, err = vulndb.Import(context.Background(), p, ins)
		}
		if err == nil {
			goDBVal, err = vulndb.Open(p)
		}
		goDBErr = err
	})
	if goDBErr != nil {
		t.Fatal(goDBErr)
	}
	return goDBVal
}
