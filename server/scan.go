package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/store"
)

// imagePayload is an "image" job's: a digest and where a pod reads it
// from.
type imagePayload struct {
	Digest    string `json:"digest"`
	Namespace string `json:"namespace"`
	Reference string `json:"reference"`
	// ImageID is the pod status's imageID (repository@digest).
	ImageID     string   `json:"imageID"`
	Platform    string   `json:"platform,omitempty"`
	PullSecrets []string `json:"pullSecrets,omitempty"`
}

// errNoVersion: no database version is committed yet (the first re-match
// runs).
var errNoVersion = errors.New("no vulnerability-database version committed to the store yet")

// matchVersion returns this replica's database and the store's current
// version, which must be the same database: findings are recorded under
// the version they were matched with.
func (s *Server) matchVersion(ctx context.Context) (store.DBVersion, error) {
	_, info, err := s.db.current(ctx)
	if err != nil {
		return store.DBVersion{}, err
	}
	cur, err := s.st.CurrentDBVersion(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return cur, errNoVersion
	}
	if err != nil {
		return cur, err
	}
	if cur.ID != info.ID {
		s.kickDB()
		return cur, fmt.Errorf("this replica's vulnerability database (%s) is not the store's current version (%s): retried once it is", info.ID, cur.ID)
	}
	return cur, nil
}

// scan reads one image digest, once: Assess over a one-pod snapshot (the
// pod that runs it, so its namespace's pull secrets apply) with the store
// as its inventory cache, then records the image's findings under the
// store's current database version, or why it could not be read. The
// workloads waiting for it are queued in the same transaction.
func (s *Server) scan(ctx context.Context, j *store.Job) (func(*store.Tx) error, func(), error) {
	var p imagePayload
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.Digest == "" {
		return nil, nil, fmt.Errorf("image job %s: bad payload: %v", j.Key, err)
	}
	cur, err := s.matchVersion(ctx)
	if err != nil {
		return nil, nil, err
	}
	if known, err := s.image(ctx, p.Digest); err != nil {
		return nil, nil, err
	} else if known != nil && known.Status == assess.Scanned {
		// Scanned already (a scan queued again while it ran): only the
		// waiting workloads are left to queue.
		waiting, _ := s.waiting(ctx, p.Digest)
		return func(tx *store.Tx) error {
				return s.enqueueIn(ctx, tx, waiting, assessPayload{Cause: "image:" + p.Digest})
			},
			func() { _ = s.releaseWaiting(ctx, p.Digest, waiting) }, nil
	}
	src, _, err := s.db.current(ctx)
	if err != nil {
		return nil, nil, err
	}
	pod := cluster.Pod{Pod: corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: "credence-scan"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "image", Image: p.Reference}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "image", Image: p.Reference, ImageID: p.ImageID}}},
	}}
	for _, n := range p.PullSecrets {
		pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: n})
	}
	opts := []assess.Option{assess.WithCache(s.st), assess.WithTopCuts(0), assess.WithClock(s.o.clock), assess.WithPullSecrets(s.pullSecret)}
	opts = append(opts, s.o.imageOpts...)
	if p.Platform != "" {
		opts = append(opts, assess.WithPlatform(p.Platform)) // a multi-platform image as its node runs it
	}
	a, err := assess.Assess(ctx, &cluster.Snapshot{Source: "image job", Live: true, Pods: []cluster.Pod{pod}}, src, opts...)
	if err != nil {
		return nil, nil, err
	}
	s.m.imagesRead.Add(float64(a.Stats.ImagesRead))
	var img *assess.Image
	for _, i := range a.Images {
		if i.Digest == p.Digest {
			img = i
		}
	}
	if img == nil {
		img = &assess.Image{Digest: p.Digest, Status: assess.NotScanned, Reason: "the digest could not be resolved from " + p.ImageID}
		for _, i := range a.Images {
			if i.Reason != "" {
				img.Reason = i.Reason
			}
		}
	}
	if img.Status != assess.Scanned && j.Attempt < j.MaxAttempts {
		// Perhaps transient (a registry down): tried again before the
		// image is recorded as unknown.
		return nil, nil, fmt.Errorf("image %s not read: %s", p.Digest, img.Reason)
	}
	if img.Status == assess.Scanned {
		s.m.imagesMatched.WithLabelValues("scan").Inc()
	} else {
		s.o.log.Warn("image could not be read: unknown until retried", "digest", p.Digest, "reason", img.Reason, "retry_after", s.o.rescanFailed)
	}
	waiting, _ := s.waiting(ctx, p.Digest)
	results := func(tx *store.Tx) error {
		if m := store.MatchOf(img, cur.Seq); m != nil {
			if _, err := tx.RecordMatch(ctx, m); err != nil {
				return err
			}
			if img.Inventory != nil {
				b, _ := json.Marshal(img.Inventory)
				if err := tx.SetValue(ctx, kvSummary+p.Digest, b); err != nil {
					return err
				}
			}
		} else {
			b, _ := json.Marshal(failure{Reason: img.Reason, At: s.o.clock()})
			if err := tx.SetValue(ctx, kvFailed+p.Digest, b); err != nil {
				return err
			}
		}
		return s.enqueueIn(ctx, tx, waiting, assessPayload{Cause: "image:" + p.Digest})
	}
	after := func() {
		// Workloads that started waiting after the list was read.
		if err := s.releaseWaiting(ctx, p.Digest, waiting); err != nil {
			s.o.log.Warn("waiting workloads not queued; the next resync assesses them", "digest", p.Digest, "error", err)
		}
	}
	return results, after, nil
}

// waiting lists the workloads waiting for digest's scan.
func (s *Server) waiting(ctx context.Context, digest string) ([]string, int64) {
	b, ver, err := s.st.Value(ctx, kvWaiting+digest)
	if err != nil || len(b) == 0 {
		return nil, ver
	}
	var keys []string
	_ = json.Unmarshal(b, &keys)
	return keys, ver
}

// releaseWaiting queues the workloads waiting for digest that were not
// queued yet and empties the list.
func (s *Server) releaseWaiting(ctx context.Context, digest string, done []string) error {
	for range 20 {
		keys, ver := s.waiting(ctx, digest)
		if len(keys) == 0 {
			return nil
		}
		var rest []string
		for _, k := range keys {
			if !slices.Contains(done, k) {
				rest = append(rest, k)
			}
		}
		if len(rest) > 0 {
			if err := s.enqueueAssess(ctx, rest, assessPayload{Cause: "image:" + digest}); err != nil {
				return err
			}
			done = append(done, rest...)
		}
		err := s.st.SwapValue(ctx, kvWaiting+digest, ver, []byte("[]"))
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return errors.New("too many concurrent writers")
}

// enqueueIn queues "assess" jobs for keys within tx.
func (s *Server) enqueueIn(ctx context.Context, tx *store.Tx, keys []string, p assessPayload) error {
	for _, k := range keys {
		pl := p
		pl.Exists = s.w.exists(k)
		b, _ := json.Marshal(pl)
		if _, err := tx.Enqueue(ctx, store.NewJob{Key: kindAssess + ":" + k, Kind: kindAssess, Payload: b}); err != nil {
			return err
		}
	}
	return nil
}

// pullSecret reads a pull secret for the image job (assess.PullSecretFunc):
// from the API server, when it is read, never from the informer cache
// (which keeps no secret data).
func (s *Server) pullSecret(ctx context.Context, namespace, name string) ([]byte, error) {
	sec, err := s.cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if b := sec.Data[corev1.DockerConfigJsonKey]; len(b) > 0 {
		return b, nil
	}
	if b := sec.Data[corev1.DockerConfigKey]; len(b) > 0 {
		return b, nil
	}
	return nil, fmt.Errorf("secret %s/%s holds no registry credentials", namespace, name)
}
