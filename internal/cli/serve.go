//go:build !node && !scan

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/credence-dev/credence/admission"
	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/assess/invcache"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/dashboard"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/server"
	"github.com/credence-dev/credence/store"
	"github.com/credence-dev/credence/vulndb"
)

// envStore names the store when --store is not given (a DSN with a
// password belongs in the environment, from a Secret, not in argv).
const envStore = "CREDENCE_STORE"

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Watch a cluster, keep every workload's verdict and history, re-evaluate when advisories change",
		Long: `serve is the continuous form of 'credence assess'. It watches the cluster
(slim informers: no managed fields, statuses or secret data, finished pods
never listed), keeps every workload's Subject and policy decision in the store
with their history, and re-evaluates:

  - a workload when it changes (debounced; one trust graph per batch),
  - every workload running an image whose findings changed when a new
    vulnerability database arrives (--db-import-dir, --db-update-interval):
    the stored inventories are re-matched, no image is read again.

Each running pod gets the labels credence.dev/risk=high|medium|low|unknown and
credence.dev/kev=true (while a KEV-listed finding is open) and one short
annotation credence.dev/summary ({"risk":62,"critical":4,"kev":2,...}), whose
size never grows with packages or advisories; a Kubernetes Event is recorded
when a workload becomes high risk or gains a KEV finding.

THE API (TLS; bearer tokens)
  GET  /api/v1/subjects?namespace=&limit=&after=   workloads ranked by risk
  GET  /api/v1/subjects/NS/KIND/NAME[?asOf=TIME]   one Subject and decision
  GET  /api/v1/subjects/NS/KIND/NAME/timeline      its history
  GET  /api/v1/images/DIGEST/findings|timeline     an image's findings, history
  GET  /api/v1/blast-radius/NS/POD[/CONTAINER]     what falls from a container
  POST /api/v1/alerts                              Falco JSON: answered with the blast radius, recorded
  GET  /metrics, /healthz, /readyz
Tokens are checked with the cluster's TokenReview and authorised with
SubjectAccessReview on the virtual API group credence.dev (resources
subjects, images: get, list; alerts: create; the non-resource URL /metrics),
or, outside a cluster, with --token-file (token,user,uid,"groups"; groups
credence:viewers, credence:alerts, credence:admins).

REPLICAS
Several replicas share one PostgreSQL store (--store postgres://…): each
works jobs and serves the API; one, elected through the Lease
credence-server in --lease-namespace, schedules. Replicas must see the same
vulnerability database (one file on a shared volume, or the same
--db-import-dir).`,
		Example: `  credence serve --store postgres://credence@db/credence --db /var/lib/credence/vuln.db \
      --db-import-dir /var/lib/credence/import --tls-cert-file tls.crt --tls-key-file tls.key
  credence serve --kubeconfig ~/.kube/config --db sample --plain-http --listen 127.0.0.1:8080 --token-file tokens.csv
  credence serve --once --db sample --leader-elect=false     # assess the cluster into the store, then exit`,
	}
	db := addDBFlag(cmd)
	var (
		kubeconfig, kctx, storeDSN, listen, certFile, keyFile, tokenFile       string
		leaseNS, identity, importDir, offlineDirs                              string
		plainHTTP, anonRead, leaderElect, once, labels, events, offline, jsonL bool
		workers, batch                                                         int
		debounce, graphEvery, resyncEvery, jobLease, dbUpdateEvery, dbPoll     time.Duration
		imageTimeout                                                           time.Duration
		riskHigh, riskMedium                                                   float64
		noDashboard, admit, profiling                                          bool
		memLimit                                                               string
		policies                                                               []string
		qps                                                                    float32
		burst                                                                  int
		upd                                                                    vulndb.UpdateConfig
	)
	fl := cmd.Flags()
	fl.StringVar(&kubeconfig, "kubeconfig", "", "the cluster's kubeconfig (default: in-cluster when run in a pod, else $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&kctx, "context", "", "kubeconfig context (default the current context)")
	fl.StringVar(&storeDSN, "store", "", "the store: a SQLite file (one replica) or postgres://… (several) (default $"+envStore+", else $"+invcache.EnvPath+" or ~/.cache/credence/inventory.db, shared with assess --cache); $"+envStore+" keeps a password out of the command line")
	fl.StringVar(&listen, "listen", ":8443", "address of the API, metrics and probes")
	fl.StringVar(&certFile, "tls-cert-file", "", "TLS certificate (PEM; re-read when it changes)")
	fl.StringVar(&keyFile, "tls-key-file", "", "TLS private key (PEM)")
	fl.BoolVar(&plainHTTP, "plain-http", false, "serve plain HTTP (only behind a TLS-terminating proxy or on loopback)")
	fl.StringVar(&tokenFile, "token-file", "", "authenticate with static tokens (token,user,uid,\"groups\") instead of the cluster's TokenReview")
	fl.BoolVar(&anonRead, "anonymous-read", false, "let clients without a token read (never write)")
	fl.BoolVar(&leaderElect, "leader-elect", true, "elect the scheduling replica through a Lease (off: this process schedules; one replica only)")
	fl.StringVar(&leaseNS, "lease-namespace", "", "namespace of the Lease (default $POD_NAMESPACE, else the context's namespace, else default)")
	fl.StringVar(&identity, "identity", "", "this replica's name in the Lease (default $POD_NAME, else hostname-pid)")
	fl.IntVar(&workers, "workers", 2, "jobs this replica works at once (and one sweep of every workload beside them)")
	fl.IntVar(&batch, "batch", 200, "workloads assessed together on one trust graph")
	fl.DurationVar(&debounce, "debounce", 2*time.Second, "gather cluster changes this long before queueing assessments")
	fl.DurationVar(&graphEvery, "graph-interval", 5*time.Second, "rebuild the trust graph at most this often")
	fl.DurationVar(&resyncEvery, "resync-interval", time.Hour, "re-evaluate every workload this often (0: never)")
	fl.DurationVar(&jobLease, "job-lease", 2*time.Minute, "a job's lease: a replica that dies mid-job loses it after this")
	fl.DurationVar(&dbUpdateEvery, "db-update-interval", 0, "run 'db update' this often (0: never; then use --db-import-dir or update the file yourself)")
	fl.StringVar(&importDir, "db-import-dir", "", "import this directory (OSV archives, KEV, EPSS) into --db whenever its files change")
	fl.DurationVar(&dbPoll, "db-poll", 10*time.Second, "how often to look at --db-import-dir and the --db file")
	fl.StringVar(&upd.OSVBaseURL, "osv-url", vulndb.DefaultOSVBaseURL, "with --db-update-interval: base URL of the OSV archives")
	fl.StringSliceVar(&upd.Ecosystems, "ecosystems", vulndb.DefaultEcosystems, "with --db-update-interval: OSV ecosystems to download")
	fl.StringVar(&upd.KEVURL, "kev-url", vulndb.DefaultKEVURL, `with --db-update-interval: URL of the CISA KEV catalog ("-" for none)`)
	fl.StringArrayVar(&policies, "policy", nil, "policy file (repeatable; default the built-in PSS baseline and no-KEV packs)")
	fl.StringVar(&offlineDirs, "images", "", "also find images by digest in this directory of OCI layouts and docker-archives")
	fl.BoolVar(&offline, "offline", false, "never read an image from a registry (only --images)")
	fl.DurationVar(&imageTimeout, "image-timeout", 5*time.Minute, "give up reading one image after this long (it is unknown, tried again later)")
	fl.BoolVar(&labels, "labels", true, "label pods with credence.dev/risk, credence.dev/kev and the summary annotation")
	fl.BoolVar(&events, "events", true, "record a Kubernetes Event when a workload becomes high risk or gains a KEV finding")
	fl.Float64Var(&riskHigh, "risk-high", server.DefaultThresholds.High, "risk score from which credence.dev/risk is high")
	fl.Float64Var(&riskMedium, "risk-medium", server.DefaultThresholds.Medium, "risk score from which credence.dev/risk is medium")
	fl.Float32Var(&qps, "qps", 100, "requests per second to the API server (label patches, events)")
	fl.IntVar(&burst, "burst", 200, "request burst to the API server")
	fl.BoolVar(&once, "once", false, "assess the cluster into the store, wait until no job is left, and exit")
	fl.BoolVar(&jsonL, "log-json", false, "log JSON lines instead of text")
	fl.BoolVar(&noDashboard, "no-dashboard", false, "do not serve the web pages at /ui/")
	fl.StringVar(&memLimit, "memory-limit", "", "soft limit for the Go heap, e.g. 450Mi: the garbage collector works harder near it (default $GOMEMLIMIT, else 80% of the container's memory limit; 0 for none)")
	fl.BoolVar(&profiling, "profiling", false, "serve Go's runtime profiles at /debug/pprof/ to clients allowed to get /metrics")
	fl.BoolVar(&admit, "admission", false, "also serve the validating admission webhook at /validate, deciding with --policy on the images this server has scanned (see 'credence admission serve' for a webhook of its own)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		if !plainHTTP && !once && (certFile == "" || keyFile == "") {
			return usagef("give --tls-cert-file and --tls-key-file (or --plain-http behind a TLS proxy)")
		}
		var logger *slog.Logger
		if jsonL {
			logger = slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
		} else {
			logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
		}
		limit, err := setMemoryLimit(memLimit)
		if err != nil {
			return usageErr(err)
		}
		if limit != "" {
			logger.Info("memory limit", "soft", limit)
		}
		cfg, source, ns, err := restConfig(kubeconfig, kctx)
		if err != nil {
			return err
		}
		cfg.QPS, cfg.Burst = qps, burst
		cs, err := kubernetes.NewForConfig(cluster.Protobuf(cfg))
		if err != nil {
			return fmt.Errorf("connect to %s: %w", cfg.Host, err)
		}
		if storeDSN == "" {
			storeDSN = os.Getenv(envStore)
		}
		if storeDSN == "" {
			if storeDSN, err = invcache.DefaultPath(); err != nil {
				return err
			}
		}
		st, err := openStoreRetrying(ctx, storeDSN, logger)
		if err != nil {
			return err
		}
		defer st.Close()

		opts := []server.Option{server.WithDB(db.resolve()), server.WithLogger(logger),
			server.WithWorkers(workers, batch), server.WithTimings(debounce, graphEvery, resyncEvery, jobLease, 500*time.Millisecond),
			server.WithSignals(labels, events, server.Thresholds{High: riskHigh, Medium: riskMedium})}
		if leaseNS == "" {
			leaseNS = firstNonEmpty(os.Getenv("POD_NAMESPACE"), ns, "default")
		}
		if leaderElect {
			opts = append(opts, server.WithLeaderElection(leaseNS, firstNonEmpty(identity, os.Getenv("POD_NAME"))))
		} else {
			opts = append(opts, server.WithoutLeaderElection())
		}
		if importDir != "" {
			opts = append(opts, server.WithDBImportDir(importDir, dbPoll))
		}
		if dbUpdateEvery > 0 {
			opts = append(opts, server.WithDBUpdate(dbUpdateEvery, upd))
		}
		var engine *policy.Engine
		if len(policies) > 0 || admit {
			if engine, err = loadPolicies(policies); err != nil {
				return err
			}
		}
		if len(policies) > 0 {
			opts = append(opts, server.WithPolicy(engine))
		}
		if !noDashboard {
			opts = append(opts, server.WithDashboard(dashboard.New(st)))
		}
		var webhookImages *admission.ImageStore
		if admit {
			webhookImages = admission.NewImageStore()
			aopts := []admission.Option{admission.WithLogger(logger), admission.WithImages(webhookImages)}
			if !offline {
				aopts = append(aopts, admission.WithResolver(admission.NewRegistryResolver(time.Minute, remote.WithAuthFromKeychain(authn.DefaultKeychain))))
			}
			iv := admission.NewInformerView(cs, 0)
			if err := iv.Start(ctx); err != nil {
				return err
			}
			b, err := admission.NewBlast(iv, admission.WithExploitImages(webhookImages))
			if err != nil {
				return err
			}
			go b.Run(ctx)
			h, err := admission.NewHandler(admission.NewPolicies(engine), append(aopts, admission.WithBlast(b))...)
			if err != nil {
				return usageErr(err)
			}
			opts = append(opts, server.WithAdmission(h))
		}
		imgOpts := []assess.Option{assess.WithImageTimeout(imageTimeout)}
		if offlineDirs != "" {
			dirs, warn, err := assess.NewImageDirs(ctx, []string{offlineDirs}, nil)
			if err != nil {
				return usageErr(err)
			}
			for _, w := range warn {
				logger.Warn(w)
			}
			imgOpts = append(imgOpts, assess.WithImageDirs(dirs))
		}
		if !offline {
			imgOpts = append(imgOpts, assess.WithRegistry(authn.DefaultKeychain))
		}
		opts = append(opts, server.WithImageOptions(imgOpts...))
		if tokenFile != "" {
			toks, err := server.LoadStaticTokens(tokenFile)
			if err != nil {
				return usageErr(err)
			}
			opts = append(opts, server.WithAuth(toks, toks))
		} else {
			ka := server.NewKubeAuth(cs)
			opts = append(opts, server.WithAuth(ka, ka))
		}
		if anonRead {
			opts = append(opts, server.WithAnonymousRead())
		}
		if once {
			opts = append(opts, server.WithOnce())
		}
		if profiling {
			opts = append(opts, server.WithProfiling())
		}
		srv, err := server.New(st, cs, source, opts...)
		if err != nil {
			return usageErr(err)
		}
		if once {
			return srv.Run(ctx)
		}
		if webhookImages != nil {
			go feedWebhook(ctx, srv, webhookImages, logger)
		}
		if plainHTTP {
			certFile, keyFile = "", ""
		}
		return srv.ListenAndServe(ctx, listen, certFile, keyFile)
	}
	return cmd
}

// feedWebhook keeps the webhook's images those the server scanned, re-read
// every 30 s (so a database update reaches admission within that).
func feedWebhook(ctx context.Context, srv *server.Server, imgs *admission.ImageStore, logger *slog.Logger) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		if list, err := srv.ScannedImages(ctx); err != nil {
			logger.Warn("admission: could not read the scanned images; the previous ones stay", "error", err)
		} else {
			imgs.Load(&assess.Assessment{Source: "credence serve", Images: list})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// restConfig is the cluster's client config: the kubeconfig flags, else
// in-cluster when run in a pod, else the default kubeconfig. It returns a
// description of the cluster and the context's namespace.
func restConfig(kubeconfig, kctx string) (*rest.Config, string, string, error) {
	if kubeconfig == "" && kctx == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, "", "", fmt.Errorf("in-cluster config: %w", err)
		}
		ns, _ := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		return cfg, "in-cluster at " + cfg.Host, string(ns), nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kctx})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", "", fmt.Errorf("load kubeconfig: %w", err)
	}
	ns, _, _ := cc.Namespace()
	raw, _ := cc.RawConfig()
	name := firstNonEmpty(kctx, raw.CurrentContext)
	return cfg, fmt.Sprintf("context %s at %s", name, cfg.Host), ns, nil
}

// openStoreRetrying opens the store, waiting with back-off while it is
// unavailable (PostgreSQL starting beside the server).
func openStoreRetrying(ctx context.Context, dsn string, logger *slog.Logger) (*store.Store, error) {
	for attempt := 1; ; attempt++ {
		st, err := store.Open(ctx, dsn)
		if err == nil {
			return st, nil
		}
		if !store.IsRetryable(err) || attempt >= 10 {
			return nil, fmt.Errorf("open the store: %w", err)
		}
		d := store.Backoff(attempt)
		logger.Warn("store unavailable; retrying", "in", d.Round(time.Millisecond), "error", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
