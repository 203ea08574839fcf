package defaultrbac_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/cluster/defaultrbac"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
)

const source = "read from a freshly started kube-apiserver " + defaultrbac.Version +
	" (built from the Go module proxy by scripts/setup.d/30-kube-apiserver.sh; no kube-controller-manager): " +
	"every ClusterRole, ClusterRoleBinding, Role and RoleBinding labelled kubernetes.io/bootstrapping=rbac-defaults, " +
	"server-set metadata removed; refreshed by scripts/refresh-default-rbac.sh"

// TestMatchesServer is the data's oracle and its refresh: it reads the
// bootstrap RBAC objects from a real kube-apiserver of defaultrbac.Version
// and compares them with the embedded file (UPDATE_GOLDEN=1 rewrites it).
func TestMatchesServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver")
	}
	srv := kubeapiserver.Start(t)
	ctx := context.Background()
	v, err := srv.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != defaultrbac.Version {
		t.Fatalf("server is %s, the data is of %s", v.GitVersion, defaultrbac.Version)
	}
	lo := metav1.ListOptions{LabelSelector: defaultrbac.BootstrapLabel + "=rbac-defaults"}
	rbac := srv.Client.RbacV1()
	crs, err := rbac.ClusterRoles().List(ctx, lo)
	if err != nil {
		t.Fatal(err)
	}
	crbs, err := rbac.ClusterRoleBindings().List(ctx, lo)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := rbac.Roles("").List(ctx, lo)
	if err != nil {
		t.Fatal(err)
	}
	rbs, err := rbac.RoleBindings("").List(ctx, lo)
	if err != nil {
		t.Fatal(err)
	}
	set := defaultrbac.Set{KubernetesVersion: v.GitVersion, Source: source,
		ClusterRoles: crs.Items, ClusterRoleBindings: crbs.Items, Roles: roles.Items, RoleBindings: rbs.Items}
	for i := range set.ClusterRoles {
		clean(&set.ClusterRoles[i].ObjectMeta, &set.ClusterRoles[i].TypeMeta, "ClusterRole")
	}
	for i := range set.ClusterRoleBindings {
		clean(&set.ClusterRoleBindings[i].ObjectMeta, &set.ClusterRoleBindings[i].TypeMeta, "ClusterRoleBinding")
	}
	for i := range set.Roles {
		clean(&set.Roles[i].ObjectMeta, &set.Roles[i].TypeMeta, "Role")
	}
	for i := range set.RoleBindings {
		clean(&set.RoleBindings[i].ObjectMeta, &set.RoleBindings[i].TypeMeta, "RoleBinding")
	}
	key := func(m metav1.ObjectMeta) string { return m.Namespace + "/" + m.Name }
	slices.SortFunc(set.ClusterRoles, func(a, b rbacv1.ClusterRole) int { return strings.Compare(key(a.ObjectMeta), key(b.ObjectMeta)) })
	slices.SortFunc(set.ClusterRoleBindings, func(a, b rbacv1.ClusterRoleBinding) int { return strings.Compare(key(a.ObjectMeta), key(b.ObjectMeta)) })
	slices.SortFunc(set.Roles, func(a, b rbacv1.Role) int { return strings.Compare(key(a.ObjectMeta), key(b.ObjectMeta)) })
	slices.SortFunc(set.RoleBindings, func(a, b rbacv1.RoleBinding) int { return strings.Compare(key(a.ObjectMeta), key(b.ObjectMeta)) })
	b, err := json.MarshalIndent(set, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "data/kube-"+defaultrbac.Version+".json", append(b, '\n'))
	t.Logf("%d ClusterRoles, %d ClusterRoleBindings, %d Roles, %d RoleBindings", len(set.ClusterRoles), len(set.ClusterRoleBindings), len(set.Roles), len(set.RoleBindings))
}

// clean keeps what defines the object: name, namespace, labels,
// annotations; the server's bookkeeping goes.
func clean(m *metav1.ObjectMeta, tm *metav1.TypeMeta, kind string) {
	*m = metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, Labels: m.Labels, Annotations: m.Annotations}
	*tm = metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: kind}
}

// TestLoad: the embedded data decodes, is of Version, and holds the roles
// everyone binds.
func TestLoad(t *testing.T) {
	s, err := defaultrbac.Load()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]*rbacv1.ClusterRole{}
	for i := range s.ClusterRoles {
		names[s.ClusterRoles[i].Name] = &s.ClusterRoles[i]
	}
	ca := names["cluster-admin"]
	if ca == nil || len(ca.Rules) == 0 || !slices.Contains(ca.Rules[0].Verbs, "*") {
		t.Errorf("cluster-admin = %+v", ca)
	}
	for _, n := range []string{"admin", "edit", "view"} {
		if r := names[n]; r == nil || r.AggregationRule == nil {
			t.Errorf("%s is not an aggregated role: %+v", n, r)
		}
	}
	for _, n := range []string{"system:aggregate-to-admin", "system:aggregate-to-edit", "system:aggregate-to-view", "system:node", "system:basic-user"} {
		if names[n] == nil {
			t.Errorf("%s missing", n)
		}
	}
	// Each call gets its own objects.
	s.ClusterRoles[0].Rules = nil
	s2, _ := defaultrbac.Load()
	if len(s2.ClusterRoles[0].Rules) == 0 && s2.ClusterRoles[0].AggregationRule == nil {
		t.Error("Load shares objects between calls")
	}
}
