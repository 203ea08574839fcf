package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
	"github.com/credence-dev/credence/server"
)

// TestKubeAuth: the API asks the cluster who a token belongs to
// (TokenReview) and whether its RBAC allows the request
// (SubjectAccessReview on the virtual group credence.dev): a reader bound
// in one namespace lists Subjects there and nowhere else, a stranger and a
// forbidden token get 403 with the reason, a bad token 401, only the alert
// role posts alerts, and a ServiceAccount token (Prometheus) reads
// /metrics through a nonResourceURLs rule.
func TestKubeAuth(t *testing.T) {
	api := startAPI(t, kubeapiserver.WithUsers(
		kubeapiserver.User{Name: "reader"}, kubeapiserver.User{Name: "stranger"}, kubeapiserver.User{Name: "falco"}))
	cs := api.Client
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	rbac := cs.RbacV1()
	must(rbac.Roles("shop").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "credence-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{server.APIGroup}, Resources: []string{"subjects"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{}))
	must(rbac.RoleBindings("shop").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "credence-reader"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "reader", APIGroup: "rbac.authorization.k8s.io"}}}, metav1.CreateOptions{}))
	must(rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "credence-alerts"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{server.APIGroup}, Resources: []string{"alerts"}, Verbs: []string{"create"}}}}, metav1.CreateOptions{}))
	must(rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "falco"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "credence-alerts"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "falco", APIGroup: "rbac.authorization.k8s.io"}}}, metav1.CreateOptions{}))
	must(rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "credence-metrics"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{}))
	must(cs.CoreV1().ServiceAccounts("credence").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus"}}, metav1.CreateOptions{}))
	must(rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prometheus"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "credence-metrics"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: "credence"}}}, metav1.CreateOptions{}))
	tr, err := cs.CoreV1().ServiceAccounts("credence").CreateToken(ctx, "prometheus", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	promToken := tr.Status.Token

	st := openStore(t, filepath.Join(t.TempDir(), "credence.db"))
	ka := server.NewKubeAuth(cs)
	srv, err := server.New(st, cs, "auth test", server.WithDB("sample"), server.WithAuth(ka, ka))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewTLSServer(srv.Handler())
	defer hs.Close()
	c := &client{t: t, base: hs.URL, hc: hs.Client()}
	for _, tc := range []struct {
		name, method, path, token string
		want                      int
		says                      string
	}{
		{"reader lists its namespace", "GET", "/api/v1/subjects?namespace=shop", api.Token("reader"), 200, ""},
		{"reader lists every namespace", "GET", "/api/v1/subjects", api.Token("reader"), 403, `user "reader" may not list subjects.credence.dev cluster-wide`},
		{"reader reads another namespace", "GET", "/api/v1/subjects/other/Deployment/web", api.Token("reader"), 403, "in namespace other"},
		{"reader reads its namespace", "GET", "/api/v1/subjects/shop/Deployment/web", api.Token("reader"), 404, "not found"},
		{"stranger", "GET", "/api/v1/subjects?namespace=shop", api.Token("stranger"), 403, `user "stranger" may not list`},
		{"bad token", "GET", "/api/v1/subjects?namespace=shop", "not-a-token-of-this-cluster", 401, "invalid token"},
		{"no token", "GET", "/api/v1/subjects?namespace=shop", "", 401, "bearer token is required"},
		{"reader posts an alert", "POST", "/api/v1/alerts", api.Token("reader"), 403, "may not create alerts"},
		{"falco posts an empty alert", "POST", "/api/v1/alerts", api.Token("falco"), 400, "no Falco alert"},
		{"falco reads", "GET", "/api/v1/subjects?namespace=shop", api.Token("falco"), 403, ""},
		{"prometheus scrapes", "GET", "/metrics", promToken, 200, "credence_jobs"},
		{"reader scrapes", "GET", "/metrics", api.Token("reader"), 403, "/metrics"},
		{"probes need nothing", "GET", "/healthz", "", 200, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := c.do(tc.method, tc.path, tc.token, nil)
			var e struct{ Error string }
			if json.Unmarshal(body, &e) == nil && e.Error != "" {
				body = []byte(e.Error)
			}
			if code != tc.want || !strings.Contains(string(body), tc.says) {
				t.Errorf("%s %s: %d %s, want %d and %q", tc.method, tc.path, code, firstLine(body), tc.want, tc.says)
			}
		})
	}
	// The reader's grant is cached for a few seconds; a revoked binding
	// stops working once the cache expires (never an unbounded grant).
	_ = http.StatusOK
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
