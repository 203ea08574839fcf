package graph_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/credence-dev/credence/cluster"
)

// loadManifests reads a multi-document YAML fixture into a Snapshot. It is
// a test helper for the kinds the fixtures use (the cluster package owns
// the real loaders).
func loadManifests(t testing.TB, path string) *cluster.Snapshot {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &cluster.Snapshot{Source: "manifests " + path}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%s: %v", path, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
			continue
		}
		var tm struct{ Kind string }
		if err := json.Unmarshal(raw, &tm); err != nil {
			t.Fatal(err)
		}
		into := func(v any) {
			if err := json.Unmarshal(raw, v); err != nil {
				t.Fatalf("%s: %s: %v", path, tm.Kind, err)
			}
		}
		switch tm.Kind {
		case "Namespace":
			var o corev1.Namespace
			into(&o)
			s.Namespaces = append(s.Namespaces, o)
		case "Node":
			var o corev1.Node
			into(&o)
			s.Nodes = append(s.Nodes, o)
		case "Pod":
			var o corev1.Pod
			into(&o)
			if o.Namespace == "" {
				o.Namespace = "default"
			}
			s.Pods = append(s.Pods, cluster.Pod{Pod: o})
		case "ServiceAccount":
			var o corev1.ServiceAccount
			into(&o)
			s.ServiceAccounts = append(s.ServiceAccounts, o)
		case "Secret":
			var o corev1.Secret
			into(&o)
			o.Data, o.StringData = nil, nil
			s.Secrets = append(s.Secrets, o)
		case "Service":
			var o corev1.Service
			into(&o)
			s.Services = append(s.Services, o)
		case "Ingress":
			var o networkingv1.Ingress
			into(&o)
			s.Ingresses = append(s.Ingresses, o)
		case "NetworkPolicy":
			var o networkingv1.NetworkPolicy
			into(&o)
			s.NetworkPolicies = append(s.NetworkPolicies, o)
		case "Role":
			var o rbacv1.Role
			into(&o)
			s.Roles = append(s.Roles, o)
		case "ClusterRole":
			var o rbacv1.ClusterRole
			into(&o)
			s.ClusterRoles = append(s.ClusterRoles, o)
		case "RoleBinding":
			var o rbacv1.RoleBinding
			into(&o)
			s.RoleBindings = append(s.RoleBindings, o)
		case "ClusterRoleBinding":
			var o rbacv1.ClusterRoleBinding
			into(&o)
			s.ClusterRoleBindings = append(s.ClusterRoleBindings, o)
		case "RuntimeClass":
			var o nodev1.RuntimeClass
			into(&o)
			s.RuntimeClasses = append(s.RuntimeClasses, o)
		case "ValidatingAdmissionPolicy":
			var o admissionregistrationv1.ValidatingAdmissionPolicy
			into(&o)
			s.ValidatingAdmissionPolicies = append(s.ValidatingAdmissionPolicies, o)
		default:
			t.Fatalf("%s: fixture kind %q not handled by the test loader", path, tm.Kind)
		}
	}
	return s
}
