package server

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/store"
)

// What is known of one image digest, from the store: scanned (its
// findings under the current database version), failed (it could not be
// read: unknown, with the reason), or pending (no scan yet).
type factState int

const (
	pending factState = iota
	scanned
	failed
)

// Keys of the server's bookkeeping in the store's key/value table.
const (
	kvFailed  = "image-failed:"  // + digest: why the image could not be read
	kvSummary = "image-summary:" // + digest: its inventory summary
	kvWaiting = "image-waiting:" // + digest: workloads waiting for its scan
)

// failure is why an image could not be read.
type failure struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// imageFact is what the graph needs of an image, kept in memory (small:
// no findings).
type imageFact struct {
	state   factState
	reason  string
	exploit assess.Exploit
	at      time.Time
}

// facts caches imageFacts for the store's current database version.
type facts struct {
	s *Server

	mu  sync.Mutex
	seq int64
	m   map[string]*imageFact
}

// reset drops the cache when the current database version moved.
func (f *facts) sync(seq int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if seq != f.seq || f.m == nil {
		f.seq, f.m = seq, map[string]*imageFact{}
	}
}

// fact returns what is known of digest: from the cache, else from the
// store (a pending or failed answer is re-read after a few seconds).
func (f *facts) fact(ctx context.Context, digest string) (*imageFact, error) {
	now := f.s.o.clock()
	f.mu.Lock()
	x, ok := f.m[digest]
	f.mu.Unlock()
	if ok && (x.state == scanned || now.Sub(x.at) < 5*time.Second) {
		return x, nil
	}
	img, err := f.s.image(ctx, digest)
	if err != nil {
		return nil, err
	}
	x = &imageFact{at: now}
	switch {
	case img == nil:
		x.state = pending
	case img.Status != assess.Scanned:
		x.state, x.reason = failed, img.Reason
		x.exploit = assess.DefaultModel.Container(img)
	default:
		x.state = scanned
		x.exploit = assess.DefaultModel.Container(img)
	}
	f.mu.Lock()
	f.m[digest] = x
	f.mu.Unlock()
	return x, nil
}

// image reads an image's facts from the store: its findings under the
// current database version (Status scanned), why it could not be read
// (Status unknown), or nil when it was never scanned.
func (s *Server) image(ctx context.Context, digest string) (*assess.Image, error) {
	f, err := s.st.Findings(ctx, digest)
	switch {
	case err == nil:
		// The matcher's order (the store keeps findings by key): equal
		// likelihoods rank in it, so the Subject is the one Assess makes.
		match.SortFindings(f.Findings)
		img := &assess.Image{Digest: digest, Status: assess.Scanned, Findings: f.Findings, Undecided: f.Undecided, Unchecked: f.Unchecked, Cached: true}
		img.Counts = assess.CountsOf(f.Findings, len(f.Undecided))
		if b, _, err := s.st.Value(ctx, kvSummary+digest); err == nil {
			var sum assess.Summary
			if json.Unmarshal(b, &sum) == nil {
				img.Inventory = &sum
			}
		}
		return img, nil
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	b, _, err := s.st.Value(ctx, kvFailed+digest)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	var fl failure
	if json.Unmarshal(b, &fl) != nil || fl.Reason == "" {
		fl.Reason = "could not be read"
	}
	return &assess.Image{Digest: digest, Status: assess.NotScanned, Reason: fl.Reason}, nil
}

// imageRefs resolves a pod's containers' images as the server knows them:
// the digest its status reports (what the node pulled), else a digest the
// spec pins; otherwise unresolved, with the reason. The server never asks a
// registry to resolve a tag: a running pod names its digest, and a pod that
// has not pulled yet is assessed when its status does.
func imageRefs(p *cluster.Pod) []assess.ImageRef {
	status := map[string]string{}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
		for _, cs := range list {
			status[cs.Name] = cs.ImageID
		}
	}
	var out []assess.ImageRef
	each := func(name, ref string) {
		r := assess.ImageRef{Reference: ref}
		// Status scanned is a placeholder for "resolved": PodSubject sets
		// what the image's scan says.
		if _, d := assess.DigestOf(status[name]); d != "" {
			r.Digest, r.ResolvedBy, r.Status = d, "status.imageID", assess.Scanned
		} else if _, d := assess.DigestOf(ref); d != "" && strings.Contains(ref, "@") {
			r.Digest, r.ResolvedBy, r.Status = d, "pinned", assess.Scanned
		} else {
			r.Status = assess.NotScanned
			switch {
			case p.Workload != "":
				r.Reason = "no live pod runs this workload and its image is not pinned by digest"
			default:
				r.Reason = "the pod's status names no image digest yet (not pulled); it is assessed when it does"
			}
		}
		out = append(out, r)
	}
	for _, c := range p.Spec.InitContainers {
		each(c.Name, c.Image)
	}
	for _, c := range p.Spec.Containers {
		each(c.Name, c.Image)
	}
	for _, c := range p.Spec.EphemeralContainers {
		each(c.Name, c.Image)
	}
	return out
}

// ScannedImages are the scanned images the store holds findings for under
// the current database version, for consumers that decide on images (the
// admission webhook mounted beside the API): read from the store, never by
// reading an image.
func (s *Server) ScannedImages(ctx context.Context) ([]*assess.Image, error) {
	digests, err := s.st.Digests(ctx)
	if err != nil {
		return nil, err
	}
	var out []*assess.Image
	for _, d := range digests {
		img, err := s.image(ctx, d)
		if err != nil {
			return nil, err
		}
		if img != nil && img.Status == assess.Scanned {
			out = append(out, img)
		}
	}
	return out, nil
}
