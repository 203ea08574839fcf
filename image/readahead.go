package image

import (
	"errors"
	"hash"
	"io"
	"sync"
	"sync/atomic"
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

	stages      readaheadStages
	waitingFree atomic.Bool // the goroutine waits for a buffer the reader holds
}

// readaheadStages says what a readahead's goroutine does besides reading,
// and how its two sides stand on the walk's critical path (see
// criticalPath). The zero value: it only reads, and is not on the path.
type readaheadStages struct {
	// hash, when set, hashes every byte read, in the readahead's goroutine;
	// src is then a file or the network, and reading it is waiting, not work.
	hash hash.Hash
	// producer and consumer are set when the readahead's goroutine, or the
	// goroutine that calls Read, is a helper of the critical path.
	producer, consumer *helper
	// yield is set when src is another layer's decompressor: it steps
	// aside between chunks while the critical path's helpers have work.
	yield *criticalPath
}

const (
	readaheadBuffers = 4
	readaheadSize    = 512 << 10
	// yieldChunk is how much another layer's decompressor writes between
	// two looks at the critical path.
	yieldChunk = 64 << 10
)

var readaheadPool = sync.Pool{New: func() any { b := make([]byte, readaheadSize); return &b }}

func newReadahead(src io.Reader, stages readaheadStages) *readahead {
	r := &readahead{
		full:   make(chan []byte, readaheadBuffers),
		free:   make(chan []byte, readaheadBuffers),
		stop:   make(chan struct{}),
		stages: stages,
	}
	for range readaheadBuffers {
		r.free <- *readaheadPool.Get().(*[]byte)
	}
	go r.fill(src)
	return r
}

func (r *readahead) fill(src io.Reader) {
	defer close(r.full)
	defer r.stages.producer.setBusy(false) // before the reader sees the end
	for {
		buf, ok := r.freeBuffer()
		if !ok {
			return
		}
		n, err := r.read(src, buf[:cap(buf)])
		if n > 0 {
			if !r.hand(buf[:n]) {
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

// freeBuffer waits for a buffer to fill; false when stopped.
func (r *readahead) freeBuffer() ([]byte, bool) {
	select {
	case <-r.stop:
		return nil, false
	case buf := <-r.free:
		return buf, true
	default:
	}
	r.waitingFree.Store(true)
	r.stages.producer.setBusy(false)
	defer r.waitingFree.Store(false)
	select {
	case buf := <-r.free:
		return buf, true
	case <-r.stop:
		return nil, false
	}
}

// hand passes a filled buffer to the reader; false when stopped.
func (r *readahead) hand(buf []byte) bool {
	select {
	case r.full <- buf:
	default:
		r.stages.producer.setBusy(false) // about to wait
		select {
		case r.full <- buf:
		case <-r.stop:
			r.free <- buf
			return false
		}
	}
	r.stages.consumer.setBusy(true) // woken, or busy already
	return true
}

// read fills buf from src as io.ReadFull does: hashing what it read, or in
// chunks when it steps aside.
func (r *readahead) read(src io.Reader, buf []byte) (n int, err error) {
	s := r.stages
	switch {
	case s.hash != nil:
		s.producer.setBusy(false) // reading is waiting
		n, err = io.ReadFull(src, buf)
		s.producer.setBusy(true)
		s.hash.Write(buf[:n])
		return n, err
	case s.yield != nil:
		for n < len(buf) && err == nil {
			s.yield.stepAside(r.stop)
			var k int
			k, err = src.Read(buf[n:min(len(buf), n+yieldChunk)])
			n += k
		}
		if n == len(buf) {
			err = nil // io.ReadFull's contract: the next read reports the end
		}
		return n, err
	}
	return io.ReadFull(src, buf)
}

// next makes cur hold unread bytes; false at the end (r.err says why).
func (r *readahead) next() bool {
	for r.off == len(r.cur) {
		if r.cur != nil {
			r.free <- r.cur[:cap(r.cur)]
			if r.waitingFree.Load() {
				r.stages.producer.setBusy(true) // woken
			}
			r.cur, r.off = nil, 0 // a Read after the end must find nothing, again
		}
		var buf []byte
		var ok bool
		select {
		case buf, ok = <-r.full:
		default:
			r.stages.consumer.setBusy(false) // about to wait
			buf, ok = <-r.full
			r.stages.consumer.setBusy(true)
		}
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
