package image

import (
	"errors"
	"io"
	"sync"
)

// readahead reads its source in its own goroutine, ahead of the caller: one
// per layer reads and hashes the stored blob, another decompresses it while
// the caller parses the tar. Each holds at most readaheadBuffers ×
// readaheadSize bytes, from a pool shared by all layers.
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

var readaheadPool = sync.Pool{New: func() any { b := make([]byte, readaheadSize); return &b }}

func newReadahead(src io.Reader) *readahead {
	r := &readahead{
		full: make(chan []byte, readaheadBuffers),
		free: make(chan []byte, readaheadBuffers),
		stop: make(chan struct{}),
	}
	for range readaheadBuffers {
		r.free <- *readaheadPool.Get().(*[]byte)
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
				r.free <- buf
				return
			}
		} else {
			r.free <- buf
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

// next makes cur hold unread bytes; false at the end (r.err says why).
func (r *readahead) next() bool {
	for r.off == len(r.cur) {
		if r.cur != nil {
			r.free <- r.cur[:cap(r.cur)]
			r.cur, r.off = nil, 0 // a Read after the end must find nothing, again
		}
		buf, ok := <-r.full
		if !ok {
			return false
		}
		r.cur, r.off = buf, 0
	}
	return true
}

func (r *readahead) Read(p []byte) (int, error) {
	if !r.next() {
		return 0, r.err
	}
	n := copy(p, r.cur[r.off:])
	r.off += n
	return n, nil
}

// skip passes over up to n bytes without copying them. It returns how many
// it passed and, when the stream ended first, the reason (io.EOF at a clean end).
func (r *readahead) skip(n int64) (int64, error) {
	var done int64
	for done < n {
		if !r.next() {
			return done, r.err
		}
		k := min(int64(len(r.cur)-r.off), n-done)
		r.off += int(k)
		done += k
	}
	return done, nil
}

// Close stops the goroutine and returns the buffers to the pool; call it
// when done reading, even early.
func (r *readahead) Close() {
	r.once.Do(func() { close(r.stop) })
	for buf := range r.full { // let fill return
		r.free <- buf[:cap(buf)]
	}
	if r.cur != nil {
		r.free <- r.cur[:cap(r.cur)]
		r.cur = nil
	}
	close(r.free)
	for buf := range r.free {
		readaheadPool.Put(&buf)
	}
}
