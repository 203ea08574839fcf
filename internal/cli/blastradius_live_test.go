//go:build !node && !scan

package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
)

// TestBlastRadiusLiveForbiddenSecrets runs the command against a real
// kube-apiserver as a user who may read everything but secrets: the
// answer must come back, with the unreadable secrets listed as unknown
// (never as absent).
func TestBlastRadiusLiveForbiddenSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver")
	}
	srv := kubeapiserver.Start(t)
	ctx := context.Background()
	cs := srv.Client
	srv.Namespace(t, "shop", nil)
	srv.Namespace(t, "audit", nil)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cs.CoreV1().ServiceAccounts("shop").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, metav1.CreateOptions{}))
	must(cs.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{ServiceAccountName: "web", Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}}}}, metav1.CreateOptions{}))
	priv := true
	must(cs.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1", SecurityContext: &corev1.SecurityContext{Privileged: &priv}}}}}, metav1.CreateOptions{}))
	must(cs.CoreV1().Secrets("shop").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}, StringData: map[string]string{"p": "x"}}, metav1.CreateOptions{}))
	must(cs.RbacV1().Roles("shop").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "exec"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}}}}, metav1.CreateOptions{}))
	must(cs.RbacV1().RoleBindings("shop").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "web-exec"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "exec"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "web", Namespace: "shop"}}}, metav1.CreateOptions{}))
	// The auditor reads every kind but secrets.
	must(cs.CoreV1().ServiceAccounts("audit").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{}))
	must(cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "no-secrets"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"", "apps", "batch", "networking.k8s.io", "rbac.authorization.k8s.io", "node.k8s.io", "admissionregistration.k8s.io"},
			Resources: []string{"namespaces", "nodes", "pods", "serviceaccounts", "services", "persistentvolumes", "persistentvolumeclaims",
				"deployments", "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs", "ingresses", "networkpolicies",
				"roles", "clusterroles", "rolebindings", "clusterrolebindings", "runtimeclasses",
				"mutatingwebhookconfigurations", "validatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings", "replicationcontrollers"},
			Verbs: []string{"get", "list", "watch"}}}}, metav1.CreateOptions{}))
	must(cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "no-secrets"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: "audit"}}}, metav1.CreateOptions{}))
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := srv.WriteKubeconfig(kc, srv.ServiceAccountToken(t, "audit", "reader")); err != nil {
		t.Fatal(err)
	}

	code, out, errs := runCLI("blast-radius", "--kubeconfig", kc, "--from", "shop/web", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		From     string   `json:"from"`
		Unknowns []string `json:"unknowns"`
		Assets   []struct {
			Key string `json:"key"`
		} `json:"assets"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.From != "shop/web/nginx" {
		t.Errorf("from %q", res.From)
	}
	found := false
	for _, u := range res.Unknowns {
		found = found || (strings.Contains(u, "Secret") && strings.Contains(strings.ToLower(u), "forbidden"))
	}
	if !found {
		t.Errorf("forbidden secrets not reported as unknown: %q", res.Unknowns)
	}
	// The exec grant is still seen: the token leads to every container of
	// shop, among them a privileged one, and so to a node.
	if !strings.Contains(out, "RBAC_EXEC") {
		t.Error("the RoleBinding shop/web-exec was not turned into an exec edge")
	}
	code, _, errs = runCLI("blast-radius", "--kubeconfig", kc, "--from", "shop/nope")
	if code != ExitError || !strings.Contains(errs, "nearest: shop/web/nginx") {
		t.Errorf("missing pod: exit %d, %q", code, errs)
	}
}
