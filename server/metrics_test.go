package server_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/server"
	"github.com/credence-dev/credence/store"
)

// With 600 images (each with its own findings, CVE ids all different) run
// by 600 workloads in 300 namespaces, /metrics holds the same families as
// with one, no label value names an image, a finding or a pod, and the
// namespace label stops at its bound ("other" beyond it): the number of
// series does not grow with images or findings.
func TestMetricsCardinality(t *testing.T) {
	ctx := context.Background()
	counts := map[int]int{}
	for _, n := range []int{1, 600} {
		st := openStore(t, filepath.Join(t.TempDir(), "credence.db"))
		v, err := st.BeginDBVersion(ctx, store.DBVersionInfo{ID: "test"})
		if err != nil {
			t.Fatal(err)
		}
		err = st.Update(ctx, func(tx *store.Tx) error {
			for i := range n {
				d := fmt.Sprintf("sha256:%064x", i+1)
				var fs []match.Finding
				for j := range 5 {
					fs = append(fs, match.Finding{ID: fmt.Sprintf("CVE-2026-%05d", i*5+j), Severity: match.Severity{Level: []match.Level{"critical", "high", "medium", "low", "unknown"}[j]},
						Package: &inventory.Package{Name: fmt.Sprintf("pkg%d", j), Version: "1", Type: "apk"}})
				}
				if _, err := tx.RecordMatch(ctx, &store.ImageMatch{Digest: d, DBVersion: v.Seq, Findings: fs}); err != nil {
					return err
				}
				subj := &assess.Subject{Version: assess.SchemaVersion,
					Workload:   assess.Workload{Namespace: fmt.Sprintf("ns-%03d", i%300), Kind: "Deployment", Name: fmt.Sprintf("w%d", i)},
					Containers: []assess.Container{{Name: "app", Image: assess.ImageRef{Digest: d, Status: assess.Scanned}}},
					Risk:       assess.Risk{Score: float64(i % 100)}}
				if _, err := tx.PutSubject(ctx, subj); err != nil {
					return err
				}
				if _, err := tx.PutDecision(ctx, store.WorkloadKey(subj.Workload), store.Decision{Verdict: []string{"allow", "warn", "deny"}[i%3]}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CommitDBVersion(ctx, v.Seq); err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(st, fake.NewClientset(), "metrics test", server.WithDB("sample"), server.WithAnonymousRead())
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv.Handler())
		c := &client{t: t, base: hs.URL, hc: hs.Client()}
		mf := scrape(t, c, "")
		hs.Close()
		checkBounded(t, mf)
		series := 0
		for name, f := range mf {
			if !strings.HasPrefix(name, "credence_") {
				continue
			}
			series += len(f.Metric)
			for _, m := range f.Metric {
				for _, l := range m.Label {
					if l.GetName() == "namespace" && !strings.HasPrefix(l.GetValue(), "ns-") && l.GetValue() != "other" {
						t.Errorf("namespace label %q", l.GetValue())
					}
				}
			}
		}
		if v, ok := value(mf, "credence_findings", map[string]string{"severity": "critical"}); !ok || v != float64(n) {
			t.Errorf("%d images: critical findings %v", n, v)
		}
		if v, ok := value(mf, "credence_workloads", map[string]string{"namespace": "other"}); n == 600 && (!ok || v == 0) {
			t.Errorf("no workloads counted under namespace=other beyond the bound")
		}
		counts[n] = series
	}
	// Series grow with namespaces up to the bound (200 namespaces × risk
	// levels and verdicts), never with images or findings.
	if max := counts[1] + 2*(200+1)*4; counts[600] > max {
		t.Errorf("%d series with 600 images, %d with one: over the bound %d", counts[600], counts[1], max)
	}
	t.Logf("credence_* series: %d with 1 image, %d with 600 images in 300 namespaces", counts[1], counts[600])
}

// A static token file: the kube-apiserver's format; short tokens and bad
// lines refused; groups grant what they name.
func TestStaticTokens(t *testing.T) {
	for _, bad := range []string{"", "short,ann,1\n", "0123456789abcdef0123,ann\n", `"unterminated`} {
		if _, err := server.ParseStaticTokens(strings.NewReader(bad), "bad"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	toks, err := server.ParseStaticTokens(strings.NewReader(tokenFile+"# comment\nadmin-token-0123456789ab,root,3,\"credence:admins\"\n"), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		token string
		a     server.Access
		want  bool
	}{
		{viewerToken, server.Access{Verb: "list", Resource: "subjects"}, true},
		{viewerToken, server.Access{Verb: "get", Path: "/metrics"}, true},
		{viewerToken, server.Access{Verb: "create", Resource: "alerts"}, false},
		{alertToken, server.Access{Verb: "create", Resource: "alerts"}, true},
		{alertToken, server.Access{Verb: "get", Resource: "subjects"}, false},
		{"admin-token-0123456789ab", server.Access{Verb: "create", Resource: "alerts"}, true},
	} {
		u, err := toks.Authenticate(ctx, tc.token)
		if err != nil || u == nil {
			t.Fatalf("%s: not authenticated: %v", tc.token, err)
		}
		if ok, why, _ := toks.Authorize(ctx, u, tc.a); ok != tc.want {
			t.Errorf("%s %+v: %v (%s)", u.Name, tc.a, ok, why)
		}
	}
	if u, _ := toks.Authenticate(ctx, viewerToken+"x"); u != nil {
		t.Error("a wrong token authenticated")
	}
}
