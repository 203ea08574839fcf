package gobinary_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/inventory/gobinary"
)

// TestSplitFuncName: linker symbol names, as cmd/compile and cmd/link
// write them (see the binaries TestLinked builds), and the package path
// and symbol the Go vulnerability database would write for each.
func TestSplitFuncName(t *testing.T) {
	for name, want := range map[string][2]string{
		"golang.org/x/net/http2.(*Framer).ReadFrame":                           {"golang.org/x/net/http2", "Framer.ReadFrame"},
		"golang.org/x/net/http2.ConfigureServer":                               {"golang.org/x/net/http2", "ConfigureServer"},
		"golang.org/x/net/http2.ConfigureServer.func1":                         {"golang.org/x/net/http2", "ConfigureServer"},
		"net/http.(*conn).serve.func1.2":                                       {"net/http", "conn.serve"},
		"net/http.(*Server).Serve.deferwrap1":                                  {"net/http", "Server.Serve"},
		"net/http.(*Server).Serve.gowrap2":                                     {"net/http", "Server.Serve"},
		"mime.WordDecoder.DecodeHeader":                                        {"mime", "WordDecoder.DecodeHeader"},
		"slices.Sort[go.shape.[]int,go.shape.int]":                             {"slices", "Sort"},
		"example.com/l.(*List[go.shape.struct { a/b.X int }]).Push":            {"example.com/l", "List.Push"},
		"example.com/l.Map[go.shape.int,go.shape.string].func1":                {"example.com/l", "Map"},
		"example.com/l.T.M-fm":                                                 {"example.com/l", "T.M"},
		"example.com/l.F-range1":                                               {"example.com/l", "F"},
		"gopkg.in/yaml%2ev3.Unmarshal":                                         {"gopkg.in/yaml.v3", "Unmarshal"},
		"gopkg.in/yaml%2ev3.(*parser).parse":                                   {"gopkg.in/yaml.v3", "parser.parse"},
		"main.main":                                                            {"main", "main"},
		"os.init.0":                                                            {"os", "init"},
		"crypto/x509.policiesValid.(*policyGraph).parentsWithExpected.func1":   {"crypto/x509", "policiesValid"},
		"vendor/golang.org/x/net/http2/hpack.(*Decoder).Write":                 {"vendor/golang.org/x/net/http2/hpack", "Decoder.Write"},
		"internal/poll.init.OnceValue[go.shape.bool].func4":                    {"internal/poll", "init.OnceValue"},
		"k8s.io/apiserver/pkg/server.(*GenericAPIServer).PrepareRun.func1.1.2": {"k8s.io/apiserver/pkg/server", "GenericAPIServer.PrepareRun"},
		"example.com/l.glob..func1":                                            {"example.com/l", "glob"},
	} {
		pkg, sym, ok := gobinary.SplitFuncName(name)
		if !ok || pkg != want[0] || sym != want[1] {
			t.Errorf("SplitFuncName(%q) = %q, %q, %v; want %q, %q", name, pkg, sym, ok, want[0], want[1])
		}
	}
	for _, name := range []string{"go:buildid", "type:.eq.[8]internal/cpu.option", "go.buildid", "type..eq.T", "", "noDot", "a/b", "x.(*)"} {
		if pkg, sym, ok := gobinary.SplitFuncName(name); ok {
			t.Errorf("SplitFuncName(%q) = %q, %q; want none", name, pkg, sym)
		}
	}
}

// TestCaptureReadSizes: the name table kept while streaming a real binary
// does not depend on how the stream is cut into reads, with the section
// headers or by searching; and every function debug/gosym finds through
// the function index (an independent route through the same table) is
// in it.
func TestCaptureReadSizes(t *testing.T) {
	for _, b := range buildBinaries(t)[:4] { // the ELF ones
		t.Run(b.name, func(t *testing.T) {
			data, err := os.ReadFile(b.path)
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			for _, search := range []bool{false, true} {
				for _, size := range []int{1 << 20, 32 << 10, 4093, 7, 1} {
					if size < 4093 && len(data) > 4<<20 {
						continue
					}
					names, unknown, err := gobinary.CaptureNames(data, size, search)
					if err != nil || unknown != "" {
						t.Fatalf("search %v, reads of %d: %v %s", search, size, err, unknown)
					}
					if want == nil {
						want = names
					} else if !bytes.Equal(names, want) {
						t.Errorf("search %v, reads of %d: %d bytes of names, want %d", search, size, len(names), len(want))
					}
				}
			}
			have := map[string]bool{}
			for _, n := range bytes.Split(want, []byte{0}) {
				have[string(n)] = true
			}
			for name := range gosymNames(t, b.path) {
				if !have[name] {
					t.Errorf("debug/gosym names %q; the name table does not", name)
				}
			}
		})
	}
}

// pclnBlob lays out a Go 1.20 function table header (64-bit) followed by
// a name table, as cmd/link does: header, funcnametab, then cutab,
// filetab, pctab and the function index (zeros here).
func pclnBlob(order binary.ByteOrder, nfunc uint64, names ...string) []byte {
	tab := []byte(strings.Join(names, "\x00") + "\x00")
	b := make([]byte, 72)
	order.PutUint32(b, 0xfffffff1)
	b[6], b[7] = 1, 8
	fn := uint64(72)
	cu := fn + uint64(len(tab))
	pcln := cu + 16
	for i, w := range []uint64{nfunc, 1, 0, fn, cu, cu + 8, cu + 8, pcln} {
		order.PutUint64(b[8+8*i:], w)
	}
	b = append(b, tab...)
	b = append(b, make([]byte, 16)...)
	return append(b, make([]byte, (2*nfunc+1)*4)...)
}

func TestCaptureRaw(t *testing.T) {
	blob := pclnBlob(binary.LittleEndian, 2, "main.main", "example.com/m.(*T).M.func1")
	for _, search := range []bool{false, true} {
		for _, size := range []int{1, 5, 100} {
			data := blob
			if search { // somewhere 4-byte aligned in a segment
				data = append(bytes.Repeat([]byte{0xff}, 20), blob...)
			}
			names, unknown, err := gobinary.CaptureRaw(data, size, search, false)
			if err != nil || unknown != "" {
				t.Fatalf("search %v, reads of %d: %v %s", search, size, err, unknown)
			}
			got := gobinary.ReadNames(names)
			if diff := cmp.Diff(map[string][]string{"main": {"main"}, "example.com/m": {"T.M"}}, got); diff != "" {
				t.Errorf("search %v, reads of %d (-want +got):\n%s", search, size, diff)
			}
		}
	}
	// Searching, a header whose names turn out malformed, and a Go 1.2
	// header (easily matched by chance), do not hide the table after them.
	decoy := pclnBlob(binary.LittleEndian, 2, "ab.c") // 2 functions, 1 name
	old := make([]byte, 24)
	binary.LittleEndian.PutUint32(old, 0xfffffffb)
	old[6], old[7], old[8] = 1, 8, 1
	pad := func(b []byte) []byte { return append(b, make([]byte, (8-len(b)%8)%8)...) }
	data := append(pad(append(pad(slices.Clone(decoy)), old...)), blob...)
	names, unknown, err := gobinary.CaptureRaw(data, 3, true, false)
	if err != nil || unknown != "" || !bytes.HasPrefix(names, []byte("main.main\x00")) {
		t.Errorf("after decoys: names %q, unknown %q, error %v", names, unknown, err)
	}

	// Hostile headers: unknown, with a reason, never a table.
	huge := slices.Clone(blob)
	binary.LittleEndian.PutUint64(huge[8:], 1<<40)                                                 // nfunc
	twoTables := append(append(slices.Clone(blob), make([]byte, 8+(8-len(blob)%8)%8)...), blob...) // the second 8-byte aligned
	tooBig := pclnBlob(binary.LittleEndian, 1, "a.b")
	binary.LittleEndian.PutUint64(tooBig[8+4*8:], 72+gobinary.MaxFuncNames+1) // cuOffset
	truncated := blob[:80]
	noNUL := slices.Clone(blob)
	noNUL[72+len("main.main")] = 'x' // names table: the last name runs on
	for name, c := range map[string]struct {
		data   []byte
		search bool
	}{
		"huge nfunc":             {huge, false},
		"two tables, searching":  {twoTables, true},
		"names over the limit":   {tooBig, false},
		"truncated":              {truncated, false},
		"fewer names than nfunc": {pclnBlob(binary.LittleEndian, 5, "a.b"), false},
		"names run together":     {noNUL, false},
	} {
		names, unknown, err := gobinary.CaptureRaw(c.data, 64, c.search, false)
		if err != nil || names != nil || unknown == "" {
			t.Errorf("%s: names %q, unknown %q, error %v; want unknown", name, names, unknown, err)
		}
	}
}

// FuzzCapture feeds hostile tables, cut into reads of any size, streamed
// or searched: no panic, no more memory than the bytes given (the name
// table is a part of them), and names the reader can split.
func FuzzCapture(f *testing.F) {
	f.Add(pclnBlob(binary.LittleEndian, 2, "main.main", "a/b.(*T).M"), 7, false, false)
	f.Add(pclnBlob(binary.BigEndian, 1, "main.main"), 3, true, true)
	f.Add(append(make([]byte, 12), pclnBlob(binary.LittleEndian, 1, "x.F[go.shape.[]int]")...), 1, true, false)
	f.Add([]byte("\xf1\xff\xff\xff\x00\x00\x01\x08\xff\xff\xff\xff\xff\xff\xff\xff"), 2, false, false)
	f.Fuzz(func(t *testing.T, data []byte, size int, search, bigEndian bool) {
		if size <= 0 || size > 1<<16 {
			size = 1 + size&0xfff
		}
		names, unknown, err := gobinary.CaptureRaw(data, size, search, bigEndian)
		if err != nil {
			t.Fatal(err)
		}
		if names == nil && unknown == "" {
			t.Fatal("neither names nor a reason")
		}
		if names != nil && !bytes.Contains(data, names) {
			t.Fatal("names not taken from the data")
		}
		gobinary.ReadNames(names)
	})
}

// FuzzSplitFuncName: any name splits without panicking, into a package
// path and a symbol that are never empty.
func FuzzSplitFuncName(f *testing.F) {
	f.Add("golang.org/x/net/http2.(*Framer).ReadFrame")
	f.Add("a.(*[).]")
	f.Add("x%2.F[[[")
	f.Fuzz(func(t *testing.T, name string) {
		pkg, sym, ok := gobinary.SplitFuncName(name)
		if ok && (pkg == "" || sym == "") {
			t.Fatalf("%q: %q %q", name, pkg, sym)
		}
	})
}
