package graph_test

import (
	"fmt"
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
)

// cacheStep is one build of TestLiveCache: the live view's versions and
// what changed in it.
type cacheStep struct {
	name                   string
	nsVersion, pod0Version string
	privileged             bool
	enforce                string
	sandbox                bool
	// pod0Labels and pod0Annotations are added to pod 0; the annotations
	// are the server's own summary or the legacy AppArmor one.
	pod0Labels, pod0Annotations map[string]string
}

// liveObjects is a small live view: a namespace and pods with UIDs and
// resourceVersions; privileged makes pod 0 privileged; pod 1 asks for the
// RuntimeClass gvisor, which exists (handler runsc) when sandbox is set.
func liveObjects(step cacheStep) []runtime.Object {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", ResourceVersion: step.nsVersion,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": step.enforce}}}
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
			p.ResourceVersion = step.pod0Version
			maps.Copy(p.Labels, step.pod0Labels)
			p.Annotations = step.pod0Annotations
			if step.privileged {
				yes := true
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
			}
		}
		objs = append(objs, p)
	}
	objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", ResourceVersion: "1"}})
	if step.sandbox {
		objs = append(objs, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor", ResourceVersion: "5"}, Handler: "runsc"})
	}
	return objs
}

// TestLiveCache: a graph built with the cache equals one built without
// it, build after build, while a pod changes (a new resourceVersion: its
// spec, only its labels and annotations, or an AppArmor annotation), the
// namespace changes and a RuntimeClass a pod names appears.
func TestLiveCache(t *testing.T) {
	cache := graph.NewLiveCache()
	summary := map[string]string{"credence.dev/summary": "risk=high"}
	unconfined := map[string]string{"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}
	for _, step := range []cacheStep{
		{name: "first build", nsVersion: "1", pod0Version: "10", enforce: "baseline"},
		{name: "nothing changed", nsVersion: "1", pod0Version: "10", enforce: "baseline"},
		{name: "pod 0 labelled", nsVersion: "1", pod0Version: "11", enforce: "baseline", pod0Labels: map[string]string{"credence.dev/risk": "high"}, pod0Annotations: summary},
		{name: "pod 0 AppArmor unconfined", nsVersion: "1", pod0Version: "12", enforce: "baseline", pod0Annotations: unconfined},
		{name: "pod 0 annotation gone", nsVersion: "1", pod0Version: "13", enforce: "baseline"},
		{name: "pod 0 made privileged", nsVersion: "1", pod0Version: "14", privileged: true, enforce: "baseline"},
		{name: "namespace now privileged", nsVersion: "2", pod0Version: "14", privileged: true, enforce: "privileged"},
		{name: "RuntimeClass gvisor created", nsVersion: "2", pod0Version: "14", privileged: true, enforce: "privileged", sandbox: true},
		{name: "nothing changed again", nsVersion: "2", pod0Version: "14", privileged: true, enforce: "privileged", sandbox: true},
	} {
		snap, err := cluster.FromObjects("live", liveObjects(step), cluster.WithSharedPods())
		if err != nil {
			t.Fatal(err)
		}
		want, err := graph.Build(snap)
		if err != nil {
			t.Fatal(err)
		}
		got, err := graph.Build(snap, graph.WithLiveCache(cache))
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() || fmt.Sprint(got.Edges) != fmt.Sprint(want.Edges) || fmt.Sprint(got.Blocked) != fmt.Sprint(want.Blocked) {
			t.Errorf("%s: the graph built with the cache differs:\n%s\nwithout:\n%s", step.name, got, want)
		}
	}
}
