package admission

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
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
	done := make(chan *baseGraph, 1)
	go func() {
		g, err := b.fresh()
		if err != nil {
			t.Error(err)
		}
		done <- g
	}()
	select {
	case <-done:
		t.Fatal("a binding's request took the base from before the rebuild")
	case <-time.After(200 * time.Millisecond):
	}
	b.buildMu.Unlock()
	select {
	case got := <-done:
		if got == nil || !slices.ContainsFunc(got.snap.Pods, func(p cluster.Pod) bool { return p.Name == "web" }) {
			t.Error("the fresh base does not hold the pod created during the rebuild")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the binding's request never got a base")
	}
}
