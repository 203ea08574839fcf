// Package cluster takes a snapshot of the Kubernetes objects credence reasons
// about, from a live API server or from manifests, and says what it could not read.
package cluster

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// Snapshot is every object of the kinds credence uses, read once. Consumers
// (posture, graph, policy) read it and never go back to the cluster.
//
// Pods holds the live pods plus, for each workload (Deployment, StatefulSet,
// DaemonSet, ReplicaSet, Job, CronJob in batch/v1 or v1beta1,
// ReplicationController) with no live pod, one pod made from its template;
// such pods carry the workload in Workload.
type Snapshot struct {
	// Source says where the snapshot came from: "context kind-dev at
	// https://...", "manifests ./deploy".
	Source string `json:"source"`
	// Live says the snapshot was read from an API server: an object it does
	// not hold does not exist (unless a gap covers its kind). Manifests
	// describe part of a cluster: what they lack may still exist.
	Live bool `json:"live,omitempty"`
	// Defaults says what the snapshot holds that its source did not: the
	// default RBAC of Kubernetes (cluster/defaultrbac), added for manifests
	// that lack it. Each such object carries DefaultAnnotation.
	Defaults []string `json:"defaults,omitempty"`

	Namespaces      []corev1.Namespace      `json:"namespaces,omitempty"`
	Nodes           []corev1.Node           `json:"nodes,omitempty"`
	Pods            []Pod                   `json:"pods,omitempty"`
	ServiceAccounts []corev1.ServiceAccount `json:"serviceAccounts,omitempty"`
	// Secrets hold metadata and type only; Data and StringData are never kept.
	Secrets                []corev1.Secret                `json:"secrets,omitempty"`
	Services               []corev1.Service               `json:"services,omitempty"`
	Ingresses              []networkingv1.Ingress         `json:"ingresses,omitempty"`
	NetworkPolicies        []networkingv1.NetworkPolicy   `json:"networkPolicies,omitempty"`
	Roles                  []rbacv1.Role                  `json:"roles,omitempty"`
	ClusterRoles           []rbacv1.ClusterRole           `json:"clusterRoles,omitempty"`
	RoleBindings           []rbacv1.RoleBinding           `json:"roleBindings,omitempty"`
	ClusterRoleBindings    []rbacv1.ClusterRoleBinding    `json:"clusterRoleBindings,omitempty"`
	PersistentVolumes      []corev1.PersistentVolume      `json:"persistentVolumes,omitempty"`
	PersistentVolumeClaims []corev1.PersistentVolumeClaim `json:"persistentVolumeClaims,omitempty"`
	RuntimeClasses         []nodev1.RuntimeClass          `json:"runtimeClasses,omitempty"`

	MutatingWebhooks                  []admissionregistrationv1.MutatingWebhookConfiguration     `json:"mutatingWebhooks,omitempty"`
	ValidatingWebhooks                []admissionregistrationv1.ValidatingWebhookConfiguration   `json:"validatingWebhooks,omitempty"`
	ValidatingAdmissionPolicies       []admissionregistrationv1.ValidatingAdmissionPolicy        `json:"validatingAdmissionPolicies,omitempty"`
	ValidatingAdmissionPolicyBindings []admissionregistrationv1.ValidatingAdmissionPolicyBinding `json:"validatingAdmissionPolicyBindings,omitempty"`

	// Gaps lists what could not be read (forbidden, unknown kinds, invalid
	// documents). A consumer must treat what a gap hides as unknown, never
	// as absent.
	Gaps []Gap `json:"gaps,omitempty"`

	// Ignored counts objects of kinds that were read but play no part in
	// trust (ConfigMap, HorizontalPodAutoscaler, ...), by kind. Unlike a gap,
	// nothing relevant hides behind them.
	Ignored map[string]int `json:"ignored,omitempty"`
}

// DefaultAnnotation marks an object the snapshot's source did not hold,
// added because every cluster of that Kubernetes release has it; its value
// names the release ("Kubernetes v1.37.2 default RBAC").
const DefaultAnnotation = "credence.dev/default"

// IsDefault reports whether an object was added as a Kubernetes default
// (DefaultAnnotation), and from which release.
func IsDefault(annotations map[string]string) (string, bool) {
	v, ok := annotations[DefaultAnnotation]
	return v, ok
}

// Pod is a pod, live or made from a workload template.
type Pod struct {
	corev1.Pod `json:",inline"`
	// Workload names the owning workload ("Deployment/web") when the pod was
	// made from its template; empty for a live pod.
	Workload string `json:"workload,omitempty"`
	// Owner names the top-level controller of a live pod, following owner
	// references through the snapshot ("Deployment/web" for a pod of a
	// ReplicaSet of Deployment web; "ReplicaSet/x" when the Deployment is
	// not in the snapshot). Empty for a template pod and an unowned pod.
	Owner string `json:"owner,omitempty"`
}

// Key returns "namespace/name".
func (p *Pod) Key() string { return p.Namespace + "/" + p.Name }

// Gap is something the snapshot could not read.
type Gap struct {
	Kind      string `json:"kind"`                // "Secret", "ClusterRole", or "document" for one that could not be decoded
	Namespace string `json:"namespace,omitempty"` // empty for cluster scope or all namespaces
	// Name is set when the gap is about one object (a NetworkPolicy with an
	// invalid selector, a ClusterRole whose aggregation failed); empty when a
	// whole kind (in Namespace) could not be read.
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason"` // "forbidden: ...", "unknown kind Foo"
	// Source is where the gap was found: "deploy/app.yaml#3" (file and
	// document number) for manifests, empty for a live cluster.
	Source string `json:"source,omitempty"`
}

// GapsFor returns the gaps of one kind that cover namespace ns: those of
// that namespace and those of every namespace (Namespace empty).
func (s *Snapshot) GapsFor(kind, ns string) []Gap {
	var out []Gap
	for _, g := range s.Gaps {
		if g.Kind == kind && (g.Namespace == "" || g.Namespace == ns) {
			out = append(out, g)
		}
	}
	return out
}
