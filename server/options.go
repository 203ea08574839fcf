package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/store"
	"github.com/credence-dev/credence/vulndb"
)

// Option configures a Server.
type Option func(*options) error

type options struct {
	db string // vulnerability database file, or "sample"

	namespace     string // where the leader Lease lives
	identity      string
	leaderElect   bool
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration

	workers        int
	batch          int
	debounce       time.Duration
	graphInterval  time.Duration
	resyncInterval time.Duration
	jobLease       time.Duration
	poll           time.Duration
	rescanFailed   time.Duration

	dbUpdateInterval time.Duration
	dbUpdate         vulndb.UpdateConfig
	dbImportDir      string
	dbPoll           time.Duration

	policy     *policy.Engine
	imageOpts  []assess.Option
	labels     bool
	events     bool
	thresholds Thresholds

	auth          Authenticator
	authz         Authorizer
	anonymousRead bool
	dashboard     http.Handler
	admission     http.Handler
	profiling     bool

	log   *slog.Logger
	clock func() time.Time
	once  bool
	hooks testHooks
}

// testHooks let tests slow a job down or fail it part-way (never set in
// production).
type testHooks struct {
	// claimed runs after a job is claimed, before it is worked.
	claimed func(ctx context.Context, j *store.Job)
	// rematched runs after each image re-matched under a new database
	// version; an error fails the update there.
	rematched func(n int) error
	// completed runs inside a job's completing transaction.
	completed func(ctx context.Context, tx *store.Tx, j *store.Job) error
	// handlers add job kinds.
	handlers map[string]func(ctx context.Context, s *Server, j *store.Job) error
}

func defaults() options {
	host, _ := os.Hostname()
	return options{
		namespace:     "default",
		identity:      fmt.Sprintf("%s-%d", host, os.Getpid()),
		leaderElect:   true,
		leaseDuration: 15 * time.Second,
		renewDeadline: 10 * time.Second,
		retryPeriod:   2 * time.Second,

		workers:        2,
		batch:          200,
		debounce:       2 * time.Second,
		graphInterval:  5 * time.Second,
		resyncInterval: time.Hour,
		jobLease:       2 * time.Minute,
		poll:           500 * time.Millisecond,
		rescanFailed:   time.Hour,

		dbPoll: 10 * time.Second,

		labels:     true,
		events:     true,
		thresholds: DefaultThresholds,

		log:   slog.New(slog.NewTextHandler(os.Stderr, nil)),
		clock: time.Now,
	}
}

// WithDB names the vulnerability database file (or "sample", the embedded
// demo data). Required.
func WithDB(path string) Option {
	return func(o *options) error {
		if path == "" {
			return errors.New("no vulnerability database given")
		}
		o.db = path
		return nil
	}
}

// WithLeaderElection elects the scheduling replica through a Lease named
// "credence-server" in namespace, as identity (default hostname-pid).
// Without it (WithoutLeaderElection) this process always schedules: one
// replica only.
func WithLeaderElection(namespace, identity string) Option {
	return func(o *options) error {
		if namespace == "" {
			return errors.New("leader election needs a namespace")
		}
		o.leaderElect, o.namespace = true, namespace
		if identity != "" {
			o.identity = identity
		}
		return nil
	}
}

// WithoutLeaderElection makes this process the scheduler unconditionally
// (a single replica, or tests).
func WithoutLeaderElection() Option {
	return func(o *options) error { o.leaderElect = false; return nil }
}

// WithLeaseTimes sets the leader Lease's duration, renew deadline and retry
// period (default 15 s, 10 s, 2 s).
func WithLeaseTimes(duration, renew, retry time.Duration) Option {
	return func(o *options) error {
		if !(duration > renew && renew > retry && retry > 0) {
			return errors.New("lease times: want duration > renew deadline > retry period > 0")
		}
		o.leaseDuration, o.renewDeadline, o.retryPeriod = duration, renew, retry
		return nil
	}
}

// WithWorkers sets how many jobs this replica works at once (default 2)
// and how many workloads one assessment batch takes (default 200).
func WithWorkers(workers, batch int) Option {
	return func(o *options) error {
		if workers < 1 || batch < 1 {
			return errors.New("workers and batch must be at least 1")
		}
		o.workers, o.batch = workers, batch
		return nil
	}
}

// WithTimings sets the debounce of cluster events into jobs (default 2 s),
// the least time between two rebuilds of the trust graph (5 s), the full
// re-evaluation interval (1 h; 0 for none), a job's lease (2 min) and how
// often an idle worker polls for jobs (0.5 s).
func WithTimings(debounce, graphInterval, resync, jobLease, poll time.Duration) Option {
	return func(o *options) error {
		if debounce <= 0 || graphInterval < 0 || resync < 0 || jobLease < time.Second || poll <= 0 {
			return errors.New("timings: debounce and poll must be positive, the job lease at least 1s")
		}
		o.debounce, o.graphInterval, o.resyncInterval, o.jobLease, o.poll = debounce, graphInterval, resync, jobLease, poll
		return nil
	}
}

// WithRescanFailed sets how long an image that could not be read stays
// unknown before it is tried again (default 1 h).
func WithRescanFailed(d time.Duration) Option {
	return func(o *options) error { o.rescanFailed = d; return nil }
}

// WithDBUpdate runs `credence db update` with cfg every interval (leader
// only), then re-matches the stored inventories.
func WithDBUpdate(interval time.Duration, cfg vulndb.UpdateConfig) Option {
	return func(o *options) error {
		if interval <= 0 {
			return errors.New("database update interval must be positive")
		}
		o.dbUpdateInterval, o.dbUpdate = interval, cfg
		return nil
	}
}

// WithDBImportDir watches dir (every poll, default 10 s) and imports what
// it holds (OSV archives, KEV, EPSS, as `credence db import`) when its
// files change, then re-matches the stored inventories (leader only).
func WithDBImportDir(dir string, poll time.Duration) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("no import directory given")
		}
		if poll > 0 {
			o.dbPoll = poll
		}
		o.dbImportDir = dir
		return nil
	}
}

// WithPolicy decides about every workload with e (default: the built-in
// default policy, as credence check).
func WithPolicy(e *policy.Engine) Option {
	return func(o *options) error { o.policy = e; return nil }
}

// WithImageOptions passes options to the assessment that reads one image
// (assess.WithRegistry, assess.WithImageDirs, timeouts, size limits).
// Without WithRegistry images are read only from WithImageDirs.
func WithImageOptions(opts ...assess.Option) Option {
	return func(o *options) error { o.imageOpts = append(o.imageOpts, opts...); return nil }
}

// WithSignals turns pod labels and the summary annotation (labels) and
// Kubernetes Events (events) on or off (default both on), with thresholds.
func WithSignals(labels, events bool, th Thresholds) Option {
	return func(o *options) error {
		if th.High <= th.Medium || th.Medium <= 0 {
			return errors.New("thresholds: want high > medium > 0")
		}
		o.labels, o.events, o.thresholds = labels, events, th
		return nil
	}
}

// WithAuth authenticates API clients with a and authorises them with z
// (TokenReview and SubjectAccessReview, or a static token file). Without it
// every API request is refused, unless WithAnonymousRead allows reads.
func WithAuth(a Authenticator, z Authorizer) Option {
	return func(o *options) error {
		if a == nil || z == nil {
			return errors.New("auth: an authenticator and an authorizer are both needed")
		}
		o.auth, o.authz = a, z
		return nil
	}
}

// WithAnonymousRead lets unauthenticated clients read (never write): for a
// server reachable only from where everyone may read.
func WithAnonymousRead() Option {
	return func(o *options) error { o.anonymousRead = true; return nil }
}

// WithProfiling serves Go's runtime profiles at /debug/pprof/ to clients
// allowed to get /metrics (as a Kubernetes component's --profiling does):
// heap, CPU and goroutine profiles of a running replica.
func WithProfiling() Option {
	return func(o *options) error { o.profiling = true; return nil }
}

// WithDashboard mounts h under /ui/ (behind the API's authentication: a
// reader of subjects may see it).
func WithDashboard(h http.Handler) Option {
	return func(o *options) error { o.dashboard = h; return nil }
}

// WithAdmission mounts the validating admission webhook h at /validate (the
// API server calls it over TLS; it carries no bearer token).
func WithAdmission(h http.Handler) Option {
	return func(o *options) error { o.admission = h; return nil }
}

// WithLogger logs to l (default text to stderr).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l != nil {
			o.log = l
		}
		return nil
	}
}

// WithClock sets "now" (tests).
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.clock = now; return nil }
}

// WithOnce makes Run return once the cluster has been assessed and the job
// queue is empty (a benchmark, or a one-shot fill of the store).
func WithOnce() Option {
	return func(o *options) error { o.once = true; return nil }
}
