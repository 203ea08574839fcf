//go:build !node && !scan

package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"

	"github.com/credence-dev/credence/admission"
	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/internal/testutil"
)

func TestAdmissionConfig(t *testing.T) {
	dir := t.TempDir()
	if _, err := admission.SelfSigned(dir, []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "admission", "config", "--url", "https://127.0.0.1:8443/validate", "--self-signed", dir, "--timeout-seconds", "5")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict([]byte(out), &cfg); err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	w := cfg.Webhooks[0]
	if !bytes.Equal(w.ClientConfig.CABundle, ca) || *w.ClientConfig.URL != "https://127.0.0.1:8443/validate" || *w.FailurePolicy != admissionregistrationv1.Fail ||
		*w.TimeoutSeconds != 5 || *w.SideEffects != admissionregistrationv1.SideEffectClassNone || *w.MatchPolicy != admissionregistrationv1.Equivalent ||
		len(w.Rules) != 5 || w.ObjectSelector != nil {
		t.Errorf("configuration:\n%s", out)
	}
	if ns := w.NamespaceSelector.MatchExpressions[0]; ns.Key != "kubernetes.io/metadata.name" || strings.Join(ns.Values, ",") != "kube-system,credence-system" {
		t.Errorf("namespace exclusion %+v", ns)
	}
	if len(w.MatchConditions) != 1 || !strings.Contains(w.MatchConditions[0].Expression, "'system:serviceaccount:credence-system:credence-admission'") {
		t.Errorf("service account exclusion %+v", w.MatchConditions)
	}
	out, _, code = run(t, "admission", "config", "--service", "credence-system/credence-admission:8443", "--ca-bundle", filepath.Join(dir, "ca.crt"), "--no-graph", "-o", "json")
	if code != ExitOK || !strings.Contains(out, `"port": 8443`) || strings.Contains(out, "rolebindings") {
		t.Errorf("service form: exit %d\n%s", code, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"admission", "config", "--url", "https://x/validate"}, "give the CA"},
		{[]string{"admission", "config", "--url", "https://x/validate", "--self-signed", dir, "--failure-policy", "Maybe"}, "want Fail or Ignore"},
		{[]string{"admission", "config", "--service", "nope", "--self-signed", dir}, "want NAMESPACE/NAME[:PORT]"},
		{[]string{"admission", "config", "--url", "https://x/validate", "--self-signed", dir, "--timeout-seconds", "60"}, "want 1 to 30"},
		{[]string{"admission", "config", "--self-signed", dir}, "give a URL or a Service"},
		{[]string{"admission", "serve", "--policy", "x.yaml"}, "--tls-cert and --tls-key) or --self-signed"},
		{[]string{"admission", "serve", "--self-signed", dir, "--record", "r.jsonl"}, "--record and --record-key together"},
		{[]string{"admission", "serve", "--self-signed", dir, "--policy", "/nonexistent.yaml"}, "--policy"},
		{[]string{"admission", "vap", "--policy", "/nonexistent.yaml"}, "--policy"},
	} {
		_, errOut, code := run(t, c.args...)
		if code != ExitError || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q, want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

func TestAdmissionVAP(t *testing.T) {
	pol := filepath.Join(testutil.RepoRoot(t), "admission", "testdata", "parity", "policy.yaml")
	out, errOut, code := run(t, "admission", "vap", "--policy", pol)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "kind: ValidatingAdmissionPolicy\n"); n != 6 || strings.Count(out, "kind: ValidatingAdmissionPolicyBinding\n") != 6 {
		t.Errorf("%d policies", n)
	}
	if !strings.Contains(errOut, "generated 6 ValidatingAdmissionPolicies from 4 rules; 0 rules left to the webhook") {
		t.Errorf("summary: %q", errOut)
	}
	_, errOut, code = run(t, "admission", "vap")
	if code != ExitOK || !strings.Contains(errOut, "1 rule left to the webhook") || !strings.Contains(errOut, "credence-no-kev@v1/no-kev: a CEL rule over credence's Subject (scan)") {
		t.Errorf("default policy: exit %d %q", code, errOut)
	}
}

// syncBuffer is a bytes.Buffer safe for a server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAdmissionServe runs 'credence admission serve' as a user would (TLS
// from --self-signed, a policy file, a signed record) and checks decisions,
// a policy change seen by the next requests, a policy that does not compile
// refused while the previous one stays, and the record verifying.
func TestAdmissionServe(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	baseline := "apiVersion: policy.credence.dev/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n  packs: [{name: credence-pss-baseline@v1}]\n"
	os.WriteFile(pol, []byte(baseline), 0o644)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(dir, "admission.key")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	certs := filepath.Join(dir, "certs")
	record := filepath.Join(dir, "record.jsonl")

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	root := newRootCmd(&stdout, &stderr)
	root.SetArgs([]string{"admission", "serve", "--listen", "127.0.0.1:" + port, "--self-signed", certs, "--host", "127.0.0.1", "--policy", pol,
		"--offline", "--no-cluster-view", "--reload", "20ms", "--record", record, "--record-key", keyFile})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve ended with %v\n%s", err, stderr.String())
		}
	}()

	var client *http.Client
	deadline := time.Now().Add(20 * time.Second)
	for client == nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
		ca, err := os.ReadFile(filepath.Join(certs, "ca.crt"))
		if err != nil {
			continue
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		if resp, err := c.Get("https://127.0.0.1:" + port + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				client = c
			}
		}
	}
	decide := func(privileged bool) bool {
		t.Helper()
		sc := ""
		if privileged {
			sc = `,"securityContext":{"privileged":true}`
		}
		body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},` +
			`"namespace":"shop","name":"web","operation":"CREATE","userInfo":{"username":"alice"},"object":{"apiVersion":"v1","kind":"Pod",` +
			`"metadata":{"name":"web","namespace":"shop","uid":"pod-uid"},"spec":{"containers":[{"name":"app","image":"busybox"` + sc + `}]}}}}`
		resp, err := client.Post("https://127.0.0.1:"+port+"/validate", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rv struct {
			Response struct {
				Allowed bool `json:"allowed"`
			} `json:"response"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&rv); err != nil {
			t.Fatal(err)
		}
		return rv.Response.Allowed
	}
	if !decide(false) || decide(true) {
		t.Fatal("baseline: a plain pod must pass and a privileged one be denied")
	}
	// A policy change decides the next requests (file reload).
	os.WriteFile(pol, []byte(strings.Replace(baseline, "packs: [{name: credence-pss-baseline@v1}]", "rules: [{id: never, expression: 'false'}]", 1)), 0o644)
	until := time.Now().Add(10 * time.Second)
	for decide(false) {
		if time.Now().After(until) {
			t.Fatalf("the new policy was not seen:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A policy that does not compile is refused; the deny-all one stays.
	os.WriteFile(pol, []byte(strings.Replace(baseline, "credence-pss-baseline@v1", "credence-no-such-pack@v1", 1)), 0o644)
	until = time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "policy reload refused") {
		if time.Now().After(until) {
			t.Fatalf("no refusal logged:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if decide(false) {
		t.Error("after a refused reload the previous (deny-all) policy must stay")
	}
	if !strings.Contains(stderr.String(), "msg=admission") || !strings.Contains(stderr.String(), "decision=deny") {
		t.Errorf("one log line per decision:\n%s", stderr.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	done <- nil
	fh, _ := os.Open(record)
	defer fh.Close()
	sum, err := attest.VerifyRecord(fh, key.Public().(ed25519.PublicKey))
	if err != nil || sum.Entries < 4 || len(sum.Admitted.Workloads) < 1 {
		t.Fatalf("record: %v %+v", err, sum)
	}
}
