package gobinary

import (
	"context"
	"io"
	"strings"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/internal/elfhead"
)

// Reasons the function table is not read.
const (
	notELF    = "the function table of PE and Mach-O binaries is not read: linked functions unknown"
	noGoNote  = "the binary has no Go build ID note, so its function table was not looked for: linked functions unknown"
	maxSHT    = 4 << 20 // 65,535 section headers of 64 bytes
	maxStrtab = 1 << 20
)

// pclnAt reads the function name table of an ELF file with random access:
// the section named .gopclntab when the section headers and their names
// can be read, else the read-only data sections that start with a table
// header, else (no section headers) what a search of the read-only
// segments finds, as for a stream.
func pclnAt(ctx context.Context, ra io.ReaderAt, f *elfhead.File, head []byte, size int64) funcTable {
	n := f.SHTSize()
	if n == 0 || n > maxSHT || f.ShOff >= uint64(size) || n > uint64(size)-f.ShOff {
		plan := planPcln(f, nil, size)
		c := newPclnCapture(io.NewSectionReader(ra, 0, plan.end()), plan)
		ft, err := c.finish(ctx)
		if err != nil {
			return funcTable{unknown: "reading the function table: " + err.Error()}
		}
		return ft
	}
	sht := make([]byte, n)
	if _, err := ra.ReadAt(sht, int64(f.ShOff)); err != nil {
		return funcTable{unknown: "reading the section headers: " + err.Error()}
	}
	secs, err := f.Sections(sht)
	if err != nil {
		return funcTable{unknown: "reading the section headers: " + err.Error()}
	}
	candidates := dataSections(secs, size)
	if s, ok := namedSection(ra, secs, f.ShStrNdx, ".gopclntab", size); ok {
		candidates = []elfhead.Range{s}
	}
	order := f.Order
	ptr := 4
	if f.Is64 {
		ptr = 8
	}
	var found *funcTable
	for _, s := range candidates {
		hdr := make([]byte, min(uint64(pclnHeaderMax), s.End-s.Off))
		if _, err := ra.ReadAt(hdr, int64(s.Off)); err != nil {
			return funcTable{unknown: "reading the function table: " + err.Error()}
		}
		h, ok, err := parsePclnHeader(hdr, order, ptr, s.End-s.Off)
		if !ok {
			continue
		}
		if err != nil {
			return funcTable{unknown: err.Error()}
		}
		if found != nil {
			return funcTable{unknown: "more than one Go function table in the file: which one is the binary's own cannot be told"}
		}
		names := make([]byte, h.namesTo-h.namesFrom) // at most MaxFuncNames, inside the section
		if _, err := ra.ReadAt(names, int64(s.Off+h.namesFrom)); err != nil {
			return funcTable{unknown: "reading the function table: " + err.Error()}
		}
		if !checkNames(names, h.nfunc) {
			return funcTable{unknown: "the Go function table's name table is malformed"}
		}
		found = &funcTable{names: names}
	}
	if found == nil {
		return funcTable{unknown: "no Go function table found in the file"}
	}
	return *found
}

// namedSection finds a section by name through the section name table.
func namedSection(ra io.ReaderAt, secs []elfhead.Section, strndx uint16, name string, size int64) (elfhead.Range, bool) {
	if int(strndx) >= len(secs) {
		return elfhead.Range{}, false
	}
	st := secs[strndx]
	if st.Off >= uint64(size) || st.Size > uint64(size)-st.Off || st.Size > maxStrtab {
		return elfhead.Range{}, false
	}
	strtab := make([]byte, st.Size)
	if _, err := ra.ReadAt(strtab, int64(st.Off)); err != nil {
		return elfhead.Range{}, false
	}
	for _, s := range secs {
		if uint64(s.Name) >= uint64(len(strtab)) || s.Off >= uint64(size) || s.Size > uint64(size)-s.Off {
			continue
		}
		rest := strtab[s.Name:]
		if len(rest) > len(name) && string(rest[:len(name)]) == name && rest[len(name)] == 0 {
			return elfhead.Range{Off: s.Off, End: s.Off + s.Size}, true
		}
	}
	return elfhead.Range{}, false
}

// attachLinked sets the Linked field of pkgs, read from one binary, whose
// import paths start with roots (pkgs[i]'s module path, "" for the
// standard library); withMain says pkgs[0] is the main module. Each
// import path the function table names goes to the module it is under:
// the longest module path that prefixes it, "main" to the main module,
// a path with no dot in its first element to the standard library. A
// module replaced by another (whose Name is the replacement's path) gets
// its paths rewritten under the replacement's path, which is what the
// replacement's advisories name. Import paths of no module listed (a
// GOPATH build) are left out.
func attachLinked(pkgs []*inventory.Package, roots []string, withMain bool, ft funcTable) {
	if ft.names == nil {
		for _, p := range pkgs {
			p.Linked = &inventory.GoLinked{Unknown: ft.unknown}
		}
		return
	}
	byRoot := map[string]int{}
	std := -1
	for i, p := range pkgs {
		p.Linked = &inventory.GoLinked{}
		if roots[i] == "" {
			std = i
		} else {
			byRoot[roots[i]] = i
		}
	}
	for path, set := range readNames(ft.names) {
		i, ok := ownerOf(path, byRoot)
		switch {
		case ok:
		case path == "main" && withMain:
			i = 0
		case stdPath(path) && std >= 0:
			i = std
		default:
			continue
		}
		p, key := pkgs[i], path
		if root := roots[i]; root != "" && p.Name != root && strings.HasPrefix(path, root) {
			key = p.Name + path[len(root):]
		}
		if p.Linked.Packages == nil {
			p.Linked.Packages = map[string][]string{}
		}
		p.Linked.Packages[key] = sortedFuncs(set)
	}
}

// ownerOf finds the index of the module whose path is the longest prefix
// of path (at a slash).
func ownerOf(path string, byRoot map[string]int) (int, bool) {
	for p := path; ; {
		if i, ok := byRoot[p]; ok {
			return i, true
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return 0, false
		}
		p = p[:i]
	}
}
