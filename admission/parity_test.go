package admission_test

import (
	"os"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/credence-dev/credence/admission"
	"github.com/credence-dev/credence/policy"
)

// parityCorpus reads testdata/parity: the policy and the objects, each with
// the outcome worked out by hand.
func parityCorpus(t testing.TB) (*policy.Engine, []runtime.Object) {
	t.Helper()
	src, err := os.ReadFile("testdata/parity/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/parity/corpus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return compile(t, string(src)), decodeAll(t, b)
}

func expectOf(o runtime.Object) string {
	return o.(metav1.Object).GetAnnotations()["parity.credence.dev/expect"]
}

// outcome names a response as the corpus does.
func outcome(r *admissionv1.AdmissionResponse) string {
	switch {
	case !r.Allowed:
		return "deny"
	case len(r.Warnings) > 0:
		return "warn"
	}
	return "allow"
}

// TestParityCorpusWebhook: the webhook decides every object of the parity
// corpus as worked out by hand (the same corpus goes to the real API
// server's ValidatingAdmissionPolicies in TestAgainstKubeAPIServer).
func TestParityCorpusWebhook(t *testing.T) {
	e, objs := parityCorpus(t)
	h, _ := newHandler(t, e)
	for _, o := range objs {
		m := o.(metav1.Object)
		m.SetNamespace("parity")
		r := admit(t, h, o)
		if got, want := outcome(r), expectOf(o); got != want {
			t.Errorf("%s: %s, want %s (%s %v)", m.GetName(), got, want, message(r), r.Warnings)
		}
	}
	if len(objs) < 40 {
		t.Fatalf("corpus of %d objects", len(objs))
	}
}

var _ = strings.Contains
var _ = admission.ReviewAPIVersion
