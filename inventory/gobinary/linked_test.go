package gobinary_test

import (
	"debug/elf"
	"debug/gosym"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
)

// The library of TestLinked: a function the program calls (Used), one it
// does not (Unused), a method on a pointer and one on a value, a closure,
// a generic function instantiated twice, a method value and a function
// the compiler inlines everywhere (Small). The package lives at
// example.com/vulnlib/sub, under the module path.
const vulnlib = `package sub

import "strings"

type Conn struct{ n int }

//go:noinline
func (c *Conn) Read(p []byte) int { c.n += len(p); return c.n }

//go:noinline
func (c Conn) String() string { return strings.Repeat("c", c.n) }

//go:noinline
func Used(s string) func() string {
	return func() string { return s + "!" } // Used.func1
}

//go:noinline
func Unused(s string) string { return s + "?" }

//go:noinline
func Generic[T any](x T) []T { return []T{x, x} }

func Small(x int) int { return x + 1 }

//go:noinline
func MethodValue(c *Conn) func([]byte) int { return c.Read } // (*Conn).Read-fm
`

const linkedMain = `package main

import (
	"fmt"
	"os"

	"example.com/vulnlib/sub"
	"example.com/replaced/lib"
)

func main() {
	c := &sub.Conn{}
	c.Read([]byte(os.Args[0]))
	f := sub.Used(os.Args[0])
	fmt.Println(f(), c.String(), sub.Generic(1), sub.Generic("x"), sub.Small(len(os.Args)), sub.MethodValue(c)(nil), lib.Name())
}
`

type linkedBinary struct {
	name, path string
	// elf is set for the binaries whose function table is read.
	elf bool
}

// buildLinked builds the program above against modules served from a
// file:// proxy, in the ways an image holds Go binaries: with the default
// (internal) linker, stripped (-s -w), with an external linker (cgo, the
// section headers at the end of the file) when gcc is there, and for
// Windows (not read: unknown). example.com/replaced is replaced by
// example.com/fork, whose lib package the binary links under the import
// path example.com/replaced/lib.
func buildLinked(t *testing.T) []linkedBinary {
	t.Helper()
	goBin := goTool(t)
	dir := t.TempDir()
	proxy := filepath.Join(dir, "proxy")
	for _, m := range []struct{ path, version, file, src string }{
		{"example.com/vulnlib", "v1.2.3", "sub/sub.go", vulnlib},
		{"example.com/replaced", "v1.0.0", "lib/lib.go", "package lib\n\nfunc Name() string { return \"replaced\" }\n"},
		{"example.com/fork", "v1.0.1", "lib/lib.go", "package lib\n\n//go:noinline\nfunc Name() string { return \"fork\" }\n"},
	} {
		if err := writeModuleFile(proxy, m.path, m.version, m.file, m.src); err != nil {
			t.Fatal(err)
		}
	}
	app := filepath.Join(dir, "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod := "module example.com/linked\n\ngo 1.21\n\nrequire (\n\texample.com/vulnlib v1.2.3\n\texample.com/replaced v1.0.0\n)\n\nreplace example.com/replaced v1.0.0 => example.com/fork v1.0.1\n"
	for name, content := range map[string]string{"go.mod": gomod, "main.go": linkedMain} {
		if err := os.WriteFile(filepath.Join(app, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "GOPROXY=file://"+filepath.ToSlash(proxy), "GOSUMDB=off", "GOFLAGS=-mod=mod -modcacherw",
		"GOMODCACHE="+filepath.Join(dir, "modcache"), "GOTOOLCHAIN=local", "GOWORK=off")
	cases := []struct {
		name  string
		env   []string
		flags []string
		elf   bool
	}{
		{name: "internal", env: []string{"CGO_ENABLED=0"}, elf: true},
		{name: "stripped", env: []string{"CGO_ENABLED=0"}, flags: []string{"-ldflags=-s -w"}, elf: true},
		{name: "windows", env: []string{"CGO_ENABLED=0", "GOOS=windows", "GOARCH=amd64"}},
	}
	if _, err := exec.LookPath("gcc"); err == nil {
		cases = append(cases, struct {
			name  string
			env   []string
			flags []string
			elf   bool
		}{name: "external-linker", env: []string{"CGO_ENABLED=1"}, flags: []string{"-ldflags=-linkmode=external"}, elf: true})
	} else {
		testutil.MissingPart(t, "gcc", "apt-get install gcc (the external linker case)")
	}
	var out []linkedBinary
	for _, c := range cases {
		exe := filepath.Join(dir, "bin", c.name)
		cmd := exec.Command(goBin, append(append([]string{"build", "-o", exe}, c.flags...), ".")...)
		cmd.Dir, cmd.Env = app, append(env, c.env...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", c.name, err, msg)
		}
		out = append(out, linkedBinary{c.name, exe, c.elf})
	}
	return out
}

// TestLinked: the functions a binary links, read from its function table
// streamed and with random access, are those of the program's source (the
// oracle): called functions are there under the names OSV uses, the one
// never called is not, and the replaced module's code is listed under the
// replacement's path. debug/gosym, reading the same table by its own
// route (the function index, not the name table), confirms what the
// linker kept in the unstripped binary.
func TestLinked(t *testing.T) {
	for _, b := range buildLinked(t) {
		t.Run(b.name, func(t *testing.T) {
			data, err := os.ReadFile(b.path)
			if err != nil {
				t.Fatal(err)
			}
			var first map[string]*inventory.GoLinked
			for _, random := range []bool{false, true} {
				res, err := extract(t, data, random)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]*inventory.GoLinked{}
				for _, p := range res.Packages {
					got[p.Name] = p.Linked
				}
				if !b.elf {
					for name, l := range got {
						if l == nil || l.Unknown == "" || len(l.Packages) > 0 {
							t.Errorf("random %v: %s: linked %+v, want unknown with a reason", random, name, l)
						}
					}
					continue
				}
				for name, l := range got {
					if l == nil || l.Unknown != "" {
						t.Fatalf("random %v: %s: linked %+v, want known", random, name, l)
					}
				}
				sub := got["example.com/vulnlib"].Packages["example.com/vulnlib/sub"]
				for _, want := range []string{"Conn.Read", "Conn.String", "Used", "Generic", "Small", "MethodValue"} {
					if _, ok := slices.BinarySearch(sub, want); !ok {
						t.Errorf("random %v: example.com/vulnlib/sub lacks %s: %v", random, want, sub)
					}
				}
				for _, not := range []string{"Unused", "Used.func1", "Conn.Read-fm"} {
					if slices.Contains(sub, not) {
						t.Errorf("random %v: example.com/vulnlib/sub has %s: %v", random, not, sub)
					}
				}
				if fork := got["example.com/fork"].Packages; !slices.Contains(fork["example.com/fork/lib"], "Name") || len(fork) != 1 {
					t.Errorf("random %v: the fork's functions %v, want example.com/fork/lib: [Name]", random, fork)
				}
				if main := got["example.com/linked"].Packages["main"]; !slices.Contains(main, "main") {
					t.Errorf("random %v: main package %v lacks main", random, main)
				}
				std := got["stdlib"].Packages
				for path, fn := range map[string]string{"fmt": "Println", "os": "init", "runtime": "main", "strings": "Repeat"} {
					if !slices.Contains(std[path], fn) {
						t.Errorf("random %v: stdlib %s lacks %s", random, path, fn)
					}
				}
				if first == nil {
					first = got
				} else if diff := cmp.Diff(first, got); diff != "" {
					t.Errorf("stream and random access differ (-stream +random):\n%s", diff)
				}
			}
			if b.name != "internal" {
				return
			}
			names := gosymNames(t, b.path)
			for _, want := range []string{"example.com/vulnlib/sub.(*Conn).Read", "example.com/vulnlib/sub.Used", "example.com/replaced/lib.Name"} {
				if !names[want] {
					t.Errorf("debug/gosym: %s is not in the binary", want)
				}
			}
			if names["example.com/vulnlib/sub.Unused"] {
				t.Error("debug/gosym: Unused is in the binary: the program's premise is wrong")
			}
		})
	}
}

// gosymNames lists the functions of an ELF binary's function index with
// the standard library's reader.
func gosymNames(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section(".gopclntab")
	if s == nil {
		t.Fatal("no .gopclntab")
	}
	data, err := s.Data()
	if err != nil {
		t.Fatal(err)
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, f.Section(".text").Addr))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, fn := range tab.Funcs {
		out[fn.Name] = true
	}
	return out
}

// writeModuleFile is writeModule with the source at a path inside the
// module.
func writeModuleFile(proxy, path, version, file, src string) error {
	return writeModuleFiles(proxy, path, version, map[string]string{file: src})
}

// TestLinkedUnknownTable: a Go binary whose function table header is
// damaged keeps its modules, with linked functions unknown (the reason
// given), never "nothing linked".
func TestLinkedUnknownTable(t *testing.T) {
	bins := buildBinaries(t)
	data, err := os.ReadFile(bins[0].path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(bins[0].path)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Section(".gopclntab")
	f.Close()
	if s == nil {
		t.Fatal("no .gopclntab")
	}
	damaged := slices.Clone(data)
	damaged[s.Offset+6] = 3 // minLC: 1, 2 or 4
	for _, random := range []bool{false, true} {
		res, err := extract(t, damaged, random)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Packages) == 0 {
			t.Fatal("no packages")
		}
		for _, p := range res.Packages {
			if p.Linked == nil || p.Linked.Unknown == "" || p.Linked.Packages != nil {
				t.Errorf("random %v: %s: %+v, want unknown", random, p.Name, p.Linked)
			}
		}
	}
	if !strings.Contains(string(data), "go1.") {
		t.Fatal(errors.New("not a Go binary"))
	}
}
