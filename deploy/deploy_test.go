// Package deploy_test holds the Kubernetes manifests' tests: the kustomize
// base and its components built with kustomize's own library and applied to
// the real kube-apiserver (dry-run), and the server's RBAC checked against
// what the server reads and writes.
package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
	"github.com/credence-dev/credence/server"
)

// build runs kustomize on a directory.
func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	y, err := rm.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(y), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			out = append(out, &u)
		}
	}
	return out
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// TestManifests builds deploy/base, and the base with the oci-hook
// component, with kustomize's library and sends every object to the real
// kube-apiserver v1.37.2 as a server-side dry run (schema, defaulting, Pod
// Security admission of the namespace); then creates the server's RBAC for
// real and asks the API server (SubjectAccessReview) that it allows exactly
// what the server needs: list and watch of every kind it watches, patch
// pods, create events, its own Lease, TokenReview and SubjectAccessReview;
// and not more (no delete, no writes to secrets or workloads, no Lease in
// another namespace).
func TestManifests(t *testing.T) {
	base := build(t, "base")
	for _, want := range [][2]string{{"Namespace", "credence"}, {"Deployment", "credence-server"}, {"Service", "credence"},
		{"DaemonSet", "credence-agent"}, {"ClusterRole", "credence-server"}, {"Role", "credence-server-leader"}, {"ClusterRole", "credence-viewer"}} {
		if find(base, want[0], want[1]) == nil {
			t.Errorf("no %s %s in the base", want[0], want[1])
		}
	}
	dep := find(base, "Deployment", "credence-server")
	n, _, _ := unstructured.NestedFieldNoCopy(dep.Object, "spec", "replicas")
	if f, ok := n.(float64); !ok || f < 2 {
		t.Errorf("server replicas %v, want at least 2", n)
	}
	if img, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers"); len(img) == 0 || !strings.HasPrefix(img[0].(map[string]any)["image"].(string), "ghcr.io/credence-dev/credence:") {
		t.Errorf("server image not set by the images transformer: %v", img)
	}
	// The overlay a user writes: the base plus the oci-hook component.
	overlay := t.TempDir()
	abs, _ := filepath.Abs(".")
	rel, err := filepath.Rel(overlay, abs)
	if err != nil {
		t.Fatal(err)
	}
	kz := fmt.Sprintf("resources:\n  - %s/base\ncomponents:\n  - %s/components/oci-hook\n", rel, rel)
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kz), 0o644); err != nil {
		t.Fatal(err)
	}
	hooked := build(t, overlay)
	if ic, _, _ := unstructured.NestedSlice(find(hooked, "DaemonSet", "credence-agent").Object, "spec", "template", "spec", "initContainers"); len(ic) != 1 {
		t.Errorf("the oci-hook component adds %d init containers", len(ic))
	}

	if testing.Short() {
		t.Skip("applies to a real kube-apiserver")
	}
	api := kubeapiserver.Start(t)
	ctx := context.Background()
	dc := memory.NewMemCacheClient(api.Client.Discovery())
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(dc)
	dyn, err := dynamic.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	apply := func(u *unstructured.Unstructured, dryRun bool) error {
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return err
		}
		r := dyn.Resource(m.Resource)
		var ri dynamic.ResourceInterface = r
		if m.Scope.Name() == "namespace" {
			ri = r.Namespace(u.GetNamespace())
		}
		opts := metav1.CreateOptions{FieldValidation: "Strict"}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		_, err = ri.Create(ctx, u, opts)
		return err
	}
	// The namespace for real (namespaced objects need it), the rest dry.
	if err := apply(find(base, "Namespace", "credence"), false); err != nil {
		t.Fatal(err)
	}
	for name, objs := range map[string][]*unstructured.Unstructured{"base": base, "base+oci-hook": hooked} {
		for _, o := range objs {
			if o.GetKind() == "Namespace" {
				continue
			}
			if err := apply(o, true); err != nil {
				t.Errorf("%s: %s %s refused by the API server: %v", name, o.GetKind(), o.GetName(), err)
			}
		}
	}

	// The server's RBAC, for real, then asked.
	for _, o := range base {
		if strings.HasPrefix(o.GetAPIVersion(), "rbac.authorization.k8s.io/") || o.GetKind() == "ServiceAccount" {
			if err := apply(o, false); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	}
	sa := "system:serviceaccount:credence:credence-server"
	can := func(ns, group, resource, verb, name string) bool {
		t.Helper()
		r, err := api.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: sa, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:credence", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Group: group, Resource: resource, Verb: verb, Name: name}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status.Allowed
	}
	for _, gr := range server.WatchedResources() {
		for _, verb := range []string{"list", "watch"} {
			if !can("", gr[0], gr[1], verb, "") {
				t.Errorf("the server may not %s %s.%s: a kind it watches", verb, gr[1], gr[0])
			}
		}
	}
	for _, want := range []struct {
		ns, group, resource, verb, name string
		allowed                         bool
	}{
		{"shop", "", "pods", "patch", "web", true},
		{"shop", "", "events", "create", "", true},
		{"shop", "", "secrets", "get", "regcred", true},
		{"credence", "coordination.k8s.io", "leases", "create", "", true},
		{"credence", "coordination.k8s.io", "leases", "update", server.LeaseName, true},
		{"credence", "coordination.k8s.io", "leases", "update", "kube-scheduler", false},
		{"default", "coordination.k8s.io", "leases", "create", "", false},
		{"", "authentication.k8s.io", "tokenreviews", "create", "", true},
		{"", "authorization.k8s.io", "subjectaccessreviews", "create", "", true},
		{"shop", "", "pods", "delete", "web", false},
		{"shop", "", "pods", "create", "", false},
		{"shop", "", "secrets", "update", "regcred", false},
		{"shop", "apps", "deployments", "patch", "web", false},
		{"", "rbac.authorization.k8s.io", "clusterrolebindings", "create", "", false},
		{"shop", "", "pods/exec", "create", "web", false},
	} {
		if got := can(want.ns, want.group, want.resource, want.verb, want.name); got != want.allowed {
			t.Errorf("%s %s.%s %q in %q: allowed %v, want %v", want.verb, want.resource, want.group, want.name, want.ns, got, want.allowed)
		}
	}
	// The server's ClusterRole grants nothing beyond the kinds it watches
	// and the writes above: every list/watch rule names a watched resource.
	watched := map[string]bool{}
	for _, gr := range server.WatchedResources() {
		watched[gr[0]+"/"+gr[1]] = true
	}
	rules, _, _ := unstructured.NestedSlice(find(base, "ClusterRole", "credence-server").Object, "rules")
	for _, r := range rules {
		m := r.(map[string]any)
		verbs, _ := m["verbs"].([]any)
		if !slices.Contains(verbs, any("list")) {
			continue
		}
		for _, g := range m["apiGroups"].([]any) {
			for _, res := range m["resources"].([]any) {
				if !watched[g.(string)+"/"+res.(string)] {
					t.Errorf("the ClusterRole lets the server list %s.%s, which it does not watch", res, g)
				}
			}
		}
	}
	var _ kubernetes.Interface = api.Client
}
