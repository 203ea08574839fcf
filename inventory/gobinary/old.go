package gobinary

import (
	"bytes"
	"encoding/binary"
	"runtime/debug"
	"strings"
)

// Before go1.18 the build info held two addresses: of the string headers
// {data, len} of runtime.buildVersion and runtime.modinfo, which sit after
// it in the data segment, while their bytes sit before it, in rodata. A
// stream cannot go back, so for ELF files (whose program headers, in the
// first bytes, map addresses to file offsets) oldCapture remembers, as the
// file streams by, every place that could be one of those strings: "go1."
// and "devel " (a version) and the sentinel that starts module info.
// When the old build info header turns up, its pointers are followed
// forward and must land exactly on a remembered place.

const (
	maxVersionCandidates = 16384
	maxModCandidates     = 8
	versionCapture       = 64 // bytes kept after a version candidate
	maxModCapture        = 1 << 20
	patternOverlap       = 15 // longest pattern (the sentinel) minus one
)

var (
	modStart    = []byte("0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6")
	modEnd      = []byte("\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2")
	versionPats = [][]byte{[]byte("go1."), []byte("devel ")}
)

// segment is an ELF PT_LOAD segment.
type segment struct{ off, vaddr, filesz uint64 }

// elfSegments parses the program headers of an ELF file from its first
// bytes; nil when they are not all there.
func elfSegments(head []byte) []segment {
	if len(head) < 64 || string(head[:4]) != "\x7fELF" {
		return nil
	}
	var order binary.ByteOrder
	var segs []segment
	switch head[5] {
	case 1:
		order = binary.LittleEndian
	case 2:
		order = binary.BigEndian
	default:
		return nil
	}
	var phoff, entsize, num uint64
	is64 := head[4] == 2
	if is64 {
		phoff, entsize, num = order.Uint64(head[32:]), uint64(order.Uint16(head[54:])), uint64(order.Uint16(head[56:]))
	} else if head[4] == 1 {
		phoff, entsize, num = uint64(order.Uint32(head[28:])), uint64(order.Uint16(head[42:])), uint64(order.Uint16(head[44:]))
	} else {
		return nil
	}
	if (is64 && entsize < 56) || (!is64 && entsize < 32) || phoff > uint64(len(head)) || num*entsize > uint64(len(head))-phoff {
		return nil
	}
	for i := uint64(0); i < num; i++ {
		p := head[phoff+i*entsize:]
		if order.Uint32(p) != 1 { // PT_LOAD
			continue
		}
		if is64 {
			segs = append(segs, segment{off: order.Uint64(p[8:]), vaddr: order.Uint64(p[16:]), filesz: order.Uint64(p[32:])})
		} else {
			segs = append(segs, segment{off: uint64(order.Uint32(p[4:])), vaddr: uint64(order.Uint32(p[8:])), filesz: uint64(order.Uint32(p[16:]))})
		}
	}
	return segs
}

// fileOffset maps a virtual address to a file offset; ok is false outside
// every segment's file bytes.
func fileOffset(segs []segment, addr uint64) (int64, bool) {
	for _, s := range segs {
		if addr >= s.vaddr && addr-s.vaddr < s.filesz {
			return int64(s.off + addr - s.vaddr), true
		}
	}
	return 0, false
}

type pending struct {
	off   int64
	buf   []byte
	isMod bool
}

// oldCapture remembers candidate strings by file offset.
type oldCapture struct {
	segs     []segment
	versions map[int64]string
	mods     map[int64]string
	pending  []*pending
	found    map[int64]bool
}

func newOldCapture(segs []segment) *oldCapture {
	return &oldCapture{segs: segs, versions: map[int64]string{}, mods: map[int64]string{}, found: map[int64]bool{}}
}

// see is called by the window with the bytes it just read, w.buf[from:].
func (c *oldCapture) see(w *window, from int) {
	fresh := w.buf[from:]
	kept := c.pending[:0]
	for _, p := range c.pending {
		if !p.isMod {
			p.buf = append(p.buf, fresh[:min(len(fresh), versionCapture-len(p.buf))]...)
		} else {
			p.buf = append(p.buf, fresh[:min(len(fresh), maxModCapture+1-len(p.buf))]...)
		}
		if c.complete(p) {
			continue
		}
		kept = append(kept, p)
	}
	c.pending = kept
	start := max(0, from-patternOverlap)
	region := w.buf[start:]
	c.find(w, start, region, modStart, true)
	for _, pat := range versionPats {
		c.find(w, start, region, pat, false)
	}
}

func (c *oldCapture) find(w *window, start int, region, pat []byte, isMod bool) {
	for i := 0; ; {
		j := bytes.Index(region[i:], pat)
		if j < 0 {
			return
		}
		pos := start + i + j
		i += j + 1
		off := w.off + int64(pos)
		if c.found[off] {
			continue
		}
		if (isMod && len(c.mods)+len(c.pending) >= maxModCandidates) || (!isMod && len(c.found) >= maxVersionCandidates) {
			continue
		}
		c.found[off] = true
		end := len(w.buf)
		if !isMod {
			end = min(end, pos+versionCapture)
		} else {
			end = min(end, pos+maxModCapture+1)
		}
		p := &pending{off: off, buf: bytes.Clone(w.buf[pos:end]), isMod: isMod}
		if !c.complete(p) {
			c.pending = append(c.pending, p)
		}
	}
}

// complete files p when it has all its bytes (or too many); it reports
// whether p is done.
func (c *oldCapture) complete(p *pending) bool {
	if !p.isMod {
		if len(p.buf) < versionCapture {
			return false
		}
		c.versions[p.off] = string(p.buf[:versionCapture])
		return true
	}
	if i := bytes.Index(p.buf, modEnd); i >= 0 {
		c.mods[p.off] = string(p.buf[:i+len(modEnd)])
		return true
	}
	return len(p.buf) > maxModCapture // give up
}

// finish files what is still pending at the end of the file.
func (c *oldCapture) finish() {
	for _, p := range c.pending {
		if !p.isMod {
			c.versions[p.off] = string(p.buf)
		}
	}
	c.pending = nil
}

// resolve follows the pointers of the old header at the start of w.buf.
func (c *oldCapture) resolve(w *window) (*debug.BuildInfo, error) {
	ptrSize := int(w.buf[14])
	var order binary.ByteOrder
	if w.buf[15] != 0 {
		order = binary.BigEndian
	} else {
		order = binary.LittleEndian
	}
	readPtr := func(b []byte) uint64 {
		if ptrSize == 4 {
			return uint64(order.Uint32(b))
		}
		return order.Uint64(b)
	}
	if ok, err := w.fill(16 + 2*ptrSize); !ok {
		return nil, err
	}
	addrs := []uint64{readPtr(w.buf[16:]), readPtr(w.buf[16+ptrSize:])}
	var strs [2]string
	for i, a := range addrs {
		hdrOff, ok := fileOffset(c.segs, a)
		if !ok || hdrOff < w.off {
			return nil, nil
		}
		rel := int(hdrOff - w.off)
		if ok, err := w.fill(rel + 2*ptrSize); !ok {
			return nil, err
		}
		data, n := readPtr(w.buf[rel:]), readPtr(w.buf[rel+ptrSize:])
		dataOff, ok := fileOffset(c.segs, data)
		if !ok {
			return nil, nil
		}
		if i == 0 {
			v, ok := c.versions[dataOff]
			if !ok || n > uint64(len(v)) {
				return nil, nil
			}
			strs[0] = v[:n]
		} else {
			m, ok := c.mods[dataOff]
			if !ok || n != uint64(len(m)) {
				return nil, nil
			}
			strs[1] = m
		}
	}
	vers, mod := strs[0], strs[1]
	if !strings.HasPrefix(vers, "go") && !strings.HasPrefix(vers, "devel") {
		return nil, nil
	}
	if len(mod) >= 33 && mod[len(mod)-17] == '\n' {
		mod = mod[16 : len(mod)-16]
	} else {
		mod = ""
	}
	bi, err := debug.ParseBuildInfo(mod)
	if err != nil {
		return nil, nil
	}
	bi.GoVersion = vers
	return bi, nil
}
