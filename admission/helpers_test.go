package admission_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/credence-dev/credence/admission"
	"github.com/credence-dev/credence/internal/testutil/signtest"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/provenance"
)

// registryFixture is go-containerregistry's registry (with referrers)
// behind a proxy that counts every request and can fail or stall on
// demand: a real registry, with the failures a real one has.
type registryFixture struct {
	host     string
	calls    atomic.Int64
	failing  atomic.Bool  // answer 503 (a transient failure)
	stall    atomic.Int64 // delay each request by this many ms
	key      *signtest.Key
	signed   name.Digest // signed by key
	unsigned name.Digest
	other    name.Digest // signed by key, second repository
	trust    *provenance.Trust
	verifier *provenance.Verifier
	prov     *provenance.Policy
}

func newRegistry(t testing.TB) *registryFixture {
	t.Helper()
	f := &registryFixture{}
	reg := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		if d := f.stall.Load(); d > 0 {
			select {
			case <-time.After(time.Duration(d) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		if f.failing.Load() {
			http.Error(w, "registry unavailable", http.StatusServiceUnavailable)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.host = strings.TrimPrefix(srv.URL, "http://")
	push := func(repo string) name.Digest {
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := name.ParseReference(f.host + "/" + repo + ":1")
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return ref.Context().Digest(d.String())
	}
	f.key = signtest.NewKey(t)
	f.signed, f.unsigned, f.other = push("shop/web"), push("shop/api"), push("shop/worker")
	signtest.Sign(t, f.key, f.signed)
	signtest.Sign(t, f.key, f.other)
	pub, err := provenance.ParsePublicKey(f.key.PublicPEM())
	if err != nil {
		t.Fatal(err)
	}
	auth, err := provenance.NewKeyAuthority("release", []provenance.PublicKey{pub}, provenance.WithoutTransparencyLogUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	f.trust, _ = provenance.LoadTrustedRoots()
	// go-containerregistry retries a 503 with backoff; keep it short here.
	retry := remote.WithRetryBackoff(remote.Backoff{Duration: 10 * time.Millisecond, Factor: 2, Steps: 3})
	if f.verifier, err = provenance.NewVerifier(f.trust, provenance.WithCallTimeout(5*time.Second), provenance.WithRemoteOptions(retry)); err != nil {
		t.Fatal(err)
	}
	if f.prov, err = provenance.NewPolicy(provenance.WithAuthority(auth)); err != nil {
		t.Fatal(err)
	}
	f.calls.Store(0)
	return f
}

func (f *registryFixture) verdicts(t testing.TB, opts ...admission.VerdictOption) *admission.VerdictCache {
	t.Helper()
	c, err := admission.NewVerdictCache(f.verifier, f.trust, f.prov, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func compile(t testing.TB, src string) *policy.Engine {
	t.Helper()
	docs, err := policy.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile(docs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newHandler(t testing.TB, e *policy.Engine, opts ...admission.Option) (*admission.Handler, *admission.Policies) {
	t.Helper()
	p := admission.NewPolicies(e)
	h, err := admission.NewHandler(p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// signedPolicy enforces signatures and Pod Security baseline.
const signedPolicy = `apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: test}
spec:
  packs:
    - name: credence-signed@v1
    - name: credence-pss-baseline@v1
  exemptions:
    - name: vendor
      reason: the vendor ships it unsigned (SEC-1)
      rules: [credence-signed@v1]
      images: ["vendor.example/**"]
`

// pod makes a pod with one container per image.
func pod(name string, imgs ...string) *corev1.Pod {
	p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name), Labels: map[string]string{"app": name}}}
	for i, img := range imgs {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c" + string(rune('0'+i)), Image: img})
	}
	return p
}

// reviewOf wraps obj in an AdmissionReview request.
func reviewOf(t testing.TB, op admissionv1.Operation, obj runtime.Object, old runtime.Object) []byte {
	t.Helper()
	gvk := obj.GetObjectKind().GroupVersionKind()
	m := obj.(metav1.Object)
	req := &admissionv1.AdmissionRequest{
		UID:       types.UID("req-" + m.GetName()),
		Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
		Name:      m.GetName(),
		Namespace: m.GetNamespace(),
		Operation: op,
		UserInfo:  authenticationv1.UserInfo{Username: "alice"},
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	req.Object = runtime.RawExtension{Raw: raw}
	if old != nil {
		ob, _ := json.Marshal(old)
		req.OldObject = runtime.RawExtension{Raw: ob}
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends a body to h and returns the HTTP status and the response.
func post(t testing.TB, h http.Handler, body []byte, query string) (int, *admissionv1.AdmissionResponse, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/validate"+query, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		return w.Code, nil, w.Body.String()
	}
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &rv); err != nil {
		t.Fatalf("response is not an AdmissionReview: %v\n%s", err, w.Body.String())
	}
	if rv.APIVersion != admission.ReviewAPIVersion || rv.Kind != "AdmissionReview" || rv.Response == nil {
		t.Fatalf("bad response envelope: %s", w.Body.String())
	}
	return w.Code, rv.Response, w.Body.String()
}

// admit reviews a pod create and returns the response.
func admit(t testing.TB, h http.Handler, obj runtime.Object) *admissionv1.AdmissionResponse {
	t.Helper()
	code, resp, body := post(t, h, reviewOf(t, admissionv1.Create, obj, nil), "")
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", code, body)
	}
	return resp
}

func message(r *admissionv1.AdmissionResponse) string {
	if r.Result == nil {
		return ""
	}
	return r.Result.Message
}

func schemaGVK(apiVersion, kind string) schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}
