package cluster

import (
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// FromObjects builds a snapshot from typed objects already in memory (an
// informer cache, an admission webhook's view with the incoming object
// applied), exactly as a live read of the same objects would: secrets
// stripped of their data, workloads expanded into pods, ClusterRoles
// aggregated, selectors checked. The objects are copied (pods only
// shallowly WithSharedPods), never changed.
// Objects of kinds credence does not read are counted in Ignored.
func FromObjects(source string, objs []runtime.Object, opts ...Option) (*Snapshot, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	b := newBuilder(o, source)
	b.snap.Live = true // the objects are a cluster's, never a partial description of one
	for _, obj := range objs {
		if err := addObject(b, obj); err != nil {
			return nil, err
		}
	}
	return b.finish(), nil
}

func addObject(b *builder, obj runtime.Object) error {
	switch x := obj.(type) {
	case *corev1.Namespace:
		return add(b, &b.namespaces, "Namespace", x.DeepCopy(), "")
	case *corev1.Node:
		return add(b, &b.nodes, "Node", x.DeepCopy(), "")
	case *corev1.Pod:
		if b.opts.sharedPods {
			// Kept by reference until the snapshot's pods are made
			// (expandWorkloads copies the top level, without
			// managedFields): one copy of each pod per snapshot, not two.
			return b.addSharedPod(x)
		}
		return add(b, &b.pods, "Pod", x.DeepCopy(), "")
	case *corev1.ServiceAccount:
		return add(b, &b.serviceAccounts, "ServiceAccount", x.DeepCopy(), "")
	case *corev1.Secret:
		// Copy without the data: it is never kept, so never copied either.
		s := &corev1.Secret{TypeMeta: x.TypeMeta, ObjectMeta: *x.ObjectMeta.DeepCopy(), Type: x.Type, Immutable: x.Immutable}
		return add(b, &b.secrets, "Secret", s, "")
	case *corev1.Service:
		return add(b, &b.services, "Service", x.DeepCopy(), "")
	case *corev1.PersistentVolume:
		return add(b, &b.pvs, "PersistentVolume", x.DeepCopy(), "")
	case *corev1.PersistentVolumeClaim:
		return add(b, &b.pvcs, "PersistentVolumeClaim", x.DeepCopy(), "")
	case *networkingv1.Ingress:
		return add(b, &b.ingresses, "Ingress", x.DeepCopy(), "")
	case *networkingv1.NetworkPolicy:
		return add(b, &b.netpols, "NetworkPolicy", x.DeepCopy(), "")
	case *rbacv1.Role:
		return add(b, &b.roles, "Role", x.DeepCopy(), "")
	case *rbacv1.ClusterRole:
		return add(b, &b.clusterRoles, "ClusterRole", x.DeepCopy(), "")
	case *rbacv1.RoleBinding:
		return add(b, &b.roleBindings, "RoleBinding", x.DeepCopy(), "")
	case *rbacv1.ClusterRoleBinding:
		return add(b, &b.crBindings, "ClusterRoleBinding", x.DeepCopy(), "")
	case *nodev1.RuntimeClass:
		return add(b, &b.runtimeClasses, "RuntimeClass", x.DeepCopy(), "")
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		return add(b, &b.mutating, "MutatingWebhookConfiguration", x.DeepCopy(), "")
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		return add(b, &b.validating, "ValidatingWebhookConfiguration", x.DeepCopy(), "")
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		return add(b, &b.vaps, "ValidatingAdmissionPolicy", x.DeepCopy(), "")
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		return add(b, &b.vapBindings, "ValidatingAdmissionPolicyBinding", x.DeepCopy(), "")
	case *appsv1.Deployment:
		return add(b, &b.deployments, "Deployment", x.DeepCopy(), "")
	case *appsv1.StatefulSet:
		return add(b, &b.statefulSets, "StatefulSet", x.DeepCopy(), "")
	case *appsv1.DaemonSet:
		return add(b, &b.daemonSets, "DaemonSet", x.DeepCopy(), "")
	case *appsv1.ReplicaSet:
		return add(b, &b.replicaSets, "ReplicaSet", x.DeepCopy(), "")
	case *batchv1.Job:
		return add(b, &b.jobs, "Job", x.DeepCopy(), "")
	case *batchv1.CronJob:
		return add(b, &b.cronJobs, "CronJob", x.DeepCopy(), "")
	case nil:
		return fmt.Errorf("from objects: a nil object")
	}
	kind := fmt.Sprintf("%T", obj)
	if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.Kind != "" {
		kind = gvk.Kind
	}
	b.ignore(kind)
	return nil
}
