package admission_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/credence-dev/credence/admission"
	"github.com/credence-dev/credence/attest"
)

const denyAll = `apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: strict}
spec:
  rules:
    - id: never
      expression: "false"
      message: nothing runs here
`

// TestBadInput: what is not an AdmissionReview gets an HTTP error (the
// API server then applies failurePolicy: Fail refuses the request); a
// review whose object does not decode is denied. Nothing is admitted by
// accident.
func TestBadInput(t *testing.T) {
	h, _ := newHandler(t, compile(t, denyAll), admission.WithMaxBodyBytes(64<<10))
	good := reviewOf(t, admissionv1.Create, pod("web", "busybox"), nil)
	for _, c := range []struct {
		name   string
		body   []byte
		status int
		want   string
	}{
		{"empty", nil, 400, "empty body"},
		{"not json", []byte("{nope"), 400, "malformed: AdmissionReview"},
		{"v1beta1", bytes.Replace(good, []byte("admission.k8s.io/v1"), []byte("admission.k8s.io/v1beta1"), 1), 400, "want admission.k8s.io/v1 AdmissionReview"},
		{"no request", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), 400, "without a request"},
		{"no uid", bytes.Replace(good, []byte(`"uid":"req-web"`), []byte(`"uid":""`), 1), 400, "without a uid"},
		{"duplicate key", bytes.Replace(good, []byte(`"uid":"req-web"`), []byte(`"uid":"req-web","uid":"other"`), 1), 400, "duplicate field"},
		{"case folded key", bytes.Replace(good, []byte(`"uid":"req-web"`), []byte(`"UID":"req-web"`), 1), 400, "without a uid"},
		{"huge", append(append([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","object":{"a":"`), bytes.Repeat([]byte("x"), 100<<10)...), []byte(`"}}}`)...), 413, "over 65536 bytes"},
		{"carries a response", bytes.Replace(good, []byte(`"request":`), []byte(`"response":{"uid":"x","allowed":true},"request":`), 1), 400, "carries a response"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, resp, body := post(t, h, c.body, "")
			if code != c.status || resp != nil || !strings.Contains(body, c.want) {
				t.Errorf("HTTP %d %q, want %d and %q", code, body, c.status, c.want)
			}
		})
	}
	// A review whose object is not a Pod: denied with 400.
	bad := bytes.Replace(good, []byte(`"containers":[`), []byte(`"containers":{"x":[`), 1)
	bad = bytes.Replace(bad, []byte(`]},"status"`), []byte(`]}},"status"`), 1)
	code, resp, body := post(t, h, bad, "")
	if code != 200 || resp.Allowed || resp.Result.Code != 400 || !strings.Contains(message(resp), "malformed: Pod") {
		t.Errorf("undecodable pod: HTTP %d %s", code, body)
	}
	// Wrong method and content type.
	r := httptest.NewRequest(http.MethodGet, "/validate", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", w.Code)
	}
	r = httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(good))
	r.Header.Set("Content-Type", "application/yaml")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("YAML: %d", w.Code)
	}
	if st := h.Stats(); st.Allowed != 0 {
		t.Errorf("something was allowed: %+v", st)
	}
}

// TestHugePod: a pod with thousands of containers and long fields within
// the body limit is decided (denied by the deny-all policy), not crashed on.
func TestHugePod(t *testing.T) {
	h, _ := newHandler(t, compile(t, denyAll))
	imgs := make([]string, 3000)
	for i := range imgs {
		imgs[i] = "registry.example.com/app/" + strings.Repeat("x", 100) + ":1"
	}
	p := pod("huge", imgs...)
	p.Annotations = map[string]string{"big": strings.Repeat("y", 512<<10)}
	r := admit(t, h, p)
	if r.Allowed {
		t.Fatal("a huge pod was allowed by a deny-all policy")
	}
}

func TestSelfExcluded(t *testing.T) {
	self := admission.ServiceAccountUser("credence-system", "credence-admission")
	h, _ := newHandler(t, compile(t, denyAll), admission.WithSelf(self))
	body := bytes.Replace(reviewOf(t, admissionv1.Create, pod("web", "busybox"), nil), []byte(`"username":"alice"`), []byte(`"username":"`+self+`"`), 1)
	_, r, _ := post(t, h, body, "")
	if !r.Allowed {
		t.Errorf("own service account denied: %s", message(r))
	}
	if r := admit(t, h, pod("web", "busybox")); r.Allowed {
		t.Error("another user allowed by a deny-all policy")
	}
}

// TestUpdateUnchanged: an update that leaves the pod template alone (a
// scale, a finalizer removed during deletion) is not judged again.
func TestUpdateUnchanged(t *testing.T) {
	h, _ := newHandler(t, compile(t, denyAll))
	p := pod("web", "busybox")
	old := p.DeepCopy()
	p.Finalizers = nil
	p.Labels["extra"] = "x"
	code, r, _ := post(t, h, reviewOf(t, admissionv1.Update, p, old), "")
	if code != 200 || r.Allowed {
		t.Errorf("a pod label change is a template change: judged (denied): %v", r.Allowed)
	}
	p = old.DeepCopy()
	p.Finalizers = []string{"example.com/x"}
	if _, r, _ := post(t, h, reviewOf(t, admissionv1.Update, p, old), ""); !r.Allowed {
		t.Errorf("finalizer change: %s", message(r))
	}
}

// TestBreakGlass: the annotation lifts denials only where the policy
// allows break-glass, with a warning and an audit entry in the record.
func TestBreakGlass(t *testing.T) {
	src := strings.Replace(denyAll, "spec:\n", "spec:\n  breakGlass: {namespaces: [shop]}\n", 1)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	path := filepath.Join(t.TempDir(), "record.jsonl")
	rec, err := attest.OpenRecord(path, key)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, compile(t, src), admission.WithRecord(rec))
	p := pod("web", "busybox")
	p.Annotations = map[string]string{admission.BreakGlassAnnotation: "INC-4711 payment outage, vendor hotfix"}
	r := admit(t, h, p)
	if !r.Allowed || len(r.Warnings) == 0 || !strings.Contains(strings.Join(r.Warnings, "|"), "BREAK-GLASS INC-4711 (payment outage, vendor hotfix) by alice lifted strict/never") {
		t.Errorf("break-glass in shop: allowed %v, warnings %q", r.Allowed, r.Warnings)
	}
	q := p.DeepCopy()
	q.Namespace = "payments"
	r = admit(t, h, q)
	if r.Allowed || !strings.Contains(strings.Join(r.Warnings, "|"), "break-glass refused") {
		t.Errorf("break-glass where the policy does not allow it: allowed %v, %q", r.Allowed, r.Warnings)
	}
	q = p.DeepCopy()
	q.Annotations[admission.BreakGlassAnnotation] = "INC-1"
	if r := admit(t, h, q); r.Allowed || !strings.Contains(strings.Join(r.Warnings, "|"), "want \"<ticket> <reason>\"") {
		t.Errorf("break-glass without a reason: allowed %v, %q", r.Allowed, r.Warnings)
	}
	rec.Close()
	sum, err := attest.VerifyRecord(mustOpen(t, path), key.Public().(ed25519.PublicKey))
	if err != nil || sum.Entries != 3 || len(sum.Admitted.Workloads) != 1 || sum.Admitted.Workloads[0].PodUID != "uid-web" {
		t.Fatalf("record: %v %+v", err, sum)
	}
	b, _ := os.ReadFile(path)
	first := strings.SplitN(string(b), "\n", 2)[0]
	var line struct {
		Entry struct {
			Decision admission.Outcome `json:"decision"`
		} `json:"entry"`
	}
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatal(err)
	}
	d := line.Entry.Decision
	if d.BreakGlass == nil || d.BreakGlass.Ticket != "INC-4711" || d.BreakGlass.By != "alice" || d.Decision != "warn" || d.Pod == nil || d.Pod.ServiceAccount != "default" {
		t.Errorf("the record must audit the break-glass: %+v", d)
	}
}

// TestRecordFailureDenies: an admission that cannot be recorded is denied.
func TestRecordFailureDenies(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	rec, err := attest.OpenRecord(filepath.Join(t.TempDir(), "r.jsonl"), key)
	if err != nil {
		t.Fatal(err)
	}
	allow := strings.Replace(denyAll, `expression: "false"`, `expression: "true"`, 1)
	h, _ := newHandler(t, compile(t, allow), admission.WithRecord(rec))
	if r := admit(t, h, pod("a", "busybox")); !r.Allowed {
		t.Fatalf("allow-all: %s", message(r))
	}
	rec.Close() // writes fail from now on
	if r := admit(t, h, pod("b", "busybox")); r.Allowed || !strings.Contains(message(r), "could not be written to the admission record") {
		t.Errorf("unrecorded admission: allowed %v, %s", r.Allowed, message(r))
	}
}

// TestRecordAdmitted: the record lists each container of a created pod
// with its digest and privilege settings, and nothing for dry runs,
// denials or templates.
func TestRecordAdmitted(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	path := filepath.Join(t.TempDir(), "r.jsonl")
	rec, _ := attest.OpenRecord(path, key)
	allow := strings.Replace(denyAll, `expression: "false"`, `expression: "true"`, 1)
	h, _ := newHandler(t, compile(t, allow), admission.WithRecord(rec))
	d := "registry.example.com/app@sha256:" + strings.Repeat("ab", 32)
	p := pod("web", d, "busybox:1.36")
	yes := true
	p.Spec.HostNetwork = true
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
	admit(t, h, p)
	dry := bytes.Replace(reviewOf(t, admissionv1.Create, pod("dry", "busybox"), nil), []byte(`"operation":"CREATE"`), []byte(`"operation":"CREATE","dryRun":true`), 1)
	post(t, h, dry, "")
	rec.Close()
	sum, err := attest.VerifyRecord(mustOpen(t, path), key.Public().(ed25519.PublicKey))
	if err != nil || sum.Entries != 2 || len(sum.Admitted.Workloads) != 2 {
		t.Fatalf("%v %+v", err, sum)
	}
	w := sum.Admitted.Workloads[0]
	if w.PodUID != "uid-web" || w.Container != "c0" || w.ImageDigest != "sha256:"+strings.Repeat("ab", 32) || w.Privileged == nil || !*w.Privileged || w.HostNetwork == nil || !*w.HostNetwork {
		t.Errorf("admitted container: %+v", w)
	}
	if w2 := sum.Admitted.Workloads[1]; w2.ImageDigest != "" {
		t.Errorf("an unresolved tag must leave the digest empty (compared only when present): %+v", w2)
	}
}

func mustOpen(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// FuzzReview feeds any bytes to the webhook: it must answer an HTTP error
// or a review, and never allow what a deny-all policy denies.
func FuzzReview(f *testing.F) {
	h, _ := newHandler(f, compile(f, denyAll), admission.WithMaxBodyBytes(256<<10))
	f.Add(reviewOf(f, admissionv1.Create, pod("web", "busybox"), nil))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","object":{}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"group":"apps","kind":"Deployment","version":"v1"},"operation":"UPDATE","object":{"spec":{}},"oldObject":null}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"group":"rbac.authorization.k8s.io","kind":"RoleBinding","version":"v1"},"operation":"CREATE","object":{"subjects":[{}]}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		code, resp, _ := post(t, h, body, "")
		if code == 200 && resp.Allowed {
			rv, err := admission.ParseReview(body)
			if err != nil {
				t.Fatalf("allowed a body that does not parse: %v", err)
			}
			// Only requests no policy judges may pass: other operations,
			// updates of an unchanged template, kinds of other API groups
			// (a custom resource named Pod is not a pod).
			k, g := rv.Request.Kind.Kind, rv.Request.Kind.Group
			judged := (k == "Pod" && g == "") || (k == "Deployment" && g == "apps")
			if op := rv.Request.Operation; (op == admissionv1.Create || op == admissionv1.Update) && judged && rv.Request.OldObject.Raw == nil {
				t.Fatalf("a deny-all policy allowed a %s %s", op, k)
			}
		}
	})
}
