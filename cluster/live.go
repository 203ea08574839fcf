package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"golang.org/x/sync/errgroup"
)

// FromKubeconfig reads a snapshot from the cluster of a kubeconfig context:
// path "" follows $KUBECONFIG and ~/.kube/config, context "" the current
// context. The context's namespace is tried when cluster-wide lists are
// forbidden.
func FromKubeconfig(ctx context.Context, path, context string, opts ...Option) (*Snapshot, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	name := context
	if name == "" {
		name = raw.CurrentContext
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig context %q: %w", name, err)
	}
	if ns, _, err := cc.Namespace(); err == nil && ns != "" {
		opts = append(opts, WithNamespaces(ns))
	}
	return FromConfig(ctx, cfg, fmt.Sprintf("context %s at %s", name, cfg.Host), opts...)
}

// FromConfig reads a snapshot from the cluster cfg points at; source is
// recorded in the snapshot.
func FromConfig(ctx context.Context, cfg *rest.Config, source string, opts ...Option) (*Snapshot, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	cfg = Protobuf(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = o.timeout
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Host, err)
	}
	return fromClient(ctx, cs, source, o)
}

// Protobuf returns a copy of cfg that asks the API server for the Kubernetes
// protobuf encoding (JSON stays accepted), as the kubelet and the
// controllers do: decoding a list or a watch event of pods costs a fraction
// of the JSON, and the API server already keeps that encoding of each
// object for them. For the typed clientset only: custom resources have no
// protobuf form.
func Protobuf(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	return cfg
}

// FromClient reads a snapshot through cs (a real clientset, or client-go's
// fake for wiring tests).
func FromClient(ctx context.Context, cs kubernetes.Interface, source string, opts ...Option) (*Snapshot, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return fromClient(ctx, cs, source, o)
}

// liveKind lists one kind, a page at a time, in namespace ns ("" for all
// namespaces or cluster scope), and keeps what it gets.
type liveKind struct {
	name       string
	namespaced bool
	list       func(ctx context.Context, cs kubernetes.Interface, b *builder, ns string, lo metav1.ListOptions) (cont string, err error)
}

func fromClient(ctx context.Context, cs kubernetes.Interface, source string, o *options) (*Snapshot, error) {
	b := newBuilder(o, source)
	b.snap.Live = true
	l := &liveLoader{cs: cs, b: b, o: o}

	// Namespaces first: they are the fallback scope for forbidden
	// cluster-wide lists. A failure here that is not an API status (the
	// server is unreachable, TLS fails) ends the load.
	nsKind := allLiveKinds()[0]
	refused, err := l.list(ctx, nsKind, "")
	if err != nil {
		return nil, err
	}
	nsOK := refused == nil
	if refused != nil {
		b.gap(*refused)
	}
	if nsOK {
		for _, ns := range b.namespaces.items {
			l.known = append(l.known, ns.Name)
		}
	} else {
		l.known = slices.Clone(o.namespaces)
	}
	slices.Sort(l.known)
	l.known = slices.Compact(l.known)
	l.knownComplete = nsOK

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.concurrency)
	for _, k := range allLiveKinds()[1:] {
		g.Go(func() error { return l.read(gctx, k) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return b.finish(), nil
}

type liveLoader struct {
	cs            kubernetes.Interface
	b             *builder
	o             *options
	known         []string // namespaces to try one by one
	knownComplete bool     // known is every namespace
}

// list reads every page of kind k in ns. When the server refuses
// (forbidden, not served) it returns the reason and keeps nothing more; an
// error only for a failure to talk to the server at all or too many objects.
func (l *liveLoader) list(ctx context.Context, k liveKind, ns string) (refused *Gap, err error) {
	lo := metav1.ListOptions{Limit: l.o.pageSize}
	restarted := false
	for {
		cont, err := k.list(ctx, l.cs, l.b, ns, lo)
		var tooMany errTooManyObjects
		switch {
		case err == nil:
		case errors.As(err, &tooMany):
			return nil, err
		case apierrors.IsResourceExpired(err) && !restarted:
			// The continue token expired (a slow read of a big list):
			// start over once; objects seen twice replace themselves.
			restarted = true
			lo.Continue = ""
			continue
		case apierrors.IsForbidden(err):
			return &Gap{Kind: k.name, Namespace: ns, Reason: "forbidden: " + apiMessage(err)}, nil
		case apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err):
			return &Gap{Kind: k.name, Namespace: ns, Reason: "not served by this API server: " + apiMessage(err)}, nil
		case isAPIStatus(err):
			return &Gap{Kind: k.name, Namespace: ns, Reason: "list failed: " + apiMessage(err)}, nil
		case ctx.Err() != nil:
			return nil, fmt.Errorf("list %s: %w", k.name, ctx.Err())
		default:
			return nil, fmt.Errorf("list %s: %w", k.name, err)
		}
		if cont == "" {
			return nil, nil
		}
		lo.Continue = cont
	}
}

// read reads kind k in every namespace; when that is forbidden for a
// namespaced kind, it reads each known namespace instead. Every part it
// could not read becomes a gap.
func (l *liveLoader) read(ctx context.Context, k liveKind) error {
	refused, err := l.list(ctx, k, "")
	if err != nil || refused == nil {
		return err
	}
	if !k.namespaced || !strings.HasPrefix(refused.Reason, "forbidden: ") {
		l.b.gap(*refused)
		return nil
	}
	var nsGaps []Gap
	for _, ns := range l.known {
		g, err := l.list(ctx, k, ns)
		if err != nil {
			return err
		}
		if g != nil {
			nsGaps = append(nsGaps, *g)
		}
	}
	switch {
	case !l.knownComplete:
		// Namespaces could not be listed: say which ones were tried.
		scope := "no namespace was known to read one by one (give some with --namespace)"
		if len(l.known) > 0 {
			scope = fmt.Sprintf("only namespaces %s were tried one by one", strings.Join(l.known, ", "))
		}
		l.b.gap(Gap{Kind: k.name, Reason: fmt.Sprintf("%s; namespaces cannot be listed, %s", refused.Reason, scope)})
		for _, g := range nsGaps {
			l.b.gap(g)
		}
	case len(nsGaps) == len(l.known):
		// Forbidden everywhere: one gap says it.
		l.b.gap(Gap{Kind: k.name, Reason: fmt.Sprintf("%s (and in each of the %d namespaces)", refused.Reason, len(l.known))})
	default:
		for _, g := range nsGaps {
			l.b.gap(g)
		}
	}
	return nil
}

func isAPIStatus(err error) bool {
	var s apierrors.APIStatus
	return errors.As(err, &s)
}

func apiMessage(err error) string {
	var s apierrors.APIStatus
	if errors.As(err, &s) {
		if m := s.Status().Message; m != "" {
			return m
		}
	}
	return err.Error()
}
