package server

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The informers' transform keeps what credence reads and drops the rest:
// managed fields, last-applied configuration, long annotations, statuses
// but the running image, literal environment values (kept in place, so the
// graph's env[i] fields still point right), secret data, a node's image
// list, the template of a Deployment's ReplicaSet.
func TestSlim(t *testing.T) {
	yes := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop",
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			Annotations: map[string]string{lastApplied: "{...}", "container.apparmor.security.beta.kubernetes.io/app": "runtime/default",
				"huge": strings.Repeat("x", 5000)}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1",
			Env: []corev1.EnvVar{{Name: "PASSWORD", Value: "hunter2"}, {Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "t"}}}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ImageID: "r@sha256:aa", ContainerID: "containerd://x", RestartCount: 7,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
	if _, err := slim(pod); err != nil {
		t.Fatal(err)
	}
	c := pod.Spec.Containers[0]
	switch {
	case pod.ManagedFields != nil:
		t.Error("managed fields kept")
	case pod.Annotations[lastApplied] != "" || pod.Annotations["huge"] != "":
		t.Errorf("annotations kept: %v", len(pod.Annotations))
	case pod.Annotations["container.apparmor.security.beta.kubernetes.io/app"] == "":
		t.Error("the AppArmor annotation (posture reads it) was dropped")
	case len(c.Env) != 2 || c.Env[0].Value != "" || c.Env[1].ValueFrom == nil:
		t.Errorf("env %+v", c.Env)
	case pod.Status.Conditions != nil || pod.Status.ContainerStatuses[0].RestartCount != 0 || pod.Status.ContainerStatuses[0].State.Running != nil:
		t.Errorf("status kept: %+v", pod.Status)
	case pod.Status.ContainerStatuses[0].ImageID != "r@sha256:aa" || pod.Status.PodIP != "10.0.0.1" || pod.Status.Phase != corev1.PodRunning:
		t.Errorf("status lost what runs: %+v", pod.Status)
	}
	sec := &corev1.Secret{Data: map[string][]byte{"k": []byte("v")}, StringData: map[string]string{"a": "b"}, Type: corev1.SecretTypeServiceAccountToken}
	_, _ = slim(sec)
	if sec.Data != nil || sec.StringData != nil || sec.Type == "" {
		t.Errorf("secret %+v", sec)
	}
	node := &corev1.Node{Status: corev1.NodeStatus{Images: []corev1.ContainerImage{{Names: []string{"a"}}}, NodeInfo: corev1.NodeSystemInfo{Architecture: "amd64"}}}
	_, _ = slim(node)
	if node.Status.Images != nil || node.Status.NodeInfo.Architecture != "amd64" {
		t.Errorf("node status %+v", node.Status)
	}
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}}}
	owned := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web", Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{Template: *tmpl.DeepCopy()}}
	bare := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: *tmpl.DeepCopy()}}
	_, _ = slim(owned)
	_, _ = slim(bare)
	if len(owned.Spec.Template.Spec.Containers) != 0 || len(bare.Spec.Template.Spec.Containers) != 1 {
		t.Errorf("a Deployment's ReplicaSet keeps its template (%d containers), or a bare one loses it (%d)",
			len(owned.Spec.Template.Spec.Containers), len(bare.Spec.Template.Spec.Containers))
	}
}

// An update that changes only what the server writes (its labels and
// annotation), or nothing (a resync), is not a change to assess.
func TestRelevantChange(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", ResourceVersion: "1", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}}}
	labelled := p.DeepCopy()
	labelled.ResourceVersion = "2"
	labelled.Labels[LabelRisk], labelled.Labels[LabelKEV] = "high", "true"
	labelled.Annotations = map[string]string{AnnotationSummary: `{"risk":62}`}
	if relevantChange(p, labelled) {
		t.Error("the server's own labels count as a change")
	}
	if relevantChange(p, p.DeepCopy()) {
		t.Error("a resync counts as a change")
	}
	image := labelled.DeepCopy()
	image.ResourceVersion = "3"
	image.Spec.Containers[0].Image = "web:2"
	if !relevantChange(labelled, image) {
		t.Error("a new image is not a change")
	}
	status := labelled.DeepCopy()
	status.ResourceVersion = "4"
	status.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", ImageID: "r@sha256:bb"}}
	if !relevantChange(labelled, status) {
		t.Error("a new running digest is not a change")
	}
}

// An update to another kind counts only when it changes what the informers
// keep of it: a node's heartbeat or a Deployment's status (dropped by
// slim) does not; a node's labels or a Deployment's template do.
func TestRelevantChangeBesidesPods(t *testing.T) {
	node := func(version string, beat int64, labels map[string]string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", ResourceVersion: version, Labels: labels},
			Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KernelVersion: "6.1.0"},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
					LastHeartbeatTime: metav1.Unix(beat, 0)}}}}
		_, _ = slim(n)
		return n
	}
	deployment := func(version, image string, ready int32) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", ResourceVersion: version},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "app", Image: image}}}}},
			Status: appsv1.DeploymentStatus{ReadyReplicas: ready}}
		_, _ = slim(d)
		return d
	}
	for _, c := range []struct {
		name     string
		old, obj any
		want     bool
	}{
		{"node heartbeat", node("1", 100, nil), node("2", 400, nil), false},
		{"node labelled", node("1", 100, nil), node("2", 100, map[string]string{"zone": "a"}), true},
		{"node resync", node("1", 100, nil), node("1", 100, nil), false},
		{"deployment status", deployment("1", "web:1", 1), deployment("2", "web:1", 3), false},
		{"deployment image", deployment("1", "web:1", 1), deployment("2", "web:2", 1), true},
	} {
		if got := relevantChange(c.old, c.obj); got != c.want {
			t.Errorf("%s: relevant = %v, want %v", c.name, got, c.want)
		}
	}
	// The cached objects are not changed by the comparison.
	a, b := node("1", 100, nil), node("2", 400, nil)
	relevantChange(a, b)
	if a.ResourceVersion != "1" || b.ResourceVersion != "2" {
		t.Error("the comparison changed the cached objects")
	}
}
