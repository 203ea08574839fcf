// Package defaultrbac holds the RBAC objects every Kubernetes API server creates
// for itself (its bootstrap policy), as data read from the real server.
//
// Manifests that bind cluster-admin, admin, edit or view are read with those
// roles' rules, not as bindings to nothing.
//
// The data (data/kube-<version>.json) is every ClusterRole, ClusterRoleBinding,
// Role and RoleBinding labelled kubernetes.io/bootstrapping=rbac-defaults on a
// freshly started kube-apiserver of Version, as the server stores them: the
// aggregated ClusterRoles (admin, edit, view, ...) carry their
// aggregationRule and no rules, because kube-controller-manager fills them;
// the cluster package aggregates them as that controller does. It is
// refreshed by scripts/refresh-default-rbac.sh and checked against the real
// server by TestMatchesServer.
package defaultrbac

import (
	_ "embed"
	"encoding/json"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Version is the Kubernetes release the data was read from: the one the
// repository builds for its tests (scripts/setup.d/30-kube-apiserver.sh).
const Version = "v1.37.2"

// BootstrapLabel marks the objects of the bootstrap policy.
const BootstrapLabel = "kubernetes.io/bootstrapping"

//go:embed data/kube-v1.37.2.json
var raw []byte

// Set is the default RBAC of one Kubernetes release.
type Set struct {
	// KubernetesVersion is the server's gitVersion ("v1.37.2").
	KubernetesVersion string `json:"kubernetesVersion"`
	// Source says how the objects were read.
	Source              string                      `json:"source"`
	ClusterRoles        []rbacv1.ClusterRole        `json:"clusterRoles"`
	ClusterRoleBindings []rbacv1.ClusterRoleBinding `json:"clusterRoleBindings"`
	Roles               []rbacv1.Role               `json:"roles"`
	RoleBindings        []rbacv1.RoleBinding        `json:"roleBindings"`
}

// Load decodes the embedded data. Each call returns objects of its own, so
// the caller may change them (aggregation fills rules in place).
func Load() (*Set, error) {
	var s Set
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("default RBAC of Kubernetes %s: %w", Version, err)
	}
	if s.KubernetesVersion != Version {
		return nil, fmt.Errorf("default RBAC data is of Kubernetes %s, want %s", s.KubernetesVersion, Version)
	}
	return &s, nil
}
