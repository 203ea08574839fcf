package cluster

import (
	"context"
	"fmt"
	"sync/atomic"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

type listFn func(ctx context.Context, cs kubernetes.Interface, ns string, lo metav1.ListOptions) (runtime.Object, error)

// lk makes the liveKind for one typed List call whose items are kept in the
// store pick returns.
func lk[T any, PT interface {
	*T
	metav1.Object
}](name string, namespaced bool, call listFn, pick func(*builder) *store[T]) liveKind {
	return liveKind{name: name, namespaced: namespaced, list: func(ctx context.Context, cs kubernetes.Interface, b *builder, ns string, lo metav1.ListOptions) (string, error) {
		obj, err := call(ctx, cs, ns, lo)
		if err != nil {
			return "", err
		}
		items, err := meta.ExtractList(obj)
		if err != nil {
			return "", fmt.Errorf("list %s: %w", name, err)
		}
		for _, it := range items {
			p, ok := it.(PT)
			if !ok {
				return "", fmt.Errorf("list %s: unexpected item %T", name, it)
			}
			if err := add(b, pick(b), name, p, ""); err != nil {
				return "", err
			}
		}
		lm, err := meta.ListAccessor(obj)
		if err != nil {
			return "", fmt.Errorf("list %s: %w", name, err)
		}
		return lm.GetContinue(), nil
	}}
}

// allLiveKinds is the explicit list of kinds read from a live cluster,
// Namespace first.
func allLiveKinds() []liveKind {
	type cs = kubernetes.Interface
	type lo = metav1.ListOptions
	type ctx = context.Context
	return []liveKind{
		lk("Namespace", false, func(c ctx, k cs, _ string, o lo) (runtime.Object, error) { return k.CoreV1().Namespaces().List(c, o) },
			func(b *builder) *store[corev1.Namespace] { return &b.namespaces }),
		lk("Node", false, func(c ctx, k cs, _ string, o lo) (runtime.Object, error) { return k.CoreV1().Nodes().List(c, o) },
			func(b *builder) *store[corev1.Node] { return &b.nodes }),
		lk("Pod", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) { return k.CoreV1().Pods(ns).List(c, o) },
			func(b *builder) *store[corev1.Pod] { return &b.pods }),
		lk("ServiceAccount", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) {
			return k.CoreV1().ServiceAccounts(ns).List(c, o)
		}, func(b *builder) *store[corev1.ServiceAccount] { return &b.serviceAccounts }),
		// Secrets arrive with their data; add drops it page by page.
		lk("Secret", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) { return k.CoreV1().Secrets(ns).List(c, o) },
			func(b *builder) *store[corev1.Secret] { return &b.secrets }),
		lk("Service", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) { return k.CoreV1().Services(ns).List(c, o) },
			func(b *builder) *store[corev1.Service] { return &b.services }),
		lk("PersistentVolume", false, func(c ctx, k cs, _ string, o lo) (runtime.Object, error) {
			return k.CoreV1().PersistentVolumes().List(c, o)
		}, func(b *builder) *store[corev1.PersistentVolume] { return &b.pvs }),
		lk("PersistentVolumeClaim", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) {
			return k.CoreV1().PersistentVolumeClaims(ns).List(c, o)
		}, func(b *builder) *store[corev1.PersistentVolumeClaim] { return &b.pvcs }),
		lk("Ingress", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) {
			return k.NetworkingV1().Ingresses(ns).List(c, o)
		}, func(b *builder) *store[networkingv1.Ingress] { return &b.ingresses }),
		lk("NetworkPolicy", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) {
			return k.NetworkingV1().NetworkPolicies(ns).List(c, o)
		}, func(b *builder) *store[networkingv1.NetworkPolicy] { return &b.netpols }),
		lk("Role", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) { return k.RbacV1().Roles(ns).List(c, o) },
			func(b *builder) *store[rbacv1.Role] { return &b.roles }),
		lk("ClusterRole", false, func(c ctx, k cs, _ string, o lo) (runtime.Object, error) { return k.RbacV1().ClusterRoles().List(c, o) },
			func(b *builder) *store[rbacv1.ClusterRole] { return &b.clusterRoles }),
		lk("RoleBinding", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) {
			return k.RbacV1().RoleBindings(ns).List(c, o)
		}, func(b *builder) *store[rbacv1.RoleBinding] { return &b.roleBindings }),
		lk("ClusterRoleBinding", false, func(c ctx, k cs, _ string, o lo) (runtime.Object, error) {
			return k.RbacV1().ClusterRoleBindings().List(c, o)
		}, func(b *builder) *store[rbacv1.ClusterRoleBinding] { return &b.crBindings }),
		lk("RuntimeClass", false, func(c ctx, k cs, _ string, o lo) (runtime.Object, error) {
			return k.NodeV1().RuntimeClasses().List(c, o)
		}, func(b *builder) *store[nodev1.RuntimeClass] { return &b.runtimeClasses }),
		lk("MutatingWebhookConfiguration", false, func(c ctx, k cs, _ string, o lo) (runtime.Object, error) {
			return k.AdmissionregistrationV1().MutatingWebhookConfigurations().List(c, o)
		}, func(b *builder) *store[admissionregistrationv1.MutatingWebhookConfiguration] { return &b.mutating }),
		lk("ValidatingWebhookConfiguration", false, func(c ctx, k cs, _ string, o lo) (runtime.Object, error) {
			return k.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(c, o)
		}, func(b *builder) *store[admissionregistrationv1.ValidatingWebhookConfiguration] { return &b.validating }),
		lk("ValidatingAdmissionPolicy", false, func(c ctx, k cs, _ string, o lo) (runtime.Object, error) {
			return k.AdmissionregistrationV1().ValidatingAdmissionPolicies().List(c, o)
		}, func(b *builder) *store[admissionregistrationv1.ValidatingAdmissionPolicy] { return &b.vaps }),
		lk("ValidatingAdmissionPolicyBinding", false, func(c ctx, k cs, _ string, o lo) (runtime.Object, error) {
			return k.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().List(c, o)
		}, func(b *builder) *store[admissionregistrationv1.ValidatingAdmissionPolicyBinding] {
			return &b.vapBindings
		}),
		lk("Deployment", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) {
			return k.AppsV1().Deployments(ns).List(c, o)
		},
			func(b *builder) *store[appsv1.Deployment] { return &b.deployments }),
		lk("StatefulSet", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) {
			return k.AppsV1().StatefulSets(ns).List(c, o)
		}, func(b *builder) *store[appsv1.StatefulSet] { return &b.statefulSets }),
		lk("DaemonSet", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) {
			return k.AppsV1().DaemonSets(ns).List(c, o)
		},
			func(b *builder) *store[appsv1.DaemonSet] { return &b.daemonSets }),
		lk("ReplicaSet", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) {
			return k.AppsV1().ReplicaSets(ns).List(c, o)
		},
			func(b *builder) *store[appsv1.ReplicaSet] { return &b.replicaSets }),
		lk("Job", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) { return k.BatchV1().Jobs(ns).List(c, o) },
			func(b *builder) *store[batchv1.Job] { return &b.jobs }),
		cronJobs(),
		lk("ReplicationController", true, func(c ctx, k cs, ns string, o lo) (runtime.Object, error) {
			return k.CoreV1().ReplicationControllers(ns).List(c, o)
		}, func(b *builder) *store[corev1.ReplicationController] { return &b.replicationControllers }),
	}
}

// cronJobs lists batch/v1 CronJobs, and batch/v1beta1 ones from a server
// that does not serve batch/v1 (before Kubernetes 1.21).
func cronJobs() liveKind {
	v1 := lk("CronJob", true, func(c context.Context, k kubernetes.Interface, ns string, o metav1.ListOptions) (runtime.Object, error) {
		return k.BatchV1().CronJobs(ns).List(c, o)
	}, func(b *builder) *store[batchv1.CronJob] { return &b.cronJobs })
	beta := lk("CronJob", true, func(c context.Context, k kubernetes.Interface, ns string, o metav1.ListOptions) (runtime.Object, error) {
		l, err := k.BatchV1beta1().CronJobs(ns).List(c, o)
		if err != nil {
			return nil, err
		}
		out := &batchv1.CronJobList{ListMeta: l.ListMeta}
		for i := range l.Items {
			out.Items = append(out.Items, *cronJobV1beta1(&l.Items[i]))
		}
		return out, nil
	}, func(b *builder) *store[batchv1.CronJob] { return &b.cronJobs })
	var useBeta atomic.Bool
	kind := v1
	kind.list = func(ctx context.Context, cs kubernetes.Interface, b *builder, ns string, lo metav1.ListOptions) (string, error) {
		if !useBeta.Load() {
			cont, err := v1.list(ctx, cs, b, ns, lo)
			if !apierrors.IsNotFound(err) || lo.Continue != "" {
				return cont, err
			}
			useBeta.Store(true)
		}
		return beta.list(ctx, cs, b, ns, lo)
	}
	return kind
}
