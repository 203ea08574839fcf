package graph

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
)

// Option configures Build.
type Option func(*options) error

type options struct {
	exploit      Exploitability
	kernel       KernelExploitability
	criticalNS   map[string]bool
	criticalSel  labels.Selector
	websocketGet bool
	liveCache    *LiveCache
}

// DefaultCriticalNamespaceSelector marks namespaces whose workloads,
// identities and secrets are critical assets.
const DefaultCriticalNamespaceSelector = "credence.dev/critical=true"

func defaultOptions() options {
	sel, _ := labels.Parse(DefaultCriticalNamespaceSelector)
	return options{
		exploit:     UnknownExploitability{},
		criticalNS:  map[string]bool{"kube-system": true},
		criticalSel: sel,
	}
}

// WithKernelExploitability joins the nodes' kernel advisories: how likely a
// process in a container exploits the kernel of the node it runs on (the
// shared-kernel escape). Without it, or where it answers unknown, that
// escape keeps a low, unknown likelihood.
func WithKernelExploitability(k KernelExploitability) Option {
	return func(o *options) error {
		if k == nil {
			return errors.New("kernel exploitability source is nil")
		}
		o.kernel = k
		return nil
	}
}

// WithExploitability joins vulnerability data: how likely each container is
// to be taken over once reached over the network.
func WithExploitability(x Exploitability) Option {
	return func(o *options) error {
		if x == nil {
			return errors.New("exploitability source is nil")
		}
		o.exploit = x
		return nil
	}
}

// WithCriticalNamespaces replaces the namespaces that are critical by name
// (default kube-system).
func WithCriticalNamespaces(names ...string) Option {
	return func(o *options) error {
		o.criticalNS = map[string]bool{}
		for _, n := range names {
			o.criticalNS[n] = true
		}
		return nil
	}
}

// WithCriticalNamespaceSelector replaces the label selector that marks
// critical namespaces (default credence.dev/critical=true); "" selects none.
func WithCriticalNamespaceSelector(sel string) Option {
	return func(o *options) error {
		if sel == "" {
			o.criticalSel = labels.Nothing()
			return nil
		}
		s, err := labels.Parse(sel)
		if err != nil {
			return fmt.Errorf("parse critical namespace selector %q: %w", sel, err)
		}
		o.criticalSel = s
		return nil
	}
}

// WithWebSocketExecByGet says the cluster authorizes pods/exec and
// pods/attach WebSocket upgrades with the get verb (before 1.35, or with
// AuthorizePodWebsocketUpgradeCreatePermission off): get then gives exec.
// By default get is kept as a weak, unknown edge.
func WithWebSocketExecByGet() Option {
	return func(o *options) error { o.websocketGet = true; return nil }
}
