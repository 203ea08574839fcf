package image

import (
	"sync"
	"sync/atomic"
	"time"
)

// criticalPath keeps a processor for the biggest layer's decompressor,
// whose time is the walk's: inflate cannot be split.
//
// Go's scheduler runs a goroutine woken by a channel send on the sender's
// processor, after the sender. The biggest layer's decompressor wakes its
// layer's helpers (the walker parsing the tar it writes, the goroutine
// reading and hashing the blob it reads) for every buffer; while the other
// processors are busy decompressing smaller layers, those helpers run on
// the decompressor's processor, and it waits for them. So while a helper of
// the biggest layer has work, one decompressor of another layer steps aside
// between two chunks: its processor goes idle and takes the helper over
// (Go's idle processors steal), and it goes on when the helpers rest. The
// smaller layers finish later, still before the biggest.
//
// A helper that stays busy longer than stepAsideLimit is taken to be
// waiting rather than computing (a visitor that sleeps, or writes a big
// file): nobody steps aside for it again until it has rested.
type criticalPath struct {
	mu       sync.Mutex
	busy     int           // helpers with work
	quiet    chan struct{} // closed when busy falls to 0; nil while it is 0
	timedOut chan struct{} // the quiet of the busy spell a wait gave up on
	aside    atomic.Bool   // a decompressor is stepping aside
}

// stepAsideLimit is the longest a decompressor steps aside for one busy
// spell of the helpers: a time slice of Go's scheduler, far longer than a
// helper needs for one buffer. A variable for tests.
var stepAsideLimit = 10 * time.Millisecond

// helper is one goroutine of the critical path's layer other than its
// decompressor. A nil *helper does nothing.
type helper struct {
	path *criticalPath
	busy bool // guarded by path.mu
}

func (p *criticalPath) helper() *helper {
	if p == nil {
		return nil
	}
	return &helper{path: p}
}

// setBusy records that the helper has work (was woken, or runs) or rests
// (is about to wait, or ends).
func (h *helper) setBusy(busy bool) {
	if h == nil {
		return
	}
	p := h.path
	p.mu.Lock()
	defer p.mu.Unlock()
	if h.busy == busy {
		return
	}
	h.busy = busy
	switch {
	case busy:
		if p.busy++; p.busy == 1 {
			p.quiet = make(chan struct{})
		}
	default:
		if p.busy--; p.busy == 0 {
			close(p.quiet)
			p.quiet = nil
		}
	}
}

// stepAside waits, in at most one goroutine at a time, while a helper of
// the critical path has work, for at most stepAsideLimit, or until stop
// closes. Helpers never wait for another layer, so the wait would end.
func (p *criticalPath) stepAside(stop <-chan struct{}) {
	if p == nil {
		return
	}
	p.mu.Lock()
	quiet, gaveUp := p.quiet, p.timedOut
	p.mu.Unlock()
	if quiet == nil || quiet == gaveUp || !p.aside.CompareAndSwap(false, true) {
		return
	}
	defer p.aside.Store(false)
	limit := time.NewTimer(stepAsideLimit)
	defer limit.Stop()
	select {
	case <-quiet:
	case <-stop:
	case <-limit.C:
		p.mu.Lock()
		p.timedOut = quiet
		p.mu.Unlock()
	}
}
