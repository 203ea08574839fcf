package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/credence-dev/credence/cluster"
)

// TestFromObjectsMatchesManifests decodes the sample cluster's manifests
// into typed objects (as an informer holds them) and checks FromObjects
// makes the snapshot FromManifests makes: same pods from templates, same
// aggregation, secrets without data.
func TestFromObjectsMatchesManifests(t *testing.T) {
	dir := filepath.Join("..", "testdata", "cluster", "manifests")
	want, err := cluster.FromManifests(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
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
