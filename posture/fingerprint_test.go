package posture_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/posture"
)

// TestPodFingerprint: what posture reads changes the fingerprint, nothing
// else does.
func TestPodFingerprint(t *testing.T) {
	base := func() *cluster.Pod {
		return &cluster.Pod{Owner: "Deployment/web", Pod: corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", ResourceVersion: "10",
				Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "x"}},
			Spec: corev1.PodSpec{NodeName: "node-1", NodeSelector: map[string]string{"a": "1", "b": "2", "c": "3"},
				Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}}
	}
	want, ok := posture.PodFingerprint(base())
	if !ok {
		t.Fatal("no fingerprint")
	}
	yes := true
	for _, c := range []struct {
		name   string
		change func(p *cluster.Pod)
		same   bool
	}{
		{"nothing", func(p *cluster.Pod) {}, true},
		{"resourceVersion", func(p *cluster.Pod) { p.ResourceVersion = "11" }, true},
		{"labels", func(p *cluster.Pod) { p.Labels["credence.dev/risk"] = "high" }, true},
		{"another annotation", func(p *cluster.Pod) { p.Annotations["credence.dev/summary"] = "kev=1" }, true},
		{"status", func(p *cluster.Pod) { p.Status.Phase = corev1.PodPending }, true},
		{"privileged", func(p *cluster.Pod) { p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes} }, false},
		{"host network", func(p *cluster.Pod) { p.Spec.HostNetwork = true }, false},
		{"image", func(p *cluster.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }, false},
		{"AppArmor annotation", func(p *cluster.Pod) {
			p.Annotations["container.apparmor.security.beta.kubernetes.io/app"] = "unconfined"
		}, false},
		{"seccomp pod annotation", func(p *cluster.Pod) { p.Annotations["seccomp.security.alpha.kubernetes.io/pod"] = "unconfined" }, false},
		{"seccomp container annotation", func(p *cluster.Pod) {
			p.Annotations["container.seccomp.security.alpha.kubernetes.io/app"] = "runtime/default"
		}, false},
		{"owner", func(p *cluster.Pod) { p.Owner = "ReplicaSet/web-1" }, false},
		{"name", func(p *cluster.Pod) { p.Name = "web-2" }, false},
		{"namespace", func(p *cluster.Pod) { p.Namespace = "shop2" }, false},
	} {
		p := base()
		c.change(p)
		got, ok := posture.PodFingerprint(p)
		if !ok {
			t.Fatalf("%s: no fingerprint", c.name)
		}
		if (got == want) != c.same {
			t.Errorf("%s: fingerprint unchanged = %v, want %v", c.name, got == want, c.same)
		}
	}
	// Map keys are encoded sorted: the same spec always gives the same
	// fingerprint, whatever the order Go iterates a map in.
	for range 20 {
		if got, _ := posture.PodFingerprint(base()); got != want {
			t.Fatal("the same pod gave two fingerprints")
		}
	}
}
