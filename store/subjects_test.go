package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/store"
)

func subj(ns, name string, score float64, digest string) *assess.Subject {
	return &assess.Subject{Version: assess.SchemaVersion,
		Workload:   assess.Workload{Namespace: ns, Kind: "Deployment", Name: name, Pod: name + "-abc"},
		Containers: []assess.Container{{Name: "app", Image: assess.ImageRef{Reference: "r/" + name, Digest: digest, Status: assess.Scanned}}},
		Risk:       assess.Risk{Score: score, Why: fmt.Sprintf("score %v", score)}}
}

func TestSubjectsAndDecisions(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newClock()
		s := open(t, b.dsn(t), store.WithClock(clk.Now))
		t0 := clk.Now()
		for i, sc := range []float64{10, 50, 30, 50} {
			if c, err := s.PutSubject(ctx, subj("shop", fmt.Sprintf("w%d", i), sc, fmt.Sprintf("sha256:%d", i%2))); err != nil || !c.Changed {
				t.Fatalf("put: %v %v", c, err)
			}
		}
		s.PutSubject(ctx, subj("other", "x", 99, "sha256:9"))
		list, err := s.ListWorkloads(ctx, store.ListOptions{Namespace: "shop"})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, w := range list {
			keys = append(keys, w.Key)
		}
		if want := []string{"shop/Deployment/w1", "shop/Deployment/w3", "shop/Deployment/w2", "shop/Deployment/w0"}; !slices.Equal(keys, want) {
			t.Errorf("ranked: %v, want %v", keys, want)
		}
		if list[0].Digests["app"] != "sha256:1" || list[0].Score != 50 || !list[0].Since.Equal(t0) {
			t.Errorf("summary: %+v", list[0])
		}
		// Keyset pages.
		page, _ := s.ListWorkloads(ctx, store.ListOptions{Limit: 2})
		next, _ := s.ListWorkloads(ctx, store.ListOptions{Limit: 2, AfterScore: page[1].Score, AfterKey: page[1].Key})
		if len(page) != 2 || page[0].Key != "other/Deployment/x" || len(next) != 2 || next[0].Key != "shop/Deployment/w3" {
			t.Errorf("pages: %v then %v", page, next)
		}
		if ws, _ := s.WorkloadsRunning(ctx, []string{"sha256:1"}); !slices.Equal(ws, []string{"shop/Deployment/w1", "shop/Deployment/w3"}) {
			t.Errorf("running sha256:1: %v", ws)
		}
		if ds, _ := s.Digests(ctx); !slices.Equal(ds, []string{"sha256:0", "sha256:1", "sha256:9"}) {
			t.Errorf("digests: %v", ds)
		}

		// Same content: nothing written; new image: a new version.
		if c, _ := s.PutSubject(ctx, subj("shop", "w0", 10, "sha256:0")); c.Changed {
			t.Error("unchanged Subject written")
		}
		t1 := clk.Add(time.Hour)
		if c, _ := s.PutSubject(ctx, subj("shop", "w0", 100, "sha256:5")); !c.Changed || !c.Previous.Equal(t0) {
			t.Errorf("changed Subject: %+v", c)
		}
		if d := mustDecision(t, s, "shop/Deployment/w0", "allow"); !d.Changed {
			t.Error("first decision not written")
		}
		if d := mustDecision(t, s, "shop/Deployment/w0", "allow"); d.Changed {
			t.Error("same decision written again")
		}
		t2 := clk.Add(time.Hour)
		mustDecision(t, s, "shop/Deployment/w0", "deny")
		if d, err := s.GetDecision(ctx, "shop/Deployment/w0", store.AsOf(t1)); err != nil || d.Verdict != "allow" {
			t.Errorf("decision as of t1: %+v %v", d, err)
		}
		if l, _ := s.ListWorkloads(ctx, store.ListOptions{Limit: 1}); l[0].Key != "shop/Deployment/w0" || l[0].Verdict != "deny" {
			t.Errorf("top now: %+v", l[0])
		}
		if l, _ := s.ListWorkloads(ctx, store.ListOptions{Limit: 1, AsOf: t0}); l[0].Key != "other/Deployment/x" {
			t.Errorf("top as of t0: %+v", l[0])
		}
		ev, err := s.WorkloadTimeline(ctx, "shop/Deployment/w0")
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range ev {
			kinds = append(kinds, string(e.Kind)+"@"+e.At.Sub(t0).String())
		}
		if want := []string{"first-seen@0s", "image-changed@1h0m0s", "risk-changed@1h0m0s", "decision-changed@1h0m0s", "decision-changed@2h0m0s"}; !slices.Equal(kinds, want) {
			t.Errorf("timeline %v, want %v", kinds, want)
		}
		_ = t2
		// A full resync removes what is gone.
		removed, err := s.RemoveWorkloadsExcept(ctx, []string{"shop/Deployment/w0", "shop/Deployment/w1"})
		if err != nil || !slices.Equal(removed, []string{"other/Deployment/x", "shop/Deployment/w2", "shop/Deployment/w3"}) {
			t.Errorf("resync removed %v, %v", removed, err)
		}
		if ds, _ := s.Digests(ctx); !slices.Equal(ds, []string{"sha256:1", "sha256:5"}) {
			t.Errorf("digests after resync: %v", ds)
		}
		// It comes back.
		clk.Add(time.Hour)
		s.PutSubject(ctx, subj("shop", "w2", 30, "sha256:0"))
		ev, _ = s.WorkloadTimeline(ctx, "shop/Deployment/w2")
		if len(ev) != 3 || ev[1].Kind != store.Removed || ev[2].Kind != store.Returned {
			t.Errorf("w2 timeline: %+v", ev)
		}
		// Bad input.
		bad := subj("shop", "", 1, "")
		if _, err := s.PutSubject(ctx, bad); err == nil {
			t.Error("Subject without a name stored")
		}
		if _, err := s.PutDecision(ctx, "shop/Deployment/w0", store.Decision{Verdict: "deny", Data: json.RawMessage("{")}); err == nil {
			t.Error("decision with broken JSON stored")
		}
	})
}

func mustDecision(t testing.TB, s *store.Store, key, verdict string) store.Change {
	t.Helper()
	c, err := s.PutDecision(context.Background(), key, store.Decision{Verdict: verdict, Data: json.RawMessage(`{"verdict":"` + verdict + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
