package graph

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/credence-dev/credence/cluster"
)

// Pods of one template share their containers' mitigations and escapes (one
// copy in memory); a pod with other isolation keeps its own, and what each
// pod's profile says is what it would say alone.
func TestProfilesShareEqualParts(t *testing.T) {
	yes := true
	pod := func(name string, privileged bool) *corev1.Pod {
		c := corev1.Container{Name: "app", Image: "registry.example.com/app:1"}
		if privileged {
			c.SecurityContext = &corev1.SecurityContext{Privileged: &yes}
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name), ResourceVersion: "1"},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{c}}}
	}
	snap, err := cluster.FromObjects("test", []runtime.Object{pod("a", false), pod("b", false), pod("c", true)})
	if err != nil {
		t.Fatal(err)
	}
	g, err := Build(snap)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := g.base.cache.profiles["shop/a"][0], g.base.cache.profiles["shop/b"][0], g.base.cache.profiles["shop/c"][0]
	if len(a.Mitigations) == 0 || &a.Mitigations[0] != &b.Mitigations[0] {
		t.Errorf("pods of one template keep copies of their mitigations")
	}
	if len(c.Escapes) == 0 || len(a.Escapes) > 0 && &a.Escapes[0] == &c.Escapes[0] {
		t.Errorf("the privileged pod shares escapes with a confined one: %d, %d", len(a.Escapes), len(c.Escapes))
	}
	if a.Pod != "a" || b.Pod != "b" {
		t.Errorf("profiles name pods %q and %q", a.Pod, b.Pod)
	}
}
