package graph_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
)

// liveObjects is a small live view: a namespace and pods with UIDs and
// resourceVersions; privileged makes pod 0 privileged; pod 1 asks for the
// RuntimeClass gvisor, which exists (handler runsc) when sandbox is set.
func liveObjects(nsVersion, pod0Version string, privileged bool, enforce string, sandbox bool) []runtime.Object {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", ResourceVersion: nsVersion,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": enforce}}}
	objs := []runtime.Object{ns}
	for i := range 3 {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("web-%d", i), UID: types.UID(fmt.Sprintf("uid-%d", i)),
			ResourceVersion: "10", Labels: map[string]string{"app": "web"}},
			Spec:   corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		if i == 1 {
			rc := "gvisor"
			p.Spec.RuntimeClassName = &rc
		}
		if i == 0 {
			p.ResourceVersion = pod0Version
			if privileged {
				yes := true
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
			}
		}
		objs = append(objs, p)
	}
	objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", ResourceVersion: "1"}})
	if sandbox {
		objs = append(objs, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor", ResourceVersion: "5"}, Handler: "runsc"})
	}
	return objs
}

// TestPostureCache: a graph built with the cache equals one built without
// it, build after build, while a pod changes (a new resourceVersion), the
// namespace changes and a RuntimeClass a pod names appears.
func TestPostureCache(t *testing.T) {
	cache := graph.NewPostureCache()
	for _, step := range []struct {
		name                   string
		nsVersion, pod0Version string
		privileged             bool
		enforce                string
		sandbox                bool
	}{
		{"first build", "1", "10", false, "baseline", false},
		{"nothing changed", "1", "10", false, "baseline", false},
		{"pod 0 made privileged", "1", "11", true, "baseline", false},
		{"namespace now privileged", "2", "11", true, "privileged", false},
		{"RuntimeClass gvisor created", "2", "11", true, "privileged", true},
		{"nothing changed again", "2", "11", true, "privileged", true},
	} {
		snap, err := cluster.FromObjects("live", liveObjects(step.nsVersion, step.pod0Version, step.privileged, step.enforce, step.sandbox), cluster.WithSharedPods())
		if err != nil {
			t.Fatal(err)
		}
		want, err := graph.Build(snap)
		if err != nil {
			t.Fatal(err)
		}
		got, err := graph.Build(snap, graph.WithPostureCache(cache))
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() || fmt.Sprint(got.Edges) != fmt.Sprint(want.Edges) || fmt.Sprint(got.Blocked) != fmt.Sprint(want.Blocked) {
			t.Errorf("%s: the graph built with the cache differs:\n%s\nwithout:\n%s", step.name, got, want)
		}
	}
}
