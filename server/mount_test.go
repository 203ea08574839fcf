package server_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/credence-dev/credence/admission"
	"github.com/credence-dev/credence/dashboard"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/server"
)

// One binary serves the API, the dashboard and the webhook: /ui/ behind the
// API's authentication, /validate (called by the API server with no token)
// deciding on its own, refusing what it cannot read.
func TestMounts(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "store.db"))
	toks, err := server.ParseStaticTokens(strings.NewReader(tokenFile), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.Compile(policy.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	webhook, err := admission.NewHandler(admission.NewPolicies(engine), admission.WithImages(admission.NewImageStore()))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(st, fake.NewClientset(), "mount test", server.WithDB("sample"), server.WithAuth(toks, toks),
		server.WithDashboard(dashboard.New(st)), server.WithAdmission(webhook))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String()
	}
	if code, _ := get("/ui/", ""); code != http.StatusUnauthorized {
		t.Errorf("/ui/ without a token: %d, want 401", code)
	}
	if code, body := get("/ui/", viewerToken); code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("/ui/ as a viewer: %d\n%.300s", code, body)
	}
	for _, review := range []string{
		`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"1","operation":"CREATE","kind":{"version":"v1","kind":"Pod"},"resource":{"version":"v1","resource":"pods"},"object":"not a pod"}}`,
		`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"1","kind":{"version":"v1","kind":"Pod"},"object":{"kind":"Pod","apiVersion":"v1"}}}`,
	} {
		resp, err := hs.Client().Post(hs.URL+"/validate", "application/json", strings.NewReader(review))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(b.String(), `"allowed":false`) {
			t.Errorf("/validate %s: %d %s, want a denial", review, resp.StatusCode, b.String())
		}
	}
}
