package admission_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/credence-dev/credence/admission"
	"github.com/credence-dev/credence/admission/vap"
	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
)

// warnings records the warnings the API server returns to a client.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// webhook serves h over TLS on 127.0.0.1 with a CA made here.
type webhook struct {
	url string
	ca  []byte
}

func serveWebhook(t *testing.T, h http.Handler) webhook {
	t.Helper()
	dir := t.TempDir()
	ca, err := admission.SelfSigned(dir, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := admission.NewCertReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- admission.Serve(ctx, l, admission.Mux(h, nil), certs.TLSConfig()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return webhook{url: "https://" + l.Addr().String() + admission.ValidatePath, ca: ca}
}

// slowHandler answers after a delay longer than any timeout the API server
// is given in the test.
type slowHandler struct{ delay time.Duration }

func (s slowHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-time.After(s.delay):
	case <-r.Context().Done():
		return
	}
	http.Error(w, "too late", http.StatusServiceUnavailable)
}

func register(t *testing.T, cs kubernetes.Interface, cfg admission.WebhookConfig) {
	t.Helper()
	vwc, err := cfg.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, vwc.Name, metav1.DeleteOptions{})
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("register %s: %v", vwc.Name, err)
	}
}

func unregister(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

// until retries f for up to 30 s (the e2e way: keep sending marker objects
// until the webhook or policy is seen to act).
func until(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var dryRun = metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}

func createPod(cs kubernetes.Interface, p *corev1.Pod, opts metav1.CreateOptions) (*corev1.Pod, error) {
	q := p.DeepCopy()
	q.ResourceVersion, q.UID = "", ""
	return cs.CoreV1().Pods(q.Namespace).Create(context.Background(), q, opts)
}

// TestAgainstKubeAPIServer registers the webhook on the real kube-apiserver
// the repo builds (v1.37.2) and checks what a user would see: allowed,
// denied and warned pods (the warnings reach the client), the webhook's
// own service account excluded both ways, the signed record naming the
// UIDs the API server gave the pods, the graph-delta gate on a
// ClusterRoleBinding, a slow webhook under failurePolicy Fail and Ignore,
// and the generated ValidatingAdmissionPolicies: type-checked by the
// server without a warning, and deciding the parity corpus as the webhook
// does.
func TestAgainstKubeAPIServer(t *testing.T) {
	srv := kubeapiserver.Start(t)
	ctx := context.Background()
	cs := srv.Client
	for _, ns := range []string{"shop", "credence-system", "slow", "parity", "graph"} {
		srv.Namespace(t, ns, nil)
	}
	reg := newRegistry(t)
	self := admission.ServiceAccountUser("credence-system", "credence-admission")

	_, recKey, _ := ed25519.GenerateKey(rand.Reader)
	recPath := filepath.Join(t.TempDir(), "admission.jsonl")
	rec, err := attest.OpenRecord(recPath, recKey)
	if err != nil {
		t.Fatal(err)
	}
	view := admission.NewInformerView(cs, 0)
	vctx, stopView := context.WithCancel(ctx)
	defer stopView()
	if err := view.Start(vctx); err != nil {
		t.Fatal(err)
	}
	blast, err := admission.NewBlast(view, admission.WithRefresh(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	go blast.Run(vctx)
	logFile, _ := os.Create(filepath.Join(t.TempDir(), "webhook.log"))
	defer logFile.Close()
	warnSigned := strings.Replace(signedPolicy, "    - name: credence-pss-baseline@v1\n", "    - name: credence-pss-baseline@v1\n    - name: credence-pss-restricted@v1\n      mode: warn\n", 1)
	h, pols := newHandler(t, compile(t, warnSigned), admission.WithVerdicts(reg.verdicts(t)), admission.WithRecord(rec),
		admission.WithSelf(self), admission.WithBlast(blast), admission.WithLogger(slog.New(slog.NewTextHandler(logFile, nil))))
	wh := serveWebhook(t, h)
	cfg := admission.WebhookConfig{Name: "credence.dev", URL: wh.url, CABundle: wh.ca, TimeoutSeconds: 10,
		ExcludeNamespaces: []string{"kube-system", "credence-system", "slow"}, ExcludeUsers: []string{self}, Graph: true}
	register(t, cs, cfg)

	rec2 := &warnings{}
	wcfg := rest.CopyConfig(srv.Config)
	wcfg.WarningHandler = rec2
	wcs, err := kubernetes.NewForConfig(wcfg)
	if err != nil {
		t.Fatal(err)
	}

	// Live: a privileged marker pod is denied once the webhook is called.
	marker := pod("marker", reg.signed.String())
	yes := true
	marker.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
	until(t, "webhook live", func() bool {
		_, err := createPod(cs, marker, dryRun)
		return err != nil && strings.Contains(err.Error(), "credence denied")
	})

	var created []*corev1.Pod
	t.Run("decisions", func(t *testing.T) {
		restricted := &corev1.SecurityContext{AllowPrivilegeEscalation: new(bool), RunAsNonRoot: &yes, RunAsUser: ptrInt64(1000),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
		ok := pod("signed", reg.signed.String())
		ok.Spec.Containers[0].SecurityContext = restricted
		p, err := createPod(wcs, ok, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("a signed, restricted pod: %v", err)
		}
		if w := rec2.take(); len(w) != 0 {
			t.Errorf("no warning expected, got %q", w)
		}
		created = append(created, p)
		warn := pod("signed-baseline", reg.signed.String())
		p, err = createPod(wcs, warn, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("a signed baseline pod: %v", err)
		}
		w := rec2.take()
		if len(w) == 0 || !strings.Contains(strings.Join(w, "|"), "credence: credence-pss-restricted@v1/pod-security-restricted") {
			t.Errorf("the restricted warning must reach the client: %q", w)
		}
		created = append(created, p)
		_, err = createPod(wcs, pod("unsigned", reg.unsigned.String()), metav1.CreateOptions{})
		if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "credence-signed@v1/signed") || !strings.Contains(err.Error(), "no-signature") {
			t.Errorf("an unsigned pod: %v", err)
		}
		_, err = createPod(wcs, marker, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "pod-security-baseline") {
			t.Errorf("a privileged pod: %v", err)
		}
		// A Deployment's template is judged too.
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "unsigned", Namespace: "shop"}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: reg.unsigned.String()}}}}}}
		if _, err := cs.AppsV1().Deployments("shop").Create(ctx, d, dryRun); err == nil || !strings.Contains(err.Error(), "credence-signed@v1/signed") {
			t.Errorf("a Deployment of an unsigned image: %v", err)
		}
	})

	t.Run("own service account excluded", func(t *testing.T) {
		if _, err := cs.RbacV1().Roles("shop").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pods"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.RbacV1().RoleBindings("shop").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "credence-pods"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "credence-admission", Namespace: "credence-system"}},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pods"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		as := srv.ClientAs(t, self, "system:serviceaccounts", "system:serviceaccounts:credence-system", "system:authenticated")
		srv.WaitRBAC(t, "shop")
		before := h.Stats().Requests
		if _, err := createPod(as, marker, dryRun); err != nil {
			t.Errorf("the webhook's own service account was judged: %v", err)
		}
		if n := h.Stats().Requests - before; n != 0 {
			t.Errorf("the match condition must keep its requests from the webhook: %d sent", n)
		}
		// Without the match condition the handler still excludes it.
		c := cfg
		c.ExcludeUsers = nil
		register(t, cs, c)
		until(t, "request sent without the match condition", func() bool {
			before := h.Stats().Requests
			_, err := createPod(as, marker, dryRun)
			if err != nil {
				t.Fatalf("own service account denied by the handler: %v", err)
			}
			return h.Stats().Requests > before
		})
		register(t, cs, cfg)
	})

	t.Run("record", func(t *testing.T) {
		if err := rec.Sync(); err != nil {
			t.Fatal(err)
		}
		fh, _ := os.Open(recPath)
		defer fh.Close()
		sum, err := attest.VerifyRecord(fh, recKey.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		uids := map[string]string{}
		for _, w := range sum.Admitted.Workloads {
			uids[w.PodUID] = w.ImageDigest
		}
		for _, p := range created {
			if d, ok := uids[string(p.UID)]; !ok || d != reg.signed.DigestStr() {
				t.Errorf("pod %s (uid %s) is not in the record with its digest (%v)", p.Name, p.UID, uids)
			}
		}
		if len(sum.Admitted.Workloads) != len(created) {
			t.Errorf("admitted %d containers, created %d pods (dry runs and denials must not count)", len(sum.Admitted.Workloads), len(created))
		}
	})

	t.Run("graph gate", func(t *testing.T) {
		pols.Set(compile(t, pathsPolicy))
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "graph"}}
		if _, err := cs.CoreV1().ServiceAccounts("graph").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "all-powerful"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		web := pod("web", "registry.example.com/web:1")
		web.Namespace, web.Spec.ServiceAccountName = "graph", "web"
		// Created while only the RBAC objects are judged (nothing reaches a
		// critical asset yet, so the pod's own delta is empty).
		pols.Set(compile(t, strings.Replace(pathsPolicy, "spec:\n", "spec:\n  match: {namespaces: [nothing-here]}\n", 1)))
		if _, err := createPod(cs, web, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create web: %v", err)
		}
		pols.Set(compile(t, pathsPolicy))
		// The base graph, not only the view: a request that finds the base
		// being rebuilt judges against the one before (at most one refresh
		// old), which may predate the pod (each kind has its own watch).
		until(t, "the base graph holds the web pod, its service account and the role", func() bool {
			snap := blast.Snapshot()
			if snap == nil {
				return false
			}
			pod := slices.ContainsFunc(snap.Pods, func(p cluster.Pod) bool { return p.Namespace == "graph" && p.Name == "web" })
			sa := slices.ContainsFunc(snap.ServiceAccounts, func(a corev1.ServiceAccount) bool { return a.Namespace == "graph" && a.Name == "web" })
			role := slices.ContainsFunc(snap.ClusterRoles, func(r rbacv1.ClusterRole) bool { return r.Name == "all-powerful" })
			return pod && sa && role
		})
		crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "web-all-powerful"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "web", Namespace: "graph"}},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "all-powerful"}}
		_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "graph/Pod/web: credence-no-new-critical-path@v1/no-new-critical-path: a compromise of container c0 opens") ||
			!strings.Contains(err.Error(), "graph/web/c0 → ServiceAccount graph/web (TOKEN_STEAL) →") {
			t.Errorf("a ClusterRoleBinding giving web every permission: %v", err)
		}
		harmless := crb.DeepCopy()
		harmless.Name, harmless.Subjects[0].Name = "nobody-all-powerful", "nobody"
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, harmless, dryRun); err != nil {
			t.Errorf("a binding for a service account no pod runs as: %v", err)
		}
		pols.Set(compile(t, warnSigned))
	})

	t.Run("slow webhook", func(t *testing.T) {
		slow := serveWebhook(t, slowHandler{delay: 5 * time.Second})
		sc := admission.WebhookConfig{Name: "slow.credence.dev", URL: slow.url, CABundle: slow.ca, TimeoutSeconds: 1,
			FailurePolicy: admissionregistrationv1.Fail}
		sc.ExcludeNamespaces = []string{"kube-system", "credence-system", "shop", "parity", "graph"}
		register(t, cs, sc)
		p := pod("slow", "registry.example.com/x:1")
		p.Namespace = "slow"
		until(t, "slow webhook fails the request", func() bool {
			_, err := createPod(cs, p, dryRun)
			return err != nil && strings.Contains(err.Error(), "slow.credence.dev") && strings.Contains(err.Error(), "deadline exceeded")
		})
		sc.FailurePolicy = admissionregistrationv1.Ignore
		register(t, cs, sc)
		until(t, "slow webhook ignored", func() bool {
			_, err := createPod(cs, p, dryRun)
			return err == nil
		})
		unregister(t, cs, "slow.credence.dev")
	})

	t.Run("validating admission policies", func(t *testing.T) {
		// The controller that type-checks policies runs in
		// kube-controller-manager.
		srv.StartControllerManager(t, "validatingadmissionpolicy-status-controller")
		e, objs := parityCorpus(t)
		pols.Set(e)
		// 1. The webhook alone.
		webhookSays := map[string]string{}
		for _, o := range objs {
			webhookSays[nameOf(o)] = dryRunOutcome(t, wcs, rec2, o, "parity")
		}
		unregister(t, cs, "credence.dev")
		// 2. The generated policies alone.
		res, err := vap.Generate(e, vap.Options{ExcludeNamespaces: []string{"kube-system"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Skipped) != 0 || len(res.Policies) != 6 {
			t.Fatalf("generated %d policies, skipped %+v", len(res.Policies), res.Skipped)
		}
		for i := range res.Policies {
			if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, &res.Policies[i], metav1.CreateOptions{}); err != nil {
				t.Fatalf("create %s: %v", res.Policies[i].Name, err)
			}
			if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, &res.Bindings[i], metav1.CreateOptions{}); err != nil {
				t.Fatalf("create binding %s: %v", res.Bindings[i].Name, err)
			}
		}
		// The server type-checks each policy in its own CEL environment.
		for _, p := range res.Policies {
			until(t, "type checking of "+p.Name, func() bool {
				got, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, p.Name, metav1.GetOptions{})
				if err != nil || got.Status.TypeChecking == nil || got.Status.ObservedGeneration != got.Generation {
					return false
				}
				for _, w := range got.Status.TypeChecking.ExpressionWarnings {
					t.Errorf("%s: %s: %s", p.Name, w.FieldRef, w.Warning)
				}
				return true
			})
		}
		// The type checker is live: a misspelt field is reported.
		bad := res.Policies[0].DeepCopy()
		bad.Name, bad.Spec.Validations = "credence-typo", []admissionregistrationv1.Validation{{Expression: "object.spec.containerz.size() > 0"}}
		if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, bad, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		until(t, "type checking of the misspelt policy", func() bool {
			got, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, bad.Name, metav1.GetOptions{})
			if err != nil || got.Status.TypeChecking == nil {
				return false
			}
			if w := got.Status.TypeChecking.ExpressionWarnings; len(w) != 1 || !strings.Contains(w[0].Warning, "containerz") {
				t.Fatalf("the type checker must flag object.spec.containerz: %+v", w)
			}
			return true
		})
		until(t, "policies live", func() bool {
			_, err := createPod(cs, withNS(marker, "parity"), dryRun)
			return err != nil && strings.Contains(err.Error(), "credence-pss-baseline@v1/pod-security-baseline")
		})
		// The API server loads each policy and binding on its own: one
		// live says little of the others, so a table that differs is
		// taken again for a while before it counts (a real difference
		// stays).
		var table []string
		mismatch := 0
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			table, mismatch = table[:0], 0
			for _, o := range objs {
				n := nameOf(o)
				got := dryRunOutcome(t, wcs, rec2, o, "parity")
				mark := "same"
				if got != webhookSays[n] || got != expectOf(o) {
					mark = "DIFFERENT"
					mismatch++
				}
				table = append(table, fmt.Sprintf("%-28s expect %-5s webhook %-5s vap %-5s %s", n, expectOf(o), webhookSays[n], got, mark))
			}
			if mismatch == 0 || time.Now().After(deadline) {
				break
			}
		}
		sort.Strings(table)
		t.Logf("parity (%d objects):\n%s", len(objs), strings.Join(table, "\n"))
		if mismatch > 0 {
			t.Errorf("%d objects decided differently", mismatch)
		}
		if testing.Verbose() || os.Getenv("CREDENCE_PARITY_TABLE") != "" {
			b, _ := json.Marshal(table)
			_ = os.WriteFile(filepath.Join(os.TempDir(), "credence-vap-parity.json"), b, 0o644)
		}
	})
}

func ptrInt64(v int64) *int64 { return &v }

func nameOf(o runtime.Object) string { return o.(metav1.Object).GetName() }

func withNS(p *corev1.Pod, ns string) *corev1.Pod {
	q := p.DeepCopy()
	q.Namespace = ns
	return q
}

// dryRunOutcome sends one corpus object with --dry-run=server and names
// what came back: allow, warn (allowed with a warning) or deny.
func dryRunOutcome(t *testing.T, cs kubernetes.Interface, w *warnings, o runtime.Object, ns string) string {
	t.Helper()
	ctx := context.Background()
	w.take()
	var err error
	switch x := o.DeepCopyObject().(type) {
	case *corev1.Pod:
		x.Namespace = ns
		_, err = cs.CoreV1().Pods(ns).Create(ctx, x, dryRun)
	case *appsv1.Deployment:
		x.Namespace = ns
		_, err = cs.AppsV1().Deployments(ns).Create(ctx, x, dryRun)
	case *appsv1.StatefulSet:
		x.Namespace = ns
		_, err = cs.AppsV1().StatefulSets(ns).Create(ctx, x, dryRun)
	case *batchv1.Job:
		x.Namespace = ns
		_, err = cs.BatchV1().Jobs(ns).Create(ctx, x, dryRun)
	case *batchv1.CronJob:
		x.Namespace = ns
		_, err = cs.BatchV1().CronJobs(ns).Create(ctx, x, dryRun)
	default:
		t.Fatalf("corpus kind %T", o)
	}
	switch {
	case apierrors.IsInvalid(err):
		t.Fatalf("%s is not a valid object (fix the corpus): %v", nameOf(o), err)
	case err != nil && apierrors.IsForbidden(err):
		return "deny"
	case err != nil:
		t.Fatalf("%s: %v", nameOf(o), err)
	}
	for _, m := range w.take() {
		if strings.Contains(m, "credence") {
			return "warn"
		}
	}
	return "allow"
}
