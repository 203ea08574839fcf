package admission_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/credence-dev/credence/admission"
)

// sampleObjects decodes the README's sample cluster (testdata/cluster) into
// typed objects, as an informer holds them, plus a cluster-admin role.
func sampleObjects(t testing.TB) []runtime.Object {
	t.Helper()
	dir := filepath.Join("..", "testdata", "cluster", "manifests")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, decodeAll(t, b)...)
	}
	return append(objs, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}})
}

func decodeAll(t testing.TB, b []byte) []runtime.Object {
	t.Helper()
	var out []runtime.Object
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := rd.Read()
		if err != nil {
			break
		}
		if len(bytes.TrimSpace(doc)) == 0 || onlyComments(doc) {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, obj)
	}
	return out
}

const pathsPolicy = `apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: paths}
spec:
  packs:
    - name: credence-no-new-critical-path@v1
`

func blastHandler(t *testing.T, view admission.ClusterView, src string) (*admission.Handler, *admission.Blast) {
	t.Helper()
	b, err := admission.NewBlast(view)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, compile(t, src), admission.WithBlast(b))
	return h, b
}

func typed(obj runtime.Object, apiVersion, kind string) runtime.Object {
	obj.GetObjectKind().SetGroupVersionKind(schemaGVK(apiVersion, kind))
	return obj
}

// TestGraphGateBindings: a ClusterRoleBinding that hands cluster-admin to
// the internet-facing web's service account opens a path to cluster-admin
// (denied, the path in the message); a second binding granting what web
// already has opens none (allowed).
func TestGraphGateBindings(t *testing.T) {
	h, b := blastHandler(t, admission.NewStaticView(sampleObjects(t)...), pathsPolicy)
	crb := typed(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "web-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "web", Namespace: "shop"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"}},
		"rbac.authorization.k8s.io/v1", "ClusterRoleBinding")
	r := admit(t, h, crb)
	if r.Allowed || !strings.Contains(message(r), "shop/Deployment/web: credence-no-new-critical-path@v1/no-new-critical-path") ||
		!strings.Contains(message(r), "cluster-admin") || !strings.Contains(message(r), "→") {
		t.Errorf("cluster-admin for web: allowed %v, %s", r.Allowed, message(r))
	}
	same := typed(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "web-reads-secrets-again", Namespace: "payments"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "web", Namespace: "shop"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "secret-reader"}},
		"rbac.authorization.k8s.io/v1", "RoleBinding")
	if r := admit(t, h, same); !r.Allowed {
		t.Errorf("a binding that adds nothing: %s", message(r))
	}
	if st := b.Stats(); st.Builds != 1 || st.Deltas != 2 {
		t.Errorf("one base build, one delta per object: %+v", st)
	}
}

// vaultCluster: an internet-facing front end whose service account can do
// nothing, and a critical namespace whose database is isolated by a
// default-deny NetworkPolicy; service account "reader" may read its
// secrets. Nothing in front reaches vault yet.
const vaultCluster = `apiVersion: v1
kind: Namespace
metadata: {name: front, labels: {kubernetes.io/metadata.name: front}}
---
apiVersion: v1
kind: Namespace
metadata: {name: vault, labels: {kubernetes.io/metadata.name: vault, credence.dev/critical: "true"}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: front}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: front}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: front}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers:
        - name: web
          image: registry.example.com/front/web:1
          ports: [{containerPort: 8080}]
          securityContext: {allowPrivilegeEscalation: false, runAsNonRoot: true, runAsUser: 1000, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: front}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 443, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: vault}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      automountServiceAccountToken: false
      containers:
        - name: db
          image: registry.example.com/vault/db:1
          ports: [{containerPort: 5432}]
          securityContext: {allowPrivilegeEscalation: false, runAsNonRoot: true, runAsUser: 1000, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}
---
apiVersion: v1
kind: Secret
metadata: {name: db-creds, namespace: vault}
type: Opaque
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: vault}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secret-reader, namespace: vault}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: vault}
subjects: [{kind: ServiceAccount, name: reader, namespace: front}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secret-reader}
`

// TestGraphGateVault: a RoleBinding that lets web read the vault's secrets,
// a NetworkPolicy that lets the front end into the vault, and an update of
// web that swaps its service account for "reader" each open a path from
// the internet-facing web to a critical asset, named in the denial; an
// update that changes only an env var opens none.
func TestGraphGateVault(t *testing.T) {
	objs := decodeAll(t, []byte(vaultCluster))
	h, _ := blastHandler(t, admission.NewStaticView(objs...), pathsPolicy)

	rb := typed(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "web-reads", Namespace: "vault"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "web", Namespace: "front"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "secret-reader"}},
		"rbac.authorization.k8s.io/v1", "RoleBinding")
	if r := admit(t, h, rb); r.Allowed || !strings.Contains(message(r), "front/Deployment/web") || !strings.Contains(message(r), "db-creds") {
		t.Errorf("web may read the vault's secrets: allowed %v, %s", r.Allowed, message(r))
	}

	np := typed(&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "from-front", Namespace: "vault"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "front"}}}}}}}},
		"networking.k8s.io/v1", "NetworkPolicy")
	if r := admit(t, h, np); r.Allowed || !strings.Contains(message(r), "front/Deployment/web") || !strings.Contains(message(r), "db") {
		t.Errorf("the front end let into the vault: allowed %v, %s", r.Allowed, message(r))
	}
	// A policy that lets in only what no pod is: nothing new.
	none := np.DeepCopyObject().(*networkingv1.NetworkPolicy)
	none.Name = "from-nowhere"
	none.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels = map[string]string{"kubernetes.io/metadata.name": "nowhere"}
	if r := admit(t, h, none); !r.Allowed {
		t.Errorf("a policy that lets nobody in: %s", message(r))
	}

	var web *appsv1.Deployment
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok && d.Name == "web" {
			web = d.DeepCopy()
		}
	}
	web.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
	old := web.DeepCopy()
	web.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}}
	if code, resp, body := post(t, h, reviewOf(t, admissionv1.Update, web, old), ""); code != 200 || !resp.Allowed {
		t.Errorf("web update that adds no path: %d %s %s", code, message(resp), body)
	}
	web.Spec.Template.Spec.ServiceAccountName = "reader"
	code, resp, _ := post(t, h, reviewOf(t, admissionv1.Update, web, old), "")
	if code != 200 || resp.Allowed || !strings.Contains(message(resp), "db-creds") || !strings.Contains(message(resp), "→") {
		t.Errorf("web given the reader service account: allowed %v, %s", resp.Allowed, message(resp))
	}
}

// TestGraphGateWorkloads: a new privileged Deployment with the host's PID
// namespace reaches the node (denied); an update of api that changes only
// its env reaches what it reached before (allowed); a new replica of a
// running ReplicaSet costs no graph build.
func TestGraphGateWorkloads(t *testing.T) {
	objs := sampleObjects(t)
	ctrl := true
	rs := &appsv1.ReplicaSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d9f", Namespace: "shop",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Controller: &ctrl, UID: "d-web"}}}}
	var web *appsv1.Deployment
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok && d.Name == "web" {
			web = d
		}
	}
	livePod := func(name string) *corev1.Pod {
		p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web", "pod-template-hash": "7d9f"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9f", Controller: &ctrl, UID: "rs-web"}}},
			Spec: *web.Spec.Template.Spec.DeepCopy()}
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "kube-api-access-" + name[len(name)-5:]})
		return p
	}
	objs = append(objs, rs, livePod("web-7d9f-aaaaa"))
	h, b := blastHandler(t, admission.NewStaticView(objs...), pathsPolicy)

	if r := admit(t, h, livePod("web-7d9f-bbbbb")); !r.Allowed {
		t.Errorf("a new replica: %s", message(r))
	}
	if st := b.Stats(); st.Replicas != 1 || st.Deltas != 0 {
		t.Errorf("a new replica with its sibling's spec must not build a graph: %+v", st)
	}

	yes := true
	debug := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "debug"}},
			Spec: corev1.PodSpec{HostPID: true, Containers: []corev1.Container{{Name: "sh", Image: "busybox:1.36", SecurityContext: &corev1.SecurityContext{Privileged: &yes}}}}}}}
	r := admit(t, h, debug)
	if r.Allowed || !strings.Contains(message(r), "a compromise of container sh opens") || !strings.Contains(message(r), "node") {
		t.Errorf("a privileged hostPID debug Deployment: allowed %v, %s", r.Allowed, message(r))
	}

	var api *appsv1.Deployment
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok && d.Name == "api" {
			api = d.DeepCopy()
		}
	}
	api.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
	old := api.DeepCopy()
	api.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}}
	code, resp, body := post(t, h, reviewOf(t, admissionv1.Update, api, old), "")
	if code != 200 || !resp.Allowed {
		t.Errorf("api update that adds no path: %d %s %s", code, message(resp), body)
	}
}

// TestGraphUnknown: without a cluster view, new paths cannot be computed:
// the rule's unknown fails it (deny, fail-closed), never a silent allow.
func TestGraphUnknown(t *testing.T) {
	h, _ := newHandler(t, compile(t, pathsPolicy))
	r := admit(t, h, pod("web", "busybox:1.36"))
	if r.Allowed || !strings.Contains(message(r), "not in the trust graph") {
		t.Errorf("pod without a view: allowed %v, %s", r.Allowed, message(r))
	}
	crb := typed(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "x"},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"}},
		"rbac.authorization.k8s.io/v1", "ClusterRoleBinding")
	if r := admit(t, h, crb); r.Allowed || !strings.Contains(message(r), "cannot tell whether this ClusterRoleBinding opens new paths") {
		t.Errorf("binding without a view: allowed %v, %s", r.Allowed, message(r))
	}
	// A view that is not synced: same.
	hv, _ := blastHandler(t, notReady{admission.NewStaticView()}, pathsPolicy)
	if r := admit(t, hv, crb); r.Allowed || !strings.Contains(message(r), "not synced") {
		t.Errorf("binding with an unsynced view: allowed %v, %s", r.Allowed, message(r))
	}
}

type notReady struct{ *admission.StaticView }

func (notReady) Ready() bool { return false }

// TestGraphDeadline: a delta that cannot be built before the deadline is
// unknown (deny under fail-closed).
func TestGraphDeadline(t *testing.T) {
	b, err := admission.NewBlast(admission.NewStaticView(sampleObjects(t)...))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, compile(t, pathsPolicy), admission.WithBlast(b))
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	raw := reviewOf(t, admissionv1.Create, typed(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "x"},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"}}, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), nil)
	rv, err := admission.ParseReview(raw)
	if err != nil {
		t.Fatal(err)
	}
	o := h.Review(ctx, rv.Request)
	if o.Decision != "deny" || !strings.Contains(o.Reason, "deadline") {
		t.Errorf("past the deadline: %s %s", o.Decision, o.Reason)
	}
}

func onlyComments(doc []byte) bool {
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}
