package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/store"
)

// Job kinds.
const (
	kindAssess  = "assess"  // one workload: its Subject and decision
	kindResync  = "resync"  // every workload, and those gone removed
	kindImage   = "image"   // read and match one digest
	kindRematch = "rematch" // a new database version: re-match stored inventories
	kindLabel   = "label"   // a workload's pods' labels, annotation, Events
)

// keyResyncDB is the key of the background sweep after a database update;
// the sweeps of the cluster (start-up, interval, a change every workload
// depends on) have kindResync as their key.
const keyResyncDB = "resync:db"

// assessPayload is an "assess" job's.
type assessPayload struct {
	// Exists is whether the scheduler saw the workload in the cluster: a
	// worker whose own view disagrees waits for its informers.
	Exists bool `json:"exists"`
	// Since is when the change began (a database update's time, for the
	// update-to-verdict latency); Cause what it was ("cluster", "db:ID",
	// "image:DIGEST", "resync").
	Since time.Time `json:"since,omitzero"`
	Cause string    `json:"cause,omitempty"`
	// Background: the sweep after a database update, whose label changes
	// wait behind those of the workloads the update affects.
	Background bool `json:"background,omitempty"`
}

// sweepLabelDelay, in debounce periods (30 s by default), is how long the
// label changes of the sweep after a database update wait.
const sweepLabelDelay = 15

// errLag: this replica's informers have not seen what the scheduler saw.
var errLag = errors.New("this replica's view of the cluster is behind the scheduler's; retried")

// evaluation is one workload's Subject and decision, or what it waits for.
type evaluation struct {
	key      string
	subj     *assess.Subject
	decision *policy.Decision
	summary  Summary
	// waiting: digests the workload runs that were never scanned; its
	// Subject is built once they are (never a transient "unknown").
	waiting []string
}

// evaluate builds one workload's Subject from the model (its graph, its
// pods) and the images' findings in the store, and decides about it. imgs
// caches images by digest across a batch (nil: not scanned yet).
func (s *Server) evaluate(ctx context.Context, m *model, key string, imgs map[string]*assess.Image) (*evaluation, error) {
	pods := m.groups[key]
	if len(pods) == 0 {
		return nil, fmt.Errorf("workload %s is not in the cluster", key)
	}
	ev := &evaluation{key: key}
	refs := m.refs[key]
	var used []*assess.Image
	for _, r := range refs {
		if r.Digest == "" {
			continue
		}
		img, ok := imgs[r.Digest]
		if !ok {
			var err error
			if img, err = s.image(ctx, r.Digest); err != nil {
				return nil, err
			}
			imgs[r.Digest] = img
		}
		if img == nil {
			if !slices.Contains(ev.waiting, r.Digest) {
				ev.waiting = append(ev.waiting, r.Digest)
			}
			continue
		}
		used = append(used, img)
	}
	if len(ev.waiting) > 0 {
		return ev, nil
	}
	subj, err := assess.PodSubject(assess.PodFacts{Pod: pods[0], Snapshot: m.snap, Posture: s.pe, Images: refs, Graph: m.g,
		Scanned: func(d string) *assess.Image { return imgs[d] }})
	if err != nil {
		return nil, err
	}
	ev.subj = &subj
	d := s.policy.Evaluate(policy.Input{Subject: &subj, Images: policy.NewImageIndex(used...), Now: s.o.clock()})
	ev.decision = &d
	ev.summary = SummaryOf(&subj, imgs, string(d.Outcome))
	return ev, nil
}

// write stores an evaluation in tx: the Subject and decision (versioned:
// an unchanged one writes nothing), and a "label" job when the Subject
// changed or a pod does not carry the summary yet. It reports whether the
// Subject or decision changed.
func (s *Server) write(ctx context.Context, tx *store.Tx, ev *evaluation, p assessPayload) (bool, error) {
	c, err := tx.PutSubject(ctx, ev.subj)
	if err != nil {
		return false, err
	}
	data, err := json.Marshal(ev.decision)
	if err != nil {
		return false, err
	}
	dc, err := tx.PutDecision(ctx, ev.key, store.Decision{Verdict: string(ev.decision.Outcome), Data: data})
	if err != nil {
		return false, err
	}
	changed := c.Changed || dc.Changed
	if !changed && !s.podsNeedSummary(ev.key, ev.summary) {
		return false, nil
	}
	lp := labelPayload{Summary: ev.summary, Why: clip(ev.subj.Risk.Why, 300), Cause: p.Cause}
	if strings.HasPrefix(p.Cause, "db:") {
		lp.Since = p.Since
	}
	b, _ := json.Marshal(lp)
	job := store.NewJob{Key: kindLabel + ":" + ev.key, Kind: kindLabel, Payload: b}
	if p.Background {
		// Jobs run in RunAfter order: the labels of the workloads the update
		// affects, queued over the next half minute, go out first. A job
		// already queued keeps its earlier time.
		job.RunAfter = tx.Now().Add(sweepLabelDelay * s.o.debounce)
	}
	_, err = tx.Enqueue(ctx, job)
	return changed, err
}

func (s *Server) podsNeedSummary(key string, sum Summary) bool {
	if !s.o.labels {
		return false
	}
	for _, p := range s.w.podsOf(key) {
		if needsPatch(p, sum, s.o.thresholds) {
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// assessBatch works a batch of "assess" jobs over one model: each job's
// writes commit with its completion.
func (s *Server) assessBatch(ctx context.Context, jobs []*store.Job) {
	t0 := time.Now()
	defer func() {
		s.m.jobSeconds.WithLabelValues(kindAssess).Observe(time.Since(t0).Seconds())
		s.m.batchSize.Observe(float64(len(jobs)))
	}()
	m, err := s.currentModel(ctx, false)
	if err == nil && s.disagrees(m, jobs) {
		m, err = s.currentModel(ctx, true)
	}
	if err != nil {
		for _, j := range jobs {
			s.fail(ctx, j, err)
		}
		return
	}
	imgs := map[string]*assess.Image{}
	var lat latencies
	for i, j := range jobs {
		if ctx.Err() != nil {
			return // the leases expire; another replica takes them
		}
		// A long batch moves to the newest model as it goes, so that the
		// one it began with can be freed while the cluster changes (a job
		// that sees its workload differently fails with errLag and is
		// tried again).
		if m, err = s.newer(ctx, m); err != nil {
			for _, j := range jobs[i:] {
				s.fail(ctx, j, err)
			}
			return
		}
		key := strings.TrimPrefix(j.Key, kindAssess+":")
		var p assessPayload
		_ = json.Unmarshal(j.Payload, &p)
		_, in := m.groups[key]
		switch {
		case p.Exists != in && j.Attempt < j.MaxAttempts:
			s.fail(ctx, j, errLag)
		case !in:
			s.complete(ctx, j, func(tx *store.Tx) error {
				_, err := tx.RemoveWorkload(ctx, key)
				return err
			})
		default:
			ev, err := s.evaluate(ctx, m, key, imgs)
			if err != nil {
				s.fail(ctx, j, err)
				continue
			}
			if len(ev.waiting) > 0 {
				if err := s.wait(ctx, m, key, ev.waiting, nil); err != nil {
					s.fail(ctx, j, err)
					continue
				}
				s.complete(ctx, j, nil)
				continue
			}
			var changed bool
			if s.complete(ctx, j, func(tx *store.Tx) (err error) {
				changed, err = s.write(ctx, tx, ev, p)
				return err
			}) && changed {
				lat.add(p, key, ev, s.o.clock())
			}
		}
	}
	s.logLatencies(lat, "verdict")
}

// disagrees reports whether a job's scheduler saw a workload this model
// does not (or the other way round): this replica's informers may lag.
func (s *Server) disagrees(m *model, jobs []*store.Job) bool {
	for _, j := range jobs {
		var p assessPayload
		_ = json.Unmarshal(j.Payload, &p)
		if _, in := m.groups[strings.TrimPrefix(j.Key, kindAssess+":")]; in != p.Exists {
			return true
		}
	}
	return false
}

// wait makes sure each digest a workload waits for is being scanned and
// that the scan re-assesses the workload once done. queued, when not nil,
// holds the digests whose scan the caller already queued (a sweep queues
// each once).
func (s *Server) wait(ctx context.Context, m *model, key string, digests []string, queued map[string]bool) error {
	for _, d := range digests {
		if err := s.addWaiting(ctx, d, key); err != nil {
			return err
		}
		if !queued[d] {
			if err := s.enqueueScan(ctx, m, d, key); err != nil {
				return err
			}
			if queued != nil {
				queued[d] = true
			}
		}
		// The scan may have finished between the evaluation and now: then
		// nobody else will re-assess this workload.
		if img, err := s.image(ctx, d); err == nil && img != nil {
			if err := s.enqueueAssess(ctx, []string{key}, assessPayload{Exists: true, Cause: "image:" + d}); err != nil {
				return err
			}
		}
	}
	return nil
}

// addWaiting adds key to the workloads waiting for digest's scan
// (compare-and-swap: replicas add concurrently).
func (s *Server) addWaiting(ctx context.Context, digest, key string) error {
	for range 20 {
		b, ver, err := s.st.Value(ctx, kvWaiting+digest)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var keys []string
		if len(b) > 0 {
			_ = json.Unmarshal(b, &keys)
		}
		if slices.Contains(keys, key) {
			return nil
		}
		if len(keys) >= 10000 {
			return nil // the resync covers the rest
		}
		nb, _ := json.Marshal(append(keys, key))
		err = s.st.SwapValue(ctx, kvWaiting+digest, ver, nb)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("waiting list of %s: too many concurrent writers", digest)
}

// enqueueScan queues the scan of digest, read as the pods of workload key
// reference it (their namespace's pull secrets).
func (s *Server) enqueueScan(ctx context.Context, m *model, digest, key string) error {
	p, ok := scanPayload(m.groups[key], digest, m.platforms)
	if !ok {
		return nil
	}
	b, _ := json.Marshal(p)
	_, err := s.st.Enqueue(ctx, store.NewJob{Key: kindImage + ":" + digest, Kind: kindImage, Payload: b, MaxAttempts: 3})
	if err == nil {
		s.wakeUp()
	}
	return err
}

// scanPayload describes where to read digest from, from a pod that runs it
// (and the platform of its node).
func scanPayload(pods []*cluster.Pod, digest string, platforms map[string]string) (imagePayload, bool) {
	for _, p := range pods {
		refs := imageRefs(p)
		for i, r := range refs {
			if r.Digest != digest {
				continue
			}
			ip := imagePayload{Digest: digest, Namespace: p.Namespace, Reference: r.Reference, Platform: platforms[p.Spec.NodeName]}
			name := containerName(p, i)
			for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
				for _, cs := range list {
					if cs.Name == name && cs.ImageID != "" {
						ip.ImageID = cs.ImageID
					}
				}
			}
			if ip.ImageID == "" {
				ip.ImageID = r.Reference
			}
			for _, ps := range p.Spec.ImagePullSecrets {
				ip.PullSecrets = append(ip.PullSecrets, ps.Name)
			}
			return ip, true
		}
	}
	return imagePayload{}, false
}

// enqueueAssess queues "assess" jobs for keys (in transactions of 500).
func (s *Server) enqueueAssess(ctx context.Context, keys []string, p assessPayload) error {
	for len(keys) > 0 {
		n := min(len(keys), 500)
		batch := keys[:n]
		keys = keys[n:]
		err := s.st.Update(ctx, func(tx *store.Tx) error {
			for _, k := range batch {
				pl := p
				pl.Exists = s.w.exists(k)
				b, _ := json.Marshal(pl)
				if _, err := tx.Enqueue(ctx, store.NewJob{Key: kindAssess + ":" + k, Kind: kindAssess, Payload: b}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	s.wakeUp()
	return nil
}

// resync evaluates every workload of the cluster, writes what changed,
// removes the workloads that went away, and queues the scans nobody asked
// for yet (images seen for the first time, failed ones due for a retry).
func (s *Server) resync(ctx context.Context, j *store.Job) error {
	var p assessPayload
	_ = json.Unmarshal(j.Payload, &p)
	if p.Cause == "" {
		p.Cause = "resync"
	}
	m, err := s.currentModel(ctx, true)
	if err != nil {
		return err
	}
	keys := m.keys()
	imgs := map[string]*assess.Image{}
	var lat latencies
	var evs []*evaluation
	flush := func() error {
		if len(evs) == 0 {
			return nil
		}
		var changed []*evaluation
		err := s.st.Update(ctx, func(tx *store.Tx) error {
			changed = changed[:0]
			for _, ev := range evs {
				c, err := s.write(ctx, tx, ev, p)
				if err != nil {
					return err
				}
				if c {
					changed = append(changed, ev)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, ev := range changed {
			lat.add(p, ev.key, ev, s.o.clock())
		}
		clear(evs) // what they hold of the model they were made on
		evs = evs[:0]
		return nil
	}
	// After a database update the affected workloads are assessed by jobs
	// of their own; this sweep (the blast radii through the changed
	// images) is background work: it waits while other jobs run (their
	// verdicts and labels first, for up to two minutes in all) and then
	// takes at most half of a core, leaving the rest to the API, the label
	// patches and the API server.
	background := strings.HasPrefix(p.Cause, "db:")
	p.Background = background
	yielded := time.Duration(0)
	scans := map[string]bool{}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, in := m.groups[k]; !in {
			continue // gone since the sweep began (see the removal below)
		}
		for background && yielded < 2*time.Minute && s.othersRunning(ctx) {
			s.sleep(ctx, 500*time.Millisecond)
			yielded += 500 * time.Millisecond
		}
		t0 := time.Now()
		ev, err := s.evaluate(ctx, m, k, imgs)
		if err != nil {
			return err
		}
		if background {
			s.sleep(ctx, time.Since(t0))
		}
		if len(ev.waiting) > 0 {
			// The sweep's view of an image is the one it had when it first
			// met it: the scan may have finished since (then wait queues
			// the workload itself).
			if err := s.wait(ctx, m, k, ev.waiting, scans); err != nil {
				return err
			}
			continue
		}
		evs = append(evs, ev)
		// A long sweep moves to the newest model as soon as there is one,
		// so that the one it began with can be freed while the cluster
		// changes; what it evaluated on the old one is written first.
		if l := s.latest.Load(); len(evs) == 100 || s.building.Load() != nil || (l != nil && l != m) {
			if err := flush(); err != nil {
				return err
			}
			if m, err = s.newer(ctx, m); err != nil {
				return err
			}
		}
		// Images that could not be read are tried again after a while.
		for _, c := range ev.subj.Containers {
			d := c.Image.Digest
			if d == "" || c.Image.Status == assess.Scanned || scans[d] {
				continue
			}
			scans[d] = true
			if s.failedLongAgo(ctx, d) {
				if err := s.enqueueScan(ctx, m, d, k); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if len(m.snap.GapsFor("Pod", "")) > 0 {
		// Pods cannot be listed: an empty view says nothing about what
		// went away, so nothing is removed.
		s.logLatencies(lat, "verdict")
		return nil
	}
	removed, err := s.st.RemoveWorkloadsExcept(ctx, m.keys())
	if err != nil {
		return err
	}
	if len(removed) > 0 {
		s.o.log.Info("workloads gone", "count", len(removed), "first", removed[0])
	}
	s.logLatencies(lat, "verdict")
	return nil
}

// othersRunning reports whether jobs besides the caller's are being worked
// (by any replica).
func (s *Server) othersRunning(ctx context.Context) bool {
	jc, err := s.st.JobCounts(ctx)
	return err == nil && jc[store.JobRunning] > 1
}

// failedLongAgo reports whether digest failed to be read more than
// RescanFailed ago.
func (s *Server) failedLongAgo(ctx context.Context, digest string) bool {
	b, _, err := s.st.Value(ctx, kvFailed+digest)
	if err != nil {
		return false
	}
	var f failure
	if json.Unmarshal(b, &f) != nil {
		return true
	}
	return s.o.rescanFailed > 0 && s.o.clock().Sub(f.At) > s.o.rescanFailed
}
