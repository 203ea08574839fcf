package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Defaults for the bounds on hostile input. A Kubernetes object is at most
// ~1.5 MiB in etcd, so a document over 16 MiB is a List or an attack.
const (
	DefaultMaxBytes         = 256 << 20 // all manifests together
	DefaultMaxDocumentBytes = 16 << 20  // one YAML or JSON document
	DefaultMaxObjects       = 500_000   // objects in one snapshot
	DefaultPageSize         = 500       // live list page (Limit)
	DefaultNamespace        = "default" // namespace of a manifest that names none
)

// Option configures a load.
type Option func(*options) error

type options struct {
	maxBytes, maxDocBytes int64
	maxObjects            int
	pageSize              int64
	defaultNamespace      string
	namespaces            []string
	aggregate             bool
	noDefaultRBAC         bool
	stdin                 io.Reader
	timeout               time.Duration
	concurrency           int
	sharedPods            bool
}

func newOptions(opts []Option) (*options, error) {
	o := &options{
		maxBytes:         DefaultMaxBytes,
		maxDocBytes:      DefaultMaxDocumentBytes,
		maxObjects:       DefaultMaxObjects,
		pageSize:         DefaultPageSize,
		defaultNamespace: DefaultNamespace,
		aggregate:        true,
		stdin:            os.Stdin,
		timeout:          60 * time.Second,
		concurrency:      4,
	}
	var errs []error
	for _, opt := range opts {
		if err := opt(o); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cluster options: %w", err)
	}
	return o, nil
}

// WithMaxBytes bounds the bytes read from all manifests together; reading
// stops with an error beyond it.
func WithMaxBytes(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("max bytes %d: must be positive", n)
		}
		o.maxBytes = n
		return nil
	}
}

// WithMaxDocumentBytes bounds one YAML or JSON document; a larger one is
// skipped and becomes a Gap.
func WithMaxDocumentBytes(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("max document bytes %d: must be positive", n)
		}
		o.maxDocBytes = n
		return nil
	}
}

// WithMaxObjects bounds the objects kept; loading fails beyond it.
func WithMaxObjects(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("max objects %d: must be positive", n)
		}
		o.maxObjects = n
		return nil
	}
}

// WithPageSize sets the Limit of each list call against a live cluster.
func WithPageSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("page size %d: must be positive", n)
		}
		o.pageSize = n
		return nil
	}
}

// WithDefaultNamespace is the namespace of namespaced manifests that name
// none (kubectl would use the context's namespace).
func WithDefaultNamespace(ns string) Option {
	return func(o *options) error {
		if ns == "" {
			return errors.New("default namespace: empty")
		}
		o.defaultNamespace = ns
		return nil
	}
}

// WithNamespaces names namespaces to read one by one when a cluster-wide
// list is forbidden and the namespaces themselves cannot be listed (the
// context's namespace is always tried).
func WithNamespaces(ns ...string) Option {
	return func(o *options) error {
		o.namespaces = append(o.namespaces, ns...)
		return nil
	}
}

// WithoutAggregation keeps ClusterRoles' rules as read instead of filling
// aggregated ClusterRoles as kube-controller-manager does. Use it to compare
// with a server that runs no controller manager.
func WithoutAggregation() Option {
	return func(o *options) error {
		o.aggregate = false
		return nil
	}
}

// WithoutDefaultRBAC keeps manifests as they are: by default, the
// ClusterRoles, ClusterRoleBindings, Roles and RoleBindings every cluster of
// Kubernetes defaultrbac.Version has (cluster-admin, admin, edit, view, the
// controllers' bindings, ...) are added when the manifests lack them, so a
// binding to cluster-admin grants what it grants in the cluster. A live
// snapshot never gets them: the server has its own.
func WithoutDefaultRBAC() Option {
	return func(o *options) error {
		o.noDefaultRBAC = true
		return nil
	}
}

// WithSharedPods lets FromObjects keep the pods it is given instead of
// deep-copying them: each snapshot pod has its own top-level metadata but
// shares labels, annotations, spec and status with the caller's object.
// For callers whose objects never change while the snapshot lives, such
// as an informer's cache (whose objects must not be changed at all); the
// snapshot's readers (graph, posture, assess) never change a pod either
// (graph.Patch edits deep copies). It halves the memory of a snapshot of
// a large cluster.
func WithSharedPods() Option {
	return func(o *options) error {
		o.sharedPods = true
		return nil
	}
}

// WithStdin is what the manifest path "-" reads (default os.Stdin).
func WithStdin(r io.Reader) Option {
	return func(o *options) error {
		o.stdin = r
		return nil
	}
}

// WithTimeout bounds each request to a live cluster (default 60 s).
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("timeout %s: must be positive", d)
		}
		o.timeout = d
		return nil
	}
}
