package gobinary

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"slices"

	"github.com/credence-dev/credence/inventory/internal/elfhead"
)

// funcTable is what was learned of a binary's function names: the name
// table, or why there is none.
type funcTable struct {
	names   []byte
	unknown string
}

// pclnPlan says where, in an ELF file, the function table may start.
type pclnPlan struct {
	order   binary.ByteOrder
	ptrSize int
	// starts are the read-only data sections (offset and size) when the
	// section headers are in the first bytes, as the Go linker writes
	// them: the table starts one of them.
	starts []elfhead.Range
	// search are the read-only loadable segments, searched for a table
	// header when the section headers are not known before the table
	// goes by (an external linker puts them at the end).
	search []elfhead.Range
	size   int64
}

// end is the file offset after which nothing more can be learned.
func (p *pclnPlan) end() int64 {
	var e uint64
	for _, r := range p.starts {
		e = max(e, r.End)
	}
	for _, r := range p.search {
		e = max(e, r.End)
	}
	return int64(min(e, uint64(p.size)))
}

// planPcln reads where the function table may be from the first bytes of
// an ELF file. The section headers, when they are in head, give the
// candidate sections (their names are at the end of the file, so the
// table is recognised by its header); otherwise the read-only loadable
// segments are searched.
func planPcln(f *elfhead.File, head []byte, size int64) *pclnPlan {
	p := &pclnPlan{order: f.Order, ptrSize: 4, size: size}
	if f.Is64 {
		p.ptrSize = 8
	}
	if n := f.SHTSize(); n > 0 && f.ShOff <= uint64(len(head)) && n <= uint64(len(head))-f.ShOff {
		if secs, err := f.Sections(head[f.ShOff : f.ShOff+n]); err == nil {
			p.starts = dataSections(secs, size)
			return p
		}
	}
	for _, r := range f.Ranges(elfhead.PFW|elfhead.PFX, 0) {
		if r.Off < uint64(size) {
			p.search = append(p.search, elfhead.Range{Off: r.Off, End: min(r.End, uint64(size))})
		}
	}
	slices.SortFunc(p.search, func(a, b elfhead.Range) int { return cmp.Compare(a.Off, b.Off) })
	return p
}

// Section header type and flags (System V ABI).
const (
	shtProgbits  = 1
	shfWrite     = 0x1
	shfAlloc     = 0x2
	shfExecInstr = 0x4
)

// dataSections are the sections that may hold the function table: loaded,
// read-only, not code, inside the file, large enough for a header.
func dataSections(secs []elfhead.Section, size int64) []elfhead.Range {
	var out []elfhead.Range
	for _, s := range secs {
		if s.Type != shtProgbits || s.Flags&shfAlloc == 0 || s.Flags&(shfWrite|shfExecInstr) != 0 ||
			s.Size < 16 || s.Off >= uint64(size) || s.Size > uint64(size)-s.Off {
			continue
		}
		out = append(out, elfhead.Range{Off: s.Off, End: s.Off + s.Size})
	}
	slices.SortFunc(out, func(a, b elfhead.Range) int { return cmp.Compare(a.Off, b.Off) })
	return out
}

// pclnCapture reads a stream through, keeping the bytes of the function
// name table as they go by: it looks at the start of each candidate
// section (or searches the read-only segments), checks the header found
// there, and copies the names it points to. It keeps at most one name
// table (MaxFuncNames bytes) and one header per candidate.
type pclnCapture struct {
	r    io.Reader
	off  int64 // file offset of the next byte r gives
	plan *pclnPlan
	// headers being read, and the table being copied.
	pending []*pclnCandidate
	table   *pclnCandidate
	found   int // valid tables seen
	done    bool
	unknown string
	// tail holds the last bytes of the previous read, for a header cut
	// by a read's boundary while searching.
	tail    [7]byte
	tailLen int
}

// pclnCandidate is a place a table header may start.
type pclnCandidate struct {
	off   int64  // file offset of the header
	limit uint64 // bytes from off to the end of its section or segment
	hdr   []byte
	h     pclnHeader
	// names, once the header is checked: [from, to) in the file.
	from, to int64
	names    []byte
	checked  bool // names complete and checked
}

// maxCandidates bounds the headers read at one time while searching.
const maxCandidates = 64

func newPclnCapture(r io.Reader, plan *pclnPlan) *pclnCapture {
	return &pclnCapture{r: r, plan: plan}
}

// Read implements io.Reader.
func (c *pclnCapture) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.see(p[:n])
		c.off += int64(n)
	}
	return n, err
}

// see looks at the bytes chunk, at file offset c.off.
func (c *pclnCapture) see(chunk []byte) {
	if c.done {
		return
	}
	base := c.off
	end := base + int64(len(chunk))
	for _, r := range c.plan.starts {
		if int64(r.Off) >= base && int64(r.Off) < end {
			c.pending = append(c.pending, &pclnCandidate{off: int64(r.Off), limit: r.End - r.Off})
		}
	}
	if len(c.plan.search) > 0 {
		c.search(chunk, base)
	}
	kept := c.pending[:0]
	for _, cand := range c.pending {
		if !c.readHeader(cand, chunk, base) {
			kept = append(kept, cand)
		}
		if c.done {
			return
		}
	}
	c.pending = kept
	if t := c.table; t != nil && !t.checked {
		copyOverlap(&t.names, t.from, t.to, chunk, base)
		if int64(len(t.names)) == t.to-t.from {
			t.checked = true
			if !checkNames(t.names, t.h.nfunc) {
				// Not a name table after all: forget it, and look on.
				c.table, c.found = nil, c.found-1
			}
		}
	}
}

// readHeader adds what chunk holds of cand's header; when it is whole,
// it is checked, and a valid one starts copying its names. It reports
// whether cand is finished with.
func (c *pclnCapture) readHeader(cand *pclnCandidate, chunk []byte, base int64) bool {
	want := pclnHeaderMax
	if len(cand.hdr) >= 8 {
		if want = pclnHeaderLen(cand.hdr, c.plan.order); want == 0 {
			return true
		}
	}
	copyOverlap(&cand.hdr, cand.off, cand.off+int64(want), chunk, base)
	if len(cand.hdr) < 8 {
		return false
	}
	if want == pclnHeaderMax {
		if want = pclnHeaderLen(cand.hdr, c.plan.order); want == 0 {
			return true
		}
		cand.hdr = cand.hdr[:min(len(cand.hdr), want)]
	}
	if len(cand.hdr) < want {
		return false
	}
	h, ok, err := parsePclnHeader(cand.hdr, c.plan.order, c.plan.ptrSize, cand.limit)
	if !ok || (errors.Is(err, errPclnOld) && c.plan.search != nil) {
		// (Searching, a Go 1.2-1.15 header, whose few checks random
		// bytes pass more easily, is not taken for the binary's table.)
		return true
	}
	c.found++
	if c.found > 1 {
		c.give("more than one Go function table in the file (another Go binary embedded in it?): which one is the binary's own cannot be told while streaming it")
		return true
	}
	if err != nil {
		c.give(err.Error())
		return true
	}
	cand.h = h
	cand.from, cand.to = cand.off+int64(h.namesFrom), cand.off+int64(h.namesTo)
	cand.names = make([]byte, 0, cand.to-cand.from) // at most MaxFuncNames, and inside the file (limit)
	c.table = cand
	copyOverlap(&cand.names, cand.from, cand.to, chunk, base)
	return true
}

// give stops the capture: the table cannot be known, for reason.
func (c *pclnCapture) give(reason string) {
	c.done, c.unknown, c.table, c.pending = true, reason, nil, nil
}

// copyOverlap appends to *dst the bytes of chunk (at file offset base)
// that lie in [from, to) and follow what *dst already holds.
func copyOverlap(dst *[]byte, from, to int64, chunk []byte, base int64) {
	next := from + int64(len(*dst))
	if next >= to || next < base || next >= base+int64(len(chunk)) {
		return
	}
	stop := min(to, base+int64(len(chunk)))
	*dst = append(*dst, chunk[next-base:stop-base]...)
}

// search looks for table headers in the part of chunk inside the search
// ranges, at 4-byte aligned offsets (the header is aligned in memory, and
// loadable segments keep file offsets congruent to addresses). A header
// start is looked at once, in the read that holds the last of its first
// six bytes (magic and padding): the last bytes of earlier reads are kept
// for one cut by a read's boundary.
func (c *pclnCapture) search(chunk []byte, base int64) {
	if c.tailLen > 0 {
		var joint [len(c.tail) + headStart]byte
		n := copy(joint[:], c.tail[:c.tailLen])
		n += copy(joint[n:], chunk)
		c.searchIn(joint[:n], base-int64(c.tailLen), c.tailLen)
	}
	c.searchIn(chunk, base, 0)
	if len(chunk) >= len(c.tail) {
		c.tailLen = copy(c.tail[:], chunk[len(chunk)-len(c.tail):])
		return
	}
	var joint [2 * len(c.tail)]byte
	n := copy(joint[:], c.tail[:c.tailLen])
	n += copy(joint[n:], chunk)
	c.tailLen = copy(c.tail[:], joint[max(0, n-len(c.tail)):n])
}

// headStart is how many bytes of a header tell a candidate: the magic and
// the two zero pad bytes.
const headStart = 6

// searchIn adds a candidate for each header start in b (at file offset
// base) whose first headStart bytes end in this read. With cross > 0, b's
// first cross bytes come from earlier reads: only a start before them
// whose bytes run past them is new; with cross 0, only starts whose bytes
// are all in b.
func (c *pclnCapture) searchIn(b []byte, base int64, cross int) {
	// Little-endian headers start "xx ff ff ff 00 00" (magic, two zero
	// pad bytes), big-endian ones "ff ff ff xx 00 00".
	pat, back := []byte("\xff\xff\xff\x00\x00"), 1
	if c.plan.order == binary.BigEndian {
		pat, back = []byte("\xff\xff\xff"), 0
	}
	for i := 0; ; {
		j := bytes.Index(b[i:], pat)
		if j < 0 {
			return
		}
		j += i
		i = j + 1
		at := j - back
		if at < 0 || at+headStart > len(b) || (cross > 0 && (at >= cross || at+headStart <= cross)) {
			continue
		}
		off := base + int64(at)
		if off%4 != 0 || b[at+4] != 0 || b[at+5] != 0 {
			continue
		}
		if m := c.plan.order.Uint32(b[at:]); m != magic116 && m != magic118 && m != magic120 && m != magic12 {
			continue
		}
		r, ok := c.searchRange(off)
		if !ok || c.inTable(off) {
			continue
		}
		if len(c.pending) >= maxCandidates {
			c.give("too many places that look like a Go function table")
			return
		}
		cand := &pclnCandidate{off: off, limit: r.End - uint64(off)}
		if off < c.off { // starts in an earlier read: its first bytes are in b
			cand.hdr = append(cand.hdr, b[at:at+int(c.off-off)]...)
		}
		c.pending = append(c.pending, cand)
	}
}

func (c *pclnCapture) searchRange(off int64) (elfhead.Range, bool) {
	for _, r := range c.plan.search {
		if uint64(off) >= r.Off && uint64(off) < r.End {
			return r, true
		}
	}
	return elfhead.Range{}, false
}

// inTable reports whether off lies inside the table being read (from its
// header to the end of its function index): not a new header.
func (c *pclnCapture) inTable(off int64) bool {
	t := c.table
	return t != nil && off >= t.off && off < t.off+int64(t.h.functabEnd)
}

// finish reads on, when the table (or a candidate) lies beyond what the
// build info scan read, and returns what was found.
func (c *pclnCapture) finish(ctx context.Context) (funcTable, error) {
	if end := c.plan.end(); !c.done && c.off < end {
		buf := make([]byte, 64<<10)
		for n := 0; c.off < end && !c.done; n++ {
			if n%64 == 63 && ctx.Err() != nil {
				return funcTable{}, ctx.Err()
			}
			if t := c.table; t != nil && c.plan.search == nil && int64(len(t.names)) >= t.to-t.from {
				break // a section table, complete: later sections are not tables
			}
			_, err := c.Read(buf[:min(int64(len(buf)), end-c.off)])
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return funcTable{}, err
			}
		}
	}
	return c.result(), nil
}

// result is what the capture found.
func (c *pclnCapture) result() funcTable {
	switch {
	case c.unknown != "":
		return funcTable{unknown: c.unknown}
	case c.table == nil:
		return funcTable{unknown: "no Go function table found in the file"}
	case int64(len(c.table.names)) < c.table.to-c.table.from:
		return funcTable{unknown: "the file ends inside its Go function table"}
	case !checkNames(c.table.names, c.table.h.nfunc):
		return funcTable{unknown: "the Go function table's name table is malformed"}
	}
	return funcTable{names: c.table.names}
}
