package cluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
)

// TestFromClusterLive reads a real kube-apiserver: as admin with tiny pages
// (paging), as a ServiceAccount that may list everything but secrets
// (a forbidden kind becomes one gap), and as a user bound in one namespace
// who cannot list namespaces (per-namespace fallback, gaps for the rest).
func TestFromClusterLive(t *testing.T) {
	srv := kubeapiserver.Start(t)
	ctx := context.Background()
	c := srv.Client
	for _, ns := range []string{"a", "b"} {
		srv.Namespace(t, ns, nil)
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	pod := func(ns, name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}
	for i := range 5 {
		must(c.CoreV1().Pods("a").Create(ctx, pod("a", fmt.Sprintf("p%d", i)), metav1.CreateOptions{}))
	}
	must(c.CoreV1().Pods("b").Create(ctx, pod("b", "q"), metav1.CreateOptions{}))
	must(c.AppsV1().Deployments("b").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "b"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: pod("", "").Spec},
		}}, metav1.CreateOptions{}))
	// A ReplicationController, the core/v1 ancestor of ReplicaSets.
	must(c.CoreV1().ReplicationControllers("b").Create(ctx, &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: "b"},
		Spec: corev1.ReplicationControllerSpec{Selector: map[string]string{"app": "legacy"},
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "legacy"}}, Spec: pod("", "").Spec}},
	}, metav1.CreateOptions{}))
	must(c.CoreV1().Secrets("a").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "a"}, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"password": []byte("hunter2")}}, metav1.CreateOptions{}))
	must(c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta:      metav1.ObjectMeta{Name: "agg"},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"agg": "yes"}}}},
	}, metav1.CreateOptions{}))
	must(c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "agg-part", Labels: map[string]string{"agg": "yes"}},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}}},
	}, metav1.CreateOptions{}))
	// "reader" may list every kind credence reads except secrets.
	must(c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces", "nodes", "pods", "serviceaccounts", "services", "persistentvolumes", "persistentvolumeclaims", "replicationcontrollers"}, Verbs: []string{"list"}},
			{APIGroups: []string{"apps", "batch", "networking.k8s.io", "rbac.authorization.k8s.io", "node.k8s.io", "admissionregistration.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"list"}},
		},
	}, metav1.CreateOptions{}))
	must(c.CoreV1().ServiceAccounts("a").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{}))
	must(c.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: "a"}},
	}, metav1.CreateOptions{}))
	must(c.RbacV1().RoleBindings("a").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "nsuser", Namespace: "a"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "reader"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "nsuser"}},
	}, metav1.CreateOptions{}))

	podKeys := func(s *cluster.Snapshot) []string {
		var out []string
		for _, p := range s.Pods {
			out = append(out, p.Key()+" "+p.Workload)
		}
		return out
	}

	t.Run("admin with paging", func(t *testing.T) {
		snap, err := cluster.FromConfig(ctx, srv.Config, "test", cluster.WithPageSize(2))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"a/p0 ", "a/p1 ", "a/p2 ", "a/p3 ", "a/p4 ", "b/legacy ReplicationController/legacy", "b/q ", "b/web Deployment/web"}
		if d := cmp.Diff(want, podKeys(snap)); d != "" {
			t.Errorf("pods (-want +got):\n%s", d)
		}
		if len(snap.Gaps) != 0 {
			t.Errorf("gaps: %+v", snap.Gaps)
		}
		var secret *corev1.Secret
		for i := range snap.Secrets {
			if snap.Secrets[i].Name == "s" {
				secret = &snap.Secrets[i]
			}
		}
		if secret == nil || secret.Data != nil || secret.Type != corev1.SecretTypeOpaque {
			t.Errorf("secret a/s = %+v, want metadata and type only", secret)
		}
		for _, r := range snap.ClusterRoles {
			if r.Name == "agg" && (len(r.Rules) != 1 || r.Rules[0].Resources[0] != "pods/exec") {
				t.Errorf("aggregated role rules = %+v", r.Rules)
			}
			if r.Name == "cluster-admin" && len(r.Rules) == 0 {
				t.Error("bootstrap cluster-admin has no rules")
			}
		}
	})

	t.Run("kubeconfig of a service account that cannot list secrets", func(t *testing.T) {
		kc := filepath.Join(t.TempDir(), "reader.kubeconfig")
		if err := srv.WriteKubeconfig(kc, srv.ServiceAccountToken(t, "a", "reader")); err != nil {
			t.Fatal(err)
		}
		snap, err := cluster.FromKubeconfig(ctx, kc, "credence-test")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(snap.Source, "context credence-test at https://127.0.0.1:") {
			t.Errorf("source = %q", snap.Source)
		}
		want := []cluster.Gap{{Kind: "Secret", Reason: `forbidden: secrets is forbidden: User "system:serviceaccount:a:reader" cannot list resource "secrets" in API group "" at the cluster scope (and in each of the 6 namespaces)`}}
		if d := cmp.Diff(want, snap.Gaps); d != "" {
			t.Errorf("gaps (-want +got):\n%s", d)
		}
		if len(snap.Secrets) != 0 || len(snap.Pods) != 8 {
			t.Errorf("%d secrets, %d pods", len(snap.Secrets), len(snap.Pods))
		}
	})

	t.Run("user bound in one namespace", func(t *testing.T) {
		snap, err := cluster.FromConfig(ctx, srv.ConfigAs("nsuser"), "test", cluster.WithNamespaces("a", "b"))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]string{"a/p0 ", "a/p1 ", "a/p2 ", "a/p3 ", "a/p4 "}, podKeys(snap)); d != "" {
			t.Errorf("pods (-want +got):\n%s", d)
		}
		kinds := map[string][]string{}
		for _, g := range snap.Gaps {
			if !strings.HasPrefix(g.Reason, "forbidden: ") {
				t.Errorf("gap %+v: reason does not start with forbidden", g)
			}
			kinds[g.Kind] = append(kinds[g.Kind], g.Namespace)
		}
		// Namespaced kinds: the cluster-wide gap plus namespace b; cluster
		// kinds: one gap each.
		if d := cmp.Diff([]string{"", "a", "b"}, kinds["Secret"]); d != "" {
			t.Errorf("Secret gaps by namespace (-want +got):\n%s", d)
		}
		for _, k := range []string{"Pod", "ServiceAccount", "Role", "RoleBinding", "NetworkPolicy", "Deployment", "CronJob", "ReplicationController"} {
			if d := cmp.Diff([]string{"", "b"}, kinds[k]); d != "" {
				t.Errorf("%s gaps by namespace (-want +got):\n%s", k, d)
			}
		}
		for _, k := range []string{"Namespace", "Node", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "RuntimeClass", "ValidatingAdmissionPolicy"} {
			if d := cmp.Diff([]string{""}, kinds[k]); d != "" {
				t.Errorf("%s gaps (-want +got):\n%s", k, d)
			}
		}
		i := slices.IndexFunc(snap.Gaps, func(g cluster.Gap) bool { return g.Kind == "Pod" && g.Namespace == "" })
		if i < 0 || !strings.HasSuffix(snap.Gaps[i].Reason, "namespaces cannot be listed, only namespaces a, b were tried one by one") {
			t.Errorf("pod gap = %+v", snap.Gaps[i])
		}
	})
}

// TestFromClientFake wires FromClient to client-go's fake clientset (fast,
// no server): owner references are followed to the top-level workload.
func TestFromClientFake(t *testing.T) {
	yes := true
	cs := fake.NewSimpleClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "a"}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "a",
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web", Controller: &yes}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1-x", Namespace: "a",
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-1", Controller: &yes}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan-x", Namespace: "a",
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "gone", Controller: &yes}}}},
	)
	snap, err := cluster.FromClient(context.Background(), cs, "fake")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range snap.Pods {
		got = append(got, fmt.Sprintf("%s owner=%s workload=%s", p.Key(), p.Owner, p.Workload))
	}
	want := []string{"a/orphan-x owner=ReplicaSet/gone workload=", "a/web-1-x owner=Deployment/web workload="}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pods (-want +got):\n%s", d)
	}
}

// TestOlderWorkloadKindsLive: a server that does not serve batch/v1
// CronJobs (before 1.21) is read through batch/v1beta1, and
// ReplicationControllers make pods like any workload (client-go's fake,
// with batch/v1 CronJobs refused as not found).
func TestOlderWorkloadKindsLive(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	cs := fake.NewSimpleClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}},
		&batchv1beta1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "a"},
			Spec: batchv1beta1.CronJobSpec{Schedule: "@daily", JobTemplate: batchv1beta1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}},
		&corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: "a"},
			Spec: corev1.ReplicationControllerSpec{Template: &tmpl}},
	)
	cs.PrependReactor("list", "cronjobs", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetResource().Version == "v1" {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "batch", Resource: "cronjobs"}, "")
		}
		return false, nil, nil
	})
	snap, err := cluster.FromClient(context.Background(), cs, "fake")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range snap.Pods {
		got = append(got, p.Key()+" "+p.Workload)
	}
	if d := cmp.Diff([]string{"a/legacy ReplicationController/legacy", "a/nightly CronJob/nightly"}, got); d != "" {
		t.Errorf("pods (-want +got):\n%s", d)
	}
	if len(snap.Gaps) != 0 {
		t.Errorf("gaps: %+v", snap.Gaps)
	}
}
