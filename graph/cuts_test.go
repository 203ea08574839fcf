package graph_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
)

// riskOf is the oracle for a cut: the risk of a query on a snapshot the
// test changed by hand (not through Fix.Apply), built from scratch.
func riskOf(t *testing.T, s *cluster.Snapshot, ns, pod, c string) float64 {
	t.Helper()
	return query(t, build(t, s), ns, pod, c).Risk
}

// editPod deep-copies the snapshot's pods and changes one.
func editPod(s *cluster.Snapshot, ns, name string, edit func(*corev1.Pod)) *cluster.Snapshot {
	c := *s
	c.Pods = slices.Clone(s.Pods)
	for i := range c.Pods {
		if c.Pods[i].Namespace == ns && c.Pods[i].Name == name {
			c.Pods[i] = cluster.Pod{Pod: *c.Pods[i].Pod.DeepCopy(), Workload: c.Pods[i].Workload, Owner: c.Pods[i].Owner}
			edit(&c.Pods[i].Pod)
		}
	}
	return &c
}

func cutByID(r *graph.Result, id string) *graph.Cut {
	for i := range r.Cuts {
		if r.Cuts[i].Fix.ID == id {
			return &r.Cuts[i]
		}
	}
	return nil
}

// TestCutsAreCounterfactual: a cut is scored by applying the change to the
// snapshot and searching again, so its risk cut equals the drop measured on
// a snapshot changed by hand: removing privileged also takes away the
// ptrace power host PID needed; removing a host path volume removes every
// escape that used it; a Pod Security label cuts only the namespace it
// labels.
func TestCutsAreCounterfactual(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		fix   string
		edit  func(*cluster.Snapshot) *cluster.Snapshot
		helps bool
	}{
		{
			name: "privileged off also ends the host PID escape",
			yaml: `
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a}
spec:
  nodeName: n1
  hostPID: true
  automountServiceAccountToken: false
  containers: [{name: c, image: x, securityContext: {privileged: true}}]
`,
			fix: "posture:Pod a/p/c:privileged",
			edit: func(s *cluster.Snapshot) *cluster.Snapshot {
				return editPod(s, "a", "p", func(p *corev1.Pod) { f := false; p.Spec.Containers[0].SecurityContext.Privileged = &f })
			},
			helps: true,
		},
		{
			name: "one host path volume, every escape through it",
			yaml: `
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a}
spec:
  nodeName: n1
  automountServiceAccountToken: false
  volumes: [{name: root, hostPath: {path: /}}]
  containers: [{name: c, image: x, volumeMounts: [{name: root, mountPath: /host}]}]
`,
			fix: "volumes:Pod a/p:root",
			edit: func(s *cluster.Snapshot) *cluster.Snapshot {
				return editPod(s, "a", "p", func(p *corev1.Pod) { p.Spec.Volumes = nil; p.Spec.Containers[0].VolumeMounts = nil })
			},
			helps: true,
		},
		{
			name: "a Pod Security label cuts only its namespace",
			yaml: `
apiVersion: v1
kind: Namespace
metadata: {name: left}
---
apiVersion: v1
kind: Namespace
metadata: {name: right}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: left}
spec: {serviceAccountName: creator, containers: [{name: c, image: x}]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: creator}
rules: [{apiGroups: [""], resources: [pods], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: creator, namespace: left}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: creator}
subjects: [{kind: ServiceAccount, name: creator, namespace: left}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: creator, namespace: right}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: creator}
subjects: [{kind: ServiceAccount, name: creator, namespace: left}]
`,
			fix: "psa:left",
			edit: func(s *cluster.Snapshot) *cluster.Snapshot {
				c := *s
				c.Namespaces = slices.Clone(s.Namespaces)
				for i := range c.Namespaces {
					if c.Namespaces[i].Name == "left" {
						c.Namespaces[i] = *c.Namespaces[i].DeepCopy()
						c.Namespaces[i].Labels = map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}
					}
				}
				return &c
			},
			helps: false, // right still lets it create a privileged pod
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := fromYAML(t, tc.yaml, cluster.WithoutDefaultRBAC())
			from := strings.Split(map[bool]string{true: "left/p/c", false: "a/p/c"}[strings.Contains(tc.yaml, "namespace: left")], "/")
			g := build(t, s)
			r := query(t, g, from[0], from[1], from[2], graph.WithMaxCutCandidates(50), graph.WithMaxCuts(50))
			after := riskOf(t, tc.edit(s), from[0], from[1], from[2])
			c := cutByID(r, tc.fix)
			if !tc.helps {
				if math.Abs(after-r.Risk) > 1e-4 {
					t.Fatalf("the hand-made change moves the risk %v -> %v: the fixture does not test what it says", r.Risk, after)
				}
				if c != nil {
					t.Errorf("cut %s claims %.4f although the change leaves the risk at %.4f: %+v", tc.fix, c.RiskCut, after, c)
				}
				return
			}
			if c == nil {
				t.Fatalf("no cut %s among %+v", tc.fix, r.Cuts)
			}
			if math.Abs(c.RiskCut-(r.Risk-after)) > 2e-4 || math.Abs(c.RiskAfter-after) > 1e-4 {
				t.Errorf("cut %s: risk %.4f -> %.4f (cut %.4f); the hand-made change gives %.4f", tc.fix, r.Risk, c.RiskAfter, c.RiskCut, after)
			}
			if len(c.Changes) == 0 {
				t.Error("the cut does not say what it changed")
			}
		})
	}
}

// TestNoSingleCutHelps: two independent grants reach the same critical
// identity and the first step has no fix: no single change lowers the
// risk, and the result says so instead of listing nothing.
func TestNoSingleCutHelps(t *testing.T) {
	g := build(t, fromYAML(t, `
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: gvisor}
handler: runsc
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a}
spec:
  runtimeClassName: gvisor
  serviceAccountName: runner
  automountServiceAccountToken: false
  volumes: [{name: token, projected: {sources: [{serviceAccountToken: {path: token}}]}}]
  containers: [{name: c, image: x, volumeMounts: [{name: token, mountPath: /var/run/secrets/tokens}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: a}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: target, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: imp, namespace: kube-system}
rules: [{apiGroups: [""], resources: [serviceaccounts], verbs: [impersonate]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: imp, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: imp}
subjects: [{kind: ServiceAccount, name: runner, namespace: a}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: tok, namespace: kube-system}
rules: [{apiGroups: [""], resources: [serviceaccounts/token], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: tok, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: tok}
subjects: [{kind: ServiceAccount, name: runner, namespace: a}]
`, cluster.WithoutDefaultRBAC()))
	r := query(t, g, "a", "p", "c")
	if asset(r, "sa:kube-system/target") == nil {
		t.Fatalf("fixture: kube-system/target not reached: %+v", r.Assets)
	}
	if len(r.Cuts) != 0 {
		t.Errorf("cuts %+v: no single change should help", r.Cuts)
	}
	if !strings.HasPrefix(r.CutsNote, "no single change helps") {
		t.Errorf("cuts note = %q", r.CutsNote)
	}
}

// TestCounterfactualMatchesFullBuild: the rebuild of a changed snapshot
// reuses what the change does not touch; for every fix of the edges
// fixture, its graph must equal a build from scratch of the same snapshot.
func TestCounterfactualMatchesFullBuild(t *testing.T) {
	g := buildFixture(t, "testdata/edges/cluster.yaml")
	seen := map[string]bool{}
	n := 0
	for _, e := range g.Edges {
		for _, f := range e.Fixes {
			if f.Apply == nil || seen[f.ID] {
				continue
			}
			seen[f.ID] = true
			g2, p, err := g.Counterfactual(f)
			if err != nil {
				t.Fatalf("%s: %v", f.ID, err)
			}
			if g2 == nil {
				t.Errorf("%s changes nothing", f.ID)
				continue
			}
			n++
			full, err := graph.Build(p.Snapshot())
			if err != nil {
				t.Fatal(err)
			}
			if a, b := dumpEdges(g2), dumpEdges(full); a != b {
				t.Errorf("%s: the rebuild differs from a full build of the changed snapshot", f.ID)
			}
			for _, id := range full.Containers {
				k := full.Nodes[id].Key
				l1, w1 := g2.Exposure(k)
				l2, w2 := full.Exposure(k)
				if l1 != l2 || w1 != w2 {
					t.Errorf("%s: exposure of %s is %s (%s) after the rebuild, %s (%s) from scratch", f.ID, k, l1, w1, l2, w2)
				}
			}
			if !slices.Equal(g2.Unknowns, full.Unknowns) {
				t.Errorf("%s: unknowns differ: %q vs %q", f.ID, g2.Unknowns, full.Unknowns)
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d fixes tried", n)
	}
	// The original snapshot is never changed.
	if d := dumpEdges(buildFixture(t, "testdata/edges/cluster.yaml")); d != dumpEdges(g) {
		t.Error("applying fixes changed the original graph's snapshot")
	}
}
