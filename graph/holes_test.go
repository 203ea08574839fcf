package graph_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
)

// Tests for the paths credence used to miss (host PID and IPC, placement,
// kubelet identity, cloud metadata, unknown roles) and for counterfactual
// cuts. Each fixture is a small YAML cluster read by the cluster package.

func fromYAML(t *testing.T, in string, opts ...cluster.Option) *cluster.Snapshot {
	t.Helper()
	s, err := cluster.FromReader(context.Background(), strings.NewReader(in), "test", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func build(t *testing.T, s *cluster.Snapshot, opts ...graph.Option) *graph.Graph {
	t.Helper()
	g, err := graph.Build(s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// edgesFrom lists "KIND to" for the edges leaving key.
func edgesFrom(g *graph.Graph, key string) []string {
	id, ok := g.Lookup(key)
	if !ok {
		return nil
	}
	var out []string
	for _, ei := range g.Out(id) {
		e := g.Edges[ei]
		out = append(out, string(e.Kind)+" "+g.Nodes[e.To].Key)
	}
	slices.Sort(out)
	return out
}

func hasEdge(g *graph.Graph, kind graph.EdgeKind, from, to string) *graph.Edge {
	for i := range g.Edges {
		e := &g.Edges[i]
		if e.Kind == kind && g.Nodes[e.From].Key == from && g.Nodes[e.To].Key == to {
			return e
		}
	}
	return nil
}

func query(t *testing.T, g *graph.Graph, ns, pod, c string, opts ...graph.QueryOption) *graph.Result {
	t.Helper()
	r, err := g.Query(graph.ContainerKey(ns, pod, c), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func asset(r *graph.Result, key string) *graph.Asset {
	for i := range r.Assets {
		if r.Assets[i].Key == key {
			return &r.Assets[i]
		}
	}
	return nil
}

// TestHostPIDReadsOtherContainers: a host-PID container without ptrace
// power (no escape to the node) still reads the environment and files of
// the other containers' processes on its node, not on other nodes.
func TestHostPIDReadsOtherContainers(t *testing.T) {
	g := build(t, fromYAML(t, `
apiVersion: v1
kind: Pod
metadata: {name: monitor, namespace: a}
spec:
  nodeName: n1
  hostPID: true
  automountServiceAccountToken: false
  containers: [{name: c, image: x}]
---
apiVersion: v1
kind: Pod
metadata: {name: victim, namespace: a}
spec:
  nodeName: n1
  containers: [{name: c, image: x, env: [{name: PASSWORD, valueFrom: {secretKeyRef: {name: db, key: p}}}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: elsewhere, namespace: a}
spec:
  nodeName: n2
  containers: [{name: c, image: x}]
---
apiVersion: v1
kind: Pod
metadata: {name: sandboxed, namespace: a}
spec:
  nodeName: n1
  hostPID: true
  runtimeClassName: gvisor
  containers: [{name: c, image: x}]
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: gvisor}
handler: runsc
`))
	e := hasEdge(g, graph.EdgeHostPID, "container:a/monitor/c", "procs:node:n1")
	if e == nil || e.Likelihood != 0.6 || !e.Unknown || e.Fixes[0].ID != "sc:Pod a/monitor:hostPID" {
		t.Fatalf("host PID edge: %+v", e)
	}
	if edgesFrom(g, "container:a/sandboxed/c") != nil && slices.Contains(edgesFrom(g, "container:a/sandboxed/c"), "HOST_PID procs:node:n1") {
		t.Error("a sandboxed runtime has no host PID namespace")
	}
	r := query(t, g, "a", "monitor", "c")
	if a := asset(r, "secret:a/db"); a == nil || a.Steps != 3 {
		t.Errorf("the victim's secret through /proc: %+v", a)
	}
	for _, p := range r.Paths {
		if p.To != "Secret a/db" {
			continue
		}
		var kinds []string
		for _, st := range p.Steps {
			kinds = append(kinds, string(st.Kind))
		}
		if strings.Join(kinds, " ") != "HOST_PID SCOPE_MEMBER SECRET_MOUNTED" {
			t.Errorf("path to the victim's secret: %v", kinds)
		}
	}
	procs := edgesFrom(g, "procs:node:n1")
	if !slices.Contains(procs, "SCOPE_MEMBER container:a/victim/c") || slices.Contains(procs, "SCOPE_MEMBER container:a/elsewhere/c") {
		t.Errorf("processes on n1: %v", procs)
	}
}

// TestHostIPC: host-IPC containers share the node's IPC namespace.
func TestHostIPC(t *testing.T) {
	g := build(t, fromYAML(t, `
apiVersion: v1
kind: Pod
metadata: {name: one, namespace: a}
spec: {nodeName: n1, hostIPC: true, containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: two, namespace: a}
spec: {nodeName: n1, hostIPC: true, containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: plain, namespace: a}
spec: {nodeName: n1, containers: [{name: c, image: x}]}
`))
	if hasEdge(g, graph.EdgeHostIPC, "container:a/one/c", "ipc:node:n1") == nil {
		t.Fatal("no host IPC edge")
	}
	to := edgesFrom(g, "ipc:node:n1")
	if !slices.Contains(to, "HOST_IPC container:a/two/c") || slices.Contains(to, "HOST_IPC container:a/plain/c") {
		t.Errorf("IPC namespace of n1 reaches %v", to)
	}
}

// TestPlacementWithoutNodes: manifests hold no Node objects. A pod that
// tolerates the control-plane taint may land on a control-plane node; a
// DaemonSet that does runs there; a plain Deployment does not.
func TestPlacementWithoutNodes(t *testing.T) {
	g := build(t, fromYAML(t, `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: a}
spec:
  template:
    spec:
      tolerations: [{operator: Exists}]
      containers: [{name: c, image: x, securityContext: {privileged: true}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: tolerant, namespace: a}
spec:
  template:
    spec:
      tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]
      containers: [{name: c, image: x, securityContext: {privileged: true}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: plain, namespace: a}
spec:
  template:
    spec:
      containers: [{name: c, image: x, securityContext: {privileged: true}}]
`, cluster.WithoutDefaultRBAC()))
	esc := func(pod, node string) float64 {
		e := hasEdge(g, graph.EdgeEscape, "container:a/"+pod+"/c", node)
		if e == nil {
			return 0
		}
		return e.Likelihood
	}
	if p := esc("agent", "node:(control plane)"); p != 0.95 {
		t.Errorf("DaemonSet tolerating everything on the control plane: %v, want 0.95", p)
	}
	if p := esc("agent", "node:(unscheduled)"); p != 0.95 {
		t.Errorf("DaemonSet on the workers: %v", p)
	}
	if p := esc("tolerant", "node:(control plane)"); math.Abs(p-0.475) > 1e-9 {
		t.Errorf("tolerating pod may land on the control plane: %v, want 0.95×0.5", p)
	}
	if p := esc("plain", "node:(control plane)"); p != 0 {
		t.Errorf("a pod that does not tolerate the taint reaches the control plane: %v", p)
	}
	r := query(t, g, "a", "agent", "c")
	if a := asset(r, "cluster-admin"); a == nil || a.Likelihood < 0.85 {
		t.Errorf("DaemonSet on the control plane reaches cluster-admin: %+v", a)
	}
	// The plain pod reaches the control plane only through the DaemonSet
	// that shares its node.
	for _, p := range query(t, g, "a", "plain", "c").Paths {
		if p.To == "cluster-admin (control of the whole cluster)" && !slices.ContainsFunc(p.Steps, func(s graph.Step) bool { return s.To == "a/agent/c" }) {
			t.Errorf("plain Deployment reaches cluster-admin without the DaemonSet: %+v", p.Steps)
		}
	}
}

// TestPlacementWithNodes: with Node objects, a template pod lands where its
// nodeSelector, affinity and tolerations let the scheduler put it.
func TestPlacementWithNodes(t *testing.T) {
	g := build(t, fromYAML(t, `
apiVersion: v1
kind: Node
metadata: {name: cp, labels: {node-role.kubernetes.io/control-plane: ""}}
spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}
---
apiVersion: v1
kind: Node
metadata: {name: w1, labels: {pool: gpu}}
---
apiVersion: v1
kind: Node
metadata: {name: w2, labels: {pool: web}}
---
apiVersion: v1
kind: Node
metadata: {name: w3, labels: {pool: web}}
spec: {unschedulable: true}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: gpu, namespace: a}
spec:
  template:
    spec:
      nodeSelector: {pool: gpu}
      containers: [{name: c, image: x, securityContext: {privileged: true}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: any, namespace: a}
spec:
  template:
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: Exists}]}]
      containers: [{name: c, image: x, securityContext: {privileged: true}}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: logs, namespace: a}
spec:
  template:
    spec:
      containers: [{name: c, image: x, securityContext: {privileged: true}}]
`, cluster.WithoutDefaultRBAC()))
	to := func(pod string) []string {
		var out []string
		for _, e := range edgesFrom(g, "container:a/"+pod+"/c") {
			if k, ok := strings.CutPrefix(e, "ESCAPE "); ok {
				out = append(out, k)
			}
		}
		return slices.Compact(out)
	}
	if got := to("gpu"); !slices.Equal(got, []string{"node:w1"}) {
		t.Errorf("nodeSelector pool=gpu escapes to %v", got)
	}
	// w3 is cordoned: only DaemonSets tolerate that.
	if got := to("any"); !slices.Equal(got, []string{"node:(one of w1,w2)"}) {
		t.Errorf("affinity pool exists escapes to %v", got)
	}
	if got := to("logs"); !slices.Equal(got, []string{"node:w1", "node:w2", "node:w3"}) {
		t.Errorf("DaemonSet without tolerations escapes to %v (not the tainted control plane)", got)
	}
	if e := hasEdge(g, graph.EdgeColocated, "node:w2", "node:(one of w1,w2)"); e == nil || e.Likelihood != 0.5 {
		t.Errorf("owning w2 owns the pods that fit w1 or w2 half the time: %+v", e)
	}
}

// TestKubeletIdentity: a node holds its kubelet's identity, which the Node
// authorizer lets read the secrets of pods bound to that node (image pull
// secrets too) and mint their service accounts' tokens, and nothing of
// other nodes' pods. TestNodeAuthorizerParity checks this against a real
// kube-apiserver.
func TestKubeletIdentity(t *testing.T) {
	g := build(t, fromYAML(t, nodeAuthzFixture, cluster.WithoutDefaultRBAC()))
	got := map[string]bool{}
	for _, e := range edgesFrom(g, "user:system:node:n1") {
		got[e] = true
	}
	for _, want := range []string{"NODE_AUTHORIZER secret:a/env-secret", "NODE_AUTHORIZER secret:a/pull-secret", "NODE_AUTHORIZER secret:a/vol-secret", "NODE_AUTHORIZER sa:a/runner"} {
		if !got[want] {
			t.Errorf("kubelet of n1 lacks %s: %v", want, got)
		}
	}
	for _, not := range []string{"NODE_AUTHORIZER secret:a/other-secret", "NODE_AUTHORIZER sa:a/other", "NODE_AUTHORIZER secret:a/unused"} {
		if got[not] {
			t.Errorf("kubelet of n1 has %s", not)
		}
	}
	if hasEdge(g, graph.EdgeNodeCreds, "node:n1", "user:system:node:n1") == nil {
		t.Error("node n1 does not hold its kubelet identity")
	}
}

const nodeAuthzFixture = `
apiVersion: v1
kind: Namespace
metadata: {name: a}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: runner, namespace: a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: other, namespace: a}
---
apiVersion: v1
kind: Pod
metadata: {name: on-n1, namespace: a}
spec:
  nodeName: n1
  serviceAccountName: runner
  imagePullSecrets: [{name: pull-secret}]
  volumes: [{name: v, secret: {secretName: vol-secret}}]
  containers:
  - name: c
    image: x
    env: [{name: E, valueFrom: {secretKeyRef: {name: env-secret, key: k}}}]
    volumeMounts: [{name: v, mountPath: /v}]
---
apiVersion: v1
kind: Pod
metadata: {name: on-n2, namespace: a}
spec:
  nodeName: n2
  serviceAccountName: other
  containers:
  - name: c
    image: x
    envFrom: [{secretRef: {name: other-secret}}]
---
apiVersion: v1
kind: Secret
metadata: {name: unused, namespace: a}
type: Opaque
`

// TestCloudMetadata: egress to 169.254.169.254 is evaluated under
// NetworkPolicy (ipBlock, ports, peers that are pods) and is always an
// unknown step (the cloud may keep pods from it).
func TestCloudMetadata(t *testing.T) {
	g := build(t, fromYAML(t, `
apiVersion: v1
kind: Pod
metadata: {name: open, namespace: open, labels: {app: x}}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: denied, namespace: denied, labels: {app: x}}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: denied}
spec: {podSelector: {}, policyTypes: [Egress]}
---
apiVersion: v1
kind: Pod
metadata: {name: except, namespace: except, labels: {app: x}}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: no-metadata, namespace: except}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {}}]
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [169.254.169.254/32]}}]
---
apiVersion: v1
kind: Pod
metadata: {name: https, namespace: https, labels: {app: x}}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: https-only, namespace: https}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}], ports: [{port: 443}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: web, labels: {app: x}}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: http, namespace: web}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 169.254.0.0/16}}], ports: [{port: 80}]}]
`))
	// Directly: egress, then the endpoint (other pods' egress may lead
	// there in more steps).
	reaches := map[string]bool{}
	for _, ns := range []string{"open", "denied", "except", "https", "web"} {
		a := asset(query(t, g, ns, ns, "c"), "external:cloud-metadata")
		reaches[ns] = a != nil && a.Steps == 2
		if a != nil && !a.Unknown {
			t.Errorf("%s: metadata asset %+v is not unknown", ns, a)
		}
	}
	want := map[string]bool{"open": true, "denied": false, "except": false, "https": false, "web": true}
	for ns, w := range want {
		if reaches[ns] != w {
			t.Errorf("%s reaches the metadata endpoint: %v, want %v", ns, reaches[ns], w)
		}
	}
}

// TestUnknownRole: a binding to a role the manifests lack leads to an
// Unknown node, never to nothing; the authorizer model says Unknown. In a
// live snapshot the role does not exist: the binding grants nothing.
func TestUnknownRole(t *testing.T) {
	in := `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ops, namespace: a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: in-house-ops}
subjects: [{kind: ServiceAccount, name: ops, namespace: a}]
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a}
spec: {serviceAccountName: ops, containers: [{name: c, image: x}]}
`
	s := fromYAML(t, in)
	g := build(t, s)
	e := hasEdge(g, graph.EdgeUnknown, "sa:a/ops", "unknown:role:ClusterRole in-house-ops@a")
	if e == nil || !e.Unknown || len(e.Evidence) == 0 || e.Evidence[0].Object != "RoleBinding a/ops" {
		t.Fatalf("unknown role edge: %+v", e)
	}
	if a := asset(query(t, g, "a", "p", "c"), "unknown:role:ClusterRole in-house-ops@a"); a == nil {
		t.Error("the pod does not reach the unknown role")
	}
	m := graph.NewRBAC(s)
	attr := graph.Attributes{Verb: "get", Resource: "secrets", Namespace: "a", Name: "x"}
	if v, _ := m.Allows(graph.ServiceAccountUser("a", "ops"), attr); v != graph.Unknown {
		t.Errorf("request under a missing role: %s, want unknown", v)
	}
	attr.Namespace = "b"
	if v, _ := m.Allows(graph.ServiceAccountUser("a", "ops"), attr); v != graph.Denied {
		t.Errorf("request outside the binding's namespace: %s, want denied", v)
	}
	s.Live = true
	gl := build(t, s)
	if hasEdge(gl, graph.EdgeUnknown, "sa:a/ops", "unknown:role:ClusterRole in-house-ops@a") != nil {
		t.Error("live snapshot: a role that does not exist is unknown")
	}
	if !slices.ContainsFunc(gl.Unknowns, func(u string) bool { return strings.Contains(u, "grants nothing now") }) {
		t.Errorf("live snapshot does not explain the dangling binding: %v", gl.Unknowns)
	}
}

// TestDefaultRolesInGraph: manifests that bind the built-in cluster-admin,
// edit or view grant what those roles grant (the default RBAC of the
// Kubernetes release credence is tested against).
func TestDefaultRolesInGraph(t *testing.T) {
	g := build(t, fromYAML(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: ops, namespace: a}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dev-edit, namespace: a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: ServiceAccount, name: dev, namespace: a}]
`))
	if e := hasEdge(g, graph.EdgeRBACAdmin, "sa:a/ops", "cluster-admin"); e == nil || !strings.Contains(e.Evidence[0].Object, "ClusterRoleBinding ops-admin") {
		t.Errorf("binding to the default cluster-admin: %+v", e)
	}
	// edit (aggregated from the defaults) may exec into pods and
	// impersonate service accounts of its namespace.
	for _, k := range []graph.EdgeKind{graph.EdgeRBACExec, graph.EdgeRBACImperson, graph.EdgeRBACSecrets} {
		if hasEdge(g, k, "sa:a/dev", map[graph.EdgeKind]string{graph.EdgeRBACExec: "scope:pods:a", graph.EdgeRBACImperson: "scope:sas:a", graph.EdgeRBACSecrets: "scope:secrets:a"}[k]) == nil {
			t.Errorf("default edit role: no %s edge", k)
		}
	}
}

// TestNoFixDeletesWhatDoesNotExist: a binding an attacker would create is
// never offered as a fix; the cut is on the step that lets it be created.
func TestNoFixDeletesWhatDoesNotExist(t *testing.T) {
	g := build(t, fromYAML(t, `
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a}
spec: {serviceAccountName: binder, containers: [{name: c, image: x}]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: binder, namespace: b}
rules:
- {apiGroups: [rbac.authorization.k8s.io], resources: [rolebindings], verbs: [create]}
- {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: binder, namespace: b}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: binder}
subjects: [{kind: ServiceAccount, name: binder, namespace: a}]
`, cluster.WithoutDefaultRBAC()))
	for _, e := range g.Edges {
		for _, f := range e.Fixes {
			if strings.Contains(f.ID, "a new") || strings.Contains(f.Summary, "a new") {
				t.Errorf("edge %s %s -> %s offers %q", e.Kind, g.Nodes[e.From].Key, g.Nodes[e.To].Key, f.Summary)
			}
		}
	}
	r := query(t, g, "a", "p", "c")
	if !slices.ContainsFunc(r.Cuts, func(c graph.Cut) bool { return c.Fix.ID == "rbac:RoleBinding b/binder" && c.RiskCut > 0 }) {
		t.Errorf("cuts: %+v, want the existing binding among them", r.Cuts)
	}
}
