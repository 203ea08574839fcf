package assess

import (
	"context"
	"errors"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/provenance"
)

// Option configures Assess.
type Option func(*options) error

// PullSecretFunc returns the .dockerconfigjson (or .dockercfg) bytes of a
// pull secret, or an error when the caller may not read it.
type PullSecretFunc func(ctx context.Context, namespace, name string) ([]byte, error)

// Progress reports long work: phase is "resolve", "scan", "match" or
// "verify".
type Progress func(phase string, done, total int)

type options struct {
	dirs         *ImageDirs
	registry     bool
	keychain     authn.Keychain
	pullSecrets  PullSecretFunc
	cache        InventoryCache
	jobs         int
	platform     string
	imageTimeout time.Duration
	maxImageSize int64
	maxExpansion int64
	graphOpts    []graph.Option
	queryOpts    []graph.QueryOption
	ignores      []match.IgnoreRule
	alerts       []Alert
	model        ExploitModel
	now          func() time.Time
	progress     Progress
	topCuts      int

	verifier      *provenance.Verifier
	provPolicy    *provenance.Policy
	verifyTimeout time.Duration
}

func defaults() options {
	return options{
		jobs:         2,
		platform:     image.DefaultPlatform,
		imageTimeout: 5 * time.Minute,
		maxImageSize: 10 << 30,
		maxExpansion: image.DefaultMaxExpansion,
		model:        DefaultModel,
		now:          time.Now,
		progress:     func(string, int, int) {},
		topCuts:      5,

		verifyTimeout: DefaultVerifyTimeout,
	}
}

// WithImageDirs resolves references offline through images on disk.
func WithImageDirs(d *ImageDirs) Option {
	return func(o *options) error { o.dirs = d; return nil }
}

// WithRegistry lets Assess resolve tags and read images from registries,
// with credentials from kc (and pull secrets, see WithPullSecrets).
// Without it, Assess never touches the network: what --images does not
// hold is unknown.
func WithRegistry(kc authn.Keychain) Option {
	return func(o *options) error {
		if kc == nil {
			kc = authn.DefaultKeychain
		}
		o.registry, o.keychain = true, kc
		return nil
	}
}

// WithPullSecrets reads the pods' imagePullSecrets for registry access.
func WithPullSecrets(f PullSecretFunc) Option {
	return func(o *options) error { o.pullSecrets = f; return nil }
}

// WithCache keeps inventories by digest, so a later run (after a database
// update) re-matches them without reading a layer.
func WithCache(c InventoryCache) Option {
	return func(o *options) error { o.cache = c; return nil }
}

// WithJobs bounds how many images are read at once (default 2).
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return errors.New("jobs must be at least 1")
		}
		o.jobs = n
		return nil
	}
}

// WithPlatform is the platform picked from multi-platform images when the
// pod's node does not say (default linux/amd64).
func WithPlatform(p string) Option {
	return func(o *options) error { o.platform = p; return nil }
}

// WithImageTimeout bounds the time spent resolving and reading one image
// (default 5 min); an image that takes longer is unknown.
func WithImageTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return errors.New("image timeout must be positive")
		}
		o.imageTimeout = d
		return nil
	}
}

// WithMaxImageSize refuses to read images whose layers, as stored, add up
// to more than n bytes (default 10 GiB); they are unknown.
func WithMaxImageSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return errors.New("max image size must be positive")
		}
		o.maxImageSize = n
		return nil
	}
}

// WithMaxExpansion is the decompression-bomb ratio (see image.WithMaxExpansion).
func WithMaxExpansion(r int64) Option {
	return func(o *options) error { o.maxExpansion = r; return nil }
}

// WithGraphOptions passes options to graph.Build (critical namespaces, ...).
func WithGraphOptions(opts ...graph.Option) Option {
	return func(o *options) error { o.graphOpts = append(o.graphOpts, opts...); return nil }
}

// WithQueryOptions bounds the blast-radius queries.
func WithQueryOptions(opts ...graph.QueryOption) Option {
	return func(o *options) error { o.queryOpts = append(o.queryOpts, opts...); return nil }
}

// WithIgnores applies accepted risks (see match.ParseIgnores) to findings.
func WithIgnores(rules []match.IgnoreRule) Option {
	return func(o *options) error { o.ignores = rules; return nil }
}

// WithAlerts marks the containers runtime alerts name as compromised and
// answers what falls from each.
func WithAlerts(a []Alert) Option {
	return func(o *options) error { o.alerts = append(o.alerts, a...); return nil }
}

// WithModel replaces the exploitability model.
func WithModel(m ExploitModel) Option {
	return func(o *options) error { o.model = m; return nil }
}

// WithProgress reports progress of long phases.
func WithProgress(p Progress) Option {
	return func(o *options) error {
		if p != nil {
			o.progress = p
		}
		return nil
	}
}

// WithClock sets "now" (tests).
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.now = now; return nil }
}

// WithTopCuts bounds the cluster-wide cuts reported (default 5).
func WithTopCuts(n int) Option {
	return func(o *options) error { o.topCuts = n; return nil }
}
