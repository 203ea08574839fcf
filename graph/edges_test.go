package graph_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/internal/testutil"
)

func buildFixture(t *testing.T, path string, opts ...graph.Option) *graph.Graph {
	t.Helper()
	g, err := graph.Build(loadManifests(t, path), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// dumpEdges renders every edge on one line, sorted, for golden files.
func dumpEdges(g *graph.Graph) string {
	var lines []string
	for _, e := range g.Edges {
		if e.Kind == graph.EdgeScopeMember {
			continue
		}
		var ev, fx []string
		for _, x := range e.Evidence {
			ev = append(ev, x.String())
		}
		for _, f := range e.Fixes {
			fx = append(fx, f.ID)
		}
		l := fmt.Sprintf("%s %s -> %s p=%.3f %s%s\n    why: %s\n    evidence: %s\n    fixes: %s",
			e.Kind, g.Nodes[e.From].Key, g.Nodes[e.To].Key, e.Likelihood, e.Technique, map[bool]string{true: " unknown", false: ""}[e.Unknown],
			e.Reason, strings.Join(ev, "; "), strings.Join(fx, "; "))
		if len(e.Weakened) > 0 {
			l += "\n    weakened: " + strings.Join(e.Weakened, "; ")
		}
		lines = append(lines, l)
	}
	for _, b := range g.Blocked {
		lines = append(lines, fmt.Sprintf("BLOCKED %s %s -> %s: %s\n    by: %s", b.Kind, b.From, b.To, b.Reason, strings.Join(b.Weakened, "; ")))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// TestEdgeKindsCovered fails when an edge kind has no edge in the fixture:
// every kind needs a golden example.
func TestEdgeKindsCovered(t *testing.T) {
	g := buildFixture(t, "testdata/edges/cluster.yaml")
	seen := map[graph.EdgeKind]bool{}
	for _, e := range g.Edges {
		seen[e.Kind] = true
	}
	for _, k := range graph.EdgeKinds {
		if !seen[k] {
			t.Errorf("edge kind %s has no edge in testdata/edges/cluster.yaml", k)
		}
	}
	testutil.Golden(t, "testdata/edges/edges.golden", []byte(dumpEdges(g)))
}

// TestEdges checks the semantics each edge kind encodes.
func TestEdges(t *testing.T) {
	g := buildFixture(t, "testdata/edges/cluster.yaml")
	edge := func(kind graph.EdgeKind, from, to string) *graph.Edge {
		for i := range g.Edges {
			e := &g.Edges[i]
			if e.Kind == kind && g.Nodes[e.From].Key == from && g.Nodes[e.To].Key == to {
				return e
			}
		}
		return nil
	}
	tests := []struct {
		name     string
		kind     graph.EdgeKind
		from, to string
		want     bool
		minP     float64
		maxP     float64
	}{
		{"token of a mounted service account", graph.EdgeTokenSteal, "container:app/web/web", "sa:app/web", true, 1, 1},
		{"no token when automount is off", graph.EdgeTokenSteal, "container:app/weakened/c", "sa:app/default", false, 0, 0},
		{"secret in env", graph.EdgeSecretMount, "container:app/web/web", "secret:app/db-pass", true, 1, 1},
		{"exec into the namespace", graph.EdgeRBACExec, "sa:app/web", "scope:pods:app", true, 0.9, 1},
		{"privileged escape", graph.EdgeEscape, "container:app/priv/agent", "node:n1", true, 0.9, 1},
		{"SYS_ADMIN under seccomp+AppArmor: weakened", graph.EdgeEscape, "container:app/weakened/c", "node:n1", true, 0.1, 0.2},
		{"privileged in gVisor: blocked", graph.EdgeEscape, "container:app/sandboxed/c", "node:n1", false, 0, 0},
		{"SYS_MODULE, non-root, no escalation, userns: removed; the unknown kernel edge stays at the floor", graph.EdgeEscape, "container:app/nonroot/c", "node:n1", true, 0.02, 0.02},
		{"create deployments: any SA in the namespace", graph.EdgeRBACCreatePod, "sa:app/deployer", "scope:sas:app", true, 0.9, 0.9},
		{"create deployments where PSA does not block: a node", graph.EdgeRBACCreatePod, "sa:app/deployer", "scope:nodes", true, 0.9, 0.9},
		{"create deployments in a baseline namespace: SAs yes", graph.EdgeRBACCreatePod, "sa:app/deployer", "scope:sas:locked", true, 0.9, 0.9},
		{"list secrets", graph.EdgeRBACSecrets, "sa:app/deployer", "scope:secrets:app", true, 1, 1},
		{"token request for one named SA", graph.EdgeRBACToken, "sa:app/minter", "sa:kube-system/admin", true, 1, 1},
		{"token request is name-restricted", graph.EdgeRBACToken, "sa:app/minter", "scope:sas:kube-system", false, 0, 0},
		{"bind one ClusterRole cluster-wide", graph.EdgeRBACBind, "sa:app/binder", "permset:ClusterRole/view@", true, 0.95, 0.95},
		{"bind view is not cluster-admin", graph.EdgeRBACBind, "sa:app/binder", "cluster-admin", false, 0, 0},
		{"escalate+update roles in data", graph.EdgeRBACEscalate, "sa:app/escalator", "permset:ClusterRole/*@data", true, 0.7, 0.7},
		{"impersonate system:masters", graph.EdgeRBACImperson, "sa:app/ops", "cluster-admin", true, 1, 1},
		{"nodes/proxy", graph.EdgeRBACNodeProxy, "sa:app/ops", "scope:nodes", true, 0.95, 0.95},
		{"cluster-admin binding", graph.EdgeRBACAdmin, "sa:kube-system/admin", "cluster-admin", true, 1, 1},
		{"legacy token secret", graph.EdgeSecretToken, "secret:kube-system/admin-token", "sa:kube-system/admin", true, 1, 1},
		{"control-plane node", graph.EdgeColocated, "node:cp1", "cluster-admin", true, 0.9, 0.9},
		{"co-located container", graph.EdgeColocated, "node:n1", "container:app/web/web", true, 0.95, 0.95},
		{"shared process namespace", graph.EdgeSharedNS, "container:app/shared/sidecar", "container:app/shared/main", true, 0.8, 0.8},
		{"same pod network", graph.EdgeSamePod, "container:app/shared/main", "container:app/shared/sidecar", true, 0.3, 0.3},
		{"emptyDir writer", graph.EdgeSharedVol, "container:app/shared/sidecar", "volume:emptydir:app/shared/scratch", true, 1, 1},
		{"hostPath shared across pods on a node", graph.EdgeSharedVol, "volume:hostpath:node:n1:/srv/logs", "container:app/shared/main", true, 0.5, 0.5},
		{"ephemeral containers are containers", graph.EdgeColocated, "node:n1", "container:data/db/debug", true, 0.95, 0.95},
		{"hostNetwork reaches the node", graph.EdgeHostNetwork, "container:app/hosty/c", "node:n1", true, 0.3, 0.3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := edge(tc.kind, tc.from, tc.to)
			if (e != nil) != tc.want {
				t.Fatalf("edge %s %s -> %s present=%v, want %v", tc.kind, tc.from, tc.to, e != nil, tc.want)
			}
			if e != nil && (e.Likelihood < tc.minP || e.Likelihood > tc.maxP) {
				t.Errorf("likelihood %.3f, want in [%.3f, %.3f]; weakened: %v", e.Likelihood, tc.minP, tc.maxP, e.Weakened)
			}
		})
	}
	// The blocked SYS_MODULE escape is reported with its reasons.
	found := false
	for _, b := range g.Blocked {
		if b.From == "container:app/nonroot/c" && b.Kind == graph.EdgeEscape {
			found = len(b.Weakened) > 0
		}
	}
	if !found {
		t.Error("blocked escape of app/nonroot/c not reported with reasons")
	}
}

// TestQueryGolden runs the blast-radius query on the fixture's entry points.
func TestQueryGolden(t *testing.T) {
	g := buildFixture(t, "testdata/edges/cluster.yaml")
	for _, from := range []string{"app/web/web", "app/weakened/c", "data/db/db"} {
		parts := strings.Split(from, "/")
		res, err := g.Query(graph.ContainerKey(parts[0], parts[1], parts[2]))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		testutil.Golden(t, "testdata/edges/query-"+strings.ReplaceAll(from, "/", "-")+".golden.json", append(b, '\n'))
	}
	if _, err := g.Query("container:app/nope/c"); err == nil {
		t.Error("query of a missing container: no error")
	}
}

// TestRBACGapIsUnknown: when RBAC objects could not be read, every
// identity reaches the Unknown node and the query says so.
func TestRBACGapIsUnknown(t *testing.T) {
	s := loadManifests(t, "testdata/edges/cluster.yaml")
	s.Gaps = append(s.Gaps, cluster.Gap{Kind: "ClusterRoleBinding", Reason: "forbidden: cannot list clusterrolebindings"})
	g, err := graph.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Query(graph.ContainerKey("app", "web", "web"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range res.Assets {
		found = found || a.Kind == graph.KindUnknown
	}
	if !found || len(res.Unknowns) == 0 {
		t.Errorf("RBAC gap not reported: assets %v, unknowns %v", res.Assets, res.Unknowns)
	}
	m := graph.NewRBAC(s)
	if v, _ := m.Allows(graph.ServiceAccountUser("app", "web"), graph.Attributes{Verb: "get", Resource: "secrets", Namespace: "app"}); v != graph.Unknown {
		t.Errorf("denied request under an RBAC gap: %s, want unknown", v)
	}
}

// TestWildcardsEverywhere: RBAC that grants everything to every
// authenticated user. Every container with a token reaches cluster-admin
// in two steps, and the build stays small (scopes, not edges per pair).
func TestWildcardsEverywhere(t *testing.T) {
	s := loadManifests(t, "testdata/edges/cluster.yaml")
	s.ClusterRoles = append(s.ClusterRoles, rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "all"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*", "*/*"}, ResourceNames: nil}}})
	s.ClusterRoleBindings = append(s.ClusterRoleBindings, rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "everyone"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "all"},
		Subjects: []rbacv1.Subject{{Kind: "Group", Name: "system:authenticated"}}})
	g, err := graph.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Query(graph.ContainerKey("app", "web", "web"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Assets) == 0 || res.Assets[0].Kind != graph.KindClusterAdmin && res.Assets[1].Kind != graph.KindClusterAdmin {
		t.Fatalf("cluster-admin is not among the first assets: %+v", res.Assets[:2])
	}
	for _, a := range res.Assets {
		if a.Kind == graph.KindClusterAdmin && a.Steps != 2 {
			t.Errorf("cluster-admin in %d steps, want 2 (token, wildcard binding)", a.Steps)
		}
	}
}

func TestExposure(t *testing.T) {
	g := buildFixture(t, "testdata/edges/cluster.yaml")
	for _, tc := range []struct{ container, want string }{
		{"app/web/web", graph.ExposureInternet},
		{"app/shared/main", graph.ExposureInternet},
		{"data/db/db", graph.ExposureNode},
		{"app/priv/agent", graph.ExposureNone},
	} {
		parts := strings.Split(tc.container, "/")
		got, why := g.Exposure(graph.ContainerKey(parts[0], parts[1], parts[2]))
		if got != tc.want {
			t.Errorf("%s: exposure %q (%s), want %q", tc.container, got, why, tc.want)
		}
	}
}

// TestUnreadNetworkPolicies: an AdminNetworkPolicy the snapshot could not
// read makes every network verdict unknown, including the denied ones.
func TestUnreadNetworkPolicies(t *testing.T) {
	s := loadManifests(t, "testdata/netpol/cluster.yaml")
	g0, err := graph.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Gaps = append(s.Gaps, cluster.Gap{Kind: "AdminNetworkPolicy", Name: "deny-all", Reason: "unknown kind policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy: not read"})
	g, err := graph.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range g.Edges {
		if e.Kind == graph.EdgeNetReach && !e.Unknown {
			t.Fatalf("network edge %s -> %s stays known", g.Nodes[e.From].Key, g.Nodes[e.To].Key)
		}
	}
	// peers/nobody denies all ingress under NetworkPolicy; now it is reachable (unknown).
	from := graph.ContainerKey("peers", "web", "c")
	to := "container:peers/nobody/c"
	reach := func(g *graph.Graph) bool {
		res, err := g.Query(from, graph.WithMinLikelihood(0.001))
		if err != nil {
			t.Fatal(err)
		}
		_ = res
		id, _ := g.Lookup(from)
		seen := map[graph.NodeID]bool{id: true}
		queue := []graph.NodeID{id}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for _, ei := range g.Out(n) {
				e := g.Edges[ei]
				if e.Kind == graph.EdgeColocated || e.Kind == graph.EdgeEscape || e.Kind == graph.EdgeTokenSteal || e.Kind == graph.EdgeScopeMember {
					continue // network only
				}
				if n != id && g.Nodes[n].Kind == graph.KindContainer {
					continue // one network hop: no second compromise
				}
				if !seen[e.To] {
					seen[e.To] = true
					queue = append(queue, e.To)
				}
			}
		}
		tid, _ := g.Lookup(to)
		return seen[tid]
	}
	if reach(g0) {
		t.Error("peers/nobody reachable over the network under NetworkPolicy alone")
	}
	if !reach(g) {
		t.Error("peers/nobody not reachable (unknown) once unread network policies exist")
	}
}
