// Package elfhead reads the layout of an ELF file from its first bytes (the
// file header and program headers) and its section header table from the
// bytes the header points to, so that extractors streaming an executable
// know which byte ranges hold what they want before those bytes go past.
package elfhead

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Program header types and flags (System V ABI).
const (
	PTLoad = 1
	PTNote = 4
	PFX    = 1
	PFW    = 2
)

// Prog is one program header.
type Prog struct {
	Type, Flags               uint32
	Off, Vaddr, Filesz, Memsz uint64
}

// File is what the first bytes of an ELF file say.
type File struct {
	Is64  bool
	Order binary.ByteOrder
	// Progs are the program headers; nil when the table is not entirely
	// in the bytes given to Parse (or the file has none).
	Progs []Prog
	// ShOff, ShEntSize, ShNum and ShStrNdx locate the section header table
	// and the section holding the section names. ShNum is 0 for a file
	// without sections, or one with 0xff00 or more (extended numbering).
	ShOff           uint64
	ShEntSize       uint16
	ShNum, ShStrNdx uint16
}

// ErrNotELF is returned by Parse for bytes that do not start an ELF file.
var ErrNotELF = errors.New("not an ELF file")

// Parse reads the file header and, if the table lies within head, the
// program headers.
func Parse(head []byte) (*File, error) {
	if len(head) < 52 || string(head[:4]) != "\x7fELF" {
		return nil, ErrNotELF
	}
	f := &File{}
	switch head[5] {
	case 1:
		f.Order = binary.LittleEndian
	case 2:
		f.Order = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: bad data encoding %d", ErrNotELF, head[5])
	}
	o := f.Order
	var phoff uint64
	var phentsize, phnum uint16
	switch head[4] {
	case 1:
		phoff = uint64(o.Uint32(head[28:]))
		f.ShOff = uint64(o.Uint32(head[32:]))
		phentsize, phnum = o.Uint16(head[42:]), o.Uint16(head[44:])
		f.ShEntSize, f.ShNum, f.ShStrNdx = o.Uint16(head[46:]), o.Uint16(head[48:]), o.Uint16(head[50:])
	case 2:
		if len(head) < 64 {
			return nil, ErrNotELF
		}
		f.Is64 = true
		phoff = o.Uint64(head[32:])
		f.ShOff = o.Uint64(head[40:])
		phentsize, phnum = o.Uint16(head[54:]), o.Uint16(head[56:])
		f.ShEntSize, f.ShNum, f.ShStrNdx = o.Uint16(head[58:]), o.Uint16(head[60:]), o.Uint16(head[62:])
	default:
		return nil, fmt.Errorf("%w: bad class %d", ErrNotELF, head[4])
	}
	min := uint64(32)
	if f.Is64 {
		min = 56
	}
	if phnum == 0 || uint64(phentsize) < min || phoff > uint64(len(head)) ||
		uint64(phnum)*uint64(phentsize) > uint64(len(head))-phoff {
		return f, nil
	}
	for i := uint64(0); i < uint64(phnum); i++ {
		p := head[phoff+i*uint64(phentsize):]
		var ph Prog
		if f.Is64 {
			ph = Prog{Type: o.Uint32(p), Flags: o.Uint32(p[4:]), Off: o.Uint64(p[8:]), Vaddr: o.Uint64(p[16:]),
				Filesz: o.Uint64(p[32:]), Memsz: o.Uint64(p[40:])}
		} else {
			ph = Prog{Type: o.Uint32(p), Off: uint64(o.Uint32(p[4:])), Vaddr: uint64(o.Uint32(p[8:])),
				Filesz: uint64(o.Uint32(p[16:])), Memsz: uint64(o.Uint32(p[20:])), Flags: o.Uint32(p[24:])}
		}
		f.Progs = append(f.Progs, ph)
	}
	return f, nil
}

// Range is a byte range [Off, End) of the file.
type Range struct{ Off, End uint64 }

// Ranges returns the file ranges of the loadable segments whose flags,
// masked by mask, equal want: Ranges(PFW|PFX, PFW) is the writable data
// (where the Go linker puts the build info).
func (f *File) Ranges(mask, want uint32) []Range {
	var out []Range
	for _, p := range f.Progs {
		if p.Type == PTLoad && p.Flags&mask == want && p.Filesz > 0 && p.Off+p.Filesz > p.Off {
			out = append(out, Range{p.Off, p.Off + p.Filesz})
		}
	}
	return out
}

// LoadEnd is the end of the last loadable segment's bytes in the file:
// what follows is never mapped (section data that is not loaded, such as
// debug information, symbol tables and notes for tools).
func (f *File) LoadEnd() uint64 {
	var end uint64
	for _, r := range f.Ranges(0, 0) {
		end = max(end, r.End)
	}
	return end
}

// HasNote reports whether a PT_NOTE segment inside head holds a note with
// the given owner name and type (the Go linker writes name "Go", type 4).
func (f *File) HasNote(head []byte, name string, typ uint32) bool {
	o := f.Order
	for _, p := range f.Progs {
		if p.Type != PTNote || p.Off > uint64(len(head)) || p.Filesz > uint64(len(head))-p.Off {
			continue
		}
		notes := head[p.Off : p.Off+p.Filesz]
		for len(notes) >= 12 {
			namesz, descsz, ntype := uint64(o.Uint32(notes)), uint64(o.Uint32(notes[4:])), o.Uint32(notes[8:])
			nameEnd := 12 + (namesz+3)&^3
			end := nameEnd + (descsz+3)&^3
			if namesz > uint64(len(notes)) || descsz > uint64(len(notes)) || end > uint64(len(notes)) {
				break
			}
			// The name is NUL-terminated; the Go linker writes "Go" with
			// namesz 4 ("Go\x00\x00"), others with namesz len+1.
			if ntype == typ && namesz > uint64(len(name)) && string(bytes.TrimRight(notes[12:12+namesz], "\x00")) == name {
				return true
			}
			notes = notes[end:]
		}
	}
	return false
}

// Section is one section header.
type Section struct {
	Name      uint32 // offset of the name in the section name table
	Type      uint32
	Flags     uint64
	Off, Size uint64
}

// SHTNoBits is the type of a section that takes no bytes in the file (.bss).
const SHTNoBits = 8

// SHTSize is the size in bytes of the section header table, 0 when the file
// has none (or uses extended numbering, which Sections does not read).
func (f *File) SHTSize() uint64 {
	min := uint16(40)
	if f.Is64 {
		min = 64
	}
	if f.ShOff == 0 || f.ShNum == 0 || f.ShEntSize < min {
		return 0
	}
	return uint64(f.ShNum) * uint64(f.ShEntSize)
}

// Sections parses the section header table, SHTSize bytes read at ShOff.
func (f *File) Sections(sht []byte) ([]Section, error) {
	if uint64(len(sht)) < f.SHTSize() || f.SHTSize() == 0 {
		return nil, errors.New("section header table missing or short")
	}
	o := f.Order
	out := make([]Section, f.ShNum)
	for i := range out {
		s := sht[i*int(f.ShEntSize):]
		if f.Is64 {
			out[i] = Section{Name: o.Uint32(s), Type: o.Uint32(s[4:]), Flags: o.Uint64(s[8:]), Off: o.Uint64(s[24:]), Size: o.Uint64(s[32:])}
		} else {
			out[i] = Section{Name: o.Uint32(s), Type: o.Uint32(s[4:]), Flags: uint64(o.Uint32(s[8:])), Off: uint64(o.Uint32(s[16:])), Size: uint64(o.Uint32(s[20:]))}
		}
	}
	return out, nil
}
