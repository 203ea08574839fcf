package gobinary

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/credence-dev/credence/inventory/internal/elfhead"
)

// The build info blob, as the Go linker writes it (cmd/link, and read by
// debug/buildinfo): 16-byte aligned, a 14-byte magic, the pointer size,
// a flags byte, padding to 32 bytes; with flag 2 set (Go 1.18+) the Go
// version and the module info follow as uvarint-length-prefixed strings.
// The module info is wrapped in two 16-byte sentinels.
var magic = []byte("\xff Go buildinf:")

const (
	headerSize    = 32
	flagInline    = 0x2
	maxVersionLen = 1 << 10
	maxModInfoLen = 16 << 20 // the largest real ones are a few hundred KB
	chunkSize     = 256 << 10
)

// window streams a reader, keeping the unconsumed bytes in buf; off is the
// file offset of buf[0].
type window struct {
	r     io.Reader
	buf   []byte
	off   int64
	eof   bool
	chunk int // bytes read at a time
	// hook, when set, sees every byte once, as w.buf[from:] right after
	// it was read.
	hook func(w *window, from int)
}

// more reads another chunk; it reports false at the end of the stream.
func (w *window) more() (bool, error) {
	if w.eof {
		return false, nil
	}
	if cap(w.buf)-len(w.buf) < w.chunk {
		nb := make([]byte, len(w.buf), 2*cap(w.buf)+w.chunk)
		copy(nb, w.buf)
		w.buf = nb
	}
	from := len(w.buf)
	n, err := io.ReadFull(w.r, w.buf[from:from+w.chunk])
	w.buf = w.buf[:from+n]
	if w.hook != nil && n > 0 {
		w.hook(w, from)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		w.eof = true
		return n > 0, nil
	}
	return true, err
}

// fill makes buf at least n bytes long; false when the stream ends first.
func (w *window) fill(n int) (bool, error) {
	for len(w.buf) < n {
		ok, err := w.more()
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// discard drops the first n bytes, moving the rest to the front.
func (w *window) discard(n int) {
	m := copy(w.buf, w.buf[n:])
	w.buf = w.buf[:m]
	w.off += int64(n)
}

// magic8 is the first 8 bytes of magic, as a little-endian word.
var magic8 = binary.LittleEndian.Uint64(magic)

// scan reads r, whose first byte is at file offset start, looking for the
// build info at 16-byte aligned offsets inside ranges (all of the file when
// ranges is nil). It returns nil, nil when there is none, and ErrOldFormat
// when the only build info found stores addresses that could not be
// followed. With segs (the ELF segments of the file) every byte is seen by
// an oldCapture, which follows such addresses; without it, bytes before a
// range are skipped and reading stops after the last range.
func scan(ctx context.Context, r io.Reader, start, size int64, ranges []elfhead.Range, segs []segment) (*debug.BuildInfo, error) {
	chunk := int(min(max(size, 4096), chunkSize))
	w := &window{r: r, buf: getBuffer(2 * chunk), chunk: chunk, off: start}
	defer putBuffer(w.buf)
	var capture *oldCapture
	if segs != nil {
		capture = newOldCapture(segs)
		w.hook = capture.see
	}
	old := false
	for chunks := 0; ; chunks++ {
		if chunks%64 == 63 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if capture == nil && ranges != nil {
			next, ok := nextRange(ranges, w.off)
			if !ok {
				break // past the last range: nothing more to find
			}
			if err := w.skipTo(int64(next)); err != nil {
				return nil, err
			}
		}
		for {
			i := findMagic(w.buf, w.off, ranges)
			if i < 0 {
				break
			}
			w.discard(i)
			bi, isOld, err := parse(w)
			if err != nil {
				return nil, err
			}
			if bi != nil {
				return bi, nil
			}
			if isOld && capture != nil {
				if bi, err := capture.resolve(w); err != nil || bi != nil {
					return bi, err
				}
			}
			old = old || isOld
			w.discard(1)
		}
		if keep := patternOverlap; len(w.buf) > keep {
			w.discard(len(w.buf) - keep)
		}
		ok, err := w.more()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
	}
	if old {
		return nil, ErrOldFormat
	}
	return nil, nil
}

// findMagic returns the index in buf (whose first byte is at file offset
// base) of the first magic at a 16-byte aligned offset inside ranges, or -1.
// A magic cut by the end of buf counts when its first 8 bytes are there;
// parse reads on.
func findMagic(buf []byte, base int64, ranges []elfhead.Range) int {
	for p := int((16 - base%16) % 16); p+8 <= len(buf); p += 16 {
		if binary.LittleEndian.Uint64(buf[p:]) != magic8 {
			continue
		}
		if n := min(len(buf)-p, len(magic)); string(buf[p:p+n]) != string(magic[:n]) {
			continue
		}
		if ranges != nil && !inRanges(ranges, uint64(base)+uint64(p)) {
			continue
		}
		return p
	}
	return -1
}

func inRanges(ranges []elfhead.Range, off uint64) bool {
	for _, r := range ranges {
		if off >= r.Off && off < r.End {
			return true
		}
	}
	return false
}

// nextRange returns where the first range that ends after off starts (off
// itself when off is inside it).
func nextRange(ranges []elfhead.Range, off int64) (uint64, bool) {
	best, ok := uint64(0), false
	for _, r := range ranges {
		if r.End > uint64(off) {
			s := max(r.Off, uint64(off))
			if !ok || s < best {
				best, ok = s, true
			}
		}
	}
	return best, ok
}

// skipTo drops everything before file offset off, reading past it without
// keeping it (no hook may be set).
func (w *window) skipTo(off int64) error {
	end := w.off + int64(len(w.buf))
	if off <= end {
		if off > w.off {
			w.discard(int(off - w.off))
		}
		return nil
	}
	gap := off - end
	w.buf, w.off = w.buf[:0], end
	scratch := w.buf[:cap(w.buf)]
	for gap > 0 && !w.eof {
		n, err := w.r.Read(scratch[:min(int64(len(scratch)), gap)])
		w.off += int64(n)
		gap -= int64(n)
		if errors.Is(err, io.EOF) {
			w.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

// Window buffers are pooled: one Extract per executable file.
var bufferPool sync.Pool

func getBuffer(n int) []byte {
	if b, ok := bufferPool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:0]
	}
	return make([]byte, 0, n)
}

func putBuffer(b []byte) {
	if cap(b) <= 2*chunkSize {
		bufferPool.Put(&b)
	}
}

// parse reads the build info at the start of w.buf. It returns nil when
// the bytes there are not a valid blob, and isOld for a plausible blob of
// the pre-1.18 kind.
func parse(w *window) (bi *debug.BuildInfo, isOld bool, err error) {
	if ok, err := w.fill(headerSize); !ok {
		return nil, false, err
	}
	ptrSize, flags := w.buf[14], w.buf[15]
	if ptrSize != 4 && ptrSize != 8 {
		return nil, false, nil
	}
	if flags&flagInline == 0 {
		return nil, true, nil
	}
	pos := headerSize
	vers, err := readString(w, &pos, maxVersionLen)
	if errors.Is(err, errNotString) || errors.Is(err, ErrTruncated) {
		return nil, false, nil // not a blob, or cut where nothing says it was one
	}
	if err != nil {
		return nil, false, err
	}
	if !strings.HasPrefix(vers, "go") && !strings.HasPrefix(vers, "devel") {
		return nil, false, nil
	}
	// A Go version after the header: this is the build info.
	mod, err := readString(w, &pos, maxModInfoLen)
	if err != nil {
		return nil, false, fmt.Errorf("module info after %s: %w", vers, err)
	}
	// As debug/buildinfo: strip the sentinels; without them there is no
	// module info (a binary built outside module mode).
	if len(mod) >= 33 && mod[len(mod)-17] == '\n' {
		mod = mod[16 : len(mod)-16]
	} else {
		mod = ""
	}
	bi, err = debug.ParseBuildInfo(mod)
	if err != nil {
		return nil, false, fmt.Errorf("parse module info: %w", err)
	}
	bi.GoVersion = vers
	return bi, false, nil
}

// Errors of readString.
var (
	errNotString = errors.New("not a build info string")
	// ErrTruncated is returned for a build info blob cut short by the end
	// of the file.
	ErrTruncated = errors.New("build info runs past the end of the file")
)

// readString reads a uvarint-prefixed string at *pos.
func readString(w *window, pos *int, limit int) (string, error) {
	if _, err := w.fill(*pos + binary.MaxVarintLen64); err != nil {
		return "", err
	}
	if *pos >= len(w.buf) {
		return "", ErrTruncated
	}
	n, k := binary.Uvarint(w.buf[*pos:])
	if k <= 0 || n > uint64(limit) {
		return "", errNotString
	}
	start := *pos + k
	end := start + int(n)
	if ok, err := w.fill(end); err != nil {
		return "", err
	} else if !ok {
		return "", ErrTruncated
	}
	*pos = end
	return string(w.buf[start:end]), nil
}
