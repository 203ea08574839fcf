package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
)

// decodeAll decodes every manifest in dir into typed objects, as an
// informer holds them.
func decodeAll(t *testing.T, dir string) []runtime.Object {
	t.Helper()
	var objs []runtime.Object
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for {
			doc, err := rd.Read()
			if err != nil {
				break
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", e.Name(), err)
			}
			objs = append(objs, obj)
		}
	}
	return objs
}

// TestSharedPodsAreNeverChanged: with WithSharedPods the snapshot keeps the
// caller's pods, so nothing that reads it (the snapshot's own building,
// the trust graph with its posture and counterfactual cuts) may change
// one. Live pods (with managed fields, owners, no service account set)
// stay deeply equal to copies taken before.
func TestSharedPodsAreNeverChanged(t *testing.T) {
	objs := decodeAll(t, filepath.Join("..", "testdata", "cluster", "manifests"))
	yes := true
	for i := range 3 {
		p := &corev1.Pod{}
		p.Namespace, p.Name = "shop", fmt.Sprintf("live-%d", i)
		p.Labels = map[string]string{"app": "web"}
		p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f", Controller: &yes}}
		p.Spec.NodeName = "node-1"
		p.Spec.Containers = []corev1.Container{{Name: "app", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
			SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}}}
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib"}}}}
		p.Status.Phase = corev1.PodRunning
		objs = append(objs, p)
	}
	var before []runtime.Object
	for _, o := range objs {
		before = append(before, o.DeepCopyObject())
	}
	snap, err := cluster.FromObjects("objects", objs, cluster.WithSharedPods())
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.Build(snap)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range g.Containers {
		_, _ = g.Query(g.Nodes[c].Key)
	}
	_ = g.RankAll()
	for _, e := range g.Edges {
		for _, f := range e.Fixes {
			_, _, _ = g.Counterfactual(f)
		}
	}
	for i := range objs {
		if d := cmp.Diff(before[i], objs[i]); d != "" {
			t.Errorf("object %d changed (-before +after):\n%s", i, d)
		}
	}
	found := 0
	for _, p := range snap.Pods {
		if strings.HasPrefix(p.Name, "live-") {
			found++
			if p.ManagedFields != nil || p.Spec.ServiceAccountName != "default" || p.Owner == "" {
				t.Errorf("pod %s: managed fields %v, service account %q, owner %q: not the snapshot's view", p.Name, p.ManagedFields, p.Spec.ServiceAccountName, p.Owner)
			}
		}
	}
	if found != 3 {
		t.Errorf("%d live pods in the snapshot, want 3", found)
	}
}

// TestFromObjectsMatchesManifests decodes the sample cluster's manifests
// into typed objects (as an informer holds them) and checks FromObjects
// makes the snapshot FromManifests makes: same pods from templates, same
// aggregation, secrets without data.
func TestFromObjectsMatchesManifests(t *testing.T) {
	dir := filepath.Join("..", "testdata", "cluster", "manifests")
	// Objects come from a live view: no default RBAC is assumed for them.
	want, err := cluster.FromManifests(context.Background(), dir, cluster.WithoutDefaultRBAC())
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeAll(t, dir)
	secret := &corev1.Secret{}
	secret.Name, secret.Namespace, secret.Data = "s", "shop", map[string][]byte{"password": []byte("hunter2")}
	objs = append(objs, secret)
	got, err := cluster.FromObjects(want.Source, objs)
	if err != nil {
		t.Fatal(err)
	}
	if secret.Data == nil {
		t.Fatal("FromObjects changed its input")
	}
	for _, s := range got.Secrets {
		if s.Data != nil || s.StringData != nil {
			t.Fatalf("secret %s kept its data", s.Name)
		}
	}
	var kept []corev1.Secret
	for _, s := range got.Secrets {
		if s.Name != "s" {
			kept = append(kept, s)
		}
	}
	got.Secrets = kept
	if d := cmp.Diff(len(want.Pods), len(got.Pods)); d != "" {
		t.Fatalf("pods: %s", d)
	}
	for i := range want.Pods {
		w, g := want.Pods[i], got.Pods[i]
		if w.Namespace != g.Namespace || w.Name != g.Name || w.Workload != g.Workload || w.Owner != g.Owner ||
			!cmp.Equal(w.Spec, g.Spec) || !cmp.Equal(w.Labels, g.Labels) {
			t.Errorf("pod %d: manifests %s/%s (%s) vs objects %s/%s (%s)\n%s", i, w.Namespace, w.Name, w.Workload, g.Namespace, g.Name, g.Workload, cmp.Diff(w.Spec, g.Spec))
		}
	}
	for _, c := range []struct {
		kind      string
		want, got int
	}{
		{"Namespace", len(want.Namespaces), len(got.Namespaces)}, {"ServiceAccount", len(want.ServiceAccounts), len(got.ServiceAccounts)},
		{"Secret", len(want.Secrets), len(got.Secrets)}, {"Service", len(want.Services), len(got.Services)},
		{"NetworkPolicy", len(want.NetworkPolicies), len(got.NetworkPolicies)}, {"Role", len(want.Roles), len(got.Roles)},
		{"RoleBinding", len(want.RoleBindings), len(got.RoleBindings)}, {"ClusterRole", len(want.ClusterRoles), len(got.ClusterRoles)},
		{"ClusterRoleBinding", len(want.ClusterRoleBindings), len(got.ClusterRoleBindings)}, {"Gap", len(want.Gaps), len(got.Gaps)},
	} {
		if c.want != c.got {
			t.Errorf("%s: manifests %d, objects %d", c.kind, c.want, c.got)
		}
	}
	for i := range want.ClusterRoles {
		if !cmp.Equal(want.ClusterRoles[i].Rules, got.ClusterRoles[i].Rules) {
			t.Errorf("ClusterRole %s rules differ", want.ClusterRoles[i].Name)
		}
	}
}

// BenchmarkFromObjects builds the snapshot of 10,000 running pods on 1,000
// nodes from typed objects, as the server does on every model rebuild.
//
//	go test -run '^$' -bench FromObjects -benchmem ./cluster/
func BenchmarkFromObjects(b *testing.B) {
	var objs []runtime.Object
	for i := range 1000 {
		objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%04d", i)}})
	}
	for i := range 10000 {
		ns := fmt.Sprintf("team-%02d", i%50)
		objs = append(objs, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("web-%05d", 10000-i),
				Labels: map[string]string{"app": "web", "pod-template-hash": "abc"}},
			Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%04d", i%1000), ServiceAccountName: "default",
				Containers: []corev1.Container{{Name: "app", Image: "registry.example/web@sha256:" + strings.Repeat("a", 64),
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
					Env:   []corev1.EnvVar{{Name: "MODE", Value: "production"}}}},
				Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		})
	}
	for b.Loop() {
		if _, err := cluster.FromObjects("bench", objs, cluster.WithSharedPods()); err != nil {
			b.Fatal(err)
		}
	}
}
