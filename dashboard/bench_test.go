package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/credence-dev/credence/dashboard"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/store"
)

// BenchmarkPages renders the dashboard's pages over a SQLite store of
// 10,000 workloads: the sample cluster's real Subjects (blast radii,
// paths, posture) under 10,000 names in 20 namespaces, each with a policy
// decision, running the sample's images (matched against the sample
// database, the web image with 37 findings). One op is one page, rendered
// by the handler into memory (no network). Run:
//
//	go test -run '^$' -bench Pages -benchtime 50x ./dashboard/
func BenchmarkPages(b *testing.B) {
	const n = 10000
	smp := sampleStore(b)
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)}
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "bench.db"), store.WithClock(clk.Now))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	v, err := st.BeginDBVersion(ctx, store.DBVersionInfo{ID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if err := recordMatches(ctx, st, smp.today, v.Seq); err != nil {
		b.Fatal(err)
	}
	if _, err := st.CommitDBVersion(ctx, v.Seq); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for lo := 0; lo < n; lo += 500 {
		err := st.Update(ctx, func(tx *store.Tx) error {
			for i := lo; i < lo+500; i++ {
				s := smp.today.Subjects[i%len(smp.today.Subjects)]
				s.Workload.Namespace = fmt.Sprintf("team-%02d", i%20)
				s.Workload.Name = fmt.Sprintf("%s-%05d", s.Workload.Name, i)
				s.Risk.Score = float64((i*7919)%1000) / 10
				if _, err := tx.PutSubject(ctx, &s); err != nil {
					return err
				}
				d := policy.Decision{Workload: store.WorkloadKey(s.Workload), Outcome: policy.Allow}
				data, _ := json.Marshal(d)
				if _, err := tx.PutDecision(ctx, store.WorkloadKey(s.Workload), store.Decision{Verdict: "allow", Data: data}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("10,000 workloads written in %v", time.Since(start).Round(time.Millisecond))
	h := dashboard.New(st, dashboard.WithClock(clk.Now))
	// A cursor deep in the list: the 5,000th workload.
	deep, err := st.ListWorkloads(ctx, store.ListOptions{Limit: 5000})
	if err != nil || len(deep) != 5000 {
		b.Fatal(len(deep), err)
	}
	mid := deep[len(deep)-1]
	web := smp.today.Subjects[0]
	for _, s := range smp.today.Subjects {
		if s.Workload.Name == "web" {
			web = s
		}
	}
	for _, c := range []struct{ name, path string }{
		{"ranked-first", "/ui/"},
		{"ranked-deep", fmt.Sprintf("/ui/?after=%s&score=%g&n=5000", mid.Key, mid.Score)},
		{"ranked-namespace-high", "/ui/?ns=team-07&risk=high"},
		{"workload-web", fmt.Sprintf("/ui/workloads/team-%02d/Deployment/web-%05d", 0, 0)},
		{"image-web", "/ui/images/" + webDigest},
	} {
		if c.name == "workload-web" {
			// Find a web copy's name: the i with Subjects[i%len] == web.
			for i := range len(smp.today.Subjects) {
				if smp.today.Subjects[i].Workload.Name == web.Workload.Name {
					c.path = fmt.Sprintf("/ui/workloads/team-%02d/%s/web-%05d", i%20, web.Workload.Kind, i)
				}
			}
		}
		b.Run(c.name, func(b *testing.B) {
			var size int
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", c.path, rec.Code, rec.Body.String()[:min(rec.Body.Len(), 2000)])
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}
