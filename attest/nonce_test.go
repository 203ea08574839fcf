package attest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credence-dev/credence/attest"
)

// clock is a settable time for nonce stores.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// stores opens each kind of store on the same options; the directory
// store is opened twice, as two verifier processes would.
func stores(t *testing.T, opts ...attest.NonceOption) map[string][2]attest.NonceStore {
	t.Helper()
	dir := t.TempDir()
	a, err := attest.OpenNonceDir(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := attest.OpenNonceDir(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	mem := attest.NewNonces(time.Minute, opts...)
	return map[string][2]attest.NonceStore{"memory": {mem, mem}, "dir": {a, b}}
}

func TestNonceStoreLifecycle(t *testing.T) {
	c := &clock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	for name, s := range stores(t, attest.WithNonceTTL(time.Minute), attest.WithNonceMemory(time.Hour), attest.NonceClockForTest(c.Now)) {
		t.Run(name, func(t *testing.T) {
			issuer, verifier := s[0], s[1]
			n, err := issuer.Issue()
			if err != nil || len(n) != attest.NonceSize {
				t.Fatalf("issue: %x %v", n, err)
			}
			if used, err := verifier.Used(n); used || err != nil {
				t.Fatalf("fresh nonce used=%v err=%v", used, err)
			}
			if err := verifier.Consume(n); err != nil {
				t.Fatalf("first answer: %v", err)
			}
			if used, _ := issuer.Used(n); !used {
				t.Error("an answered nonce is not remembered")
			}
			if err := verifier.Consume(n); !errors.Is(err, attest.ErrNonceReused) {
				t.Errorf("second answer: %v, want ErrNonceReused", err)
			}
			if err := verifier.Consume(bytes.Repeat([]byte{7}, 32)); !errors.Is(err, attest.ErrNonceUnknown) {
				t.Errorf("never issued: %v, want ErrNonceUnknown", err)
			}
			late, _ := issuer.Issue()
			c.Add(2 * time.Minute)
			if err := verifier.Consume(late); !errors.Is(err, attest.ErrNonceExpired) {
				t.Errorf("answered after its TTL: %v, want ErrNonceExpired", err)
			}
			// Past the memory, answered nonces are forgotten: the store
			// does not grow without bound.
			c.Add(2 * time.Hour)
			if used, _ := issuer.Used(n); used {
				t.Error("an answered nonce is remembered past the memory")
			}
		})
	}
}

func TestNonceStoreCallerNonces(t *testing.T) {
	c := &clock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	for name, s := range stores(t, attest.WithCallerNonces(), attest.NonceClockForTest(c.Now)) {
		t.Run(name, func(t *testing.T) {
			own := bytes.Repeat([]byte{9}, 32)
			if err := s[0].Consume(own); err != nil {
				t.Fatalf("the caller's own nonce: %v", err)
			}
			if err := s[1].Consume(own); !errors.Is(err, attest.ErrNonceReused) {
				t.Errorf("the caller's nonce again: %v, want ErrNonceReused", err)
			}
			// A nonce the store issued keeps its expiry in caller mode.
			n, _ := s[0].Issue()
			c.Add(time.Hour)
			if err := s[1].Consume(n); !errors.Is(err, attest.ErrNonceExpired) {
				t.Errorf("issued, expired: %v, want ErrNonceExpired", err)
			}
		})
	}
}

// Verifier processes sharing a state directory: one answer per nonce,
// and no issued nonce lost to a concurrent rewrite.
func TestNonceDirConcurrent(t *testing.T) {
	dir := t.TempDir()
	const procs = 16
	open := func() *attest.NonceDir {
		d, err := attest.OpenNonceDir(dir, attest.WithCallerNonces())
		if err != nil {
			t.Error(err)
		}
		return d
	}
	nonce := bytes.Repeat([]byte{1}, 32)
	var accepted atomic.Int32
	var issued sync.Map
	var wg sync.WaitGroup
	for range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := open() // its own file descriptors, so its own flock
			if d == nil {
				return
			}
			switch err := d.Consume(nonce); {
			case err == nil:
				accepted.Add(1)
			case !errors.Is(err, attest.ErrNonceReused):
				t.Error(err)
			}
			for range 5 {
				n, err := d.Issue()
				if err != nil {
					t.Error(err)
					return
				}
				issued.Store(string(n), true)
			}
		}()
	}
	wg.Wait()
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d verifiers accepted the same nonce, want 1", n)
	}
	// Every issued nonce is in the store: consuming each succeeds once.
	d, err := attest.OpenNonceDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	issued.Range(func(k, _ any) bool {
		count++
		if err := d.Consume([]byte(k.(string))); err != nil {
			t.Errorf("issued nonce lost: %v", err)
		}
		return true
	})
	if count != procs*5 {
		t.Errorf("%d nonces issued, want %d", count, procs*5)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// A full store refuses new nonces instead of forgetting answered ones.
func TestNonceStoreBounded(t *testing.T) {
	c := &clock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	for name, s := range stores(t, attest.MaxNoncesForTest(3), attest.WithCallerNonces(), attest.WithNonceMemory(time.Hour), attest.NonceClockForTest(c.Now)) {
		t.Run(name, func(t *testing.T) {
			for i := range 3 {
				if err := s[0].Consume(bytes.Repeat([]byte{byte(i + 1)}, 32)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s[0].Issue(); !errors.Is(err, attest.ErrNonceStoreFull) {
				t.Errorf("issue into a full store: %v", err)
			}
			if err := s[1].Consume(bytes.Repeat([]byte{9}, 32)); !errors.Is(err, attest.ErrNonceStoreFull) {
				t.Errorf("accept into a full store: %v", err)
			}
			// The answered ones are still refused.
			if err := s[1].Consume(bytes.Repeat([]byte{1}, 32)); !errors.Is(err, attest.ErrNonceReused) {
				t.Errorf("answered nonce in a full store: %v", err)
			}
			c.Add(2 * time.Hour)
			if _, err := s[0].Issue(); err != nil {
				t.Errorf("after expiry: %v", err)
			}
		})
	}
}

func TestNonceDirRefusesABrokenState(t *testing.T) {
	dir := t.TempDir()
	d, err := attest.OpenNonceDir(dir, attest.WithCallerNonces())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Consume(bytes.Repeat([]byte{1}, 32)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "nonces.json"))
	if err != nil || !json.Valid(b) {
		t.Fatalf("state file: %v %q", err, b)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "nonces.json")); fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	for _, bad := range []string{"", "{", `{"version":2,"issued":{},"used":{}}`, `{"version":1,"extra":1}`} {
		os.WriteFile(filepath.Join(dir, "nonces.json"), []byte(bad), 0o600)
		if _, err := attest.OpenNonceDir(dir); err == nil {
			t.Errorf("state %q opened", bad)
		}
		if err := d.Consume(bytes.Repeat([]byte{2}, 32)); err == nil || errors.Is(err, attest.ErrNonceUnknown) {
			t.Errorf("consume on state %q: %v, want an operational error", bad, err)
		}
	}
}
