package gobinary

import (
	"context"
	"encoding/binary"
	"io"

	"github.com/credence-dev/credence/inventory/internal/elfhead"
)

// SplitFuncName exposes splitFuncName to the tests, the path unescaped
// as readNames does.
func SplitFuncName(name string) (pkg, sym string, ok bool) {
	var scratch []byte
	p, s, ok := splitFuncName([]byte(name), &scratch)
	return unescapePath(p), string(s), ok
}

// ReadNames exposes readNames to the tests: import path → functions.
func ReadNames(names []byte) map[string][]string {
	out := map[string][]string{}
	for path, set := range readNames(names) {
		out[path] = sortedFuncs(set)
	}
	return out
}

// CaptureNames streams data through the capture, readSize bytes per
// read, as Extract does for an ELF file; with search, the section
// headers are ignored and the read-only segments searched (what happens
// when an external linker put them at the end). It returns the name
// table, or why there is none.
func CaptureNames(data []byte, readSize int, search bool) ([]byte, string, error) {
	head := data[:min(len(data), headSize)]
	f, err := elfhead.Parse(head)
	if err != nil {
		return nil, "", err
	}
	plan := planPcln(f, head, int64(len(data)))
	if search {
		plan = planPcln(&elfhead.File{Is64: f.Is64, Order: f.Order, Progs: f.Progs}, nil, int64(len(data)))
	}
	c := newPclnCapture(&smallReads{data: data, n: readSize}, plan)
	ft, err := c.finish(context.Background())
	return ft.names, ft.unknown, err
}

type smallReads struct {
	data []byte
	n    int
}

func (r *smallReads) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// CaptureRaw streams data through a capture whose plan is the whole of
// data: one candidate section at offset 0, or (search) one read-only
// segment to search; 64-bit little-endian unless bigEndian.
func CaptureRaw(data []byte, readSize int, search, bigEndian bool) ([]byte, string, error) {
	plan := &pclnPlan{order: binary.LittleEndian, ptrSize: 8, size: int64(len(data))}
	if bigEndian {
		plan.order = binary.BigEndian
	}
	whole := []elfhead.Range{{Off: 0, End: uint64(len(data))}}
	if search {
		plan.search = whole
	} else {
		plan.starts = whole
	}
	c := newPclnCapture(&smallReads{data: data, n: max(1, readSize)}, plan)
	ft, err := c.finish(context.Background())
	return ft.names, ft.unknown, err
}
