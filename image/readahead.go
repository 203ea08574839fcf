package image

import (
	"errors"
	"io"
	"sync"
)

// readahead decompresses in its own goroutine while the caller parses the
// tar, so one layer keeps two cores busy. It holds at most
// readaheadBuffers × readaheadSize bytes.
type readahead struct {
	full chan []byte
	free chan []byte
	stop chan struct{}
	once sync.Once
	cur  []byte
	off  int
	err  error // valid once full is closed
}

const (
	readaheadBuffers = 4
	readaheadSize    = 512 << 10
)

func newReadahead(src io.Reader) *readahead {
	r := &readahead{
		full: make(chan []byte, readaheadBuffers),
		free: make(chan []byte, readaheadBuffers),
		stop: make(chan struct{}),
	}
	for range readaheadBuffers {
		r.free <- make([]byte, readaheadSize)
	}
	go r.fill(src)
	return r
}

func (r *readahead) fill(src io.Reader) {
	defer close(r.full)
	for {
		var buf []byte
		select {
		case buf = <-r.free:
		case <-r.stop:
			return
		}
		n, err := io.ReadFull(src, buf[:cap(buf)])
		if n > 0 {
			select {
			case r.full <- buf[:n]:
			case <-r.stop:
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF // a short last read, not a truncation: src reports those itself
			}
			r.err = err
			return
		}
	}
}

func (r *readahead) Read(p []byte) (int, error) {
	for r.off == len(r.cur) {
		if r.cur != nil {
			r.free <- r.cur[:cap(r.cur)]
			r.cur = nil
		}
		buf, ok := <-r.full
		if !ok {
			return 0, r.err
		}
		r.cur, r.off = buf, 0
	}
	n := copy(p, r.cur[r.off:])
	r.off += n
	return n, nil
}

// Close stops the goroutine; call it when done reading, even early.
func (r *readahead) Close() {
	r.once.Do(func() { close(r.stop) })
	for range r.full { // let fill return
	}
}
