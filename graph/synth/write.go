package synth

import (
	"bufio"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"github.com/credence-dev/credence/cluster"
)

// WriteManifests writes the snapshot as multi-document YAML, so that the
// command line can be measured end to end (--manifests).
func WriteManifests(w io.Writer, s *cluster.Snapshot) error {
	bw := bufio.NewWriter(w)
	doc := func(apiVersion, kind string, obj any) error {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("write manifests: %w", err)
		}
		fmt.Fprintf(bw, "---\napiVersion: %s\nkind: %s\n", apiVersion, kind)
		_, err = bw.Write(b)
		return err
	}
	var err error
	try := func(e error) {
		if err == nil {
			err = e
		}
	}
	for _, o := range s.Namespaces {
		try(doc("v1", "Namespace", o))
	}
	for _, o := range s.Nodes {
		try(doc("v1", "Node", o))
	}
	for _, o := range s.ServiceAccounts {
		try(doc("v1", "ServiceAccount", o))
	}
	for _, o := range s.Secrets {
		try(doc("v1", "Secret", o))
	}
	for _, o := range s.Pods {
		try(doc("v1", "Pod", o.Pod))
	}
	for _, o := range s.NetworkPolicies {
		try(doc("networking.k8s.io/v1", "NetworkPolicy", o))
	}
	for _, o := range s.ClusterRoles {
		try(doc("rbac.authorization.k8s.io/v1", "ClusterRole", o))
	}
	for _, o := range s.Roles {
		try(doc("rbac.authorization.k8s.io/v1", "Role", o))
	}
	for _, o := range s.ClusterRoleBindings {
		try(doc("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", o))
	}
	for _, o := range s.RoleBindings {
		try(doc("rbac.authorization.k8s.io/v1", "RoleBinding", o))
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}
