package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/credence-dev/credence/store"
)

func TestJobsLifecycle(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newClock()
		s := open(t, b.dsn(t), store.WithClock(clk.Now))
		e, err := s.Enqueue(ctx, store.NewJob{Key: "assess:shop/Deployment/web", Kind: "assess", Payload: []byte("1")})
		if err != nil || e != store.Created {
			t.Fatalf("enqueue: %v %v", e, err)
		}
		if e, _ := s.Enqueue(ctx, store.NewJob{Key: "assess:shop/Deployment/web", Kind: "assess", Payload: []byte("2")}); e != store.Merged {
			t.Errorf("second enqueue: %v", e)
		}
		if j, _ := s.Claim(ctx, "a", time.Minute, "other-kind"); j != nil {
			t.Errorf("claimed a job of another kind: %+v", j)
		}
		j, err := s.Claim(ctx, "a", time.Minute)
		if err != nil || j == nil || string(j.Payload) != "2" || j.Attempt != 1 || j.LeaseOwner != "a" {
			t.Fatalf("claim: %+v %v", j, err)
		}
		if j2, _ := s.Claim(ctx, "b", time.Minute); j2 != nil {
			t.Errorf("a leased job was claimed again: %+v", j2)
		}
		// Enqueued while running: runs again after.
		if e, _ := s.Enqueue(ctx, store.NewJob{Key: j.Key, Kind: "assess", Payload: []byte("3")}); e != store.Deferred {
			t.Errorf("enqueue while running: %v", e)
		}
		// Fail: queued again after a back-off... but the rerun wins: now.
		if err := s.Fail(ctx, j, errors.New("registry timeout")); err != nil {
			t.Fatal(err)
		}
		j, _ = s.Claim(ctx, "a", time.Minute)
		if j == nil || string(j.Payload) != "3" || j.Attempt != 1 {
			t.Fatalf("rerun after fail: %+v", j)
		}
		if err := s.Fail(ctx, j, errors.New("registry timeout")); err != nil {
			t.Fatal(err)
		}
		if j2, _ := s.Claim(ctx, "a", time.Minute); j2 != nil {
			t.Errorf("claimed during the back-off: %+v", j2)
		}
		got, _ := s.GetJob(ctx, j.Key)
		if got.State != store.JobQueued || got.LastError != "registry timeout" || got.RunAfter.Sub(clk.Now()) < time.Second {
			t.Errorf("after fail: %+v", got)
		}
		clk.Add(2 * time.Second)
		j, _ = s.Claim(ctx, "a", time.Minute)
		if j == nil || j.Attempt != 2 {
			t.Fatalf("after back-off: %+v", j)
		}
		// Complete writes results in the same transaction.
		if err := s.Complete(ctx, j, func(tx *store.Tx) error { return tx.SetValue(ctx, "result:"+j.Key, []byte("ok")) }); err != nil {
			t.Fatal(err)
		}
		if v, _, err := s.Value(ctx, "result:"+j.Key); err != nil || string(v) != "ok" {
			t.Errorf("result: %q %v", v, err)
		}
		if got, _ := s.GetJob(ctx, j.Key); got.State != store.JobDone {
			t.Errorf("state %s", got.State)
		}
		if e, _ := s.Enqueue(ctx, store.NewJob{Key: j.Key, Kind: "assess"}); e != store.Requeued {
			t.Errorf("enqueue of a done job: %v", e)
		}
		// Results that fail roll the completion back.
		j, _ = s.Claim(ctx, "a", time.Minute)
		if err := s.Complete(ctx, j, func(tx *store.Tx) error {
			if err := tx.SetValue(ctx, "half", []byte("x")); err != nil {
				return err
			}
			return errors.New("results failed")
		}); err == nil {
			t.Fatal("complete with failing results succeeded")
		}
		if _, _, err := s.Value(ctx, "half"); !errorsIs(err, store.ErrNotFound) {
			t.Errorf("half-written result: %v", err)
		}
		if got, _ := s.GetJob(ctx, j.Key); got.State != store.JobRunning {
			t.Errorf("after failed results: %s", got.State)
		}
		// Dead after MaxAttempts.
		s.Enqueue(ctx, store.NewJob{Key: "poison", Kind: "assess", MaxAttempts: 2})
		for range 2 {
			clk.Add(time.Hour)
			p, _ := s.Claim(ctx, "a", time.Minute, "assess")
			for p != nil && p.Key != "poison" {
				s.Complete(ctx, p, nil)
				p, _ = s.Claim(ctx, "a", time.Minute, "assess")
			}
			if p == nil {
				t.Fatal("poison not claimable")
			}
			s.Fail(ctx, p, errors.New("boom"))
		}
		if got, _ := s.GetJob(ctx, "poison"); got.State != store.JobDead || got.Attempt != 2 {
			t.Errorf("poison: %+v", got)
		}
		counts, _ := s.JobCounts(ctx)
		if counts[store.JobDead] != 1 {
			t.Errorf("counts %v", counts)
		}
	})
}

// A worker that stops (killed, partitioned) loses its job when the lease
// expires; the next worker gets it as a new attempt; the first worker's late
// completion is refused and writes nothing: done in effect once.
func TestJobLeaseExpiry(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newClock()
		s := open(t, b.dsn(t), store.WithClock(clk.Now))
		s.Enqueue(ctx, store.NewJob{Key: "k", Kind: "assess"})
		a, _ := s.Claim(ctx, "replica-a", 30*time.Second)
		clk.Add(29 * time.Second)
		if j, _ := s.Claim(ctx, "replica-b", 30*time.Second); j != nil {
			t.Fatal("claimed before the lease expired")
		}
		if err := s.Heartbeat(ctx, a, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		clk.Add(31 * time.Second)
		bj, _ := s.Claim(ctx, "replica-b", 30*time.Second)
		if bj == nil || bj.Attempt != 2 || bj.LeaseOwner != "replica-b" {
			t.Fatalf("after expiry: %+v", bj)
		}
		err := s.Complete(ctx, a, func(tx *store.Tx) error { return tx.SetValue(ctx, "k-result", []byte("from a")) })
		if !errorsIs(err, store.ErrLeaseLost) {
			t.Errorf("late completion by a: %v", err)
		}
		if err := s.Heartbeat(ctx, a, time.Minute); !errorsIs(err, store.ErrLeaseLost) {
			t.Errorf("late heartbeat by a: %v", err)
		}
		if err := s.Complete(ctx, bj, func(tx *store.Tx) error { return tx.SetValue(ctx, "k-result", []byte("from b")) }); err != nil {
			t.Fatal(err)
		}
		if v, ver, _ := s.Value(ctx, "k-result"); string(v) != "from b" || ver != 1 {
			t.Errorf("result %q written %d times", v, ver)
		}
	})
}

// Workers claiming at once each get distinct jobs, every job is done once.
func TestJobsConcurrentClaims(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := open(t, b.dsn(t))
		const jobs, workers = 60, 6
		for i := range jobs {
			if _, err := s.Enqueue(ctx, store.NewJob{Key: fmt.Sprintf("job-%02d", i), Kind: "k"}); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		done := map[string]string{}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each worker has its own store: its own connections, as a replica.
				ws, err := store.Open(ctx, dsnOf(s, b, t))
				if err != nil {
					t.Error(err)
					return
				}
				defer ws.Close()
				owner := fmt.Sprintf("w%d", w)
				for {
					j, err := ws.Claim(ctx, owner, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if j == nil {
						return
					}
					err = ws.Complete(ctx, j, func(tx *store.Tx) error {
						return tx.SetValue(ctx, "done:"+j.Key, []byte(owner))
					})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if prev, dup := done[j.Key]; dup {
						t.Errorf("%s done by %s and %s", j.Key, prev, owner)
					}
					done[j.Key] = owner
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(done) != jobs {
			t.Errorf("%d of %d jobs done", len(done), jobs)
		}
		for k, owner := range done {
			v, ver, err := s.Value(ctx, "done:"+k)
			if err != nil || string(v) != owner || ver != 1 {
				t.Errorf("%s: result %q v%d %v", k, v, ver, err)
			}
		}
	})
}

func TestValues(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := open(t, b.dsn(t))
		if _, _, err := s.Value(ctx, "last-db"); !errorsIs(err, store.ErrNotFound) {
			t.Errorf("unset: %v", err)
		}
		if err := s.SwapValue(ctx, "last-db", 0, []byte("v1")); err != nil {
			t.Fatal(err)
		}
		if err := s.SwapValue(ctx, "last-db", 0, []byte("v1 again")); !errorsIs(err, store.ErrConflict) {
			t.Errorf("swap of a set key from 0: %v", err)
		}
		_, ver, _ := s.Value(ctx, "last-db")
		if err := s.SwapValue(ctx, "last-db", ver, []byte("v2")); err != nil {
			t.Fatal(err)
		}
		if err := s.SwapValue(ctx, "last-db", ver, []byte("v3")); !errorsIs(err, store.ErrConflict) || !store.IsRetryable(err) {
			t.Errorf("swap from a stale version: %v", err)
		}
		if err := s.SetValue(ctx, "last-db", []byte("v4")); err != nil {
			t.Fatal(err)
		}
		if v, ver, _ := s.Value(ctx, "last-db"); string(v) != "v4" || ver != 3 {
			t.Errorf("value %q v%d", v, ver)
		}
	})
}
