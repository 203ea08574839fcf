package admission_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/credence-dev/credence/admission"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph/synth"
)

// benchPod is a pod as a ReplicaSet controller creates it: two containers
// of signed images pinned by digest, restricted security contexts, probes,
// env, resources and the service-account token volume.
func benchPod(images ...string) *corev1.Pod {
	no, yes := false, true
	uid := int64(10001)
	p := pod("web-7d9f-x2bq4")
	p.Labels = map[string]string{"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop", "pod-template-hash": "7d9f"}
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9f", Controller: &yes, UID: "rs"}}
	p.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access-x2bq4", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}}}
	for i, img := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img,
			Ports:          []corev1.ContainerPort{{ContainerPort: int32(8080 + i)}},
			Env:            []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz"}}},
			VolumeMounts:   []corev1.VolumeMount{{Name: "kube-api-access-x2bq4", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, RunAsNonRoot: &yes, RunAsUser: &uid,
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}})
	}
	return p
}

// BenchmarkReview is one pod review through the handler (HTTP body in,
// review out) with a warm verdict cache: Pod Security baseline and
// restricted (warn), signatures and image source. Its time is the CPU one
// review costs the webhook, TLS aside.
func BenchmarkReview(b *testing.B) {
	f := newRegistry(b)
	src := strings.Replace(signedPolicy, "    - name: credence-pss-baseline@v1\n", "    - name: credence-pss-baseline@v1\n    - name: credence-pss-restricted@v1\n      mode: warn\n", 1)
	h, _ := newHandler(b, compile(b, src), admission.WithVerdicts(f.verdicts(b)))
	body := reviewOf(b, admissionv1.Create, benchPod(f.signed.String(), f.other.String()), nil)
	serve := func() {
		r := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"allowed":true`) {
			b.Fatalf("%d %s", w.Code, w.Body.String())
		}
	}
	serve() // warm the verdict cache
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serve()
	}
}

// objectsOf turns a synthetic snapshot into the typed objects a cluster
// view holds.
func objectsOf(s *cluster.Snapshot) []runtime.Object {
	var out []runtime.Object
	for i := range s.Namespaces {
		out = append(out, &s.Namespaces[i])
	}
	for i := range s.Nodes {
		out = append(out, &s.Nodes[i])
	}
	for i := range s.Pods {
		out = append(out, &s.Pods[i].Pod)
	}
	for i := range s.ServiceAccounts {
		out = append(out, &s.ServiceAccounts[i])
	}
	for i := range s.Secrets {
		out = append(out, &s.Secrets[i])
	}
	for i := range s.Services {
		out = append(out, &s.Services[i])
	}
	for i := range s.NetworkPolicies {
		out = append(out, &s.NetworkPolicies[i])
	}
	for i := range s.Roles {
		out = append(out, &s.Roles[i])
	}
	for i := range s.ClusterRoles {
		out = append(out, &s.ClusterRoles[i])
	}
	for i := range s.RoleBindings {
		out = append(out, &s.RoleBindings[i])
	}
	for i := range s.ClusterRoleBindings {
		out = append(out, &s.ClusterRoleBindings[i])
	}
	return out
}

// BenchmarkGraphDelta is the graph-delta gate's cost for one RoleBinding
// (graph with the object applied, changed nodes, affected containers and
// their paths before and after) and for one new pod that is no replica, on
// synthetic clusters of 1,000 and 10,000 pods (graph/synth, the issue-5
// shape). The base graph is built once, outside the timing.
func BenchmarkGraphDelta(b *testing.B) {
	for _, size := range []int{1_000, 10_000} {
		c := synth.Issue5
		c.Pods, c.NetworkPolicies, c.Bindings, c.Namespaces, c.Nodes = size, size/5, size/2, size/50, size/100
		s := synth.Generate(c)
		view := admission.NewStaticView(objectsOf(s)...)
		blast, err := admission.NewBlast(view)
		if err != nil {
			b.Fatal(err)
		}
		h, _ := newHandler(b, compile(b, pathsPolicy), admission.WithBlast(blast))
		ns := s.Pods[len(s.Pods)/2].Namespace
		sa := s.Pods[len(s.Pods)/2].Spec.ServiceAccountName
		rb := typed(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bench-edit", Namespace: ns},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "edit"}}, "rbac.authorization.k8s.io/v1", "RoleBinding")
		rbBody := reviewOf(b, admissionv1.Create, rb, nil)
		p := pod("bench-new", "registry.example.com/new:1")
		p.Namespace = ns
		podBody := reviewOf(b, admissionv1.Create, p, nil)
		if code, _, body := post(b, h, rbBody, ""); code != 200 { // builds the base
			b.Fatalf("%d %s", code, body)
		}
		st := blast.Stats()
		b.Logf("%d pods: base graph %d nodes, %d edges, built in %s", size, st.BaseNodes, st.BaseEdges, st.BaseBuild)
		for _, c := range []struct {
			name string
			body []byte
		}{{"RoleBinding", rbBody}, {"NewPod", podBody}} {
			b.Run(fmt.Sprintf("%s/pods=%d", c.name, size), func(b *testing.B) {
				for b.Loop() {
					if code, _, body := post(b, h, c.body, ""); code != 200 {
						b.Fatalf("%d %s", code, body)
					}
				}
			})
		}
	}
}

// BenchmarkReviewTLS is BenchmarkReview over HTTPS with a kept-alive
// connection and the one-line decision log written to a file, as served.
func BenchmarkReviewTLS(b *testing.B) {
	f := newRegistry(b)
	src := strings.Replace(signedPolicy, "    - name: credence-pss-baseline@v1\n", "    - name: credence-pss-baseline@v1\n    - name: credence-pss-restricted@v1\n      mode: warn\n", 1)
	logf, err := os.Create(filepath.Join(b.TempDir(), "webhook.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	h, _ := newHandler(b, compile(b, src), admission.WithVerdicts(f.verdicts(b)), admission.WithLogger(slog.New(slog.NewTextHandler(logf, nil))))
	srv := httptest.NewTLSServer(admission.Mux(h, nil))
	defer srv.Close()
	c := srv.Client()
	body := reviewOf(b, admissionv1.Create, benchPod(f.signed.String(), f.other.String()), nil)
	send := func() {
		resp, err := c.Post(srv.URL+admission.ValidatePath, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(out, []byte(`"allowed":true`)) {
			b.Fatalf("%d %s", resp.StatusCode, out)
		}
	}
	send()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		send()
	}
}
