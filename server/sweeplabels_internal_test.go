package server

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/store"
)

// After a database update, the label changes of the sweep of every workload
// wait behind those of the workloads the update affects: jobs run in
// RunAfter order, and the sweep's are queued sweepLabelDelay debounce
// periods later (a job already queued keeps its earlier time).
func TestSweepLabelsWait(t *testing.T) {
	ctx := context.Background()
	st := tempStore(t)
	s := &Server{st: st, o: defaults()}
	eval := func(name string) *evaluation {
		w := assess.Workload{Namespace: "shop", Kind: "Deployment", Name: name}
		return &evaluation{key: store.WorkloadKey(w), subj: &assess.Subject{Workload: w}, decision: &policy.Decision{Outcome: policy.Allow}}
	}
	write := func(ev *evaluation, p assessPayload) *store.Job {
		t.Helper()
		if err := st.Update(ctx, func(tx *store.Tx) error { _, err := s.write(ctx, tx, ev, p); return err }); err != nil {
			t.Fatal(err)
		}
		j, err := st.GetJob(ctx, kindLabel+":"+ev.key)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	t0 := time.Now()
	affected := write(eval("affected"), assessPayload{Exists: true, Cause: "db:1", Since: t0})
	swept := write(eval("swept"), assessPayload{Exists: true, Cause: "db:1", Since: t0, Background: true})
	if affected.RunAfter.After(time.Now()) {
		t.Errorf("an affected workload's labels wait until %s", affected.RunAfter)
	}
	if want := t0.Add(sweepLabelDelay * s.o.debounce); swept.RunAfter.Before(want) {
		t.Errorf("the sweep's labels run after %s, want %s or later", swept.RunAfter, want)
	}
	// The sweep reaching a workload whose labels are queued does not
	// delay them.
	changed := eval("affected")
	changed.subj.Risk.Score = 12
	again := write(changed, assessPayload{Exists: true, Cause: "db:1", Since: t0, Background: true})
	if !again.RunAfter.Equal(affected.RunAfter) {
		t.Errorf("a queued label job moved from %s to %s", affected.RunAfter, again.RunAfter)
	}
}

// tempStore is an empty SQLite store in the test's temporary directory.
func tempStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "credence.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
