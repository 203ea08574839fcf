package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/credence-dev/credence/store"
)

// Namespaces and CountWorkloads agree with what was written: removed
// workloads and other times left out, filters applied as ListWorkloads
// applies them.
func TestNamespacesAndCounts(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newClock()
		s := open(t, b.dsn(t), store.WithClock(clk.Now))
		if ns, err := s.Namespaces(ctx); err != nil || len(ns) != 0 {
			t.Errorf("empty store: namespaces %v, %v", ns, err)
		}
		if n, at, err := s.CountWorkloads(ctx, store.ListOptions{}, 50); err != nil || n != 0 || len(at) != 1 || at[0] != 0 {
			t.Errorf("empty store: %d workloads (%v at least 50), %v", n, at, err)
		}
		type w struct {
			ns    string
			score float64
		}
		written := []w{{"shop", 80}, {"shop", 20}, {"shop", 5}, {"payments", 50}, {"kube-system", 15}, {"gone", 90}}
		for i, x := range written {
			if _, err := s.PutSubject(ctx, subj(x.ns, fmt.Sprintf("w%d", i), x.score, "sha256:x")); err != nil {
				t.Fatal(err)
			}
		}
		t0 := clk.Now()
		clk.Add(time.Minute)
		if ok, err := s.RemoveWorkload(ctx, "gone/Deployment/w5"); err != nil || !ok {
			t.Fatal(ok, err)
		}
		ns, err := s.Namespaces(ctx)
		if err != nil || !slices.Equal(ns, []string{"kube-system", "payments", "shop"}) {
			t.Errorf("namespaces %v, %v", ns, err)
		}
		if ns, _ := s.Namespaces(ctx, store.AsOf(t0)); !slices.Equal(ns, []string{"gone", "kube-system", "payments", "shop"}) {
			t.Errorf("namespaces before the removal: %v", ns)
		}
		for _, c := range []struct {
			lo   store.ListOptions
			want int
		}{
			{store.ListOptions{}, 5},
			{store.ListOptions{Namespace: "shop"}, 3},
			{store.ListOptions{MinScore: 15}, 4},
			{store.ListOptions{MinScore: 50}, 2},
			{store.ListOptions{Namespace: "shop", MinScore: 50}, 1},
			{store.ListOptions{Namespace: "nowhere"}, 0},
			{store.ListOptions{AsOf: t0, MinScore: 50}, 3},
			{store.ListOptions{Limit: 1, AfterScore: 80, AfterKey: "shop/Deployment/w0"}, 5}, // the cursor does not count
		} {
			n, at, err := s.CountWorkloads(ctx, c.lo, 15, 50, 1000)
			if err != nil || n != c.want {
				t.Errorf("count %+v = %d, %v; want %d", c.lo, n, err, c.want)
			}
			// The thresholds, counted from what was written.
			wantAt := []int{0, 0, 0}
			for i, x := range written {
				key := fmt.Sprintf("%s/Deployment/w%d", x.ns, i)
				if (key == "gone/Deployment/w5" && c.lo.AsOf.IsZero()) || (c.lo.Namespace != "" && x.ns != c.lo.Namespace) || x.score < c.lo.MinScore {
					continue
				}
				for j, th := range []float64{15, 50, 1000} {
					if x.score >= th {
						wantAt[j]++
					}
				}
			}
			if !slices.Equal(at, wantAt) {
				t.Errorf("count %+v at least 15, 50, 1000: %v, want %v", c.lo, at, wantAt)
			}
			all := c.lo
			all.Limit, all.AfterScore, all.AfterKey = 10000, 0, ""
			if l, err := s.ListWorkloads(ctx, all); err != nil || len(l) != n {
				t.Errorf("count %+v = %d, ListWorkloads lists %d (%v)", c.lo, n, len(l), err)
			}
		}
	})
}
