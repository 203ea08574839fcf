package image

import (
	"bytes"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
	"time"
)

// busyHelpers reads how many helpers of p have work.
func busyHelpers(p *criticalPath) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.busy
}

// returnsWithin runs f and reports whether it returned within d.
func returnsWithin(d time.Duration, f func()) (chan struct{}, bool) {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
		return done, true
	case <-time.After(d):
		return done, false
	}
}

// setStepAsideLimit changes stepAsideLimit for one test.
func setStepAsideLimit(t *testing.T, d time.Duration) {
	old := stepAsideLimit
	stepAsideLimit = d
	t.Cleanup(func() { stepAsideLimit = old })
}

// A decompressor steps aside while a helper of the critical path has work,
// one at a time, and goes on when the helpers rest or it is stopped.
func TestStepAside(t *testing.T) {
	setStepAsideLimit(t, time.Hour)
	p := new(criticalPath)
	walker, blob := p.helper(), p.helper()
	if _, ok := returnsWithin(time.Second, func() { p.stepAside(nil) }); !ok {
		t.Fatal("stepAside waited while no helper had work")
	}

	walker.setBusy(true)
	walker.setBusy(true) // twice is once
	blob.setBusy(true)
	aside, ok := returnsWithin(50*time.Millisecond, func() { p.stepAside(nil) })
	if ok {
		t.Fatal("stepAside returned while two helpers had work")
	}
	if _, ok := returnsWithin(time.Second, func() { p.stepAside(nil) }); !ok {
		t.Fatal("a second decompressor stepped aside too: one is enough to free a processor")
	}
	walker.setBusy(false)
	select {
	case <-aside:
		t.Fatal("stepAside returned while the blob's helper still had work")
	case <-time.After(50 * time.Millisecond):
	}
	blob.setBusy(false)
	blob.setBusy(false) // resting twice is resting once
	select {
	case <-aside:
	case <-time.After(5 * time.Second):
		t.Fatal("stepAside still waits after every helper rested")
	}
	if n := busyHelpers(p); n != 0 {
		t.Fatalf("%d helpers busy, want 0", n)
	}

	walker.setBusy(true)
	stop := make(chan struct{})
	stopped, ok := returnsWithin(50*time.Millisecond, func() { p.stepAside(stop) })
	if ok {
		t.Fatal("stepAside did not wait for a new busy spell")
	}
	close(stop)
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("stepAside does not end when its readahead is stopped")
	}

	var none *criticalPath // no critical path: nothing to do, nothing to wait for
	none.helper().setBusy(true)
	none.stepAside(nil)
}

// A busy spell that outlasts stepAsideLimit is given up on: the helper is
// waiting, not computing; nobody steps aside for it again, but for the next.
func TestStepAsideLimit(t *testing.T) {
	setStepAsideLimit(t, 20*time.Millisecond)
	p := new(criticalPath)
	walker := p.helper()
	walker.setBusy(true)
	start := time.Now()
	if _, ok := returnsWithin(5*time.Second, func() { p.stepAside(nil) }); !ok {
		t.Fatal("stepAside waits on past its limit")
	}
	if waited := time.Since(start); waited < stepAsideLimit {
		t.Fatalf("stepAside returned after %v, before its limit %v", waited, stepAsideLimit)
	}
	stepAsideLimit = time.Hour
	if _, ok := returnsWithin(time.Second, func() { p.stepAside(nil) }); !ok {
		t.Fatal("stepAside waited again for a busy spell it gave up on")
	}
	walker.setBusy(false)
	walker.setBusy(true) // the next spell
	aside, ok := returnsWithin(50*time.Millisecond, func() { p.stepAside(nil) })
	if ok {
		t.Fatal("stepAside did not wait for a new busy spell")
	}
	walker.setBusy(false)
	<-aside
}

// Another layer's decompressor does not read its source while the critical
// path's helpers have work, and reads all of it once they rest.
func TestReadaheadStepsAside(t *testing.T) {
	setStepAsideLimit(t, time.Hour)
	p := new(criticalPath)
	walker := p.helper()
	walker.setBusy(true)
	data := bytes.Repeat([]byte("layer bytes "), readaheadSize/6)
	src := &countingReader{r: bytes.NewReader(data)}
	r := newReadahead(src, readaheadStages{yield: p})
	defer r.Close()
	time.Sleep(50 * time.Millisecond)
	if n := src.n.Load(); n != 0 {
		t.Fatalf("read %d bytes of its source while a helper had work", n)
	}
	walker.setBusy(false)
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (err %v), want the %d of the source", len(got), err, len(data))
	}
}

// The critical path's walker has work when data comes and rests while it
// waits for more; its blob reader rests while it reads (waiting for the
// file or the network) and has work while it hashes.
func TestReadaheadHelpersRest(t *testing.T) {
	p := new(criticalPath)
	pr, pw := io.Pipe()
	r := newReadahead(pr, readaheadStages{consumer: p.helper()})
	defer r.Close()
	defer pw.Close() // first: Close waits for the goroutine's read
	// The readahead hands over whole buffers: write one at a time.
	chunk := func(c byte) { go pw.Write(bytes.Repeat([]byte{c}, readaheadSize)) }
	read := func(n int) chan string {
		got := make(chan string, 1)
		go func() { b := make([]byte, n); k, _ := io.ReadFull(r, b); got <- string(b[:k]) }()
		return got
	}
	waitFor := func(want int, why string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); busyHelpers(p) != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d helpers busy %s, want %d", busyHelpers(p), why, want)
			}
		}
	}
	chunk('a')
	if s := <-read(readaheadSize); s != strings.Repeat("a", readaheadSize) {
		t.Fatalf("read %d bytes, want %d a's", len(s), readaheadSize)
	}
	waitFor(1, "after the walker got data")
	got := read(1) // nothing more written: it waits
	waitFor(0, "while the walker waits for data")
	chunk('b')
	if s := <-got; s != "b" {
		t.Fatalf("read %q, want b", s)
	}
	waitFor(1, "after the walker got data again")
	pw.Close()

	q := new(criticalPath)
	blobR, blobW := io.Pipe()
	h := sha256.New()
	blob := newReadahead(blobR, readaheadStages{hash: h, producer: q.helper()})
	defer blob.Close()
	defer blobW.Close()
	time.Sleep(20 * time.Millisecond) // the goroutine is in its read
	if n := busyHelpers(q); n != 0 {
		t.Fatalf("%d helpers busy while the blob reader waits for its source, want 0", n)
	}
	blobW.Write([]byte("stored blob"))
	blobW.Close()
	all, err := io.ReadAll(blob)
	if err != nil || string(all) != "stored blob" {
		t.Fatalf("read %q, %v", all, err)
	}
	if want := sha256.Sum256(all); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("the blob reader's hash is not the hash of what it read")
	}
	if n := busyHelpers(q); n != 0 {
		t.Fatalf("%d helpers busy after the blob reader ended, want 0", n)
	}
}
