package gobinary_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/gobinary"
)

func TestFileRequired(t *testing.T) {
	extractortest.FileRequiredInfo(t, gobinary.New(), map[inventory.FileInfo]bool{
		{Path: "usr/bin/x", Mode: 0o755, Size: 2 << 20}:                  true,  // executable
		{Path: "usr/bin/x", Mode: 0o700, Size: 2 << 20}:                  true,  // owner-executable only
		{Path: "usr/bin/x", Mode: 0o644, Size: 2 << 20}:                  false, // not executable
		{Path: "usr/bin/x", Mode: fs.ModeSymlink | 0o777, Size: 2 << 20}: false, // symlink
		{Path: "usr/bin/x", Mode: fs.ModeDir | 0o755, Size: 4096}:        false, // directory
		{Path: "usr/bin/x", Mode: 0o755, Size: 63}:                       false, // too small for a header
		{Path: "usr/bin/x", Mode: 0o755, Size: 512 << 20}:                true,  // 512 MiB
		{Path: "usr/bin/x", Mode: 0o755, Size: 512<<20 + 1}:              false, // over 512 MiB
	})
}

// TestExtract builds real Go binaries with the local toolchain (no
// network: dependencies come from a module proxy directory written by the
// test) and compares what the extractor finds with what `go version -m`
// prints for the same file, read both as a stream and with random access.
func TestExtract(t *testing.T) {
	bins := buildBinaries(t)
	for _, b := range bins {
		t.Run(b.name, func(t *testing.T) {
			want := goVersionM(t, b.path)
			data, err := os.ReadFile(b.path)
			if err != nil {
				t.Fatal(err)
			}
			for _, mode := range []string{"stream", "random"} {
				res, err := extract(t, data, mode == "random")
				if err != nil {
					t.Fatalf("%s: %v", mode, err)
				}
				if diff := cmp.Diff(want, res.Packages, cmpopts.SortSlices(less), ignoreLinked); diff != "" {
					t.Errorf("%s: packages (-go version -m +got):\n%s", mode, diff)
				}
				// What is linked is TestLinked's; here: known for every
				// ELF binary, and unknown, with the reason, for the others.
				for _, p := range res.Packages {
					switch {
					case p.Linked == nil:
						t.Errorf("%s: %s: Linked is nil", mode, p.Name)
					case b.elf && p.Linked.Unknown != "":
						t.Errorf("%s: %s: linked unknown: %s", mode, p.Name, p.Linked.Unknown)
					case !b.elf && p.Linked.Unknown == "":
						t.Errorf("%s: %s (not ELF): linked %v, want unknown", mode, p.Name, p.Linked.Packages)
					}
				}
				if len(res.Warnings) != 0 {
					t.Errorf("%s: warnings %q", mode, res.Warnings)
				}
			}
		})
	}
}

// TestExtractNotGo: executables that are not Go give nothing, and no error.
func TestExtractNotGo(t *testing.T) {
	tests := map[string][]byte{
		"shell script": []byte("#!/bin/sh\necho hello\n" + strings.Repeat("#", 100)),
		"empty ELF":    append([]byte("\x7fELF"), make([]byte, 100)...),
		"magic unaligned and in a string": append(append([]byte("\x7fELF"), make([]byte, 100)...),
			[]byte("\xff Go buildinf:\x08\x02"+strings.Repeat("\x00", 20))...),
	}
	if b, err := os.ReadFile("/bin/sh"); err == nil { // dash or bash: C
		tests["/bin/sh"] = b
	}
	for name, data := range tests {
		for _, random := range []bool{false, true} {
			res, err := extract(t, data, random)
			if err != nil || len(res.Packages) != 0 {
				t.Errorf("%s (random %v): %d packages, error %v; want none", name, random, len(res.Packages), err)
			}
		}
	}
}

// TestExtractNoBuildInfo: a file with the Go build ID note but no build
// info (a Go binary older than go1.13) gives a warning, not silence.
func TestExtractNoBuildInfo(t *testing.T) {
	data := append([]byte("\x7fELF"), make([]byte, 124)...)
	data = append(data, "\x04\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00Go\x00\x00"...)
	data = append(data, make([]byte, 4096)...)
	for _, random := range []bool{false, true} {
		res, err := extract(t, data, random)
		if err != nil || len(res.Packages) != 0 || len(res.Warnings) != 1 {
			t.Errorf("random %v: %v, %q, %v; want one warning", random, res.Packages, res.Warnings, err)
		}
	}
}

// TestExtractOldFormat: a pre-1.18 build info (addresses, not strings)
// cannot be read from a stream; the error says so instead of reporting
// nothing (unknown is not safe).
func TestExtractOldFormat(t *testing.T) {
	data := append([]byte("\x7fELF"), make([]byte, 124)...)
	data = append(data, "\xff Go buildinf:\x08\x00"...)
	data = append(data, make([]byte, 64)...)
	_, err := extract(t, data, false)
	if !errors.Is(err, gobinary.ErrOldFormat) {
		t.Errorf("stream: error %v, want ErrOldFormat", err)
	}
	if _, err := extract(t, data, true); err == nil {
		t.Errorf("random access on a broken ELF: no error")
	}
}

// TestExtractTruncated: a binary cut inside its module info is an error.
func TestExtractTruncated(t *testing.T) {
	bins := buildBinaries(t)
	data, err := os.ReadFile(bins[0].path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(data, []byte("\ndep\t")) // the copy in the build info blob, after the one runtime.modinfo keeps
	if i < 0 {
		t.Fatal("no dep line in the binary")
	}
	for _, random := range []bool{false, true} {
		if res, err := extract(t, data[:i], random); err == nil {
			t.Errorf("random %v: %d packages and no error", random, len(res.Packages))
		}
	}
}

func TestSemverFromGo(t *testing.T) {
	tests := map[string]string{
		"go1.21.3":                   "v1.21.3",
		"go1.26.8":                   "v1.26.8",
		"go1.20":                     "v1.20.0",
		"go1.21rc2":                  "v1.21.0-rc.2",
		"go1.9beta1":                 "v1.9.0-beta.1",
		"go1.21.3 X:boringcrypto":    "v1.21.3",
		"devel go1.22-abc Tue Jan 1": "",
		"go1":                        "",
		"go1.01.2":                   "",
		"go1.21.x":                   "",
		"1.21.3":                     "",
		"go1.21rc":                   "",
		"go1.2.3.4":                  "",
	}
	for in, want := range tests {
		if got := gobinary.SemverFromGo(in); got != want {
			t.Errorf("SemverFromGo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFixtureApp scans the fixture image with this extractor alone: the
// only Go binary left is usr/local/bin/goapp (gotool is whited out), and
// its modules are those EXPECTED/go-binaries.txt lists (go version -m at
// build time).
func TestFixtureApp(t *testing.T) {
	want := expectedGoBinaries(t, extractortest.Expected(t, "go-binaries.txt"))
	if len(want) < 2 {
		t.Fatalf("go-binaries.txt lists %d modules", len(want))
	}
	inv := extractortest.ScanFixture(t, extractortest.FixtureRefs(t)[0], gobinary.New()) // the OCI layout
	if inv.Status.State != inventory.Succeeded {
		t.Errorf("status %+v", inv.Status)
	}
	var got []string
	for _, p := range inv.Packages {
		got = append(got, strings.Join(append([]string{p.Name, p.Version, p.Ecosystem, p.PURL}, p.Locations...), " "))
		if p.Layer == nil || p.Layer.Index != 1 {
			t.Errorf("%s: layer %+v, want 1 (the app layer)", p, p.Layer)
		}
	}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("Go packages (-EXPECTED/go-binaries.txt +got):\n%s", diff)
	}
}

// expectedGoBinaries turns the lines of go-binaries.txt (`go version -m`
// per binary) into "name version ecosystem purl location" lines.
func expectedGoBinaries(t *testing.T, lines []string) []string {
	t.Helper()
	var out []string
	loc := ""
	for _, line := range lines {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "#":
			loc = strings.TrimPrefix(f[1], "/")
		case len(f) == 2 && strings.HasSuffix(f[0], ":"):
			v := gobinary.SemverFromGo(f[1])
			out = append(out, "stdlib "+v+" Go pkg:golang/stdlib@"+v+" "+loc)
		case len(f) >= 3 && (f[0] == "mod" || f[0] == "dep"):
			ns, name := f[1][:strings.LastIndex(f[1], "/")], f[1][strings.LastIndex(f[1], "/")+1:]
			purl := "pkg:golang/" + ns + "/" + name + "@" + strings.ReplaceAll(strings.ReplaceAll(f[2], "(", "%28"), ")", "%29")
			out = append(out, f[1]+" "+f[2]+" Go "+purl+" "+loc)
		case len(f) >= 2 && f[0] == "=>":
			t.Fatal("go-binaries.txt: replacements are not handled by this test")
		}
	}
	return out
}

func BenchmarkExtract(b *testing.B) {
	bins := buildBinaries(b)
	data, err := os.ReadFile(bins[0].path)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"stream", "random"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := extract(b, data, mode == "random"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	if sh, err := os.ReadFile("/bin/sh"); err == nil {
		b.Run("not-go", func(b *testing.B) {
			b.SetBytes(int64(len(sh)))
			for b.Loop() {
				if _, err := extract(b, sh, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func extract(t testing.TB, data []byte, random bool) (inventory.Result, error) {
	t.Helper()
	return extractortest.ExtractExecutable(t, gobinary.New(), "usr/bin/x", data, random)
}

func less(a, b *inventory.Package) bool { return a.Name+" "+a.Version < b.Name+" "+b.Version }

// ignoreLinked leaves Linked (what the function table says, which `go
// version -m` does not) out of comparisons with build info.
var ignoreLinked = cmpopts.IgnoreFields(inventory.Package{}, "Linked")

// goVersionM runs `go version -m` on path and turns its lines into the
// packages the extractor should report.
func goVersionM(t *testing.T, path string) []*inventory.Package {
	t.Helper()
	out, err := exec.Command(goTool(t), "version", "-m", path).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", path, err)
	}
	var pkgs []*inventory.Package
	var goVersion, main string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(strings.TrimPrefix(sc.Text(), "\t"), "\t")
		switch {
		case len(f) == 1 && strings.HasPrefix(f[0], path+": "):
			goVersion = strings.TrimPrefix(f[0], path+": ")
		case f[0] == "path":
			main = f[1]
		case f[0] == "mod" || f[0] == "dep":
			md := &gobinary.Metadata{GoVersion: goVersion, MainModule: main}
			if len(f) > 3 {
				md.Sum = f[3]
			}
			pkgs = append(pkgs, &inventory.Package{Name: f[1], Version: f[2], Type: "golang", Metadata: md})
		case f[0] == "=>":
			p := pkgs[len(pkgs)-1]
			md := p.Metadata.(*gobinary.Metadata)
			md.Replaces = p.Name + "@" + p.Version
			md.Sum = ""
			if len(f) > 3 {
				md.Sum = f[3]
			}
			if len(f) > 2 && f[2] != "" {
				p.Name, p.Version = f[1], f[2]
			} else {
				md.Replaces += " => " + f[1]
				p.Version = ""
			}
		}
	}
	for _, p := range pkgs { // the main module and the dependencies share one MainModule
		p.Metadata.(*gobinary.Metadata).MainModule = main
	}
	pkgs = append(pkgs, &inventory.Package{Name: "stdlib", Version: gobinary.SemverFromGo(goVersion), Type: "golang",
		Metadata: &gobinary.Metadata{GoVersion: goVersion, MainModule: main}})
	return pkgs
}

func goTool(t testing.TB) string {
	t.Helper()
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		if p, err = exec.LookPath("go"); err != nil {
			testutil.NeedComponent(t, "go toolchain", "install Go to build the test binaries")
		}
	}
	return p
}

type binaryCase struct {
	name, path string
	elf        bool
}

// buildBinaries builds, once per test binary run, small programs into a
// temporary directory: one with dependencies from a file:// module proxy
// (a plain requirement, a replacement by another module, a replacement by
// a local directory), built stripped and with -trimpath; one that imports
// debug/buildinfo (so the magic string is also in its rodata); and one
// with only the standard library, for linux, windows (PE) and darwin
// (Mach-O).
func buildBinaries(t testing.TB) []binaryCase {
	t.Helper()
	buildOnce.Do(func() { builtBins, buildErr = build(t) })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBins
}

var (
	buildOnce = new(onceT)
	builtBins []binaryCase
	buildErr  error
)

type onceT struct{ done bool }

func (o *onceT) Do(f func()) {
	if !o.done {
		o.done = true
		f()
	}
}

var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gobinary-test-")
	if err != nil {
		panic(err)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func build(t testing.TB) ([]binaryCase, error) {
	goBin := goTool(t)
	dir := buildDir
	proxy := filepath.Join(dir, "proxy")
	for _, m := range []struct{ path, version, src string }{
		{"example.com/greet", "v1.0.0", "package greet\n\nfunc Hello() string { return \"hello\" }\n"},
		{"example.com/old", "v1.0.0", "package old\n\nfunc Name() string { return \"old\" }\n"},
		{"example.com/new", "v1.1.0", "package old\n\nfunc Name() string { return \"new\" }\n"},
	} {
		if err := writeModule(proxy, m.path, m.version, m.src); err != nil {
			return nil, err
		}
	}
	files := map[string]string{
		"app/go.mod": `module example.com/app

go 1.21

require (
	example.com/greet v1.0.0
	example.com/local v0.0.0
	example.com/old v1.0.0
)

replace example.com/old v1.0.0 => example.com/new v1.1.0

replace example.com/local => ./local
`,
		"app/main.go": `package main

import (
	"fmt"

	"example.com/greet"
	"example.com/local"
	"example.com/old"
)

func main() { fmt.Println(greet.Hello(), old.Name(), local.Name()) }
`,
		"app/local/go.mod":   "module example.com/local\n\ngo 1.21\n",
		"app/local/local.go": "package local\n\nfunc Name() string { return \"local\" }\n",
		"reader/go.mod":      "module example.com/reader\n\ngo 1.21\n",
		"reader/main.go": `package main

import (
	"debug/buildinfo"
	"fmt"
	"os"
)

func main() { fmt.Println(buildinfo.ReadFile(os.Args[0])) }
`,
		"std/go.mod":  "module example.com/std\n\ngo 1.21\n",
		"std/main.go": "package main\n\nfunc main() { println(\"hi\") }\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	env := append(os.Environ(), "GOPROXY=file://"+filepath.ToSlash(proxy), "GOSUMDB=off", "GOFLAGS=-mod=mod -modcacherw",
		"GOMODCACHE="+filepath.Join(dir, "modcache"), "GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOWORK=off")
	var out []binaryCase
	for _, b := range []struct {
		name, src string
		env       []string
		flags     []string
	}{
		{name: "deps", src: "app"},
		{name: "deps-stripped-trimpath", src: "app", flags: []string{"-trimpath", "-ldflags=-s -w"}},
		{name: "reads-buildinfo", src: "reader"},
		{name: "stdlib-only", src: "std"},
		{name: "windows-pe", src: "std", env: []string{"GOOS=windows", "GOARCH=amd64"}},
		{name: "darwin-macho", src: "std", env: []string{"GOOS=darwin", "GOARCH=arm64"}},
	} {
		exe := filepath.Join(dir, "bin", b.name)
		args := append(append([]string{"build", "-o", exe}, b.flags...), ".")
		cmd := exec.Command(goBin, args...)
		cmd.Dir = filepath.Join(dir, b.src)
		cmd.Env = append(env, b.env...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, errors.New("go build " + b.name + ": " + err.Error() + "\n" + string(msg))
		}
		out = append(out, binaryCase{b.name, exe, b.env == nil})
	}
	return out, nil
}

// writeModule lays out one module version the way a GOPROXY serves it
// (https://go.dev/ref/mod#goproxy-protocol): list, .info, .mod and .zip.
func writeModule(proxy, path, version, src string) error {
	return writeModuleFiles(proxy, path, version, map[string]string{"lib.go": src})
}

// writeModuleFiles lays out a module version with the given source files
// (paths inside the module).
func writeModuleFiles(proxy, path, version string, files map[string]string) error {
	d := filepath.Join(proxy, path, "@v")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	gomod := "module " + path + "\n\ngo 1.21\n"
	if err := os.WriteFile(filepath.Join(d, "list"), []byte(version+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d, version+".info"), []byte(`{"Version":"`+version+`","Time":"2024-01-01T00:00:00Z"}`), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d, version+".mod"), []byte(gomod), 0o644); err != nil {
		return err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files["go.mod"] = gomod
	for name, content := range files {
		w, err := zw.Create(path + "@" + version + "/" + name)
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte(content)); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d, version+".zip"), buf.Bytes(), 0o644)
}

// oldELF lays out a Go 1.13-1.17 style binary: two PT_LOAD segments, the
// writable one starting with the build info header, whose two pointers
// lead to string headers {data, len} that point into the read-only one
// (cmd/link before go1.18; what debug/buildinfo still reads).
func oldELF(version, modinfo string) []byte {
	le := binary.LittleEndian
	const (
		roOff, roAddr = 0x1000, 0x401000
		rwOff, rwAddr = 0x2000, 0x402000
	)
	b := make([]byte, 0x3000)
	copy(b, "\x7fELF\x02\x01\x01")
	le.PutUint16(b[16:], 2)
	le.PutUint16(b[18:], 62)
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[32:], 64) // e_phoff
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[54:], 56) // e_phentsize
	le.PutUint16(b[56:], 2)  // e_phnum
	le.PutUint16(b[58:], 64)
	prog := func(i int, flags uint32, off, addr uint64) {
		p := b[64+56*i:]
		le.PutUint32(p, 1) // PT_LOAD
		le.PutUint32(p[4:], flags)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], addr)
		le.PutUint64(p[24:], addr)
		le.PutUint64(p[32:], 0x1000)
		le.PutUint64(p[40:], 0x1000)
		le.PutUint64(p[48:], 0x1000)
	}
	// The Go build ID note (namesz 4, descsz 0, type 4, "Go").
	copy(b[0x200:], "\x04\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00Go\x00\x00")
	prog(0, 4, roOff, roAddr) // R
	prog(1, 6, rwOff, rwAddr) // RW
	mod := "0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6" + modinfo + "\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
	copy(b[roOff:], version)
	copy(b[roOff+0x100:], mod)
	rw := b[rwOff:]
	copy(rw, "\xff Go buildinf:\x08\x00")
	le.PutUint64(rw[16:], rwAddr+0x20)
	le.PutUint64(rw[24:], rwAddr+0x30)
	le.PutUint64(rw[0x20:], roAddr)
	le.PutUint64(rw[0x28:], uint64(len(version)))
	le.PutUint64(rw[0x30:], roAddr+0x100)
	le.PutUint64(rw[0x38:], uint64(len(mod)))
	return b
}

// TestExtractOldFormatRandomAccess: a pre-1.18 build info is read through
// debug/buildinfo with random access, and through the strings remembered
// on the way when streamed; both must agree with what was written.
func TestExtractOldFormatRandomAccess(t *testing.T) {
	data := oldELF("go1.16.15", "path\texample.com/old\nmod\texample.com/old\tv1.0.0\t\ndep\tgolang.org/x/text\tv0.3.5\th1:x=\n")
	res, err := extract(t, data, true)
	if err != nil {
		t.Fatal(err)
	}
	md := func(sum string) *gobinary.Metadata {
		return &gobinary.Metadata{GoVersion: "go1.16.15", MainModule: "example.com/old", Sum: sum}
	}
	want := []*inventory.Package{
		{Name: "example.com/old", Version: "v1.0.0", Type: "golang", Metadata: md("")},
		{Name: "golang.org/x/text", Version: "v0.3.5", Type: "golang", Metadata: md("h1:x=")},
		{Name: "stdlib", Version: "v1.16.15", Type: "golang", Metadata: md("")},
	}
	if diff := cmp.Diff(want, res.Packages, ignoreLinked); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Streamed, the ELF program headers lead back to the remembered strings.
	streamed, err := extract(t, data, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, streamed.Packages, ignoreLinked); diff != "" {
		t.Errorf("stream (-want +got):\n%s", diff)
	}
	// Pointers that lead to no remembered string: ErrOldFormat, not nothing.
	binary.LittleEndian.PutUint64(data[0x2000+0x20:], 0x401010)
	if _, err := extract(t, data, false); !errors.Is(err, gobinary.ErrOldFormat) {
		t.Errorf("stream, broken pointer: error %v, want ErrOldFormat", err)
	}
}

// BenchmarkExtractFile reads the executable $CREDENCE_BENCH_GOBINARY (a
// large Go binary such as kube-apiserver), streamed and with random access:
//
//	CREDENCE_BENCH_GOBINARY=$CREDENCE_CACHE/kube-v1.37.2/bin/kube-apiserver go test -run '^$' -bench ExtractFile ./inventory/gobinary
func BenchmarkExtractFile(b *testing.B) {
	path := os.Getenv("CREDENCE_BENCH_GOBINARY")
	if path == "" {
		b.Skip("set CREDENCE_BENCH_GOBINARY to a Go executable")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"stream", "random"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := extract(b, data, mode == "random"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
