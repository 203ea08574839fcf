package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/internal/testutil"
)

// TestFromManifestsGolden reads a directory of multi-document YAML, Helm
// output, a JSON List stream and a Secret with data, and compares the whole
// snapshot with the golden file.
func TestFromManifestsGolden(t *testing.T) {
	// The default RBAC (TestDefaultRBAC) would drown the fixture's own.
	snap, err := cluster.FromManifests(context.Background(), "testdata/manifests/basic", cluster.WithoutDefaultRBAC())
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "testdata/golden/basic.json", append(got, '\n'))
}

// TestFromManifestsFacts states what the golden file must show, so a
// careless -update cannot hide a regression.
func TestFromManifestsFacts(t *testing.T) {
	snap, err := cluster.FromManifests(context.Background(), "testdata/manifests/basic", cluster.WithoutDefaultRBAC())
	if err != nil {
		t.Fatal(err)
	}
	type podSum struct{ Key, Workload, Owner, SA string }
	var pods []podSum
	for _, p := range snap.Pods {
		pods = append(pods, podSum{p.Key(), p.Workload, p.Owner, p.Spec.ServiceAccountName})
	}
	wantPods := []podSum{
		{"kube-system/node-agent", "DaemonSet/node-agent", "", "default"},
		{"payments/db", "StatefulSet/db", "", "default"},
		{"payments/migrate", "Job/migrate", "", "default"},
		{"payments/report", "CronJob/report", "", "reporter"},
		{"shop/cache-x7k2p", "", "ReplicaSet/cache", "default"},
		{"shop/web", "Deployment/web", "", "web"},
	}
	if d := cmp.Diff(wantPods, pods); d != "" {
		t.Errorf("pods (-want +got):\n%s", d)
	}

	// The StatefulSet's claim template becomes a volume of its pod.
	for _, p := range snap.Pods {
		if p.Name == "db" {
			if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].PersistentVolumeClaim == nil || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-db-0" {
				t.Errorf("db volumes = %+v, want claim data-db-0", p.Spec.Volumes)
			}
		}
	}

	// Secrets: metadata and type only.
	for _, s := range snap.Secrets {
		if s.Data != nil || s.StringData != nil {
			t.Errorf("secret %s kept its data", s.Name)
		}
		if _, ok := s.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; ok {
			t.Errorf("secret %s kept last-applied-configuration (it holds the data)", s.Name)
		}
	}
	if len(snap.Secrets) != 2 || snap.Secrets[0].Type != "Opaque" || snap.Secrets[0].Annotations["team"] != "payments" {
		t.Errorf("secrets = %+v", snap.Secrets)
	}

	// Aggregation: shop-admin <- shop-edit <- shop-pods, plus shop-secrets
	// through both; duplicate rules appear once.
	rules := map[string]string{}
	for _, r := range snap.ClusterRoles {
		var s []string
		for _, rule := range r.Rules {
			s = append(s, fmt.Sprintf("%v:%v", rule.Resources, rule.Verbs))
		}
		rules[r.Name] = strings.Join(s, " ")
	}
	wantRules := map[string]string{
		"shop-admin":   "[pods pods/exec]:[create get] [secrets]:[get list]",
		"shop-edit":    "[pods pods/exec]:[create get] [secrets]:[get list]",
		"shop-pods":    "[pods pods/exec]:[create get]",
		"shop-secrets": "[secrets]:[get list] [pods pods/exec]:[create get]",
	}
	if d := cmp.Diff(wantRules, rules); d != "" {
		t.Errorf("aggregated rules (-want +got):\n%s", d)
	}

	counts := map[string]int{
		"Namespace": len(snap.Namespaces), "Node": len(snap.Nodes), "ServiceAccount": len(snap.ServiceAccounts),
		"Service": len(snap.Services), "Ingress": len(snap.Ingresses), "NetworkPolicy": len(snap.NetworkPolicies),
		"RoleBinding": len(snap.RoleBindings), "ClusterRoleBinding": len(snap.ClusterRoleBindings),
		"PersistentVolume": len(snap.PersistentVolumes), "PersistentVolumeClaim": len(snap.PersistentVolumeClaims),
		"RuntimeClass": len(snap.RuntimeClasses), "MutatingWebhookConfiguration": len(snap.MutatingWebhooks),
		"ValidatingWebhookConfiguration": len(snap.ValidatingWebhooks), "ValidatingAdmissionPolicy": len(snap.ValidatingAdmissionPolicies),
		"ValidatingAdmissionPolicyBinding": len(snap.ValidatingAdmissionPolicyBindings),
	}
	for k, n := range counts {
		if n != 1 && !(k == "Namespace" && n == 2) {
			t.Errorf("%s: %d objects", k, n)
		}
	}
	if d := cmp.Diff(map[string]int{"ConfigMap": 1}, snap.Ignored); d != "" {
		t.Errorf("ignored (-want +got):\n%s", d)
	}
	if len(snap.Gaps) != 0 {
		t.Errorf("gaps: %+v", snap.Gaps)
	}
}

// TestBadManifests: every kind of bad input becomes a gap with a reason
// (or, for exceeded bounds, an error), and the good documents around it
// are still read.
func TestBadManifests(t *testing.T) {
	good := "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ok, namespace: a}\n"
	tests := []struct {
		name     string
		in       string
		opts     []cluster.Option
		wantGaps []cluster.Gap // Reason compared as a prefix
		wantErr  error
	}{
		{
			name:     "invalid YAML",
			in:       "apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n---\n" + good,
			wantGaps: []cluster.Gap{{Kind: "document", Source: "in#1", Reason: "invalid YAML: "}},
		},
		{
			name:     "wrong field type",
			in:       "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: a}\nspec: {replicas: three}\n---\n" + good,
			wantGaps: []cluster.Gap{{Kind: "Deployment", Namespace: "a", Name: "web", Source: "in#1", Reason: "invalid: decode Deployment: "}},
		},
		{
			name:     "no name",
			in:       "apiVersion: v1\nkind: Pod\nmetadata: {namespace: a}\n---\n" + good,
			wantGaps: []cluster.Gap{{Kind: "Pod", Namespace: "a", Source: "in#1", Reason: "invalid: Pod has no metadata.name"}},
		},
		{
			name:     "not an object",
			in:       "just a string\n---\n" + good,
			wantGaps: []cluster.Gap{{Kind: "document", Source: "in#1", Reason: "not a Kubernetes object (a YAML scalar)"}},
		},
		{
			name:     "no kind",
			in:       "metadata: {name: x}\n---\n" + good,
			wantGaps: []cluster.Gap{{Kind: "document", Name: "x", Source: "in#1", Reason: "not a Kubernetes object: apiVersion or kind missing"}},
		},
		{
			name: "unknown kinds",
			in: "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c, namespace: a}\n---\n" +
				"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: deny, namespace: a}\n---\n" + good,
			wantGaps: []cluster.Gap{
				{Kind: "Certificate", Namespace: "a", Name: "c", Source: "in#1", Reason: "unknown kind cert-manager.io/v1 Certificate: not read"},
				{Kind: "CiliumNetworkPolicy", Namespace: "a", Name: "deny", Source: "in#2", Reason: "unknown kind cilium.io/v2 CiliumNetworkPolicy: not read; Cilium network policy changes reachability"},
			},
		},
		{
			name: "old apiVersions",
			in: "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old, namespace: a}\n---\n" +
				"apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: ClusterRole\nmetadata: {name: old}\n---\n" + good,
			wantGaps: []cluster.Gap{
				{Kind: "ClusterRole", Name: "old", Source: "in#2", Reason: "apiVersion rbac.authorization.k8s.io/v1beta1 is not read"},
				{Kind: "Deployment", Namespace: "a", Name: "old", Source: "in#1", Reason: "apiVersion extensions/v1beta1 is not read"},
			},
		},
		{
			name: "duplicate object",
			in:   good + "---\n" + good,
			wantGaps: []cluster.Gap{
				{Kind: "ServiceAccount", Namespace: "a", Name: "ok", Source: "in#2", Reason: "defined more than once: the later definition is kept"},
			},
		},
		{
			name: "bad selectors",
			in: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: a}
spec:
  podSelector:
    matchExpressions: [{key: app, operator: Sometimes, values: [x]}]
  ingress:
  - from:
    - ipBlock: {cidr: 10.0.0.0/33}
    - namespaceSelector: {matchLabels: {"bad key!": x}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: agg}
aggregationRule:
  clusterRoleSelectors: [{matchExpressions: [{key: x, operator: In}]}]
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
` + good,
			wantGaps: []cluster.Gap{
				{Kind: "ClusterRole", Name: "agg", Reason: "aggregationRule selector 0 is invalid"},
				{Kind: "NetworkPolicy", Namespace: "a", Name: "bad", Reason: "invalid spec.ingress[0].from[0].ipBlock: cidr"},
				{Kind: "NetworkPolicy", Namespace: "a", Name: "bad", Reason: "invalid spec.ingress[0].from[1].namespaceSelector: "},
				{Kind: "NetworkPolicy", Namespace: "a", Name: "bad", Reason: "invalid spec.podSelector: "},
			},
		},
		{
			name:     "huge document skipped, next one read",
			in:       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  x: " + strings.Repeat("A", 5000) + "\n---\n" + good,
			opts:     []cluster.Option{cluster.WithMaxDocumentBytes(1024)},
			wantGaps: []cluster.Gap{{Kind: "document", Source: "in#1", Reason: "document of more than 1024 bytes (at least 5"}},
		},
		{
			name:     "huge single line",
			in:       `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"x":"` + strings.Repeat("A", 200<<10) + `"}}` + "\n---\n" + good,
			opts:     []cluster.Option{cluster.WithMaxDocumentBytes(100 << 10)},
			wantGaps: []cluster.Gap{{Kind: "document", Source: "in#1", Reason: "document of more than 102400 bytes"}},
		},
		{
			name:    "total bound",
			in:      strings.Repeat(good+"---\n", 100),
			opts:    []cluster.Option{cluster.WithMaxBytes(1000)},
			wantErr: cluster.ErrTooLarge,
		},
		{
			name: "YAML alias bomb",
			in: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n" +
				"  a: &a [x,x,x,x,x,x,x,x,x,x]\n  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
				"  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n" +
				"  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]\n---\n" + good,
			wantGaps: []cluster.Gap{{Kind: "document", Source: "in#1", Reason: "invalid YAML: "}},
		},
		{
			name:     "invalid JSON",
			in:       `{"apiVersion": "v1", "kind": "Pod", ` + "\n---\n" + good,
			wantGaps: []cluster.Gap{{Kind: "document", Source: "in#1", Reason: "invalid JSON: "}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap, err := cluster.FromReader(context.Background(), strings.NewReader(tt.in), "in", tt.opts...)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := snap.Gaps
			for i := range got {
				if i < len(tt.wantGaps) && strings.HasPrefix(got[i].Reason, tt.wantGaps[i].Reason) {
					got[i].Reason = tt.wantGaps[i].Reason
				}
			}
			if d := cmp.Diff(tt.wantGaps, got); d != "" {
				t.Errorf("gaps (-want +got):\n%s", d)
			}
			if len(snap.ServiceAccounts) != 1 {
				t.Errorf("the good document after the bad one was not read: %d service accounts", len(snap.ServiceAccounts))
			}
		})
	}
}

// TestManifestSources: a file, standard input, a typed list, a JSON array
// and a directory with hidden and non-manifest files.
func TestManifestSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n")
	write("sub/b.JSON", `[{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"b"}}]`)
	write("sub/list.yaml", "apiVersion: v1\nkind: ServiceAccountList\nitems:\n- metadata: {name: c, namespace: x}\n")
	write(".git/c.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: hidden}\n")
	write("README.md", "not a manifest")

	names := func(s *cluster.Snapshot) []string {
		var out []string
		for _, sa := range s.ServiceAccounts {
			out = append(out, sa.Namespace+"/"+sa.Name)
		}
		return out
	}
	snap, err := cluster.FromManifests(context.Background(), dir, cluster.WithDefaultNamespace("dev"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"dev/a", "dev/b", "x/c"}, names(snap)); d != "" {
		t.Errorf("directory (-want +got):\n%s", d)
	}
	if len(snap.Gaps) != 0 {
		t.Errorf("gaps: %+v", snap.Gaps)
	}
	snap, err = cluster.FromManifests(context.Background(), filepath.Join(dir, "a.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"default/a"}, names(snap)); d != "" {
		t.Errorf("file (-want +got):\n%s", d)
	}
	snap, err = cluster.FromManifests(context.Background(), "-", cluster.WithStdin(strings.NewReader("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: s}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"default/s"}, names(snap)); d != "" {
		t.Errorf("stdin (-want +got):\n%s", d)
	}
	if _, err := cluster.FromManifests(context.Background(), filepath.Join(dir, "missing")); err == nil {
		t.Error("missing path: no error")
	}
	if _, err := cluster.FromManifests(context.Background(), dir, cluster.WithMaxObjects(2)); err == nil || !strings.Contains(err.Error(), "more than 2 objects") {
		t.Errorf("object bound: err = %v", err)
	}
}

// TestWildcardRBAC: wildcards everywhere load as written (the graph decides
// what they grant), and an empty aggregation selector aggregates every other
// ClusterRole, as kube-controller-manager does (an empty LabelSelector
// matches everything).
func TestWildcardRBAC(t *testing.T) {
	in := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: god, labels: {any: thing}}
rules:
- {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
- {nonResourceURLs: ["*"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pods}
rules:
- {apiGroups: [""], resources: ["pods/*"], resourceNames: ["web"], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: everything}
aggregationRule:
  clusterRoleSelectors: [{}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: all-authenticated}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: god}
subjects:
- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: "system:authenticated"}
- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: "system:unauthenticated"}
`
	snap, err := cluster.FromReader(context.Background(), strings.NewReader(in), "rbac", cluster.WithoutDefaultRBAC())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Gaps) != 0 {
		t.Errorf("gaps: %+v", snap.Gaps)
	}
	rules := map[string]int{}
	for _, r := range snap.ClusterRoles {
		rules[r.Name] = len(r.Rules)
	}
	if d := cmp.Diff(map[string]int{"everything": 3, "god": 2, "pods": 1}, rules); d != "" {
		t.Errorf("rules per role (-want +got):\n%s", d)
	}
	if got := snap.ClusterRoleBindings[0].Subjects; len(got) != 2 {
		t.Errorf("subjects = %+v", got)
	}
}

// TestOlderWorkloadKinds: ReplicationControllers and batch/v1beta1 CronJobs
// (removed from servers in 1.25, still in charts) make pods like the
// current kinds; a live pod owned by a ReplicationController names it.
func TestOlderWorkloadKinds(t *testing.T) {
	in := `apiVersion: v1
kind: ReplicationController
metadata: {name: legacy, namespace: a}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      serviceAccountName: legacy
      containers: [{name: c, image: nginx, securityContext: {privileged: true}}]
---
apiVersion: batch/v1beta1
kind: CronJob
metadata: {name: nightly, namespace: a}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: backup, image: backup}]
---
apiVersion: v1
kind: ReplicationController
metadata: {name: owner, namespace: a}
spec:
  template:
    spec:
      containers: [{name: c, image: x}]
---
apiVersion: v1
kind: Pod
metadata:
  name: owner-abcde
  namespace: a
  ownerReferences: [{apiVersion: v1, kind: ReplicationController, name: owner, uid: u, controller: true}]
spec:
  containers: [{name: c, image: x}]
`
	snap, err := cluster.FromReader(context.Background(), strings.NewReader(in), "in")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range snap.Pods {
		got = append(got, fmt.Sprintf("%s workload=%s owner=%s sa=%s containers=%d", p.Key(), p.Workload, p.Owner, p.Spec.ServiceAccountName, len(p.Spec.Containers)))
	}
	want := []string{
		"a/legacy workload=ReplicationController/legacy owner= sa=legacy containers=1",
		"a/nightly workload=CronJob/nightly owner= sa=default containers=1",
		"a/owner-abcde workload= owner=ReplicationController/owner sa=default containers=1",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pods (-want +got):\n%s", d)
	}
	if len(snap.Gaps) != 0 {
		t.Errorf("gaps: %+v", snap.Gaps)
	}
}

// TestDefaultRBAC: manifests that bind the built-in roles get them from the
// default RBAC of Kubernetes v1.37.2 (read from the real server, see
// cluster/defaultrbac): cluster-admin holds every verb, the aggregated view
// role is filled from the defaults plus any manifest role that aggregates
// into it, a manifest's own role of a default name wins, and a live
// snapshot never gets defaults.
func TestDefaultRBAC(t *testing.T) {
	in := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: ops, namespace: a}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewers, namespace: a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: web, namespace: a}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: widgets-view, labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}}
rules: [{apiGroups: [example.com], resources: [widgets], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edit}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
`
	snap, err := cluster.FromReader(context.Background(), strings.NewReader(in), "in")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Gaps) != 0 || snap.Live {
		t.Errorf("gaps %+v, live %v", snap.Gaps, snap.Live)
	}
	if len(snap.Defaults) != 1 || !strings.HasPrefix(snap.Defaults[0], "Kubernetes v1.37.2 default RBAC: 72 ClusterRoles, 54 ClusterRoleBindings, 7 Roles and 7 RoleBindings") {
		t.Errorf("defaults = %q", snap.Defaults)
	}
	roles := map[string]*rbacv1.ClusterRole{}
	for i := range snap.ClusterRoles {
		roles[snap.ClusterRoles[i].Name] = &snap.ClusterRoles[i]
	}
	ca := roles["cluster-admin"]
	if ca == nil || len(ca.Rules) == 0 || !slices.Contains(ca.Rules[0].Verbs, "*") || !slices.Contains(ca.Rules[0].Resources, "*") {
		t.Fatalf("cluster-admin = %+v", ca)
	}
	if v, ok := cluster.IsDefault(ca.Annotations); !ok || v != "Kubernetes v1.37.2 default RBAC" {
		t.Errorf("cluster-admin not marked as a default: %v", ca.Annotations)
	}
	hasRule := func(r *rbacv1.ClusterRole, group, resource, verb string) bool {
		for _, x := range r.Rules {
			if slices.Contains(x.APIGroups, group) && slices.Contains(x.Resources, resource) && slices.Contains(x.Verbs, verb) {
				return true
			}
		}
		return false
	}
	view := roles["view"]
	if view == nil || !hasRule(view, "", "pods", "get") || !hasRule(view, "example.com", "widgets", "get") || hasRule(view, "", "secrets", "get") {
		t.Errorf("view after aggregation: %+v", view)
	}
	if edit := roles["edit"]; len(edit.Rules) != 1 || edit.Annotations[cluster.DefaultAnnotation] != "" {
		t.Errorf("the manifest's edit role was replaced: %+v", edit)
	}
	// The admin role aggregates edit's own rules only through the defaults'
	// labels: the manifest's edit has none, so admin does not include it.
	if admin := roles["admin"]; admin == nil || hasRule(admin, "", "configmaps", "get") && !hasRule(admin, "", "pods", "create") {
		t.Errorf("admin = %+v", admin)
	}
	crbs := map[string]bool{}
	for _, b := range snap.ClusterRoleBindings {
		crbs[b.Name] = true
	}
	if !crbs["cluster-admin"] || !crbs["system:controller:clusterrole-aggregation-controller"] || !crbs["ops-admin"] {
		t.Errorf("cluster role bindings: %v", crbs)
	}
	off, err := cluster.FromReader(context.Background(), strings.NewReader(in), "in", cluster.WithoutDefaultRBAC())
	if err != nil {
		t.Fatal(err)
	}
	if len(off.ClusterRoles) != 2 || off.Defaults != nil {
		t.Errorf("WithoutDefaultRBAC: %d ClusterRoles, defaults %q", len(off.ClusterRoles), off.Defaults)
	}
}
