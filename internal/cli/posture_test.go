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

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
)

func isolationFixture(t *testing.T) string {
	return filepath.Join(testutil.RepoRoot(t), "posture", "testdata", "manifests", "isolation.yaml")
}

func TestPostureTable(t *testing.T) {
	out, errOut, code := run(t, "posture", "--manifests", isolationFixture(t))
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	out = strings.Replace(out, isolationFixture(t), "posture/testdata/manifests/isolation.yaml", 1)
	testutil.Golden(t, "testdata/posture-isolation.txt", []byte(out))
}

func TestPostureJSONAndFilters(t *testing.T) {
	out, _, code := run(t, "posture", "--manifests", isolationFixture(t), "-o", "json", "-n", "iso", "--pod", "privileged,caps")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	var rep struct {
		Pods []struct {
			Namespace   string `json:"namespace"`
			Name        string `json:"name"`
			PodSecurity struct {
				Level string `json:"level"`
			} `json:"podSecurity"`
			Containers []struct {
				Container string `json:"container"`
				Escapes   []struct {
					ID      string `json:"id"`
					Verdict string `json:"verdict"`
				} `json:"escapes"`
			} `json:"containers"`
		} `json:"pods"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Pods) != 2 || rep.Pods[0].Name != "caps" || rep.Pods[1].Name != "privileged" || rep.Pods[1].PodSecurity.Level != "privileged" {
		t.Fatalf("pods = %+v", rep.Pods)
	}
	if e := rep.Pods[1].Containers[0].Escapes[0]; e.ID != "privileged" || e.Verdict != "open" {
		t.Errorf("first escape = %+v", e)
	}
	// A workload name selects its template pod.
	out, _, _ = run(t, "posture", "--manifests", isolationFixture(t), "--pod", "Deployment/web")
	if !strings.Contains(out, "elsewhere  web") || strings.Contains(out, "iso ") {
		t.Errorf("--pod Deployment/web:\n%s", out)
	}
}

func TestPostureErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"posture", "--manifests", "x", "--context", "y"}, "--manifests cannot be combined with --kubeconfig or --context"},
		{[]string{"posture", "--manifests", "/nonexistent"}, "no such file or directory"},
		{[]string{"posture", "--manifests", "x", "-o", "yaml"}, `unknown output format "yaml"`},
		{[]string{"posture", "--kubeconfig", "/nonexistent/kubeconfig"}, "load kubeconfig"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, errOut, code := run(t, tc.args...)
			if code != ExitError || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
				t.Errorf("exit %d, stderr %q, want %q", code, errOut, tc.want)
			}
		})
	}
}

// TestPostureLive reads a real kube-apiserver through a kubeconfig whose
// ServiceAccount may list pods and namespaces only: the posture is
// computed, and the kinds it could not read are reported as gaps.
func TestPostureLive(t *testing.T) {
	srv := kubeapiserver.Start(t)
	ctx := context.Background()
	srv.Namespace(t, "shop", nil)
	c := srv.Client
	yes := true
	if _, err := c.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug"},
		Spec: corev1.PodSpec{HostPID: true, Containers: []corev1.Container{{Name: "sh", Image: "busybox",
			SecurityContext: &corev1.SecurityContext{Privileged: &yes}}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ServiceAccounts("shop").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "auditor"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "pod-lister"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "namespaces"}, Verbs: []string{"list"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "auditor"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "pod-lister"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "auditor", Namespace: "shop"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := srv.WriteKubeconfig(kc, srv.ServiceAccountToken(t, "shop", "auditor")); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "posture", "--kubeconfig", kc, "--context", "credence-test", "-n", "shop")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"shop       debug  sh         privileged  yes",
		"privileged:open hostPIDAccess:open",
		"Could not read (what these hide is unknown, not absent):",
		`RuntimeClass: forbidden: runtimeclasses.node.k8s.io is forbidden: User "system:serviceaccount:shop:auditor" cannot list resource "runtimeclasses"`,
		"Deployment: forbidden: deployments.apps is forbidden",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
