package cluster

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// workload is one Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
// CronJob or ReplicationController, reduced to what expansion needs.
type workload struct {
	kind     string
	meta     *metav1.ObjectMeta
	template *corev1.PodTemplateSpec
	claims   []corev1.PersistentVolumeClaim // StatefulSet volumeClaimTemplates
}

func (w workload) key() string { return w.kind + "/" + w.meta.Namespace + "/" + w.meta.Name }

// expandWorkloads returns the live pods, each with its top-level Owner, plus
// one pod made from the template of every workload that no live pod belongs
// to and that no other workload in the snapshot owns (a Deployment's
// ReplicaSets, a CronJob's Jobs: the owner's template stands for them).
//
// Every pod without a service account gets "default", as the
// ServiceAccount admission plugin does.
func (b *builder) expandWorkloads() []Pod {
	var ws []workload
	for i := range b.deployments.items {
		d := &b.deployments.items[i]
		ws = append(ws, workload{kind: "Deployment", meta: &d.ObjectMeta, template: &d.Spec.Template})
	}
	for i := range b.statefulSets.items {
		s := &b.statefulSets.items[i]
		ws = append(ws, workload{kind: "StatefulSet", meta: &s.ObjectMeta, template: &s.Spec.Template, claims: s.Spec.VolumeClaimTemplates})
	}
	for i := range b.daemonSets.items {
		d := &b.daemonSets.items[i]
		ws = append(ws, workload{kind: "DaemonSet", meta: &d.ObjectMeta, template: &d.Spec.Template})
	}
	for i := range b.replicaSets.items {
		r := &b.replicaSets.items[i]
		ws = append(ws, workload{kind: "ReplicaSet", meta: &r.ObjectMeta, template: &r.Spec.Template})
	}
	for i := range b.jobs.items {
		j := &b.jobs.items[i]
		ws = append(ws, workload{kind: "Job", meta: &j.ObjectMeta, template: &j.Spec.Template})
	}
	for i := range b.cronJobs.items {
		c := &b.cronJobs.items[i]
		ws = append(ws, workload{kind: "CronJob", meta: &c.ObjectMeta, template: &c.Spec.JobTemplate.Spec.Template})
	}
	for i := range b.replicationControllers.items {
		r := &b.replicationControllers.items[i]
		if r.Spec.Template == nil {
			continue // no template: it creates no pods (API validation requires one)
		}
		ws = append(ws, workload{kind: "ReplicationController", meta: &r.ObjectMeta, template: r.Spec.Template})
	}
	byKey := map[string]*workload{}
	for i := range ws {
		byKey[ws[i].key()] = &ws[i]
	}

	// parent names the workload in the snapshot that controls meta, if any.
	parent := func(ns string, refs []metav1.OwnerReference) *workload {
		ref := controllerRef(refs)
		if ref == nil {
			return nil
		}
		return byKey[ref.Kind+"/"+ns+"/"+ref.Name]
	}
	covered := map[string]bool{}
	pods := make([]Pod, 0, len(b.pods.items)+len(b.sharedPods)+len(ws))
	for _, sp := range b.sharedPods {
		p := Pod{Pod: *sp}
		p.ManagedFields = nil // on this copy only
		pods = append(pods, p)
	}
	for i := range b.pods.items {
		pods = append(pods, Pod{Pod: b.pods.items[i]})
	}
	taken := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		defaultServiceAccount(&p.Spec)
		// Follow controller references up through the snapshot.
		owner := ""
		if ref := controllerRef(p.OwnerReferences); ref != nil {
			owner = ref.Kind + "/" + ref.Name
		}
		w := parent(p.Namespace, p.OwnerReferences)
		for depth := 0; w != nil && depth < 8; depth++ {
			covered[w.key()] = true
			owner = w.kind + "/" + w.meta.Name
			w = parent(w.meta.Namespace, w.meta.OwnerReferences)
		}
		p.Owner = owner
		taken[p.Namespace+"/"+p.Name] = true
	}
	for i := range ws {
		w := &ws[i]
		if covered[w.key()] || parent(w.meta.Namespace, w.meta.OwnerReferences) != nil {
			continue
		}
		pods = append(pods, templatePod(w, taken))
	}
	return pods
}

func controllerRef(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}

// templatePod makes the pod a workload's controller would create. It is
// named after the workload ("web"), or "web-deployment" when a pod of that
// name exists in the namespace.
func templatePod(w *workload, taken map[string]bool) Pod {
	name := w.meta.Name
	if taken[w.meta.Namespace+"/"+name] {
		name += "-" + strings.ToLower(w.kind)
	}
	taken[w.meta.Namespace+"/"+name] = true
	t := w.template.DeepCopy()
	p := Pod{
		Pod: corev1.Pod{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Namespace:   w.meta.Namespace,
				Labels:      t.Labels,
				Annotations: t.Annotations,
			},
			Spec: t.Spec,
		},
		Workload: w.kind + "/" + w.meta.Name,
	}
	// A StatefulSet's pod mounts one claim per volumeClaimTemplate, named
	// <template>-<statefulset>-<ordinal>; ordinal 0 stands for all.
	for _, c := range w.claims {
		if hasVolume(&p.Spec, c.Name) {
			continue
		}
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name + "-" + w.meta.Name + "-0"},
		}})
	}
	defaultServiceAccount(&p.Spec)
	return p
}

func hasVolume(spec *corev1.PodSpec, name string) bool {
	for _, v := range spec.Volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}

func defaultServiceAccount(spec *corev1.PodSpec) {
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = "default"
	}
}
