package graph_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
)

// TestNodeAuthorizerParity: the kubelet identity a compromised node holds
// is modelled as the Node authorizer and NodeRestriction admission of a
// real kube-apiserver v1.37.2 (--authorization-mode=Node,RBAC,
// --enable-admission-plugins=NodeRestriction) decide it:
//
//   - every secret and service account token system:node:<n> may get
//     (SubjectAccessReview) is a NODE_AUTHORIZER edge of its identity, and
//     nothing else is;
//   - the labels a node may set on its own Node (update as that node) are
//     those graph.NodeMaySetLabel allows, which decide attraction;
//   - a node may not change its taints or another node, nor create pods
//     other than mirror pods.
func TestNodeAuthorizerParity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver")
	}
	srv := kubeapiserver.Start(t, kubeapiserver.WithFlags("--enable-admission-plugins=NodeRestriction"))
	ctx := context.Background()
	fx := fromYAML(t, nodeAuthzFixture, cluster.WithoutDefaultRBAC())
	cs := srv.Client
	srv.Namespace(t, "a", nil)
	for _, n := range fx.Nodes {
		n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}
		if _, err := cs.CoreV1().Nodes().Create(ctx, &n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range fx.ServiceAccounts {
		if _, err := cs.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, &o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range fx.Secrets {
		if _, err := cs.CoreV1().Secrets(o.Namespace).Create(ctx, &o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range fx.Pods {
		if _, err := cs.CoreV1().Pods(p.Namespace).Create(ctx, &p.Pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitNodeAuthorizer(t, srv)
	snap, err := cluster.FromConfig(ctx, srv.Config, "node authorizer server")
	if err != nil {
		t.Fatal(err)
	}
	g := build(t, snap)

	secrets := []string{"env-secret", "pull-secret", "vol-secret", "other-secret", "unused", "never-referenced"}
	sas := []string{"runner", "other", "default"}
	sar := func(node string, verb, res, sub, name string) bool {
		r, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:node:" + node, Groups: []string{"system:nodes", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "a", Verb: verb, Resource: res, Subresource: sub, Name: name}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status.Allowed
	}
	for _, node := range []string{"n1", "n2"} {
		var server, model []string
		for _, s := range secrets {
			if sar(node, "get", "secrets", "", s) {
				server = append(server, "secret:a/"+s)
			}
		}
		for _, sa := range sas {
			if sar(node, "create", "serviceaccounts", "token", sa) {
				server = append(server, "sa:a/"+sa)
			}
		}
		for _, e := range edgesFrom(g, "user:system:node:"+node) {
			if to, ok := strings.CutPrefix(e, string(graph.EdgeNodeAuthz)+" "); ok {
				model = append(model, to)
			}
		}
		slices.Sort(server)
		if !slices.Equal(server, model) {
			t.Errorf("system:node:%s: the server allows %v, the graph has %v", node, server, model)
		}
		if len(server) == 0 {
			t.Errorf("system:node:%s may read nothing: the fixture proves nothing", node)
		}
	}

	// NodeRestriction: labels on its own Node, taints, other Nodes, pods.
	nc := srv.ClientAs(t, "system:node:n1", "system:nodes", "system:authenticated")
	for _, key := range []string{"dedicated", "example.com/pool", "kubernetes.io/hostname", "kubernetes.io/os", "node.kubernetes.io/instance-type",
		"topology.kubernetes.io/zone", "kubelet.kubernetes.io/x", "node.kubernetes.io/x", "node-role.kubernetes.io/control-plane",
		"node-restriction.kubernetes.io/pool", "foo.kubernetes.io/bar", "k8s.io/x", "sub.k8s.io/x"} {
		n, err := nc.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[key] = "x"
		_, err = nc.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		if allowed := err == nil; allowed != graph.NodeMaySetLabel(key) {
			t.Errorf("label %s on its own Node: server allows = %v (%v), model = %v", key, allowed, err, graph.NodeMaySetLabel(key))
		}
	}
	n, err := nc.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Taints = nil
	if _, err := nc.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err == nil {
		t.Error("a node removed its own taints: attraction must then ignore taints")
	}
	if _, err := nc.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{}); err == nil {
		t.Error("a node read another Node")
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "evil", Namespace: "a"}, Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	if _, err := nc.CoreV1().Pods("a").Create(ctx, pod, metav1.CreateOptions{}); err == nil {
		t.Error("a node created a pod that is not a mirror pod")
	}
}

// waitNodeAuthorizer returns once the Node authorizer's graph, which the
// API server fills from its own pod informer, holds every pod created
// before the call: a sentinel pod created after them, on a node of its
// own and in a namespace of its own, must become visible to a review,
// and is then deleted.
func waitNodeAuthorizer(t *testing.T, srv *kubeapiserver.Server) {
	t.Helper()
	ctx := context.Background()
	const ns, node = "node-authz-sentinel", "node-authz-sentinel"
	srv.Namespace(t, ns, nil)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sentinel", Namespace: ns}, Spec: corev1.PodSpec{NodeName: node,
		Containers: []corev1.Container{{Name: "c", Image: "registry.example.com/sentinel@sha256:" + strings.Repeat("0", 64)}},
		Volumes:    []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sentinel"}}}}}}
	if _, err := srv.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := srv.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:node:" + node, Groups: []string{"system:nodes", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "secrets", Name: "sentinel"}}}, metav1.CreateOptions{})
		if err == nil && r.Status.Allowed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Node authorizer did not see a new pod within 30 s (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	zero := int64(0)
	if err := srv.Client.CoreV1().Pods(ns).Delete(ctx, "sentinel", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
}
