package image_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/internal/testutil/imagetest"
)

// threeLayers is an OCI layout whose first layer is the biggest (the
// walk's critical path) and whose other two are big enough to take several
// read-ahead buffers: random bytes, which gzip cannot shrink.
func threeLayers(t *testing.T) string {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return string(b)
	}
	files := func(prefix string, count, size int) []imagetest.File {
		var fs []imagetest.File
		for i := range count {
			fs = append(fs, imagetest.File{Name: fmt.Sprintf("%s/%d", prefix, i), Body: random(size)})
		}
		return fs
	}
	return imagetest.Layout(t, imagetest.Image(t, files("big", 12, 512<<10), files("mid", 6, 512<<10), files("small", 4, 512<<10)), "")
}

// The other layers' decompressors step aside while the biggest layer's
// helpers have work; whatever the biggest layer's visitor does (takes its
// time, fails), the walk ends, with every entry or with the error, and
// leaves no goroutine behind.
func TestWalkCriticalPath(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // the critical path is kept when there is a processor per layer or fewer
	dir := threeLayers(t)
	errVisit := errors.New("visitor failed")
	for _, tc := range []struct {
		name    string
		visit   func(e *image.Entry) error // called before the content is read
		wantErr error
	}{
		{name: "slow biggest layer", visit: func(e *image.Entry) error {
			if strings.HasPrefix(e.Path, "big/") {
				time.Sleep(20 * time.Millisecond)
			}
			return nil
		}},
		{name: "biggest layer fails", wantErr: errVisit, visit: func(e *image.Entry) error {
			if e.Path == "big/3" {
				return errVisit
			}
			return nil
		}},
		{name: "smaller layer fails", wantErr: errVisit, visit: func(e *image.Entry) error {
			if e.Path == "small/1" {
				return errVisit
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			var mu sync.Mutex
			seen := map[string]int{}
			done := make(chan error, 1)
			go func() {
				_, err := open(t, "oci:"+dir).Walk(context.Background(), func(e *image.Entry, r io.Reader) error {
					if r == nil {
						return nil
					}
					if err := tc.visit(e); err != nil {
						return err
					}
					n, err := io.Copy(io.Discard, r)
					mu.Lock()
					seen[e.Path] = int(n)
					mu.Unlock()
					return err
				})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				buf := make([]byte, 1<<20)
				t.Fatalf("the walk has not ended after a minute:\n%s", buf[:runtime.Stack(buf, true)])
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Walk = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil {
				for _, prefix := range []string{"big", "mid", "small"} {
					for i := range map[string]int{"big": 12, "mid": 6, "small": 4}[prefix] {
						if p := fmt.Sprintf("%s/%d", prefix, i); seen[p] != 512<<10 {
							t.Errorf("%s: read %d bytes, want %d", p, seen[p], 512<<10)
						}
					}
				}
			}
			for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					buf := make([]byte, 1<<20)
					t.Fatalf("%d goroutines left after the walk (%d before):\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				}
			}
		})
	}
}
