package gobinary

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The Go function table (pclntab, section .gopclntab in ELF files) starts
// with a header (runtime.pcHeader, internal/abi.PCLnTabMagic):
//
//	magic uint32 (Go 1.2-1.15 0xfffffffb, 1.16-1.17 0xfffffffa,
//	              1.18-1.19 0xfffffff0, 1.20 and later 0xfffffff1)
//	pad1, pad2 uint8 (0, 0)
//	minLC uint8 (1, 2 or 4), ptrSize uint8 (4 or 8)
//	then pointer-sized words: nfunc, nfiles, [textStart (1.18+)],
//	funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset
//
// The offsets count from the header. From Go 1.16 on, the bytes between
// funcnameOffset and cuOffset are the function name table: the
// NUL-terminated names of every function the linker kept and of every
// function inlined into them (cmd/link's generateFuncnametab walks the
// inline trees), the names the runtime prints in tracebacks. It survives
// -ldflags=-s -w, which drop the symbol table and DWARF only. Go 1.2-1.15
// tables keep the names elsewhere and without the inlined ones: they are
// not read (reachability unknown).
const (
	magic116 = 0xfffffffa
	magic118 = 0xfffffff0
	magic120 = 0xfffffff1
	magic12  = 0xfffffffb
)

// MaxFuncNames bounds the function name table read from one binary. The
// largest real ones are tens of MB short of it (kube-apiserver 1.37: 14 MB,
// 184,000 names); a binary whose table is larger gets reachability
// "unknown", never "not linked".
const MaxFuncNames = 64 << 20

// pclnHeaderMax is the longest header: 8 bytes and 8 words of 8 bytes.
const pclnHeaderMax = 8 + 8*8

// pclnHeader is a parsed, checked function table header.
type pclnHeader struct {
	goVersion string // "1.16", "1.18", "1.20": the first release of the format
	ptrSize   int
	nfunc     uint64
	// names are the bytes [names.from, names.to) from the header: the
	// function name table.
	namesFrom, namesTo uint64
	// functabEnd is where the function table's index ends, from the
	// header: the table is at least this long.
	functabEnd uint64
}

// errPclnOld marks a Go 1.2-1.15 table, recognised but not read.
var errPclnOld = errors.New("a function table of Go 1.2-1.15, whose names are not read: linked functions unknown")

// pclnHeaderLen returns how many bytes the header that b starts has (b
// holds at least 8 bytes), 0 when b does not start one.
func pclnHeaderLen(b []byte, order binary.ByteOrder) int {
	if len(b) < 8 || b[4] != 0 || b[5] != 0 || (b[6] != 1 && b[6] != 2 && b[6] != 4) || (b[7] != 4 && b[7] != 8) {
		return 0
	}
	ptr := int(b[7])
	switch order.Uint32(b) {
	case magic116:
		return 8 + 7*ptr
	case magic118, magic120:
		return 8 + 8*ptr
	case magic12:
		return 8 + ptr
	}
	return 0
}

// parsePclnHeader checks the header at the start of b (pclnHeaderLen
// bytes) against what the file says: the pointer size of the ELF class
// (0: any) and limit, the bytes from the header's start to the end of
// its section or segment. ok is false for bytes that are not a header;
// err is set for one that is, but cannot be read (too old, too large).
func parsePclnHeader(b []byte, order binary.ByteOrder, ptrSize int, limit uint64) (h pclnHeader, ok bool, err error) {
	n := pclnHeaderLen(b, order)
	if n == 0 || len(b) < n || (ptrSize != 0 && int(b[7]) != ptrSize) {
		return h, false, nil
	}
	h.ptrSize = int(b[7])
	word := func(i int) uint64 {
		if h.ptrSize == 4 {
			return uint64(order.Uint32(b[8+4*i:]))
		}
		return order.Uint64(b[8+8*i:])
	}
	var first int // index of funcnameOffset
	switch order.Uint32(b) {
	case magic12:
		h.nfunc = word(0)
		if h.nfunc == 0 || h.nfunc > limit {
			return h, false, nil
		}
		return h, true, errPclnOld
	case magic116:
		h.goVersion, first = "1.16", 2
	case magic118:
		h.goVersion, first = "1.18", 3
	default:
		h.goVersion, first = "1.20", 3
	}
	h.nfunc = word(0)
	nfiles := word(1)
	fn, cu, file, pc, pcln := word(first), word(first+1), word(first+2), word(first+3), word(first+4)
	// The linker lays the parts out in this order right after the
	// header; the function index (nfunc+1 pairs of 4-byte words from Go
	// 1.18, pointer-sized before) ends inside the section.
	entry := uint64(4)
	if h.goVersion == "1.16" {
		entry = uint64(h.ptrSize)
	}
	// The name table follows the header directly (cmd/link places the
	// symbols one after the other, the names with alignment 1).
	if h.nfunc == 0 || h.nfunc > limit || nfiles > limit ||
		fn != uint64(n) || fn >= cu || cu > file || file > pc || pc > pcln || pcln > limit ||
		(2*h.nfunc+1)*entry > limit-pcln {
		return h, false, nil
	}
	h.namesFrom, h.namesTo = fn, cu
	h.functabEnd = pcln + (2*h.nfunc+1)*entry
	if h.namesTo-h.namesFrom < 2*h.nfunc { // every function has a name of at least one byte and a NUL
		return h, false, nil
	}
	if h.namesTo-h.namesFrom > MaxFuncNames {
		return h, true, fmt.Errorf("function name table of %d MiB is over the %d MiB limit: linked functions unknown", (h.namesTo-h.namesFrom)>>20, MaxFuncNames>>20)
	}
	return h, true, nil
}

// checkNames reports whether the captured name table looks like one: it
// ends with a NUL, starts with a name, and holds at least nfunc names.
func checkNames(names []byte, nfunc uint64) bool {
	if len(names) < 2 || names[len(names)-1] != 0 || names[0] == 0 {
		return false
	}
	return uint64(bytes.Count(names, []byte{0})) >= nfunc
}

// funcSet collects normalised function names by import path.
type funcSet map[string]map[string]struct{}

// readNames splits a function name table into symbols by import path.
// Names the compiler makes for itself ("go:buildid", "type:.eq.T") and
// those that name no package are skipped.
func readNames(names []byte) funcSet {
	out := funcSet{}
	var lastRaw, lastSym, scratch, stripped []byte
	var lastSet map[string]struct{}
	for len(names) > 0 {
		i := bytes.IndexByte(names, 0)
		if i < 0 {
			i = len(names)
		}
		name := names[:i]
		names = names[min(i+1, len(names)):]
		if bytes.IndexByte(name, '[') >= 0 {
			stripped = stripBrackets(stripped[:0], name)
			name = stripped
		}
		pkg, sym, ok := splitFuncName(name, &scratch)
		if !ok {
			continue
		}
		// Names come grouped by package: skip the map look-up (and the
		// string allocation) while the package stays the same.
		if lastSet == nil || !bytes.Equal(pkg, lastRaw) {
			path := unescapePath(pkg)
			lastRaw, lastSet, lastSym = append(lastRaw[:0], pkg...), out[path], lastSym[:0]
			if lastSet == nil {
				lastSet = map[string]struct{}{}
				out[path] = lastSet
			}
		}
		if bytes.Equal(sym, lastSym) { // "F" after "F.func1": no look-up
			continue
		}
		lastSym = append(lastSym[:0], sym...)
		if _, ok := lastSet[string(sym)]; !ok {
			lastSet[string(sym)] = struct{}{}
		}
	}
	return out
}

// splitFuncName splits a linker symbol name into its package's import
// path and the symbol as OSV records write it ("Func", "Type.Method"):
//
//	golang.org/x/net/http2.(*Framer).ReadFrame       → Framer.ReadFrame
//	golang.org/x/net/http2.ConfigureServer.func1     → ConfigureServer
//	net/http.(*conn).serve.func1.2                   → conn.serve
//	slices.Sort[go.shape.[]int,go.shape.int]         → Sort
//	pkg.(*List[go.shape.int]).Push                   → List.Push
//	net/http.(*Server).Serve.deferwrap1              → Server.Serve
//	pkg.T.M-fm, pkg.F-range1                         → T.M, F
//	gopkg.in/yaml%2ev3.Unmarshal                     → gopkg.in/yaml.v3, Unmarshal
//
// The import path ends at the first dot after its last slash: the
// compiler escapes dots in the last element ("%2e").
//
// sym may be built in *scratch, valid until the next call.
func splitFuncName(name []byte, scratch *[]byte) (pkg, sym []byte, ok bool) {
	if len(name) == 0 || bytes.HasPrefix(name, []byte("go:")) || bytes.HasPrefix(name, []byte("type:")) ||
		bytes.HasPrefix(name, []byte("go.")) || bytes.HasPrefix(name, []byte("type.")) {
		return nil, nil, false
	}
	if bytes.IndexByte(name, '[') >= 0 {
		name = stripBrackets(nil, name)
	}
	slash := bytes.LastIndexByte(name, '/')
	dot := bytes.IndexByte(name[slash+1:], '.')
	if dot <= 0 {
		return nil, nil, false
	}
	pkg, rest := name[:slash+1+dot], name[slash+1+dot+1:]
	if i := bytes.IndexByte(rest, '-'); i >= 0 { // "-fm", "-range1": compiler suffixes
		rest = rest[:i]
	}
	body := rest
	first, rest, more := bytes.Cut(rest, []byte("."))
	if len(first) > 2 && first[0] == '(' && first[len(first)-1] == ')' { // "(*T)" or "(T)": a method
		first = bytes.TrimPrefix(first[1:len(first)-1], []byte("*"))
		if !more {
			return nil, nil, false
		}
		method, _, _ := bytes.Cut(rest, []byte("."))
		return pkg, joinSym(scratch, first, method), len(first) > 0 && len(method) > 0
	}
	if len(first) == 0 {
		return nil, nil, false
	}
	if !more {
		return pkg, first, true
	}
	second, _, _ := bytes.Cut(rest, []byte("."))
	// "F.func1"; "F.(*T).M.func1" (a literal of T.M inlined into F).
	if closurePart(second) || second[0] == '(' {
		return pkg, first, true
	}
	return pkg, body[:len(first)+1+len(second)], true // "T.M", as it is in name
}

// joinSym writes "a.b" into *scratch.
func joinSym(scratch *[]byte, a, b []byte) []byte {
	out := append((*scratch)[:0], a...)
	out = append(out, '.')
	out = append(out, b...)
	*scratch = out
	return out
}

// closurePart reports whether a name component is one the compiler gives
// a function literal or a wrapper inside a function ("func1", "gowrap2",
// "deferwrap1", "1" for a nested literal, "" in "glob..func1"), rather
// than a method name.
func closurePart(s []byte) bool {
	for _, p := range [][]byte{[]byte("func"), []byte("gowrap"), []byte("deferwrap")} {
		if rest, ok := bytes.CutPrefix(s, p); ok && len(rest) > 0 && isDigits(rest) {
			return true
		}
	}
	return len(s) == 0 || isDigits(s)
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// stripBrackets appends to out the name without its bracketed parts
// (type arguments, which may hold dots, slashes and nested brackets).
func stripBrackets(out, name []byte) []byte {
	depth := 0
	for _, c := range name {
		switch {
		case c == '[':
			depth++
		case c == ']' && depth > 0:
			depth--
		case depth == 0:
			out = append(out, c)
		}
	}
	return out
}

// unescapePath undoes the compiler's escaping of an import path in symbol
// names (cmd/internal/objabi.PathToPrefix: "%xx" for dots in the last
// element, for '%', '"' and control characters).
func unescapePath(p []byte) string {
	if bytes.IndexByte(p, '%') < 0 {
		return string(p)
	}
	var out []byte
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			if v, ok := unhex(p[i+1]); ok {
				if w, ok := unhex(p[i+2]); ok {
					out = append(out, v<<4|w)
					i += 2
					continue
				}
			}
		}
		out = append(out, p[i])
	}
	return string(out)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// sortedFuncs turns a package's set into a sorted list.
func sortedFuncs(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// stdPath reports whether an import path looks like the standard
// library's: no dot in its first element ("net/http", "internal/abi",
// "vendor/golang.org/x/net/idna").
func stdPath(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}
