package cluster

import (
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
)

// kind is one object kind credence reads: its served apiVersion, its scope
// and how to keep a decoded object.
type kind struct {
	apiVersion, name string
	namespaced       bool
	decode           func(b *builder, k *kind, data []byte, src string) error
}

// kinds is the explicit list of kinds read from manifests. Workload kinds
// are kept apart and expanded into pods by finish.
var kinds = []kind{
	{"v1", "Namespace", false, typed(func(b *builder) *store[corev1.Namespace] { return &b.namespaces })},
	{"v1", "Node", false, typed(func(b *builder) *store[corev1.Node] { return &b.nodes })},
	{"v1", "Pod", true, typed(func(b *builder) *store[corev1.Pod] { return &b.pods })},
	{"v1", "ServiceAccount", true, typed(func(b *builder) *store[corev1.ServiceAccount] { return &b.serviceAccounts })},
	{"v1", "Secret", true, typed(func(b *builder) *store[corev1.Secret] { return &b.secrets })},
	{"v1", "Service", true, typed(func(b *builder) *store[corev1.Service] { return &b.services })},
	{"v1", "PersistentVolume", false, typed(func(b *builder) *store[corev1.PersistentVolume] { return &b.pvs })},
	{"v1", "PersistentVolumeClaim", true, typed(func(b *builder) *store[corev1.PersistentVolumeClaim] { return &b.pvcs })},
	{"networking.k8s.io/v1", "Ingress", true, typed(func(b *builder) *store[networkingv1.Ingress] { return &b.ingresses })},
	{"networking.k8s.io/v1", "NetworkPolicy", true, typed(func(b *builder) *store[networkingv1.NetworkPolicy] { return &b.netpols })},
	{"rbac.authorization.k8s.io/v1", "Role", true, typed(func(b *builder) *store[rbacv1.Role] { return &b.roles })},
	{"rbac.authorization.k8s.io/v1", "ClusterRole", false, typed(func(b *builder) *store[rbacv1.ClusterRole] { return &b.clusterRoles })},
	{"rbac.authorization.k8s.io/v1", "RoleBinding", true, typed(func(b *builder) *store[rbacv1.RoleBinding] { return &b.roleBindings })},
	{"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", false, typed(func(b *builder) *store[rbacv1.ClusterRoleBinding] { return &b.crBindings })},
	{"node.k8s.io/v1", "RuntimeClass", false, typed(func(b *builder) *store[nodev1.RuntimeClass] { return &b.runtimeClasses })},
	{"admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", false, typed(func(b *builder) *store[admissionregistrationv1.MutatingWebhookConfiguration] { return &b.mutating })},
	{"admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", false, typed(func(b *builder) *store[admissionregistrationv1.ValidatingWebhookConfiguration] { return &b.validating })},
	{"admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", false, typed(func(b *builder) *store[admissionregistrationv1.ValidatingAdmissionPolicy] { return &b.vaps })},
	{"admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", false, typed(func(b *builder) *store[admissionregistrationv1.ValidatingAdmissionPolicyBinding] {
		return &b.vapBindings
	})},

	{"apps/v1", "Deployment", true, typed(func(b *builder) *store[appsv1.Deployment] { return &b.deployments })},
	{"apps/v1", "StatefulSet", true, typed(func(b *builder) *store[appsv1.StatefulSet] { return &b.statefulSets })},
	{"apps/v1", "DaemonSet", true, typed(func(b *builder) *store[appsv1.DaemonSet] { return &b.daemonSets })},
	{"apps/v1", "ReplicaSet", true, typed(func(b *builder) *store[appsv1.ReplicaSet] { return &b.replicaSets })},
	{"batch/v1", "Job", true, typed(func(b *builder) *store[batchv1.Job] { return &b.jobs })},
	{"batch/v1", "CronJob", true, typed(func(b *builder) *store[batchv1.CronJob] { return &b.cronJobs })},
	{"v1", "ReplicationController", true, typed(func(b *builder) *store[corev1.ReplicationController] { return &b.replicationControllers })},
	// batch/v1beta1 CronJobs (served until Kubernetes 1.25, still in
	// charts) are the same object: kept as batch/v1.
	{"batch/v1beta1", "CronJob", true, converted(func(b *builder) *store[batchv1.CronJob] { return &b.cronJobs }, cronJobV1beta1)},
}

// cronJobV1beta1 converts a batch/v1beta1 CronJob to batch/v1: the fields
// credence reads (metadata and the job template) are identical.
func cronJobV1beta1(in *batchv1beta1.CronJob) *batchv1.CronJob {
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: in.ObjectMeta,
		Spec: batchv1.CronJobSpec{
			Schedule:                   in.Spec.Schedule,
			TimeZone:                   in.Spec.TimeZone,
			StartingDeadlineSeconds:    in.Spec.StartingDeadlineSeconds,
			ConcurrencyPolicy:          batchv1.ConcurrencyPolicy(in.Spec.ConcurrencyPolicy),
			Suspend:                    in.Spec.Suspend,
			JobTemplate:                batchv1.JobTemplateSpec{ObjectMeta: in.Spec.JobTemplate.ObjectMeta, Spec: in.Spec.JobTemplate.Spec},
			SuccessfulJobsHistoryLimit: in.Spec.SuccessfulJobsHistoryLimit,
			FailedJobsHistoryLimit:     in.Spec.FailedJobsHistoryLimit,
		},
	}
}

// ignoredKinds play no part in trust: they are counted, not kept, and are not
// gaps. Keyed by kind name in any API group version.
var ignoredKinds = map[string]bool{
	"ConfigMap": true, "Endpoints": true, "EndpointSlice": true, "Event": true, "LimitRange": true,
	"ResourceQuota": true, "PodDisruptionBudget": true, "HorizontalPodAutoscaler": true, "PriorityClass": true,
	"StorageClass": true, "ControllerRevision": true, "Lease": true, "CSIDriver": true, "CSINode": true,
	"CSIStorageCapacity": true, "VolumeAttachment": true, "IngressClass": true, "FlowSchema": true,
	"PriorityLevelConfiguration": true, "ComponentStatus": true, "VolumeAttributesClass": true,
	"IPAddress": true, "ServiceCIDR": true, "PodTemplate": true,
}

// knownKinds indexes kinds by "apiVersion kind".
var knownKinds = func() map[string]*kind {
	m := map[string]*kind{}
	for i := range kinds {
		k := &kinds[i]
		m[k.apiVersion+" "+k.name] = k
	}
	return m
}()

// kindByName finds a kind credence reads by name alone, to explain an
// unserved apiVersion.
func kindByName(name string) *kind {
	for i := range kinds {
		if kinds[i].name == name {
			return &kinds[i]
		}
	}
	return nil
}

// policyCRDs are custom kinds that change what the graph computes; a gap for
// one of them says so.
var policyCRDs = map[string]string{
	"crd.projectcalico.org NetworkPolicy":                 "Calico network policy changes reachability",
	"crd.projectcalico.org GlobalNetworkPolicy":           "Calico network policy changes reachability",
	"projectcalico.org NetworkPolicy":                     "Calico network policy changes reachability",
	"projectcalico.org GlobalNetworkPolicy":               "Calico network policy changes reachability",
	"cilium.io CiliumNetworkPolicy":                       "Cilium network policy changes reachability",
	"cilium.io CiliumClusterwideNetworkPolicy":            "Cilium network policy changes reachability",
	"policy.networking.k8s.io AdminNetworkPolicy":         "admin network policy changes reachability",
	"policy.networking.k8s.io BaselineAdminNetworkPolicy": "baseline admin network policy changes reachability",
	"security.openshift.io SecurityContextConstraints":    "OpenShift SCCs change what pods may be admitted",
	"route.openshift.io Route":                            "OpenShift Routes expose services outside the cluster",
	"network.openshift.io EgressNetworkPolicy":            "OpenShift egress firewall changes reachability",
	"k8s.ovn.org EgressFirewall":                          "OVN egress firewall changes reachability",
	"kyverno.io ClusterPolicy":                            "Kyverno policies change what pods may be admitted",
	"kyverno.io Policy":                                   "Kyverno policies change what pods may be admitted",
	"policy.sigstore.dev ClusterImagePolicy":              "sigstore policy-controller changes what images may run",
}

// typed returns a decoder for one kind kept in the store pick returns.
func typed[T any, PT interface {
	*T
	metav1.Object
}](pick func(*builder) *store[T]) func(*builder, *kind, []byte, string) error {
	return func(b *builder, k *kind, data []byte, src string) error {
		obj := PT(new(T))
		// Case-sensitive like the API server; unknown fields are tolerated
		// (a newer server adds fields), as kubectl does with a warning.
		if err := kjson.UnmarshalCaseSensitivePreserveInts(data, obj); err != nil {
			return &invalidError{fmt.Errorf("decode %s: %w", k.name, err)}
		}
		if obj.GetName() == "" {
			return &invalidError{fmt.Errorf("%s has no metadata.name", k.name)}
		}
		if k.namespaced && obj.GetNamespace() == "" {
			obj.SetNamespace(b.opts.defaultNamespace)
		}
		if !k.namespaced {
			obj.SetNamespace("")
		}
		return add(b, pick(b), k.name, obj, src)
	}
}

// converted returns a decoder for a kind served under an older apiVersion,
// kept in the store of the current one after conv.
func converted[In any, PIn interface {
	*In
	metav1.Object
}, T any, PT interface {
	*T
	metav1.Object
}](pick func(*builder) *store[T], conv func(PIn) PT) func(*builder, *kind, []byte, string) error {
	return func(b *builder, k *kind, data []byte, src string) error {
		in := PIn(new(In))
		if err := kjson.UnmarshalCaseSensitivePreserveInts(data, in); err != nil {
			return &invalidError{fmt.Errorf("decode %s %s: %w", k.apiVersion, k.name, err)}
		}
		if in.GetName() == "" {
			return &invalidError{fmt.Errorf("%s has no metadata.name", k.name)}
		}
		if k.namespaced && in.GetNamespace() == "" {
			in.SetNamespace(b.opts.defaultNamespace)
		}
		return add(b, pick(b), k.name, conv(in), src)
	}
}

// invalidError is a document that cannot be kept; it becomes a gap.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return e.err.Error() }
func (e *invalidError) Unwrap() error { return e.err }
