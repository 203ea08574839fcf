package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/credence-dev/credence/store"
)

// A recorded event (a runtime alert) joins the workload's timeline once,
// however often it is recorded under the same key; bad events are refused.
func TestRecordedEvents(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newClock()
		s := open(t, b.dsn(t), store.WithClock(clk.Now))
		if _, err := s.PutSubject(ctx, subj("shop", "web", 40, "sha256:aa")); err != nil {
			t.Fatal(err)
		}
		at := clk.Add(time.Minute)
		ev := store.Event{Kind: store.AlertReceived, Workload: "shop/Deployment/web", Detail: "Terminal shell in container",
			Data: json.RawMessage(`{"rule":"Terminal shell in container"}`)}
		for i := range 2 {
			added, err := s.AddEvent(ctx, "alert:1", ev)
			if err != nil || added != (i == 0) {
				t.Fatalf("AddEvent #%d: added %v, %v", i+1, added, err)
			}
		}
		tl, err := s.Timeline(ctx, "shop/Deployment/web")
		if err != nil {
			t.Fatal(err)
		}
		var alerts []store.Event
		for _, e := range tl {
			if e.Kind == store.AlertReceived {
				alerts = append(alerts, e)
			}
		}
		if len(alerts) != 1 || !alerts[0].At.Equal(at) || !strings.Contains(string(alerts[0].Data), "Terminal shell") {
			t.Errorf("alerts on the timeline: %+v", alerts)
		}
		if _, err := s.AddEvent(ctx, "", ev); err == nil {
			t.Error("an event without a key was recorded")
		}
		if _, err := s.AddEvent(ctx, "x", store.Event{Kind: store.AlertReceived}); err == nil {
			t.Error("an event about nothing was recorded")
		}
		big := ev
		big.Data = json.RawMessage(`"` + strings.Repeat("a", 300<<10) + `"`)
		if _, err := s.AddEvent(ctx, "big", big); err == nil {
			t.Error("an event over the size limit was recorded")
		}
		if _, err := s.RecordedEvents(ctx, "shop/Deployment/none", time.Time{}, 0); err != nil {
			t.Errorf("no events: %v", err)
		}
		if _, err := s.Timeline(ctx, "shop/Deployment/none"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown workload: %v", err)
		}
	})
}
