package server

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// What the server writes on pods, and therefore leaves out of what it
// assesses (a Subject must not change because credence labelled its pod).
const (
	LabelRisk         = "credence.dev/risk"
	LabelKEV          = "credence.dev/kev"
	AnnotationSummary = "credence.dev/summary"
)

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// maxAnnotation: annotation values longer than this are dropped from the
// informer cache (a posture annotation is a short profile name; long values
// are configuration blobs credence never reads).
const maxAnnotation = 1024

// slim is the informers' transform: it keeps of each object what the trust
// graph, posture and assess read, and drops the rest before the object
// enters the cache (managed fields, last-applied configuration, long
// annotations, statuses, secret data, environment values, a node's image
// list). Memory then grows with what matters, not with what a cluster
// carries: a pod keeps its spec and the status fields that name what runs.
func slim(obj any) (any, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return obj, nil // a DeletedFinalStateUnknown tombstone
	}
	m.SetManagedFields(nil)
	if ann := m.GetAnnotations(); len(ann) > 0 {
		for k, v := range ann {
			if k == lastApplied || len(v) > maxAnnotation {
				delete(ann, k)
			}
		}
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		slimPod(o)
	case *corev1.Node:
		ni, addrs := o.Status.NodeInfo, o.Status.Addresses
		o.Status = corev1.NodeStatus{NodeInfo: ni, Addresses: addrs}
	case *corev1.Secret:
		o.Data, o.StringData = nil, nil
	case *corev1.Namespace:
		o.Status = corev1.NamespaceStatus{}
	case *corev1.Service:
		o.Status = corev1.ServiceStatus{}
	case *corev1.PersistentVolumeClaim:
		o.Status = corev1.PersistentVolumeClaimStatus{Phase: o.Status.Phase}
	case *networkingv1.Ingress:
		o.Status = networkingv1.IngressStatus{}
	case *appsv1.Deployment:
		o.Status = appsv1.DeploymentStatus{}
		slimTemplate(&o.Spec.Template)
	case *appsv1.StatefulSet:
		o.Status = appsv1.StatefulSetStatus{}
		slimTemplate(&o.Spec.Template)
	case *appsv1.DaemonSet:
		o.Status = appsv1.DaemonSetStatus{}
		slimTemplate(&o.Spec.Template)
	case *appsv1.ReplicaSet:
		o.Status = appsv1.ReplicaSetStatus{}
		// A ReplicaSet of a Deployment stands for nothing the Deployment does
		// not: its template is never expanded (its owner's is), and its
		// pods name it. Old revisions are most ReplicaSets of a cluster.
		if ref := metav1.GetControllerOf(o); ref != nil && ref.Kind == "Deployment" {
			o.Spec.Template = corev1.PodTemplateSpec{}
		} else {
			slimTemplate(&o.Spec.Template)
		}
	case *batchv1.Job:
		o.Status = batchv1.JobStatus{}
		if ref := metav1.GetControllerOf(o); ref != nil && ref.Kind == "CronJob" {
			o.Spec.Template = corev1.PodTemplateSpec{}
		} else {
			slimTemplate(&o.Spec.Template)
		}
	case *batchv1.CronJob:
		o.Status = batchv1.CronJobStatus{}
		slimTemplate(&o.Spec.JobTemplate.Spec.Template)
	case *corev1.ReplicationController:
		o.Status = corev1.ReplicationControllerStatus{}
		if o.Spec.Template != nil {
			slimTemplate(o.Spec.Template)
		}
	}
	return obj, nil
}

func slimPod(p *corev1.Pod) {
	slimSpec(&p.Spec)
	st := corev1.PodStatus{Phase: p.Status.Phase, PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs, HostIP: p.Status.HostIP, HostIPs: p.Status.HostIPs}
	st.InitContainerStatuses = slimStatuses(p.Status.InitContainerStatuses)
	st.ContainerStatuses = slimStatuses(p.Status.ContainerStatuses)
	st.EphemeralContainerStatuses = slimStatuses(p.Status.EphemeralContainerStatuses)
	p.Status = st
}

// slimStatuses keeps what names the running image and container.
func slimStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, c := range in {
		out[i] = corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.ImageID, ContainerID: c.ContainerID}
	}
	return out
}

func slimTemplate(t *corev1.PodTemplateSpec) {
	t.ManagedFields = nil
	delete(t.Annotations, lastApplied)
	slimSpec(&t.Spec)
}

// slimSpec drops literal environment values (never read; they may hold
// secrets); references to secrets (valueFrom, envFrom) stay, at the same
// indexes, because the graph follows them.
func slimSpec(s *corev1.PodSpec) {
	for _, cs := range [][]corev1.Container{s.InitContainers, s.Containers} {
		for i := range cs {
			for j := range cs[i].Env {
				cs[i].Env[j].Value = ""
			}
		}
	}
	for i := range s.EphemeralContainers {
		for j := range s.EphemeralContainers[i].Env {
			s.EphemeralContainers[i].Env[j].Value = ""
		}
	}
}

// ownLabel reports whether a label or annotation is one the server writes.
func ownLabel(k string) bool {
	return k == LabelRisk || k == LabelKEV || k == AnnotationSummary || strings.HasPrefix(k, "credence.dev/summary")
}

// withoutOwn returns m without the server's own keys (m itself when it
// holds none).
func withoutOwn(m map[string]string) map[string]string {
	has := false
	for k := range m {
		if ownLabel(k) {
			has = true
			break
		}
	}
	if !has {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !ownLabel(k) {
			out[k] = v
		}
	}
	return out
}
