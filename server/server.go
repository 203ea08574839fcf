package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/posture"
	"github.com/credence-dev/credence/store"
)

// LeaseName is the Lease the replicas elect their scheduler with.
const LeaseName = "credence-server"

// Server is one replica of credence serve.
type Server struct {
	o      options
	st     *store.Store
	cs     kubernetes.Interface
	w      *watcher
	db     *vulnSource
	m      *metrics
	pe     *posture.Evaluator
	policy *policy.Engine
	facts  *facts
	source string

	modelMu sync.Mutex
	model   *model
	latest  atomic.Pointer[model]
	// building is closed when the model being built is ready; nil when
	// none is. While one is built, the previous one is let go (see
	// currentModel), so that two are never alive at once.
	building atomic.Pointer[chan struct{}]
	// postures keeps unchanged pods' posture from one model to the next.
	live *graph.LiveCache

	leading  atomic.Bool
	storeErr atomic.Pointer[error]
	wake     chan struct{}
	dbKick   chan struct{}
	dlKick   chan struct{}
	canScan  atomic.Bool
	scanMu   sync.Mutex
	scanAt   time.Time
	// patches holds a token per label patch in flight (patchesInFlight).
	patches chan struct{}

	dirtyMu  sync.Mutex
	dirty    map[string]time.Time
	dirtyAll bool

	latMu   sync.Mutex
	latSeen map[string]bool
}

// New makes a server over a store and a cluster client; source names the
// cluster in snapshots ("context prod at https://…", "in-cluster").
func New(st *store.Store, cs kubernetes.Interface, source string, opts ...Option) (*Server, error) {
	o := defaults()
	var errs []error
	for _, f := range opts {
		if err := f(&o); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("server options: %w", err)
	}
	if st == nil || cs == nil {
		return nil, errors.New("server: a store and a cluster client are required")
	}
	if o.db == "" {
		return nil, errors.New("server: no vulnerability database (WithDB)")
	}
	if o.policy == nil {
		e, err := policy.Compile(policy.DefaultPolicy())
		if err != nil {
			return nil, fmt.Errorf("default policy: %w", err)
		}
		o.policy = e
	}
	pe, err := posture.NewEvaluator()
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, st: st, cs: cs, db: newVulnSource(o.db), pe: pe, policy: o.policy, source: source, live: graph.NewLiveCache(),
		wake: make(chan struct{}, o.workers+1), patches: make(chan struct{}, patchesInFlight), dbKick: make(chan struct{}, 1), dlKick: make(chan struct{}, 1), dirty: map[string]time.Time{}, latSeen: map[string]bool{}}
	s.facts = &facts{s: s}
	s.w = newWatcher(cs, s.changed)
	s.m = newMetrics(s)
	return s, nil
}

// Run serves until ctx ends (or, WithOnce, until the cluster is assessed
// and no job is left): informers, workers, the database updater and leader
// election. The HTTP interface (Handler) is served by the caller.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer s.db.close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	go s.watchStore(ctx)
	if _, _, err := s.db.current(ctx); err != nil && s.o.dbImportDir == "" && s.o.dbUpdateInterval == 0 {
		return err
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.keepDBCurrent(ctx) }()
	if err := s.w.start(ctx); err != nil {
		return fmt.Errorf("read the cluster: %w", err)
	}
	s.m.synced.Set(1)
	for _, g := range s.w.gaps {
		s.o.log.Warn("a kind cannot be watched; what it holds is unknown", "kind", g.Kind, "reason", g.Reason)
	}
	s.o.log.Info("cluster read", "objects", sum(s.w.counts()), "replica", s.o.identity)
	for i := range s.o.workers {
		wg.Add(1)
		go func() { defer wg.Done(); s.work(ctx, i, false) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.work(ctx, s.o.workers, true) }()
	if !s.o.leaderElect || s.o.once {
		wg.Add(1)
		go func() { defer wg.Done(); s.lead(ctx) }()
	} else {
		wg.Add(1)
		go func() { defer wg.Done(); s.elect(ctx) }()
	}
	if s.o.once {
		return s.untilDone(ctx)
	}
	<-ctx.Done()
	return nil
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// watchStore keeps readiness current: the store answers a cheap read.
func (s *Server) watchStore(ctx context.Context) {
	check := func() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := s.st.JobCounts(c); err != nil && ctx.Err() == nil {
			s.storeErr.Store(&err)
			return
		}
		s.storeErr.Store(nil)
	}
	check()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check()
		}
	}
}

// Ready reports whether the server has read the cluster and reaches its
// store (what /readyz answers).
func (s *Server) Ready() bool { return s.w.synced.Load() && s.storeErr.Load() == nil }

// untilDone waits until the initial resync ran and no job is queued or
// running (WithOnce).
func (s *Server) untilDone(ctx context.Context) error {
	quiet := 0
	for {
		s.sleep(ctx, s.o.poll)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		jc, err := s.st.JobCounts(ctx)
		if err != nil {
			quiet = 0
			continue
		}
		s.dirtyMu.Lock()
		pendingEvents := len(s.dirty) > 0 || s.dirtyAll
		s.dirtyMu.Unlock()
		r, _ := s.st.GetJob(ctx, kindResync)
		if jc[store.JobQueued] == 0 && jc[store.JobRunning] == 0 && !pendingEvents && r != nil && r.State == store.JobDone {
			quiet++
		} else {
			quiet = 0
		}
		if quiet >= 3 {
			s.o.log.Info("done: every workload assessed and no job left", "dead_jobs", jc[store.JobDead])
			return nil
		}
	}
}

// elect runs for the leader Lease until ctx ends; while it holds the
// Lease this replica schedules (lead).
func (s *Server) elect(ctx context.Context) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: LeaseName, Namespace: s.o.namespace},
		Client:     s.cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: s.o.identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   s.o.leaseDuration,
			RenewDeadline:   s.o.renewDeadline,
			RetryPeriod:     s.o.retryPeriod,
			ReleaseOnCancel: true,
			Name:            LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: s.lead,
				OnStoppedLeading: func() { s.o.log.Info("no longer the scheduler", "replica", s.o.identity) },
				OnNewLeader: func(id string) {
					if id != s.o.identity {
						s.o.log.Info("scheduler elected", "leader", id)
					}
				},
			},
		})
		if err != nil {
			s.o.log.Error("leader election", "error", err)
			return
		}
		le.Run(ctx)
		s.sleep(ctx, s.o.retryPeriod)
	}
}

// lead schedules while this replica is the leader: it queues a re-match
// when the database is not the store's current version, a full resync, and
// from then on one "assess" job per changed workload every debounce
// interval, and a resync every ResyncInterval.
func (s *Server) lead(ctx context.Context) {
	s.leading.Store(true)
	s.m.leader.Set(1)
	defer func() {
		s.leading.Store(false)
		s.m.leader.Set(0)
	}()
	s.o.log.Info("scheduling", "replica", s.o.identity)
	s.dirtyMu.Lock()
	clear(s.dirty)
	s.dirtyAll = false
	s.dirtyMu.Unlock()
	for ctx.Err() == nil {
		err := s.ensureDBVersion(ctx, time.Time{})
		if err == nil {
			err = s.enqueueResync(ctx, "leader")
		}
		if err == nil {
			break
		}
		s.o.log.Warn("cannot schedule yet; retrying", "error", err)
		s.sleep(ctx, 2*time.Second)
	}
	tick := time.NewTicker(s.o.debounce)
	defer tick.Stop()
	var resync <-chan time.Time
	if s.o.resyncInterval > 0 {
		t := time.NewTicker(s.o.resyncInterval)
		defer t.Stop()
		resync = t.C
	}
	var failingSince, warned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			err := s.dispatch(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				// Once when it starts failing, then every 30 s: the changes
				// are kept and queued once the store answers.
				if failingSince.IsZero() {
					failingSince = time.Now()
				}
				if time.Since(warned) > 30*time.Second {
					warned = time.Now()
					s.o.log.Warn("cannot queue assessments; the changes are kept and retried", "since", failingSince.Format(time.RFC3339), "error", err)
				}
			case err == nil && !failingSince.IsZero():
				s.o.log.Info("assessments queued again", "after", time.Since(failingSince).Round(time.Millisecond))
				failingSince, warned = time.Time{}, time.Time{}
			}
		case <-resync:
			if err := s.enqueueResync(ctx, "interval"); err != nil && ctx.Err() == nil {
				s.o.log.Warn("cannot queue the resync", "error", err)
			}
			// Jobs done a day ago are only bookkeeping (a key's row is
			// reused while it lives; dead jobs stay for a person to read).
			if n, err := s.st.PruneJobs(ctx, s.o.clock().Add(-24*time.Hour)); err == nil && n > 0 {
				s.o.log.Info("old jobs pruned", "count", n)
			}
		}
	}
}

// changed receives the informers' changes (every replica; only the
// leader's are dispatched).
func (s *Server) changed(c change) {
	if !s.leading.Load() {
		return
	}
	now := s.o.clock()
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	if c.all {
		s.dirtyAll = true
		return
	}
	for _, k := range c.keys {
		if _, ok := s.dirty[k]; !ok {
			s.dirty[k] = now
		}
	}
}

// dispatch turns the changes gathered since the last tick into jobs: one
// "assess" job per workload (merged with one already queued), or a resync
// when something every workload depends on changed.
func (s *Server) dispatch(ctx context.Context) error {
	s.dirtyMu.Lock()
	keys := make([]string, 0, len(s.dirty))
	for k := range s.dirty {
		keys = append(keys, k)
	}
	all := s.dirtyAll
	clear(s.dirty)
	s.dirtyAll = false
	s.dirtyMu.Unlock()
	if all {
		if err := s.enqueueResync(ctx, "cluster"); err != nil {
			s.dirtyMu.Lock()
			s.dirtyAll = true
			s.dirtyMu.Unlock()
			return err
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if err := s.enqueueAssess(ctx, keys, assessPayload{Cause: "cluster"}); err != nil {
		s.dirtyMu.Lock()
		for _, k := range keys {
			if _, ok := s.dirty[k]; !ok {
				s.dirty[k] = s.o.clock()
			}
		}
		s.dirtyMu.Unlock()
		return err
	}
	return nil
}

func (s *Server) enqueueResync(ctx context.Context, cause string) error {
	b, _ := json.Marshal(assessPayload{Cause: cause})
	_, err := s.st.Enqueue(ctx, store.NewJob{Key: kindResync, Kind: kindResync, Payload: b})
	if err == nil {
		s.wakeUp()
	}
	return err
}
