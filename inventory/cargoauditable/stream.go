package cargoauditable

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/credence-dev/credence/inventory/internal/elfhead"
)

// Reading .dep-v0 from an ELF file that can only be streamed. The section
// header table that says where .dep-v0 is lies at the end of the file,
// after the section's bytes, so on the way there the stream keeps only
// what may turn out to be needed, and the table decides at the end:
//
//   - the section header table itself (the ELF header says where it is);
//   - the file offsets of every ".dep-v0\0" string (a section name);
//   - the bytes after each place that starts a zlib stream which inflates
//     to JSON ("{..."): what cargo auditable writes.
//
// Only the part of the file after the loadable segments is searched: the
// section names are never loaded, nor is cargo auditable's section (its
// flags are 0), and linkers put sections that are not loaded after the
// loaded ones.
//
// A section named .dep-v0 whose bytes were not kept this way is an error,
// never "no crates": unknown is not safe.

const (
	namePattern = sectionName + "\x00"
	// streamCapture bounds the bytes kept after one zlib candidate; a real
	// section is a few KB.
	streamCapture = 1 << 20
	// maxCaptures and maxPending bound the candidates kept at once;
	// maxNames the section name strings remembered.
	maxCaptures = 4
	maxPending  = 64
	maxNames    = 256
	// validateLen is how many bytes of a candidate are inflated to decide
	// whether it is JSON.
	validateLen = 512
	// maxSHT bounds the section header table kept (65,280 sections).
	maxSHT      = 0xff00 * 64
	streamChunk = 64 << 10
)

// ErrNotCaptured is returned for an ELF file streamed past a .dep-v0
// section whose bytes were not kept: it is not where linkers put it, or the
// file holds more candidates than the stream keeps.
var ErrNotCaptured = errors.New("the .dep-v0 section could not be read from the stream")

type capture struct {
	off       uint64
	buf       []byte
	validated bool
	rejected  bool
}

type elfStream struct {
	f       *elfhead.File
	loadEnd uint64
	shtOff  uint64
	sht     []byte // grows to f.SHTSize()

	names     map[uint64]bool
	namesFull bool
	captures  []*capture // pending and validated
	dropped   bool       // a candidate was not kept for lack of room

	nextName, nextZlib uint64 // first offsets not yet searched for each pattern
	zr                 io.ReadCloser
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 8+streamChunk); return &b }}

// streamELF reads the whole file from r (head already read: r starts at
// offset 0) and returns the content of its .dep-v0 section, nil when it has
// none.
func streamELF(ctx context.Context, f *elfhead.File, r io.Reader, size int64) ([]byte, error) {
	if f.ShOff != 0 && f.ShNum == 0 {
		return nil, fmt.Errorf("%w: the file numbers its sections in the extended way", ErrNotCaptured)
	}
	shtSize := f.SHTSize()
	if shtSize == 0 || shtSize > maxSHT || f.ShOff > uint64(size) || shtSize > uint64(size)-f.ShOff {
		return nil, nil // no (readable) section table: not an executable with a .dep-v0 section
	}
	s := &elfStream{f: f, loadEnd: f.LoadEnd(), shtOff: f.ShOff, names: map[uint64]bool{}}
	bufp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bufp)
	buf := *bufp
	carry := 0      // bytes at the front of buf seen in the previous round, for patterns across chunks
	var next uint64 // file offset of the next byte to read
	for chunks := 0; ; chunks++ {
		if chunks%64 == 63 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		n, err := io.ReadFull(r, buf[carry:carry+streamChunk])
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return nil, err
		}
		data := buf[:carry+n]
		s.see(data, next-uint64(carry), carry)
		next += uint64(n)
		if eof {
			break
		}
		carry = min(8, len(data))
		copy(buf, data[len(data)-carry:])
	}
	s.finishPending()
	if s.zr != nil {
		s.zr.Close()
	}
	return s.section()
}

// see takes data, whose first byte is at file offset dataBase and whose
// first old bytes were seen before.
func (s *elfStream) see(data []byte, dataBase uint64, old int) {
	fresh := data[old:]
	freshBase := dataBase + uint64(old)
	// The section header table.
	if want := s.f.SHTSize(); uint64(len(s.sht)) < want {
		at := s.shtOff + uint64(len(s.sht))
		if at >= freshBase && at < freshBase+uint64(len(fresh)) {
			k := min(uint64(len(fresh))-(at-freshBase), want-uint64(len(s.sht)))
			s.sht = append(s.sht, fresh[at-freshBase:at-freshBase+k]...)
		}
	}
	// Captures in progress take the fresh bytes.
	for _, c := range s.captures {
		s.feed(c, data, dataBase)
	}
	// Only the part of the file no segment loads is searched: the bytes
	// of sections that are not loaded, such as the section names and
	// cargo auditable's data.
	from := 0
	if s.loadEnd > dataBase {
		from = int(min(s.loadEnd-dataBase, uint64(len(data))))
	}
	// New section name strings.
	for i := from; ; {
		j := bytes.Index(data[i:], []byte(namePattern))
		if j < 0 {
			break
		}
		off := dataBase + uint64(i+j)
		i += j + 1
		if off < s.nextName {
			continue
		}
		if len(s.names) >= maxNames {
			s.namesFull = true
			break
		}
		s.names[off] = true
	}
	s.nextName = dataBase + uint64(max(0, len(data)-len(namePattern)+1))
	// New zlib candidates.
	for i := from; i+1 < len(data); {
		j := bytes.IndexByte(data[i:len(data)-1], 0x78)
		if j < 0 {
			break
		}
		p := i + j
		i = p + 1
		off := dataBase + uint64(p)
		if off < s.nextZlib || !zlibHeader(data[p+1]) {
			continue
		}
		if s.pending() >= maxPending || len(s.captures) >= maxPending+maxCaptures {
			s.dropped = true
			continue
		}
		c := &capture{off: off}
		s.captures = append(s.captures, c)
		s.feed(c, data, dataBase)
	}
	s.nextZlib = dataBase + uint64(max(0, len(data)-1))
	s.validate(false)
}

// feed appends to c the bytes of data (at file offset dataBase) that follow
// what c holds: up to validateLen until c is found to be JSON, then up to
// streamCapture+1 (one more than is kept, to tell a longer section). A
// capture validated here takes the rest of data at once.
func (s *elfStream) feed(c *capture, data []byte, dataBase uint64) {
	for {
		limit := validateLen
		if c.validated {
			limit = streamCapture + 1
		}
		next := c.off + uint64(len(c.buf))
		if next < dataBase || next >= dataBase+uint64(len(data)) || len(c.buf) >= limit {
			return
		}
		from := next - dataBase
		k := min(uint64(len(data))-from, uint64(limit-len(c.buf)))
		c.buf = append(c.buf, data[from:from+k]...)
		if c.validated || len(c.buf) < validateLen {
			return
		}
		if !s.inflatesToJSON(c.buf) {
			c.buf = nil
			c.rejected = true
			return
		}
		c.validated = true
	}
}

// zlibHeader reports whether 0x78 followed by flg starts a zlib stream
// (RFC 1950: deflate with a 32 KiB window, no preset dictionary, check bits).
func zlibHeader(flg byte) bool {
	return (0x7800+uint16(flg))%31 == 0 && flg&0x20 == 0
}

func (s *elfStream) pending() int {
	n := 0
	for _, c := range s.captures {
		if !c.validated {
			n++
		}
	}
	return n
}

// validate drops the captures found not to be JSON, and at the end decides
// on those shorter than validateLen (the file ended first). At most
// maxCaptures validated captures are kept.
func (s *elfStream) validate(atEnd bool) {
	kept := s.captures[:0]
	validated := 0
	for _, c := range s.captures {
		if atEnd && !c.validated && !c.rejected {
			c.validated = s.inflatesToJSON(c.buf)
			c.rejected = !c.validated
		}
		if c.rejected {
			continue
		}
		if c.validated {
			if validated >= maxCaptures {
				s.dropped = true
				continue
			}
			validated++
		}
		kept = append(kept, c)
	}
	clear(s.captures[len(kept):])
	s.captures = kept
}

func (s *elfStream) finishPending() { s.validate(true) }

// inflatesToJSON reports whether b starts a zlib stream whose first
// non-blank byte inflated is '{'.
func (s *elfStream) inflatesToJSON(b []byte) bool {
	var err error
	if s.zr == nil {
		s.zr, err = zlib.NewReader(bytes.NewReader(b))
	} else {
		err = s.zr.(zlib.Resetter).Reset(bytes.NewReader(b), nil)
	}
	if err != nil {
		return false
	}
	var out [16]byte
	n, _ := io.ReadFull(s.zr, out[:])
	js := bytes.TrimLeft(out[:n], " \t\r\n")
	return len(js) > 0 && js[0] == '{'
}

// section decides, from the section header table, which bytes were .dep-v0.
func (s *elfStream) section() ([]byte, error) {
	secs, err := s.f.Sections(s.sht)
	if err != nil || int(s.f.ShStrNdx) >= len(secs) {
		return nil, nil // a truncated or odd file: not this extractor's business
	}
	names := secs[s.f.ShStrNdx]
	if names.Off < s.loadEnd && len(secs) > 1 {
		// Linkers never load the section names; the stream did not
		// look for them there.
		return nil, fmt.Errorf("%w: the section names lie inside a loaded segment", ErrNotCaptured)
	}
	for _, sec := range secs {
		if uint64(sec.Name)+uint64(len(namePattern)) > names.Size {
			continue
		}
		at := names.Off + uint64(sec.Name)
		if !s.names[at] {
			continue
		}
		if sec.Type == elfhead.SHTNoBits {
			return nil, nil
		}
		if sec.Size > maxCompressed {
			return nil, fmt.Errorf("%s section is over %d bytes", sectionName, maxCompressed)
		}
		for _, c := range s.captures {
			if c.validated && c.off == sec.Off && uint64(len(c.buf)) >= sec.Size {
				return c.buf[:sec.Size], nil
			}
		}
		if sec.Size > streamCapture {
			return nil, fmt.Errorf("%w: it is %d bytes, over the %d kept while streaming", ErrNotCaptured, sec.Size, streamCapture)
		}
		return nil, fmt.Errorf("%w: its %d bytes at offset %d are not a zlib stream of JSON where linkers put such sections", ErrNotCaptured, sec.Size, sec.Off)
	}
	if s.namesFull {
		return nil, fmt.Errorf("%w: the file holds over %d strings %q", ErrNotCaptured, maxNames, sectionName)
	}
	return nil, nil
}
