package admission

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/credence-dev/credence/cluster"
)

// Judged kinds: a pod or a workload is judged whole (images, posture,
// provenance, paths); a binding or a NetworkPolicy only on the paths to
// critical assets it adds.
var (
	podKinds = map[string]bool{"Pod": true, "Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true, "Job": true, "CronJob": true}
	// graphKinds change the trust graph without running anything.
	graphKinds = map[string]bool{"RoleBinding": true, "ClusterRoleBinding": true, "NetworkPolicy": true}
)

// workloadObject is a pod or a workload reduced to what the webhook judges.
type workloadObject struct {
	kind     string
	meta     metav1.ObjectMeta // the object's own
	template metav1.ObjectMeta // the pod's (a Pod's own, a workload's template)
	spec     corev1.PodSpec
	claims   []corev1.PersistentVolumeClaim // a StatefulSet's volumeClaimTemplates
	obj      runtime.Object                 // the decoded object, for the graph
}

// decodeWorkload decodes a pod or workload of kind from raw JSON.
func decodeWorkload(kind string, raw []byte) (*workloadObject, error) {
	w := &workloadObject{kind: kind}
	switch kind {
	case "Pod":
		var p corev1.Pod
		if err := decodeObject(raw, &p, "Pod"); err != nil {
			return nil, err
		}
		w.meta, w.template, w.spec, w.obj = p.ObjectMeta, p.ObjectMeta, p.Spec, &p
	case "Deployment":
		var d appsv1.Deployment
		if err := decodeObject(raw, &d, kind); err != nil {
			return nil, err
		}
		w.meta, w.template, w.spec, w.obj = d.ObjectMeta, d.Spec.Template.ObjectMeta, d.Spec.Template.Spec, &d
	case "StatefulSet":
		var s appsv1.StatefulSet
		if err := decodeObject(raw, &s, kind); err != nil {
			return nil, err
		}
		w.meta, w.template, w.spec, w.claims, w.obj = s.ObjectMeta, s.Spec.Template.ObjectMeta, s.Spec.Template.Spec, s.Spec.VolumeClaimTemplates, &s
	case "DaemonSet":
		var d appsv1.DaemonSet
		if err := decodeObject(raw, &d, kind); err != nil {
			return nil, err
		}
		w.meta, w.template, w.spec, w.obj = d.ObjectMeta, d.Spec.Template.ObjectMeta, d.Spec.Template.Spec, &d
	case "ReplicaSet":
		var r appsv1.ReplicaSet
		if err := decodeObject(raw, &r, kind); err != nil {
			return nil, err
		}
		w.meta, w.template, w.spec, w.obj = r.ObjectMeta, r.Spec.Template.ObjectMeta, r.Spec.Template.Spec, &r
	case "Job":
		var j batchv1.Job
		if err := decodeObject(raw, &j, kind); err != nil {
			return nil, err
		}
		w.meta, w.template, w.spec, w.obj = j.ObjectMeta, j.Spec.Template.ObjectMeta, j.Spec.Template.Spec, &j
	case "CronJob":
		var c batchv1.CronJob
		if err := decodeObject(raw, &c, kind); err != nil {
			return nil, err
		}
		t := &c.Spec.JobTemplate.Spec.Template
		w.meta, w.template, w.spec, w.obj = c.ObjectMeta, t.ObjectMeta, t.Spec, &c
	}
	return w, nil
}

// decodeGraphObject decodes a binding or NetworkPolicy.
func decodeGraphObject(kind string, raw []byte) (runtime.Object, metav1.Object, error) {
	switch kind {
	case "RoleBinding":
		var o rbacv1.RoleBinding
		err := decodeObject(raw, &o, kind)
		return &o, &o, err
	case "ClusterRoleBinding":
		var o rbacv1.ClusterRoleBinding
		err := decodeObject(raw, &o, kind)
		return &o, &o, err
	default:
		var o networkingv1.NetworkPolicy
		err := decodeObject(raw, &o, kind)
		return &o, &o, err
	}
}

// sameTemplate reports whether an update leaves what the webhook judges
// unchanged: the pod spec and the template's labels and annotations. A
// scale, a status-like field or a finalizer change is not judged again (a
// denial there would block scaling and deletion of a workload already
// running).
func sameTemplate(a, b *workloadObject) bool {
	return apiequality.Semantic.DeepEqual(a.spec, b.spec) &&
		apiequality.Semantic.DeepEqual(a.template.Labels, b.template.Labels) &&
		apiequality.Semantic.DeepEqual(a.template.Annotations, b.template.Annotations)
}

// Owners names the top-level controller of a live pod from its owner
// references ("Deployment/web" for a pod of a ReplicaSet of Deployment
// web); "" for an unowned pod.
type Owners interface {
	Owner(namespace string, refs []metav1.OwnerReference) string
}

// pod makes the cluster pod the Subject is built from: a Pod as it is
// (with its owner), or the pod a workload's controller would create, named
// after the workload.
func (w *workloadObject) pod(namespace string, owners Owners) cluster.Pod {
	ns := firstNonEmpty(w.meta.Namespace, namespace)
	if w.kind == "Pod" {
		p := cluster.Pod{Pod: corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: w.meta, Spec: w.spec}}
		p.Namespace = ns
		if owners != nil {
			p.Owner = owners.Owner(ns, w.meta.OwnerReferences)
		} else if ref := controllerRef(w.meta.OwnerReferences); ref != nil {
			p.Owner = ref.Kind + "/" + ref.Name
		}
		defaultServiceAccount(&p.Spec)
		return p
	}
	p := cluster.Pod{
		Pod: corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: w.meta.Name, Namespace: ns, Labels: w.template.Labels, Annotations: w.template.Annotations},
			Spec:       *w.spec.DeepCopy(),
		},
		Workload: w.kind + "/" + w.meta.Name,
	}
	for _, c := range w.claims {
		found := false
		for _, v := range p.Spec.Volumes {
			found = found || v.Name == c.Name
		}
		if !found {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name + "-" + w.meta.Name + "-0"}}})
		}
	}
	defaultServiceAccount(&p.Spec)
	return p
}

func controllerRef(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}

// defaultServiceAccount does what the ServiceAccount admission plugin does.
func defaultServiceAccount(spec *corev1.PodSpec) {
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = "default"
	}
}

// images lists a pod's container images in the order Subjects list
// containers: init, regular, ephemeral.
func images(spec *corev1.PodSpec) []string {
	var out []string
	for _, c := range spec.InitContainers {
		out = append(out, c.Image)
	}
	for _, c := range spec.Containers {
		out = append(out, c.Image)
	}
	for _, c := range spec.EphemeralContainers {
		out = append(out, c.Image)
	}
	return out
}

func containerNames(spec *corev1.PodSpec) []string {
	var out []string
	for _, c := range spec.InitContainers {
		out = append(out, c.Name)
	}
	for _, c := range spec.Containers {
		out = append(out, c.Name)
	}
	for _, c := range spec.EphemeralContainers {
		out = append(out, c.Name)
	}
	return out
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// workloadParts splits "Kind/name".
func workloadParts(owner, podName string) (string, string) {
	if k, n, ok := strings.Cut(owner, "/"); ok {
		return k, n
	}
	return "Pod", podName
}
