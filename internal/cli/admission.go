//go:build !node && !scan

package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/credence-dev/credence/admission"
	"github.com/credence-dev/credence/admission/vap"
	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/attest"
)

func newAdmissionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admission",
		Short: "The validating admission webhook, its configuration, and ValidatingAdmissionPolicies",
		Long: `credence admission serves a validating admission webhook that evaluates
credence policies (the same files as 'credence check') on every pod,
workload, RoleBinding, ClusterRoleBinding and NetworkPolicy the API server
admits, prints the ValidatingWebhookConfiguration to register it, and
generates ValidatingAdmissionPolicies for the rules the API server can
evaluate itself.`,
	}
	cmd.AddCommand(newAdmissionServeCmd(), newAdmissionConfigCmd(), newAdmissionVAPCmd())
	return cmd
}

func newAdmissionServeCmd() *cobra.Command {
	var (
		listen, certFile, keyFile, selfSigned  string
		hosts, policies, assessments, registry []string
		recordFile, recordKey, serviceAccount  string
		offline, noView                        bool
		deadline, verifiedTTL, negativeTTL     time.Duration
		verifyTimeout, tagTTL, reload          time.Duration
		maxBody                                int64
		f                                      trustFlags
		cf                                     clusterFlags
	)
	cmd := &cobra.Command{
		Use:   "serve --policy FILE... (--tls-cert FILE --tls-key FILE | --self-signed DIR)",
		Short: "Serve the validating admission webhook over TLS",
		Long: `serve answers AdmissionReview v1 requests at /validate (HTTPS), with /healthz
and /readyz for probes, and logs one line per decision.

Every request is judged by the policies (--policy, the format of 'credence
check --help'; reloaded when the file changes: the next request sees the new
policy; a file that does not compile is refused and the previous policy
stays). Pods and workload templates get a Subject built from what is
already known, never by scanning inline:

  images       digests from the pod spec (pinned), the registry (tags, a
               HEAD request kept --tag-ttl) or an assessment; an image the
               policy exempts costs no registry call
  findings     from 'credence assess -o json' files (--assessment, reloaded
               on change); an image not assessed yet is unknown, and unknown
               never passes a rule that reads it
  provenance   verified against --key / --certificate-identity and kept in a
               verdict cache keyed by image digest, trust root and
               authorities: verified kept --verified-ttl, unsigned or failed
               --negative-ttl, a transient error never; identical
               verifications in flight are coalesced; a cold miss verifies
               inline until the deadline, then the policy's failure mode
               decides (fail-closed denies, fail-open warns)
  posture      Pod Security and isolation from the spec
  paths        with credence-no-new-critical-path@v1 in a policy: the trust
               graph of the cluster (watched with informers, rebuilt in the
               background) with the object applied, compared with the graph
               without it. RoleBindings, ClusterRoleBindings and
               NetworkPolicies are judged by the new paths they open for
               the workloads they affect.

The deadline is --deadline, cut below the API server's own timeout (the
?timeout= it sends). BREAK-GLASS: a pod (or template) annotated
credence.dev/break-glass: "<ticket> <reason>" is admitted with a warning
when every policy that denies it lists the namespace in
spec.breakGlass.namespaces; the record names the ticket, the reason and the
user.

SIGNED RECORD: --record FILE --record-key KEY appends every decision (rules,
evidence, images and digests, the pod's identity, break-glass) to a JSON
Lines file, each line signed with the Ed25519 key (PEM PKCS#8: openssl
genpkey -algorithm ed25519 -out admission.key; public half: openssl pkey
-in admission.key -pubout -out admission.pub) and chained to the previous
one. 'credence attest reconcile --admitted FILE --admitted-key admission.pub'
verifies it. A decision that cannot be recorded is a denial.

The webhook's own service account (--service-account NAMESPACE/NAME) is
never judged. Register it with 'credence admission config'.`,
		Example: `  credence admission serve --policy policy.yaml --self-signed ./certs --host credence-admission.credence-system.svc \
      --key cosign.pub --assessment assessment.json --record /var/lib/credence/admission.jsonl --record-key /etc/credence/admission.key
  credence admission serve --policy policy.yaml --tls-cert tls.crt --tls-key tls.key --kubeconfig ~/.kube/config`,
	}
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", ":8443", "address to serve HTTPS on")
	fl.StringVar(&certFile, "tls-cert", "", "serving certificate (PEM); reloaded when it changes")
	fl.StringVar(&keyFile, "tls-key", "", "serving key (PEM)")
	fl.StringVar(&selfSigned, "self-signed", "", "development: make a CA and a serving certificate for --host in this directory (ca.crt is the caBundle)")
	fl.StringSliceVar(&hosts, "host", []string{"localhost", "127.0.0.1"}, "names and addresses the self-signed certificate is for")
	fl.StringArrayVar(&policies, "policy", nil, "policy file (YAML); repeatable; default: credence-pss-baseline@v1 and credence-no-kev@v1 enforced")
	fl.StringArrayVar(&assessments, "assessment", nil, "'credence assess -o json' output: findings of images scanned ahead; repeatable, reloaded when it changes")
	fl.StringArrayVar(&f.keys, "key", nil, "verify provenance: trust signatures by this PEM public key (authority \"key\"); repeatable")
	f.addIdentity(cmd)
	fl.StringArrayVar(&f.trustedRoots, "trusted-root", nil, "sigstore trusted_root.json to trust (repeatable); no network is used for it")
	fl.BoolVar(&f.ignoreTlog, "insecure-ignore-tlog", false, "accept signatures with no transparency-log entry (air-gapped keys only)")
	fl.StringArrayVar(&registry, "trusted-registry", nil, "provenance: accept only images under this registry or registry/path prefix (repeatable)")
	fl.BoolVar(&offline, "offline", false, "never contact a registry: tags resolve only through --assessment, provenance is not verified")
	fl.DurationVar(&deadline, "deadline", admission.DefaultDeadline, "longest time one request may take (cut below the API server's timeout)")
	fl.DurationVar(&verifiedTTL, "verified-ttl", admission.DefaultVerifiedTTL, "keep a verified provenance verdict this long")
	fl.DurationVar(&negativeTTL, "negative-ttl", admission.DefaultNegativeTTL, "keep an unsigned or failed verdict this long (0: never)")
	fl.DurationVar(&verifyTimeout, "verify-timeout", admission.DefaultVerifyTimeout, "give up one background verification after this long")
	fl.DurationVar(&tagTTL, "tag-ttl", admission.DefaultTagTTL, "keep a tag's digest this long")
	fl.DurationVar(&reload, "reload", 2*time.Second, "how often policy and assessment files are checked for changes")
	fl.Int64Var(&maxBody, "max-body", admission.DefaultMaxBodyBytes, "largest AdmissionReview accepted, in bytes")
	fl.StringVar(&recordFile, "record", "", "append every decision to this signed admission record (JSON Lines)")
	fl.StringVar(&recordKey, "record-key", "", "Ed25519 private key (PEM PKCS#8) that signs the record")
	fl.StringVar(&serviceAccount, "service-account", "credence-system/credence-admission", "the webhook's own service account (NAMESPACE/NAME): never judged")
	fl.BoolVar(&noView, "no-cluster-view", false, "do not watch the cluster: new paths to critical assets are unknown")
	fl.StringVar(&cf.manifests, "manifests", "", "use these manifests as the cluster view instead of a live cluster (testing)")
	fl.StringVar(&cf.kubeconfig, "kubeconfig", "", "watch the cluster through this kubeconfig (default: in-cluster, then $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&cf.context, "context", "", "kubeconfig context")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		stderr := cmd.ErrOrStderr()
		log := slog.New(slog.NewTextHandler(stderr, nil))
		if (certFile == "") != (keyFile == "") {
			return usagef("give --tls-cert and --tls-key together")
		}
		if (certFile == "") == (selfSigned == "") {
			return usagef("give a serving certificate (--tls-cert and --tls-key) or --self-signed DIR")
		}
		if (recordFile == "") != (recordKey == "") {
			return usagef("give --record and --record-key together")
		}
		ns, sa, ok := strings.Cut(serviceAccount, "/")
		if !ok || ns == "" || sa == "" {
			return usagef("--service-account %q: want NAMESPACE/NAME", serviceAccount)
		}
		engine, err := loadPolicies(policies)
		if err != nil {
			return err
		}
		pols := admission.NewPolicies(engine)
		opts := []admission.Option{admission.WithLogger(log), admission.WithDeadline(deadline), admission.WithSelf(admission.ServiceAccountUser(ns, sa))}
		if maxBody > 0 {
			opts = append(opts, admission.WithMaxBodyBytes(maxBody))
		}
		store := admission.NewImageStore()
		if err := loadAssessments(store, assessments); err != nil {
			return usageErr(err)
		}
		opts = append(opts, admission.WithImages(store))
		wantsProvenance := len(f.keys) > 0 || f.identity != "" || f.identityRegexp != "" || f.issuer != "" || f.issuerRegexp != ""
		switch {
		case wantsProvenance && offline:
			return usagef("--offline cannot verify provenance (signatures live in the registry): drop --offline, or the --key/--certificate-* flags")
		case wantsProvenance:
			trust, err := f.trust()
			if err != nil {
				return err
			}
			v, p, err := provenanceVerifier(&f, registry)
			if err != nil {
				return err
			}
			vc, err := admission.NewVerdictCache(v, trust, p, admission.WithVerifiedTTL(verifiedTTL), admission.WithNegativeTTL(negativeTTL), admission.WithVerifyTimeout(verifyTimeout))
			if err != nil {
				return usageErr(err)
			}
			opts = append(opts, admission.WithVerdicts(vc))
		case len(registry) > 0 || len(f.trustedRoots) > 0:
			return usagef("--trusted-registry and --trusted-root need whom to trust: --key, or --certificate-identity and --certificate-oidc-issuer")
		}
		if !offline {
			opts = append(opts, admission.WithResolver(admission.NewRegistryResolver(tagTTL, remote.WithAuthFromKeychain(authn.DefaultKeychain))))
		}
		if recordFile != "" {
			b, err := readBounded(recordKey, 64<<10)
			if err != nil {
				return usagef("--record-key: %v", err)
			}
			key, err := attest.ParseEd25519PrivateKey(b)
			if err != nil {
				return usagef("--record-key %s: %v", recordKey, err)
			}
			rec, err := attest.OpenRecord(recordFile, key)
			if err != nil {
				return usageErr(err)
			}
			defer rec.Close()
			log.Info("admission record", "file", recordFile, "key", attest.KeyID(key.Public().(ed25519.PublicKey)))
			opts = append(opts, admission.WithRecord(rec))
		}
		ctx, cancel := context.WithCancel(cmd.Context())
		defer cancel()
		var view admission.ClusterView
		var iv *admission.InformerView
		switch {
		case noView:
		case cf.manifests != "":
			fh, err := os.Open(cf.manifests)
			if err != nil {
				return usagef("--manifests: %v", err)
			}
			objs, skipped, err := admission.DecodeManifests(fh)
			fh.Close()
			if err != nil {
				return usagef("--manifests %s: %v", cf.manifests, err)
			}
			if skipped > 0 {
				log.Warn("cluster view: documents of kinds client-go does not know were skipped", "skipped", skipped)
			}
			view = admission.NewStaticView(objs...)
		default:
			cfg, _, _, err := restConfig(cf.kubeconfig, cf.context)
			if err != nil {
				return usageErr(fmt.Errorf("cluster view: %w (or --no-cluster-view)", err))
			}
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			iv = admission.NewInformerView(cs, 0)
			if err := iv.Start(ctx); err != nil {
				return err
			}
			for _, g := range iv.Gaps() {
				log.Warn("cluster view gap: what it hides is unknown", "kind", g.Kind, "reason", g.Reason)
			}
			view = iv
		}
		if view != nil {
			b, err := admission.NewBlast(view, admission.WithExploitImages(store))
			if err != nil {
				return err
			}
			go b.Run(ctx)
			opts = append(opts, admission.WithBlast(b))
		}
		h, err := admission.NewHandler(pols, opts...)
		if err != nil {
			return usageErr(err)
		}
		var certs *admission.CertReloader
		if selfSigned != "" {
			certFile, keyFile = selfSigned+"/tls.crt", selfSigned+"/tls.key"
			if _, err := os.Stat(certFile); err == nil {
				// Kept across restarts: the caBundle already registered stays right.
				log.Info("self-signed certificate reused", "dir", selfSigned, "caBundle", selfSigned+"/ca.crt")
			} else {
				if _, err := admission.SelfSigned(selfSigned, hosts, 365*24*time.Hour); err != nil {
					return err
				}
				log.Info("self-signed certificate made", "dir", selfSigned, "caBundle", selfSigned+"/ca.crt", "hosts", strings.Join(hosts, ","))
			}
		}
		if certs, err = admission.NewCertReloader(certFile, keyFile); err != nil {
			return usageErr(err)
		}
		go watchFiles(ctx, reload, policies, func() {
			e, err := loadPolicies(policies)
			if err != nil {
				log.Error("policy reload refused; the previous policy stays", "error", oneLine(err.Error()), "digest", pols.Engine().Digest())
				return
			}
			pols.Set(e)
			log.Info("policy reloaded", "digest", e.Digest())
		})
		go watchFiles(ctx, reload, assessments, func() {
			if err := loadAssessments(store, assessments); err != nil {
				log.Error("assessment reload refused; the previous findings stay", "error", oneLine(err.Error()))
				return
			}
			log.Info("assessments reloaded", "images", store.Len())
		})
		ready := func() error {
			if iv != nil && !iv.Ready() {
				return errors.New("the cluster view is not synced yet")
			}
			return certs.Err()
		}
		l, err := net.Listen("tcp", listen)
		if err != nil {
			return usagef("--listen %s: %v", listen, err)
		}
		log.Info("serving the admission webhook", "address", l.Addr().String(), "path", admission.ValidatePath, "policy", engine.Digest(),
			"images", store.Len(), "provenance", wantsProvenance, "cluster_view", view != nil)
		return admission.Serve(ctx, l, admission.Mux(h, ready), certs.TLSConfig())
	}
	return cmd
}

func loadAssessments(store *admission.ImageStore, paths []string) error {
	var as []*assess.Assessment
	for _, p := range paths {
		a, err := admission.ReadAssessment(p)
		if err != nil {
			return fmt.Errorf("--assessment: %w", err)
		}
		as = append(as, a)
	}
	store.Load(as...)
	return nil
}

// watchFiles calls changed whenever one of paths changes (size or
// modification time), checking every interval until ctx ends.
func watchFiles(ctx context.Context, interval time.Duration, paths []string, changed func()) {
	if len(paths) == 0 || interval <= 0 {
		return
	}
	stamp := func() string {
		var b strings.Builder
		for _, p := range paths {
			if fi, err := os.Stat(p); err == nil {
				fmt.Fprintf(&b, "%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
			}
		}
		return b.String()
	}
	last := stamp()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s := stamp(); s != last {
			last = s
			changed()
		}
	}
}

func newAdmissionConfigCmd() *cobra.Command {
	var (
		url, service, caFile, selfSigned, failure, serviceAccount string
		timeout                                                   int32
		exclude                                                   []string
		noGraph                                                   bool
	)
	cmd := &cobra.Command{
		Use:   "config (--url URL | --service NAMESPACE/NAME[:PORT]) (--ca-bundle FILE | --self-signed DIR)",
		Short: "Print the ValidatingWebhookConfiguration that registers the webhook",
		Long: `config prints the ValidatingWebhookConfiguration to apply (kubectl apply -f -):
the webhook's address and CA bundle, the resources it is sent (pods and
pods/ephemeralcontainers, Deployments, StatefulSets, DaemonSets,
ReplicaSets, Jobs, CronJobs; RoleBindings, ClusterRoleBindings and
NetworkPolicies for the graph-delta gate unless --no-graph), CREATE and
UPDATE, failurePolicy, timeoutSeconds, sideEffects None, matchPolicy
Equivalent, admissionReviewVersions v1, and two exclusions:

  - namespaces (--exclude-namespace; default kube-system and the webhook's
    own) by a namespaceSelector on kubernetes.io/metadata.name;
  - the webhook's own service account by a matchCondition on the
    authenticated user, which a request cannot forge.

No objectSelector is set: a label is written by whoever writes the object,
so a label exclusion would let anyone opt out.`,
		Example: `  credence admission config --service credence-system/credence-admission --ca-bundle ca.crt | kubectl apply -f -
  credence admission config --url https://127.0.0.1:8443/validate --self-signed ./certs --failure-policy Ignore`,
	}
	fl := cmd.Flags()
	fl.StringVar(&url, "url", "", "the webhook's URL (https://HOST:PORT/validate), for a webhook outside the cluster")
	fl.StringVar(&service, "service", "", "the webhook's Service, NAMESPACE/NAME[:PORT] (path /validate)")
	fl.StringVar(&caFile, "ca-bundle", "", "PEM CA that signed the serving certificate")
	fl.StringVar(&selfSigned, "self-signed", "", "read the CA from DIR/ca.crt, as 'serve --self-signed DIR' wrote it")
	fl.StringVar(&failure, "failure-policy", "Fail", "what the API server does when the webhook does not answer: Fail or Ignore")
	fl.Int32Var(&timeout, "timeout-seconds", 10, "how long the API server waits (1 to 30)")
	fl.StringSliceVar(&exclude, "exclude-namespace", nil, "namespaces never sent (default kube-system and the webhook's own)")
	fl.StringVar(&serviceAccount, "service-account", "credence-system/credence-admission", "the webhook's own service account, never sent")
	fl.BoolVar(&noGraph, "no-graph", false, "do not send RoleBindings, ClusterRoleBindings and NetworkPolicies")
	out := addOutputFlag(cmd, "yaml", "yaml", "json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ns, sa, ok := strings.Cut(serviceAccount, "/")
		if !ok || ns == "" || sa == "" {
			return usagef("--service-account %q: want NAMESPACE/NAME", serviceAccount)
		}
		if (caFile == "") == (selfSigned == "") {
			return usagef("give the CA: --ca-bundle FILE or --self-signed DIR")
		}
		if caFile == "" {
			caFile = selfSigned + "/ca.crt"
		}
		ca, err := readBounded(caFile, 1<<20)
		if err != nil {
			return usagef("CA bundle: %v", err)
		}
		if exclude == nil {
			exclude = []string{"kube-system", ns}
		}
		c := admission.WebhookConfig{URL: url, CABundle: ca, FailurePolicy: admissionregistrationv1.FailurePolicyType(failure), TimeoutSeconds: timeout,
			ExcludeNamespaces: exclude, ExcludeUsers: []string{admission.ServiceAccountUser(ns, sa)}, Graph: !noGraph}
		if service != "" {
			sns, rest, ok := strings.Cut(service, "/")
			if !ok || sns == "" || rest == "" {
				return usagef("--service %q: want NAMESPACE/NAME[:PORT]", service)
			}
			ref := &admission.ServiceRef{Namespace: sns, Name: rest}
			if n, p, ok := strings.Cut(rest, ":"); ok {
				var port int32
				if _, err := fmt.Sscan(p, &port); err != nil || port < 1 || port > 65535 {
					return usagef("--service %q: port %q", service, p)
				}
				ref.Name, ref.Port = n, port
			}
			c.Service = ref
		}
		cfg, err := c.Build()
		if err != nil {
			return usageErr(err)
		}
		if out.format == "json" {
			return writeJSON(cmd.OutOrStdout(), cfg)
		}
		b, err := yaml.Marshal(cfg)
		if err != nil {
			return err
		}
		_, err = cmd.OutOrStdout().Write(b)
		return err
	}
	return cmd
}

func newAdmissionVAPCmd() *cobra.Command {
	var (
		policies, exclude []string
		prefix            string
	)
	cmd := &cobra.Command{
		Use:   "vap --policy FILE...",
		Short: "Generate ValidatingAdmissionPolicies for the rules the API server can evaluate itself",
		Long: `vap writes ValidatingAdmissionPolicies and their bindings (YAML, for kubectl
apply) for the rules of the policies that the API server can evaluate in its
own CEL, over the object alone and without a network:

  credence-image-source@v1     trusted registries and digest pinning, with
                               references parsed as credence parses them
  credence-pss-baseline@v1     Pod Security baseline, check by check as the
  credence-pss-restricted@v1   upstream evaluator (v1.37) does

The policy's match (namespaces, excluded namespaces, label selector,
images) and its exemptions without an expiry or workload names go with
them; one policy per shape (pods, workloads with a template, CronJobs) and
action (enforce: Deny, warn: Warn, audit: Audit). An update that leaves the
pod template alone is not judged, as the webhook does not judge it.

Everything else (signatures, findings, paths, custom rules over the Subject,
exemptions that expire or name workloads) stays with the webhook, which
remains the fallback: the rules left out are listed on standard error.
Generated policies compile in the API server's CEL environment; check with
kubectl get validatingadmissionpolicy NAME -o jsonpath='{.status.typeChecking}'.`,
		Example: `  credence admission vap --policy policy.yaml | kubectl apply -f -`,
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&policies, "policy", nil, "policy file (YAML); repeatable; default: credence-pss-baseline@v1 and credence-no-kev@v1")
	fl.StringSliceVar(&exclude, "exclude-namespace", []string{"kube-system"}, "namespaces the bindings leave out (as the webhook configuration does)")
	fl.StringVar(&prefix, "prefix", "credence", "name prefix of the generated objects")
	out := addOutputFlag(cmd, "yaml", "yaml", "json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		e, err := loadPolicies(policies)
		if err != nil {
			return err
		}
		res, err := vap.Generate(e, vap.Options{Prefix: prefix, ExcludeNamespaces: exclude})
		if err != nil {
			return usageErr(err)
		}
		w := cmd.OutOrStdout()
		if out.format == "json" {
			err = writeJSON(w, res)
		} else {
			err = res.WriteYAML(w)
		}
		if err != nil {
			return err
		}
		stderr := cmd.ErrOrStderr()
		fmt.Fprintf(stderr, "generated %s from %s; %s left to the webhook\n", count(len(res.Policies), "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicies"),
			count(len(res.Generated), "rule", "rules"), count(len(res.Skipped), "rule", "rules"))
		for _, s := range res.Skipped {
			fmt.Fprintf(stderr, "  %s: %s\n", s.Rule, s.Why)
		}
		return nil
	}
	return cmd
}
