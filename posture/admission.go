package posture

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// asAdmitted returns the pod as the API server's PodSecurity admission sees
// it: kube-apiserver's pod strategy runs before validating admission and
// copies each deprecated AppArmor annotation into the container's field
// when that field is unset and the value differs from the pod-level
// profile (pkg/registry/core/pod/strategy.go, applyAppArmorVersionSkew).
// Live pods already went through it, so it changes nothing for them. The
// result shares nothing mutable with spec when it changes it.
func asAdmitted(annotations map[string]string, spec *corev1.PodSpec) *corev1.PodSpec {
	if spec.OS != nil && spec.OS.Name == corev1.Windows {
		return spec
	}
	var podProfile *corev1.AppArmorProfile
	if spec.SecurityContext != nil {
		podProfile = spec.SecurityContext.AppArmorProfile
	}
	// annotated is the profile the annotation gives the container name, or
	// nil: no annotation, a field of its own, an invalid value, or the
	// pod-level profile.
	annotated := func(name string, sc *corev1.SecurityContext) *corev1.AppArmorProfile {
		v, ok := annotations[appArmorAnnotation+name]
		if !ok || (sc != nil && sc.AppArmorProfile != nil) {
			return nil
		}
		field := appArmorFromAnnotation(v)
		if field == nil || !validAppArmor(field) || equality.Semantic.DeepEqual(field, podProfile) {
			return nil
		}
		return field
	}
	out := spec
	sync := func(list func(*corev1.PodSpec) []corev1.Container) {
		for i, c := range list(out) {
			field := annotated(c.Name, c.SecurityContext)
			if field == nil {
				continue
			}
			if out == spec {
				out = spec.DeepCopy()
			}
			c := &list(out)[i]
			if c.SecurityContext == nil {
				c.SecurityContext = &corev1.SecurityContext{}
			}
			c.SecurityContext.AppArmorProfile = field
		}
	}
	sync(func(s *corev1.PodSpec) []corev1.Container { return s.InitContainers })
	sync(func(s *corev1.PodSpec) []corev1.Container { return s.Containers })
	// Ephemeral containers are visited too.
	for i := range out.EphemeralContainers {
		c := &out.EphemeralContainers[i]
		field := annotated(c.Name, c.SecurityContext)
		if field == nil {
			continue
		}
		if out == spec {
			out = spec.DeepCopy()
			c = &out.EphemeralContainers[i]
		}
		if c.SecurityContext == nil {
			c.SecurityContext = &corev1.SecurityContext{}
		}
		c.SecurityContext.AppArmorProfile = field
	}
	return out
}

// validAppArmor mirrors ValidateAppArmorProfileField for the values an
// annotation can produce: a Localhost name must be non-empty, unpadded and
// shorter than PATH_MAX.
func validAppArmor(p *corev1.AppArmorProfile) bool {
	if p.Type != corev1.AppArmorProfileTypeLocalhost {
		return true
	}
	n := deref(p.LocalhostProfile)
	return n != "" && strings.TrimSpace(n) == n && len(n) <= 4095
}
