package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/credence-dev/credence/store"
)

// Label jobs are claimed in batches and run together: the patches of many
// one-pod workloads are in flight at once (one at a time, the update would
// wait on a round trip per workload), never more than patchesInFlight, and
// every job is done once its pods carry the summary.
func TestLabelBatch(t *testing.T) {
	ctx := context.Background()
	st := tempStore(t)
	const workloads = 3 * labelBatch
	var objs []runtime.Object
	for i := range workloads {
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("p%03d", i)}})
	}
	fc := fake.NewClientset(objs...)
	var (
		mu             sync.Mutex
		inFlight, most int
		patched        int
	)
	// The fake clientset answers one call at a time; the round trip is
	// timed around it.
	cs := &slowPatches{Interface: fc, before: func() {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}, after: func() {
		mu.Lock()
		inFlight--
		patched++
		mu.Unlock()
	}}
	s := &Server{st: st, cs: cs, o: defaults(), db: newVulnSource(""), patches: make(chan struct{}, patchesInFlight)}
	s.m = newMetrics(s)
	s.w = newWatcher(cs, func(change) {})
	pods := s.w.byName["Pod"].inf.GetIndexer()
	for _, o := range objs {
		if err := pods.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	payload, _ := json.Marshal(labelPayload{Summary: Summary{Risk: 90, KEV: 1}, Why: "test"})
	for i := range workloads {
		if _, err := st.Enqueue(ctx, store.NewJob{Key: fmt.Sprintf("%s:shop/Pod/p%03d", kindLabel, i), Kind: kindLabel, Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.work(wctx, 0, false) }()
	allDone := func() bool {
		for i := range workloads {
			j, err := st.GetJob(ctx, fmt.Sprintf("%s:shop/Pod/p%03d", kindLabel, i))
			if err != nil || j.State != store.JobDone {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(time.Minute); !allDone() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	events, err := fc.CoreV1().Events("shop").List(ctx, metav1.ListOptions{})
	if err != nil || patched != workloads || len(events.Items) != workloads {
		t.Errorf("%d pods patched and %d Events recorded (%v), want %d of each", patched, len(events.Items), err, workloads)
	}
	if most <= 1 || most > patchesInFlight {
		t.Errorf("at most %d patches were in flight, want 2 to %d", most, patchesInFlight)
	}
	for i := range workloads {
		p, err := fc.CoreV1().Pods("shop").Get(ctx, fmt.Sprintf("p%03d", i), metav1.GetOptions{})
		if err != nil || p.Labels[LabelKEV] != "true" {
			t.Fatalf("pod p%03d: labels %v, %v", i, p.GetLabels(), err)
		}
		j, err := st.GetJob(ctx, fmt.Sprintf("%s:shop/Pod/p%03d", kindLabel, i))
		if err != nil || j.State != store.JobDone {
			t.Fatalf("job of p%03d: %+v, %v", i, j, err)
		}
	}
	t.Logf("%d one-pod workloads labelled, at most %d patches in flight", workloads, most)
}

// slowPatches calls before and after around every pod patch.
type slowPatches struct {
	kubernetes.Interface
	before, after func()
}

func (c *slowPatches) CoreV1() corev1client.CoreV1Interface {
	return &slowCore{CoreV1Interface: c.Interface.CoreV1(), c: c}
}

type slowCore struct {
	corev1client.CoreV1Interface
	c *slowPatches
}

func (c *slowCore) Pods(ns string) corev1client.PodInterface {
	return &slowPods{PodInterface: c.CoreV1Interface.Pods(ns), c: c.c}
}

type slowPods struct {
	corev1client.PodInterface
	c *slowPatches
}

func (p *slowPods) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, sub ...string) (*corev1.Pod, error) {
	p.c.before()
	defer p.c.after()
	return p.PodInterface.Patch(ctx, name, pt, data, opts, sub...)
}

// TestClaimVerdictsFirst: a worker takes the oldest scan or assessment
// before an older label job, and label jobs when nothing else waits.
func TestClaimVerdictsFirst(t *testing.T) {
	ctx := context.Background()
	st := tempStore(t)
	s := &Server{st: st, o: defaults()}
	past := time.Now().Add(-time.Minute)
	for i, j := range []store.NewJob{
		{Key: "label:shop/Deployment/a", Kind: kindLabel},
		{Key: "image:sha256:aa", Kind: kindImage},
		{Key: "assess:shop/Deployment/b", Kind: kindAssess},
	} {
		j.RunAfter = past.Add(time.Duration(i) * time.Second) // oldest first
		if _, err := st.Enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	tiers := [][]string{{kindRematch, kindImage, kindAssess}, {kindLabel}}
	for _, c := range []struct {
		scans bool
		want  string
	}{
		{false, "assess:shop/Deployment/b"}, // no scans here: the image job waits for another replica
		{true, "image:sha256:aa"},
		{true, "label:shop/Deployment/a"},
		{true, ""},
	} {
		j, err := s.claimNext(ctx, "test/0", tiers, c.scans)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if j != nil {
			got = j.Key
		}
		if got != c.want {
			t.Errorf("claimed %q, want %q", got, c.want)
		}
	}
}
