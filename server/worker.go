package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/credence-dev/credence/store"
)

// work claims and works jobs until ctx ends. Jobs of kind assess are taken
// in batches (one model, many workloads). The sweeper works resyncs only
// (every workload again): a long sweep never holds a worker that the
// affected workloads' verdicts and labels need after a database update.
//
// Verdicts come before labels: a worker takes a rematch, scan or
// assessment, oldest first, before any label job. A label batch waits on
// the API server's rate; taken in arrival order, label batches could hold
// both workers while the assessments queued behind them waited.
func (s *Server) work(ctx context.Context, n int, sweeper bool) {
	owner := fmt.Sprintf("%s/%d", s.o.identity, n)
	tiers := [][]string{{kindRematch, kindImage, kindAssess}, {kindLabel}}
	for k := range s.o.hooks.handlers {
		tiers[1] = append(tiers[1], k)
	}
	if sweeper {
		owner, tiers = s.o.identity+"/sweeper", [][]string{{kindResync}}
	}
	failures := 0
	for ctx.Err() == nil {
		j, err := s.claimNext(ctx, owner, tiers, s.scanner(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			d := min(store.Backoff(failures), 10*time.Second)
			s.o.log.Warn("cannot claim a job; retrying", "in", d.Round(time.Millisecond), "error", err)
			s.sleep(ctx, d)
			continue
		}
		failures = 0
		if j == nil {
			s.idle(ctx)
			continue
		}
		s.o.log.Debug("job claimed", "job", j.Key, "attempt", j.Attempt)
		batch := []*store.Job{j}
		if limit := batchLimit(j.Kind, s.o.batch); limit > 1 {
			for len(batch) < limit {
				more, err := s.st.Claim(ctx, owner, s.o.jobLease, j.Kind)
				if err != nil || more == nil {
					break
				}
				batch = append(batch, more)
			}
		}
		s.run(ctx, batch)
	}
}

// claimNext claims the oldest job of the first tier that has one (nil when
// none has). Without scans (this replica's database is not the store's
// version) it leaves image jobs to the replicas whose is.
func (s *Server) claimNext(ctx context.Context, owner string, tiers [][]string, scans bool) (*store.Job, error) {
	for _, kinds := range tiers {
		if !scans {
			kinds = slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { return k == kindImage })
		}
		if len(kinds) == 0 {
			continue // Claim without kinds would take any
		}
		if j, err := s.st.Claim(ctx, owner, s.o.jobLease, kinds...); err != nil || j != nil {
			return j, err
		}
	}
	return nil, nil
}

// run works claimed jobs, keeping their leases alive meanwhile.
func (s *Server) run(ctx context.Context, jobs []*store.Job) {
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.heartbeat(jctx, jobs, cancel)
	}()
	defer wg.Wait()
	defer cancel()
	for _, j := range jobs {
		if h := s.o.hooks.claimed; h != nil {
			h(jctx, j)
		}
	}
	if jctx.Err() != nil {
		return
	}
	j := jobs[0]
	switch j.Kind {
	case kindAssess:
		s.assessBatch(jctx, jobs)
		return
	case kindLabel:
		s.labelBatch(ctx, jctx, jobs)
		return
	}
	t0 := time.Now()
	var err error
	var results func(*store.Tx) error
	var after func()
	switch j.Kind {
	case kindResync:
		err = s.resync(jctx, j)
	case kindImage:
		results, after, err = s.scan(jctx, j)
	case kindRematch:
		results, after, err = s.rematch(jctx, j)
	default:
		if h := s.o.hooks.handlers[j.Kind]; h != nil {
			err = h(jctx, s, j)
		} else {
			err = fmt.Errorf("no handler for job kind %q", j.Kind)
		}
	}
	s.m.jobSeconds.WithLabelValues(j.Kind).Observe(time.Since(t0).Seconds())
	if err != nil {
		s.fail(ctx, j, err)
		return
	}
	if s.complete(ctx, j, results) && after != nil {
		after()
	}
}

// batchLimit is how many jobs of a kind one claim takes: assessments share
// one model of the cluster (batch of them); label jobs are a few API writes
// each, latency-bound one at a time, so labelBatch of them run together.
func batchLimit(kind string, batch int) int {
	switch kind {
	case kindAssess:
		return batch
	case kindLabel:
		return labelBatch
	}
	return 1
}

// labelBatch is how many label jobs a worker claims at once. Their patches
// share the server's bound (patchesInFlight), so a batch of workloads of one
// pod each keeps the API server as busy as one workload of many pods.
const labelBatch = 32

// labelBatch runs claimed label jobs together; each completes or fails on
// its own. ctx outlives jctx so that a job's outcome is recorded even when
// the batch is cut short.
func (s *Server) labelBatch(ctx, jctx context.Context, jobs []*store.Job) {
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			t0 := time.Now()
			var p labelPayload
			_ = json.Unmarshal(j.Payload, &p)
			err := s.label(jctx, strings.TrimPrefix(j.Key, kindLabel+":"), p)
			s.m.jobSeconds.WithLabelValues(j.Kind).Observe(time.Since(t0).Seconds())
			if err != nil {
				s.fail(ctx, j, err)
				return
			}
			s.complete(ctx, j, nil)
		})
	}
	wg.Wait()
}

// heartbeat extends the leases of running jobs until ctx ends; a lease
// lost (it expired and another replica claimed the job) stops the work.
func (s *Server) heartbeat(ctx context.Context, jobs []*store.Job, lost context.CancelFunc) {
	t := time.NewTicker(s.o.jobLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, j := range jobs {
			err := s.st.Heartbeat(ctx, j, s.o.jobLease)
			if errors.Is(err, store.ErrLeaseLost) {
				s.o.log.Warn("job lease lost; stopping", "job", j.Key)
				lost()
				return
			}
		}
	}
}

// complete marks a job done with its writes in the same transaction,
// retrying while the store is unavailable (the writes are idempotent).
func (s *Server) complete(ctx context.Context, j *store.Job, results func(*store.Tx) error) bool {
	for attempt := 1; ; attempt++ {
		err := s.st.Complete(ctx, j, func(tx *store.Tx) error {
			if results != nil {
				if err := results(tx); err != nil {
					return err
				}
			}
			if h := s.o.hooks.completed; h != nil {
				return h(ctx, tx, j)
			}
			return nil
		})
		switch {
		case err == nil:
			s.m.jobsDone.WithLabelValues(j.Kind, "done").Inc()
			return true
		case errors.Is(err, store.ErrLeaseLost):
			s.m.jobsDone.WithLabelValues(j.Kind, "lost").Inc()
			return false
		case store.IsRetryable(err) && attempt < 5 && ctx.Err() == nil:
			s.sleep(ctx, store.Backoff(attempt))
		default:
			s.fail(ctx, j, err)
			return false
		}
	}
}

// fail records a failed attempt (the store retries it with back-off).
func (s *Server) fail(ctx context.Context, j *store.Job, cause error) {
	if ctx.Err() != nil {
		// Shutting down: the lease expires and another replica claims the
		// job (a failure here would spend an attempt on nothing).
		s.o.log.Debug("job interrupted by shutdown", "job", j.Key)
		return
	}
	level := s.o.log.Warn
	if errors.Is(cause, errLag) {
		level = s.o.log.Debug
	}
	level("job failed; it will be retried", "job", j.Key, "attempt", j.Attempt, "of", j.MaxAttempts, "error", cause)
	s.m.jobsDone.WithLabelValues(j.Kind, "failed").Inc()
	for attempt := 1; attempt <= 5; attempt++ {
		err := s.st.Fail(context.WithoutCancel(ctx), j, cause)
		if err == nil || errors.Is(err, store.ErrLeaseLost) || !store.IsRetryable(err) {
			return
		}
		s.sleep(ctx, store.Backoff(attempt))
	}
	// The store stays unreachable: the lease expires and the job is
	// claimed again. Nothing is lost.
}

// idle waits for new local work or the poll interval.
func (s *Server) idle(ctx context.Context) {
	t := time.NewTimer(s.o.poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-s.wake:
	case <-t.C:
	}
}

// wakeUp tells idle workers of this replica that jobs were queued.
func (s *Server) wakeUp() {
	for range s.o.workers + 1 { // and the sweeper
		select {
		case s.wake <- struct{}{}:
		default:
			return
		}
	}
}

func (s *Server) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// latencies collects, in one batch, how long after a database update each
// changed verdict came.
type latencies struct {
	cause   string
	ds      []time.Duration
	first   string
	firstBy string
}

func (l *latencies) add(p assessPayload, key string, ev *evaluation, now time.Time) {
	if !strings.HasPrefix(p.Cause, "db:") || p.Since.IsZero() {
		return
	}
	l.cause = p.Cause
	l.ds = append(l.ds, now.Sub(p.Since))
	if l.first == "" {
		l.first = key
		if ev != nil && ev.subj != nil {
			l.firstBy = fmt.Sprintf("risk %.1f, %s", ev.subj.Risk.Score, ev.summary.Level(DefaultThresholds))
		}
	}
}

// logLatencies observes and logs a batch's update-to-verdict latencies:
// one line per batch.
func (s *Server) logLatencies(l latencies, what string) {
	if len(l.ds) == 0 {
		return
	}
	for _, d := range l.ds {
		s.m.updateVerdict.Observe(d.Seconds())
	}
	lo, hi := slices.Min(l.ds), slices.Max(l.ds)
	s.o.log.Info("database update reached "+what+"s", "database", strings.TrimPrefix(l.cause, "db:"), "changed", len(l.ds),
		"after_min", lo.Round(time.Millisecond), "after_max", hi.Round(time.Millisecond), "first", l.first, "first_now", l.firstBy)
}

// noteLatency logs the update-to-label latency of one workload (at most one
// Info line per database update; the rest at Debug).
func (s *Server) noteLatency(cause, what, key string, d time.Duration) {
	if !strings.HasPrefix(cause, "db:") {
		return
	}
	s.latMu.Lock()
	first := !s.latSeen[cause+what]
	if first {
		if len(s.latSeen) > 100 {
			clear(s.latSeen)
		}
		s.latSeen[cause+what] = true
	}
	s.latMu.Unlock()
	level := s.o.log.Debug
	if first {
		level = s.o.log.Info
	}
	level("database update reached "+what, "database", strings.TrimPrefix(cause, "db:"), "workload", key, "after", d.Round(time.Millisecond))
}

// scanner reports whether this replica's database is the store's current
// version (checked at most every 2 s), so that its scans are recorded under
// the version they were matched with.
func (s *Server) scanner(ctx context.Context) bool {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	if time.Since(s.scanAt) < 2*time.Second {
		return s.canScan.Load()
	}
	s.scanAt = time.Now()
	_, info, err := s.db.current(ctx)
	if err != nil {
		s.canScan.Store(false)
		return false
	}
	cur, err := s.st.CurrentDBVersion(ctx)
	s.canScan.Store(err == nil && cur.ID == info.ID)
	return s.canScan.Load()
}
