package admission

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/cluster"
)

// TestFreshBaseWaitsForRebuild: while the base is being rebuilt, a pod's
// request takes the base it has (one refresh old), but a binding's or a
// NetworkPolicy's waits for the rebuild: the older base may lack a pod
// created just now, with which the change opens a path.
func TestFreshBaseWaitsForRebuild(t *testing.T) {
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	view := NewStaticView(ns)
	b, err := NewBlast(view)
	if err != nil {
		t.Fatal(err)
	}
	old, err := b.current()
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "web", Image: "registry.example.com/web:1"}}}}
	view.Set(ns, pod)
	b.buildMu.Lock() // a rebuild in progress
	if got, err := b.current(); err != nil || got != old {
		t.Errorf("a pod's request did not take the base it has: %v", err)
	}
	got := waitsForRebuild(t, b, b.fresh, "a binding's request")
	if !slices.ContainsFunc(got.snap.Pods, func(p cluster.Pod) bool { return p.Name == "web" }) {
		t.Error("the fresh base does not hold the pod created during the rebuild")
	}
}

// A pod's request keeps the fast path only while no policy change came
// after the base: once the view holds a new RoleBinding, a pod arriving
// during the rebuild waits for it and is judged with the binding (together
// they may open a path neither request would see alone).
func TestPodWaitsForRebuildAfterPolicyChange(t *testing.T) {
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	view := NewStaticView(ns)
	b, err := NewBlast(view)
	if err != nil {
		t.Fatal(err)
	}
	old, err := b.current()
	if err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}}
	view.Set(ns, sa) // not a policy change
	b.buildMu.Lock()
	if got, err := b.current(); err != nil || got != old {
		t.Fatalf("after a ServiceAccount change a pod's request did not take the base it has: %v", err)
	}
	binding := &rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "shop", Name: "web"}}}
	view.Set(ns, sa, binding)
	got := waitsForRebuild(t, b, b.current, "a pod's request (after a RoleBinding the view holds)")
	if !slices.ContainsFunc(got.snap.RoleBindings, func(rb rbacv1.RoleBinding) bool { return rb.Name == "web-admin" }) {
		t.Error("the base the pod waited for does not hold the RoleBinding")
	}
	// The base now holds the binding: after a change that is not to policy,
	// a pod's request takes the fast path again.
	b.buildMu.Lock()
	defer b.buildMu.Unlock()
	withBinding := b.base.Load()
	other := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "other"}}
	view.Set(ns, sa, binding, other)
	if got, err := b.current(); err != nil || got != withBinding {
		t.Fatalf("after the rebuild a pod's request did not take the fast path again: %v", err)
	}
}

// waitsForRebuild calls get while b's build lock is held (a rebuild in
// progress), checks that it waits instead of taking the base from before,
// releases the lock and returns the base get then gives.
func waitsForRebuild(t *testing.T, b *Blast, get func() (*baseGraph, error), who string) *baseGraph {
	t.Helper()
	done := make(chan *baseGraph, 1)
	go func() {
		g, err := get()
		if err != nil {
			t.Error(err)
		}
		done <- g
	}()
	select {
	case <-done:
		t.Fatalf("%s took the base from before the rebuild", who)
	case <-time.After(200 * time.Millisecond):
	}
	b.buildMu.Unlock()
	select {
	case got := <-done:
		if got == nil {
			t.Fatalf("%s got no base", who)
		}
		return got
	case <-time.After(30 * time.Second):
		t.Fatalf("%s never got a base", who)
	}
	return nil
}
