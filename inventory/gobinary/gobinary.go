// Package gobinary extracts the Go modules compiled into Go executables from
// their build info: the main module, every dependency (after replacements) and the standard library,
// each with the functions of it the binary links, from the binary's function table (pclntab.go).
package gobinary

import (
	"bytes"
	"cmp"
	"context"
	"debug/buildinfo"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/internal/elfhead"
)

// Name of the extractor.
const Name = "go/binary"

// Extractor reads the build info of Go executables.
type Extractor struct{}

var _ inventory.Extractor = Extractor{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 3 }

// maxBinarySize bounds the executables read; the largest Go binaries in
// the wild (kubelet, terraform providers) are a few hundred MB.
const maxBinarySize = 512 << 20

// Requirements implements inventory.Extractor.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: maxBinarySize}
}

// FileRequired implements inventory.Extractor: every executable regular
// file big enough to hold an executable header.
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	return f.Executable() && f.Size >= 64 && f.Size <= maxBinarySize
}

// Metadata is what the build info records beyond a module's path and version.
type Metadata struct {
	// GoVersion is the toolchain that built the binary ("go1.21.3").
	GoVersion string `json:"goVersion"`
	// MainModule is the binary's main module path (empty for a binary
	// built from files outside any module).
	MainModule string `json:"mainModule,omitempty"`
	// Sum is the module's go.sum hash ("h1:...").
	Sum string `json:"sum,omitempty"`
	// Replaces is "path@version" of the module a replace directive swapped
	// for this one; the package itself is the replacement.
	Replaces string `json:"replaces,omitempty"`
}

// ErrOldFormat is returned, when the file can only be streamed, for a Go
// binary built before Go 1.18 (its build info holds addresses of strings
// stored earlier in the file) that is not ELF, or whose addresses lead
// nowhere oldCapture looked.
var ErrOldFormat = errors.New("build info of a Go binary built before go1.18 needs random access")

// Extract implements inventory.Extractor. It reads the first bytes and
// stops there unless they are an ELF, PE or Mach-O header. For an ELF file
// whose program headers are in those bytes it then looks for the build
// info blob only where the Go linker puts it, in the writable loadable
// segments (as debug/buildinfo does), at 16-byte aligned offsets: bytes
// before them are skipped, reading stops after them. Go 1.18+ linkers write
// the Go version and the module strings inline ("\xff Go buildinf:", flag 2).
// Older binaries (addresses instead of strings) are read with
// debug/buildinfo when the input offers random access; streamed, ELF ones
// are read through oldCapture (old.go), which must see every byte; others
// fail with ErrOldFormat. Other formats are searched from end to end.
//
// For an ELF Go binary, the function name table (which lies before the
// build info: read-only data comes before writable data) is kept as it
// goes by, or read with random access, and each package's Linked field
// says which of its functions the binary links (pclnstream.go, linked.go);
// PE and Mach-O binaries, and tables that cannot be read, leave Linked
// unknown with the reason.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) (inventory.Result, error) {
	headBuf := getBuffer(headSize)
	defer putBuffer(headBuf)
	head := headBuf[:min(in.Size, headSize)]
	n, err := io.ReadFull(in.Reader, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return inventory.Result{}, fmt.Errorf("read %s: %w", in.Path, err)
	}
	head = head[:n]
	if !executable(head) {
		return inventory.Result{}, nil
	}
	var ranges []elfhead.Range // nil: the whole file
	var elf *elfhead.File      // nil: not ELF, or no program headers
	isGo, noteless := false, false
	if f, err := elfhead.Parse(head); err == nil && len(f.Progs) > 0 {
		elf = f
		noteless = !hasNoteSegment(f) && goNote(head)
		isGo = f.HasNote(head, "Go", noteGoBuildID) || noteless
		ranges = clip(f.Ranges(elfhead.PFW|elfhead.PFX, elfhead.PFW), in.Size)
		if len(ranges) == 0 { // no writable segment: not a Go executable
			return noBuildInfo(isGo), nil
		}
	} else {
		isGo = goNote(head)
	}
	var bi *debug.BuildInfo
	ft := funcTable{unknown: notELF}
	if elf != nil && !isGo {
		ft.unknown = noGoNote
	}
	if ra, ok := in.Reader.(io.ReaderAt); ok {
		// Random access: read the ranges only.
		start := int64(0)
		if ranges != nil {
			start = int64(ranges[0].Off)
		}
		bi, err = scan(ctx, io.NewSectionReader(ra, start, in.Size-start), start, in.Size, ranges, nil)
		if errors.Is(err, ErrOldFormat) {
			bi, err = buildinfo.Read(ra)
		}
		if err == nil && bi != nil && elf != nil && isGo {
			ft = pclnAt(ctx, ra, elf, head, in.Size)
		}
	} else {
		var segs []segment
		if noteless || elf == nil && isGo {
			// A pre-1.18 build info may point back into them. Only for
			// files whose Go note is not in a PT_NOTE segment: following
			// every Go binary's bytes for old strings costs twice the time
			// of the whole read (24 ms of kube-apiserver's 13 ms). Until
			// elfhead.HasNote learnt the Go note's padded name, isGo was
			// false for every real binary, so this is the gate that ran.
			segs = elfSegments(head)
		}
		var stream io.Reader = io.MultiReader(bytes.NewReader(head), in.Reader)
		var capture *pclnCapture
		if elf != nil && isGo {
			// The function table lies before the build info (read-only
			// data, then writable data): it is kept as it goes by.
			capture = newPclnCapture(stream, planPcln(elf, head, in.Size))
			stream = capture
		}
		bi, err = scan(ctx, stream, 0, in.Size, ranges, segs)
		if err == nil && bi != nil && capture != nil {
			ft, err = capture.finish(ctx)
		}
	}
	if err != nil {
		return inventory.Result{}, fmt.Errorf("read Go build info of %s: %w", in.Path, err)
	}
	if bi == nil {
		return noBuildInfo(isGo), nil
	}
	return packages(bi, ft), nil
}

// hasNoteSegment reports whether f has a PT_NOTE program header: real
// executables do (the Go build ID, the GNU build ID); only without one are
// the first bytes searched for the Go note.
func hasNoteSegment(f *elfhead.File) bool {
	return slices.ContainsFunc(f.Progs, func(p elfhead.Prog) bool { return p.Type == elfhead.PTNote })
}

// noteGoBuildID is the type of the ELF note ("Go") holding the Go build ID.
const noteGoBuildID = 4

// noBuildInfo is the result for an executable without build info: nothing,
// or, for a file a Go linker wrote (built before go1.13, or stripped of
// it), a warning. Unknown is not safe.
func noBuildInfo(isGo bool) inventory.Result {
	if !isGo {
		return inventory.Result{}
	}
	return inventory.Result{Warnings: []string{"a Go executable without build info (built before go1.13?): its modules and Go version are unknown"}}
}

// clip sorts ranges and drops what lies past the end of the file.
func clip(ranges []elfhead.Range, size int64) []elfhead.Range {
	var out []elfhead.Range
	for _, r := range ranges {
		if r.Off < uint64(size) {
			out = append(out, elfhead.Range{Off: r.Off, End: min(r.End, uint64(size))})
		}
	}
	slices.SortFunc(out, func(a, b elfhead.Range) int { return cmp.Compare(a.Off, b.Off) })
	return out
}

// headSize is how much of a file is read before deciding anything: enough
// for the ELF program headers and the Go build ID note that follows them
// (at 0xf9c in a linux/amd64 binary, further with 64 KiB pages).
const headSize = 64 << 10

// goNote reports whether head holds the ELF note the Go linker writes
// (name "Go", type 4, NT_GOBUILDID, in either byte order), for a file whose
// program headers could not be read.
func goNote(head []byte) bool {
	return bytes.Contains(head, []byte("\x04\x00\x00\x00Go\x00\x00")) || bytes.Contains(head, []byte("\x00\x00\x00\x04Go\x00\x00"))
}

// executable reports whether head starts like an ELF, PE, Mach-O or
// universal Mach-O file: the formats Go links.
func executable(head []byte) bool {
	if len(head) < 4 {
		return false
	}
	switch binary.BigEndian.Uint32(head) {
	case 0x7f454c46, // ELF
		0xfeedface, 0xcefaedfe, 0xfeedfacf, 0xcffaedfe, // Mach-O 32/64-bit, both byte orders
		0xcafebabe: // universal Mach-O
		return true
	}
	return head[0] == 'M' && head[1] == 'Z' // PE (DOS stub)
}

// packages turns build info into packages, with what the function table
// says each module links.
func packages(bi *debug.BuildInfo, ft funcTable) inventory.Result {
	var res inventory.Result
	var roots []string // the import path prefix of each package's code
	md := func(m *debug.Module) *Metadata {
		d := &Metadata{GoVersion: bi.GoVersion, MainModule: bi.Main.Path}
		if m != nil {
			d.Sum = m.Sum
		}
		return d
	}
	if bi.Main.Path != "" {
		res.Packages = append(res.Packages, &inventory.Package{
			Name: bi.Main.Path, Version: bi.Main.Version, Type: inventory.TypeGolang, Metadata: md(&bi.Main),
		})
		roots = append(roots, bi.Main.Path)
	}
	for _, dep := range bi.Deps {
		if dep == nil || dep.Path == "" {
			continue
		}
		p := &inventory.Package{Name: dep.Path, Version: dep.Version, Type: inventory.TypeGolang, Metadata: md(dep)}
		if r := dep.Replace; r != nil {
			m := md(r)
			m.Replaces = dep.Path + "@" + dep.Version
			p.Metadata = m
			if r.Version != "" {
				p.Name, p.Version = r.Path, r.Version
			} else {
				// A replacement by a local directory: the code is not
				// the required version, and has none of its own.
				p.Version = ""
				m.Replaces = dep.Path + "@" + dep.Version + " => " + r.Path
			}
		}
		res.Packages = append(res.Packages, p)
		roots = append(roots, dep.Path) // a replacement keeps the import paths it replaces
	}
	if v := SemverFromGo(bi.GoVersion); v != "" {
		res.Packages = append(res.Packages, &inventory.Package{
			Name: "stdlib", Version: v, Type: inventory.TypeGolang, Metadata: md(nil),
		})
		roots = append(roots, "")
	} else {
		res.Warnings = append(res.Warnings, fmt.Sprintf("Go version %q is not a release: the standard library is not reported", bi.GoVersion))
	}
	attachLinked(res.Packages, roots, bi.Main.Path != "", ft)
	return res
}

// SemverFromGo turns a Go toolchain version into the semantic version the
// Go vulnerability database uses for the standard library (module stdlib),
// with the "v" every Go module version in an inventory has: "go1.21.3" is
// "v1.21.3", "go1.20" is "v1.20.0", "go1.21rc2" is "v1.21.0-rc.2". A
// suffix after a space (" X:boringcrypto") is dropped. Development
// toolchains ("devel ...") and anything else give "".
func SemverFromGo(v string) string {
	v, _, _ = strings.Cut(v, " ")
	rest, ok := strings.CutPrefix(v, "go")
	if !ok {
		return ""
	}
	pre := ""
	for _, tag := range []string{"rc", "beta", "alpha"} {
		if i := strings.Index(rest, tag); i > 0 {
			n := rest[i+len(tag):]
			if !digits(n) {
				return ""
			}
			rest, pre = rest[:i], "-"+tag+"."+n
			break
		}
	}
	parts := strings.Split(rest, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return ""
	}
	for _, p := range parts {
		if !digits(p) || (len(p) > 1 && p[0] == '0') {
			return ""
		}
	}
	if len(parts) == 2 {
		parts = append(parts, "0")
	}
	return "v" + strings.Join(parts, ".") + pre
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
