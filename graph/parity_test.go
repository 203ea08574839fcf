package graph_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
)

// TestRBACParity is the oracle test of design note §2.4: the fixture's
// RBAC objects are created on a real kube-apiserver v1.37.2, read back into
// a snapshot, and every single hop the model claims or denies is asked of
// the server: a SubjectAccessReview for each (user, verb, resource,
// namespace, name) probe, and a server-side dry run for the escalation
// edges (bind: create a RoleBinding; escalate: update a Role with rules the
// user does not hold). Any disagreement fails the test; there are no
// exceptions.
func TestRBACParity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver")
	}
	srv := kubeapiserver.Start(t)
	ctx := context.Background()
	fx := loadManifests(t, "testdata/parity/rbac.yaml")
	cs := srv.Client
	for _, ns := range fx.Namespaces {
		srv.Namespace(t, ns.Name, ns.Labels)
	}
	for _, o := range fx.ServiceAccounts {
		if _, err := cs.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, &o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range fx.ClusterRoles {
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range fx.Roles {
		if _, err := cs.RbacV1().Roles(o.Namespace).Create(ctx, &o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range fx.ClusterRoleBindings {
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range fx.RoleBindings {
		if _, err := cs.RbacV1().RoleBindings(o.Namespace).Create(ctx, &o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	srv.WaitRBAC(t, "default")
	// The snapshot is what the server holds (bootstrap roles included),
	// read by the cluster package's live loader: the whole pipeline is
	// under test, not only the model.
	snap, err := cluster.FromConfig(ctx, srv.Config, "parity server")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.ClusterRoles) == 0 || len(snap.RoleBindings) == 0 {
		t.Fatalf("live snapshot has no RBAC: %d ClusterRoles, %d RoleBindings, gaps %v", len(snap.ClusterRoles), len(snap.RoleBindings), snap.Gaps)
	}
	model := graph.NewRBAC(snap)
	g, err := graph.Build(snap)
	if err != nil {
		t.Fatal(err)
	}

	type probe struct{ verb, group, resource, sub string }
	probes := []probe{
		{"get", "", "pods", ""}, {"list", "", "pods", ""}, {"watch", "", "pods", ""}, {"create", "", "pods", ""}, {"delete", "", "pods", ""},
		{"create", "", "pods", "exec"}, {"get", "", "pods", "exec"}, {"create", "", "pods", "attach"}, {"get", "", "pods", "status"},
		{"get", "", "pods", "*"}, {"create", "", "services", "exec"}, {"create", "apps", "deployments", "exec"},
		{"create", "apps", "deployments", ""}, {"patch", "apps", "deployments", ""}, {"create", "batch", "jobs", ""},
		{"get", "", "secrets", ""}, {"list", "", "secrets", ""}, {"create", "", "serviceaccounts", "token"},
		{"create", "rbac.authorization.k8s.io", "rolebindings", ""}, {"bind", "rbac.authorization.k8s.io", "clusterroles", ""},
		{"bind", "rbac.authorization.k8s.io", "roles", ""}, {"escalate", "rbac.authorization.k8s.io", "roles", ""},
		{"update", "rbac.authorization.k8s.io", "roles", ""}, {"impersonate", "", "groups", ""}, {"impersonate", "", "users", ""},
		{"impersonate", "", "serviceaccounts", ""}, {"get", "", "nodes", "proxy"}, {"create", "", "persistentvolumes", ""},
		{"update", "certificates.k8s.io", "certificatesigningrequests", "approval"}, {"approve", "certificates.k8s.io", "signers", ""},
	}
	names := []string{"", "allowed", "victim", "parity-secrets", "system:masters", "kubernetes.io/kube-apiserver-client"}
	var users []graph.User
	for _, sa := range fx.ServiceAccounts {
		users = append(users, graph.ServiceAccountUser(sa.Namespace, sa.Name))
	}
	type q struct {
		u graph.User
		a graph.Attributes
	}
	var qs []q
	for _, u := range users {
		for _, p := range probes {
			for _, ns := range []string{"p1", "p2", ""} {
				for _, n := range names {
					qs = append(qs, q{u, graph.Attributes{Verb: p.verb, APIGroup: p.group, Resource: p.resource, Subresource: p.sub, Namespace: ns, Name: n}})
				}
			}
		}
	}
	var mu sync.Mutex
	var disagree []string
	allowedCount := 0
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(8)
	for _, x := range qs {
		eg.Go(func() error {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: x.u.Name, Groups: x.u.Groups,
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: x.a.Namespace, Verb: x.a.Verb, Group: x.a.APIGroup,
					Resource: x.a.Resource, Subresource: x.a.Subresource, Name: x.a.Name}}}
			got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ectx, sar, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("subjectaccessreview: %w", err)
			}
			v, grants := model.Allows(x.u, x.a)
			mu.Lock()
			defer mu.Unlock()
			if got.Status.Allowed {
				allowedCount++
			}
			if (v == graph.Allowed) != got.Status.Allowed {
				disagree = append(disagree, fmt.Sprintf("%s %s: model %s %v, server allowed=%v (%s)", x.u.Name, x.a, v, grants, got.Status.Allowed, got.Status.Reason))
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(disagree)
	for _, d := range disagree {
		t.Error("SubjectAccessReview disagrees: " + d)
	}
	t.Logf("%d SubjectAccessReviews (%d allowed by the server), %d disagreements", len(qs), allowedCount, len(disagree))
	if allowedCount == 0 {
		t.Fatal("the server allowed nothing: the fixture was not applied")
	}

	hasEdge := func(kind graph.EdgeKind, from string, to ...string) bool {
		id, ok := g.Lookup(from)
		if !ok {
			return false
		}
		for _, ei := range g.Out(id) {
			e := g.Edges[ei]
			if e.Kind == kind && contains(to, g.Nodes[e.To].Key) {
				return true
			}
		}
		return false
	}
	// bind: a dry-run RoleBinding in p2 to each target, as each SA.
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	targets := []rbacv1.RoleRef{
		{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "parity-secrets"},
		{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pod-exec"},
	}
	checks := 0
	for _, sa := range fx.ServiceAccounts {
		u := graph.ServiceAccountUser(sa.Namespace, sa.Name)
		as := srv.ClientAs(t, u.Name, u.Groups...)
		key := "sa:" + sa.Namespace + "/" + sa.Name
		for _, ref := range targets {
			rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: "parity-", Namespace: "p2"}, RoleRef: ref,
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "victim", Namespace: "p2"}}}
			_, err := as.RbacV1().RoleBindings("p2").Create(ctx, rb, dry)
			server := err == nil
			if err != nil && !apierrors.IsForbidden(err) {
				t.Fatalf("dry-run rolebinding as %s: %v", u.Name, err)
			}
			model := hasEdge(graph.EdgeRBACBind, key, "permset:"+ref.Kind+"/"+ref.Name+"@p2", "permset:ClusterRole/*@p2")
			checks++
			if model != server {
				t.Errorf("bind %s %s in p2 as %s: model edge=%v, server dry-run allowed=%v (%v)", ref.Kind, ref.Name, u.Name, model, server, err)
			}
		}
		// escalate: add a rule the user does not hold to Role p2/target.
		role, err := cs.RbacV1().Roles("p2").Get(ctx, "target", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list"}})
		_, err = as.RbacV1().Roles("p2").Update(ctx, role, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		server := err == nil
		if err != nil && !apierrors.IsForbidden(err) {
			t.Fatalf("dry-run role update as %s: %v", u.Name, err)
		}
		model := hasEdge(graph.EdgeRBACEscalate, key, "permset:ClusterRole/*@p2")
		checks++
		if model != server {
			t.Errorf("escalate Role p2/target as %s: model edge=%v, server dry-run allowed=%v (%v)", u.Name, model, server, err)
		}
	}
	t.Logf("%d escalation dry runs", checks)

	// Edge level: each escalation edge the graph draws (or does not draw)
	// from a fixture identity must match what the server allows for the
	// primitive behind it.
	sar := func(u graph.User, a graph.Attributes) bool {
		r, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: u.Name, Groups: u.Groups, ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: a.Namespace, Verb: a.Verb,
				Group: a.APIGroup, Resource: a.Resource, Subresource: a.Subresource, Name: a.Name}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status.Allowed
	}
	anyOf := func(u graph.User, as ...graph.Attributes) bool {
		for _, a := range as {
			if sar(u, a) {
				return true
			}
		}
		return false
	}
	edgeChecks := 0
	for _, sa := range fx.ServiceAccounts {
		u := graph.ServiceAccountUser(sa.Namespace, sa.Name)
		key := "sa:" + sa.Namespace + "/" + sa.Name
		type prim struct {
			name   string
			kind   graph.EdgeKind
			to     string
			server bool
		}
		// A grant on every name is drawn as an edge to the scope of the
		// namespace's service accounts.
		alt := map[string]string{"token for victim in p1": "scope:sas:p1", "token for victim in p2": "scope:sas:p2"}
		var prims []prim
		for _, ns := range []string{"p1", "p2"} {
			a := func(verb, group, res, sub, name string) graph.Attributes {
				return graph.Attributes{Verb: verb, APIGroup: group, Resource: res, Subresource: sub, Namespace: ns, Name: name}
			}
			prims = append(prims,
				prim{"exec " + ns, graph.EdgeRBACExec, "scope:pods:" + ns, anyOf(u, a("create", "", "pods", "exec", ""), a("create", "", "pods", "attach", ""),
					a("patch", "", "pods", "", ""), a("update", "", "pods", "", ""), a("get", "", "pods", "exec", ""), a("get", "", "pods", "attach", ""),
					a("patch", "", "pods", "ephemeralcontainers", ""), a("update", "", "pods", "ephemeralcontainers", ""))},
				prim{"secrets " + ns, graph.EdgeRBACSecrets, "scope:secrets:" + ns, anyOf(u, a("list", "", "secrets", "", ""), a("watch", "", "secrets", "", ""), a("get", "", "secrets", "", ""))},
				prim{"create pods " + ns, graph.EdgeRBACCreatePod, "scope:sas:" + ns, anyOf(u, a("create", "", "pods", "", ""), a("create", "apps", "deployments", "", ""),
					a("create", "apps", "daemonsets", "", ""), a("create", "apps", "statefulsets", "", ""), a("create", "apps", "replicasets", "", ""),
					a("create", "batch", "jobs", "", ""), a("create", "batch", "cronjobs", "", ""), a("create", "", "replicationcontrollers", "", ""))},
				prim{"token for victim in " + ns, graph.EdgeRBACToken, "sa:" + ns + "/victim", sar(u, a("create", "", "serviceaccounts", "token", "victim"))},
				prim{"impersonate SAs in " + ns, graph.EdgeRBACImperson, "scope:sas:" + ns, sar(u, a("impersonate", "", "serviceaccounts", "", ""))},
			)
		}
		c := func(verb, group, res, sub, name string) graph.Attributes {
			return graph.Attributes{Verb: verb, APIGroup: group, Resource: res, Subresource: sub, Name: name}
		}
		prims = append(prims,
			prim{"impersonate system:masters", graph.EdgeRBACImperson, "cluster-admin", sar(u, c("impersonate", "", "groups", "", "system:masters"))},
			prim{"nodes/proxy", graph.EdgeRBACNodeProxy, "scope:nodes", anyOf(u, c("get", "", "nodes", "proxy", ""), c("create", "", "nodes", "proxy", ""))},
			prim{"CSR approval", graph.EdgeRBACCSR, "cluster-admin", sar(u, c("update", "certificates.k8s.io", "certificatesigningrequests", "approval", "")) &&
				anyOf(u, c("approve", "certificates.k8s.io", "signers", "", "kubernetes.io/kube-apiserver-client"), c("approve", "certificates.k8s.io", "signers", "", "kubernetes.io/*"))},
		)
		for _, p := range prims {
			edgeChecks++
			if got := hasEdge(p.kind, key, p.to, alt[p.name]); got != p.server {
				t.Errorf("%s as %s: graph edge %s -> %s = %v, server allows = %v", p.name, u.Name, p.kind, p.to, got, p.server)
			}
		}
	}
	t.Logf("%d escalation edges checked against the server", edgeChecks)
	if !hasEdge(graph.EdgeRBACBind, "sa:p1/binder", "permset:ClusterRole/parity-secrets@p2") || !hasEdge(graph.EdgeRBACEscalate, "sa:p1/escalator", "permset:ClusterRole/*@p2") {
		t.Error("the fixture's bind and escalate edges are missing: the dry runs proved nothing")
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s || strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}
