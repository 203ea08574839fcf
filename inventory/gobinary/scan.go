package gobinary

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
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

// scan streams r (of size bytes) looking for the build info. It returns
// nil, nil when there is none, and ErrOldFormat when the only build info
// found stores addresses that could not be followed. With segs (the ELF
// segments of the file) it follows them through an oldCapture.
func scan(ctx context.Context, r io.Reader, size int64, segs []segment) (*debug.BuildInfo, error) {
	chunk := int(min(max(size, 4096), chunkSize))
	w := &window{r: r, buf: make([]byte, 0, 2*chunk), chunk: chunk}
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
		for {
			i := bytes.Index(w.buf, magic)
			if i < 0 {
				break
			}
			w.discard(i)
			if w.off%16 != 0 { // not where a linker puts it: a string constant
				w.discard(1)
				continue
			}
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
