package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/credence-dev/credence/assess"
)

// Thresholds turn a risk score into the credence.dev/risk label.
type Thresholds struct {
	High   float64 // score at or above: high
	Medium float64 // score at or above: medium (below: low)
}

// DefaultThresholds: high from 50, medium from 20.
var DefaultThresholds = Thresholds{High: 50, Medium: 20}

// Risk levels, the values of the credence.dev/risk label.
const (
	LevelHigh    = "high"
	LevelMedium  = "medium"
	LevelLow     = "low"
	LevelUnknown = "unknown"
)

// Summary is the one annotation the server writes on a pod
// (credence.dev/summary). Every field is a bounded number, a boolean or one
// word of a fixed set: its size does not grow with the number of packages,
// findings or advisories, so nothing credence writes to the API server can
// grow etcd (trivy-operator #2335) or reach the request size limit
// (#441, #1680). Details are in the store and the API.
type Summary struct {
	// Risk is the workload's risk score, rounded (0–100).
	Risk int `json:"risk"`
	// Critical and KEV count the critical and KEV-listed findings of the
	// workload's images (each distinct image once).
	Critical int `json:"critical"`
	KEV      int `json:"kev"`
	// Unknown: the risk rests on facts credence could not establish (an
	// image not scanned, packages not checked): not safe.
	Unknown bool `json:"unknown"`
	// Decision is the policy's verdict: allow, warn or deny.
	Decision string `json:"decision,omitempty"`
}

// maxCount bounds the counts in a Summary (a count is never bigger than
// this in the annotation; the store has the exact figure).
const maxCount = 999999

// MaxSummaryBytes bounds the credence.dev/summary annotation: every count
// at maxCount, the longest verdict.
const MaxSummaryBytes = 96

// SummaryOf summarises a Subject, with its images' findings (by digest)
// and the decision's verdict.
func SummaryOf(s *assess.Subject, images map[string]*assess.Image, verdict string) Summary {
	sum := Summary{Risk: int(math.Round(s.Risk.Score)), Unknown: s.Risk.Unknown}
	seen := map[string]bool{}
	for _, c := range s.Containers {
		if c.Image.Status != assess.Scanned {
			sum.Unknown = true
		}
		d := c.Image.Digest
		if d == "" || seen[d] {
			continue
		}
		seen[d] = true
		if img := images[d]; img != nil {
			sum.Critical += img.Counts.BySeverity["critical"]
			sum.KEV += img.Counts.KEV
			if len(img.Unchecked) > 0 {
				sum.Unknown = true
			}
		}
	}
	sum.Risk = min(max(sum.Risk, 0), 100)
	sum.Critical, sum.KEV = min(sum.Critical, maxCount), min(sum.KEV, maxCount)
	switch verdict {
	case "allow", "warn", "deny":
		sum.Decision = verdict
	}
	return sum
}

// Level is the credence.dev/risk label: high at or above th.High even when
// some facts are unknown (what is known is already high); otherwise unknown
// when facts are missing (never low: unknown is not safe); else medium or
// low.
func (s Summary) Level(th Thresholds) string {
	switch r := float64(s.Risk); {
	case r >= th.High:
		return LevelHigh
	case s.Unknown:
		return LevelUnknown
	case r >= th.Medium:
		return LevelMedium
	}
	return LevelLow
}

// Annotation is the credence.dev/summary value.
func (s Summary) Annotation() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Labels are the labels the server sets on a workload's pods: the risk
// level, and credence.dev/kev=true while a KEV-listed finding is open (the
// label is removed otherwise, so `kubectl get pods -l credence.dev/kev`
// lists exactly the pods at risk of a known exploited vulnerability).
func (s Summary) Labels(th Thresholds) map[string]string {
	l := map[string]string{LabelRisk: s.Level(th)}
	if s.KEV > 0 {
		l[LabelKEV] = "true"
	}
	return l
}

// needsPatch reports whether a pod's labels and annotation differ from
// what the summary wants.
func needsPatch(p *corev1.Pod, s Summary, th Thresholds) bool {
	want := s.Labels(th)
	for _, k := range []string{LabelRisk, LabelKEV} {
		if p.Labels[k] != want[k] {
			return true
		}
	}
	return p.Annotations[AnnotationSummary] != s.Annotation()
}

// patchOf is the merge patch that sets the summary on a pod (a label set
// to null is removed).
func patchOf(s Summary, th Thresholds) []byte {
	labels := map[string]any{LabelRisk: s.Level(th), LabelKEV: nil}
	if s.KEV > 0 {
		labels[LabelKEV] = "true"
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"labels":      labels,
		"annotations": map[string]string{AnnotationSummary: s.Annotation()},
	}})
	return b
}

// labelPayload is a "label" job: what to write on a workload's pods.
type labelPayload struct {
	Summary Summary `json:"summary"`
	// Why is the risk's one-line reason (for an Event's message).
	Why string `json:"why,omitempty"`
	// Since and Cause: when the change began (a database update's time)
	// and what caused it ("db:ID"), for the update-to-label latency.
	Since time.Time `json:"since,omitzero"`
	Cause string    `json:"cause,omitempty"`
}

// patchesInFlight bounds the server's label patches in flight, over all
// the label jobs it runs at once (a worker's batch, every worker).
const patchesInFlight = 32

// rank orders levels for "crossing a threshold".
func rank(level string) int {
	switch level {
	case LevelHigh:
		return 3
	case LevelMedium, LevelUnknown:
		return 2
	case LevelLow:
		return 1
	}
	return 0
}

// label writes the summary on every live pod of the workload that does not
// carry it yet (compare first: no patch when nothing changes), and records
// a Kubernetes Event when the workload crosses into high risk or gains a
// KEV-listed finding. Pods that went away are skipped; other API errors fail
// the job (it is retried).
func (s *Server) label(ctx context.Context, key string, p labelPayload) error {
	if !s.o.labels && !s.o.events {
		return nil
	}
	pods := s.w.podsOf(key)
	if len(pods) == 0 {
		return nil
	}
	th := s.o.thresholds
	prevLevel, prevKEV := "", false
	for _, pod := range pods {
		if l, ok := pod.Labels[LabelRisk]; ok {
			prevLevel, prevKEV = l, pod.Labels[LabelKEV] == "true"
			break
		}
	}
	var patched atomic.Int64
	if s.o.labels {
		patch := patchOf(p.Summary, th)
		// Pods are patched several at a time, within the server's bound: a
		// workload of 1,000 replicas is bound by the client's rate limit,
		// not by one round trip at a time.
		g, gctx := errgroup.WithContext(ctx)
		for _, pod := range pods {
			if !needsPatch(pod, p.Summary, th) {
				s.m.labelPatches.WithLabelValues("unchanged").Inc()
				continue
			}
			select {
			case s.patches <- struct{}{}:
			case <-gctx.Done():
			}
			if gctx.Err() != nil {
				break
			}
			g.Go(func() error {
				defer func() { <-s.patches }()
				err := s.patchPod(gctx, pod.Namespace, pod.Name, patch)
				switch {
				case apierrors.IsNotFound(err):
					s.m.labelPatches.WithLabelValues("gone").Inc()
				case err != nil:
					s.m.labelPatches.WithLabelValues("error").Inc()
					return fmt.Errorf("label pod %s/%s: %w", pod.Namespace, pod.Name, err)
				default:
					patched.Add(1)
					s.m.labelPatches.WithLabelValues("patched").Inc()
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err // some pods were not patched: the job is not done
		}
	}
	if patched.Load() > 0 && !p.Since.IsZero() {
		d := s.o.clock().Sub(p.Since)
		s.m.updateToLabel.Observe(d.Seconds())
		s.noteLatency(p.Cause, "labels", key, d)
	}
	if !s.o.events {
		return nil
	}
	level := p.Summary.Level(th)
	var reason, msg string
	switch {
	case level == LevelHigh && prevLevel != LevelHigh && prevLevel != "":
		reason = "RiskRaised"
		msg = fmt.Sprintf("credence: risk %d is now high (was %s): %s", p.Summary.Risk, prevLevel, p.Why)
	case level == LevelHigh && prevLevel == "":
		reason = "RiskHigh"
		msg = fmt.Sprintf("credence: risk %d is high: %s", p.Summary.Risk, p.Why)
	case p.Summary.KEV > 0 && !prevKEV:
		reason = "KnownExploitedVulnerability"
		msg = fmt.Sprintf("credence: %s in the CISA KEV catalog, risk %d (%s): %s", countOf(p.Summary.KEV, "finding", "findings"), p.Summary.Risk, level, p.Why)
	default:
		return nil
	}
	return s.event(ctx, key, pods[0], reason, msg, p)
}

func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// event records one Kubernetes Event about the workload (its top-level
// object when cached, else the pod). The name is derived from what it
// says, so a retried job records it once.
func (s *Server) event(ctx context.Context, key string, pod *corev1.Pod, reason, msg string, p labelPayload) error {
	if len(msg) > 1000 {
		msg = msg[:1000] + "…"
	}
	ns, kind, name, _ := splitKey(key)
	ref := corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}
	if obj := s.w.get(kind, ns, name); obj != nil && kind != "Pod" {
		ref = corev1.ObjectReference{Kind: kind, APIVersion: apiVersionOf(kind), Namespace: ns, Name: name, UID: obj.GetUID()}
	}
	h := sha256.Sum256([]byte(key + "\x00" + reason + "\x00" + p.Summary.Annotation()))
	now := metav1.NewTime(s.o.clock())
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "credence." + hex.EncodeToString(h[:8]), Namespace: ns},
		InvolvedObject: ref, Reason: reason, Message: msg, Type: corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "credence"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "credence.dev/server", ReportingInstance: s.o.identity,
	}
	_, err := s.cs.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		return nil
	case err != nil:
		return fmt.Errorf("record event for %s: %w", key, err)
	}
	s.m.events.WithLabelValues(reason).Inc()
	return nil
}

func apiVersionOf(kind string) string {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet":
		return "apps/v1"
	case "Job", "CronJob":
		return "batch/v1"
	}
	return "v1"
}

// patchPod merges patch into a pod. The API server answers with the whole
// pod; against a real one the answer is read but not decoded (the informer
// brings the new pod anyway): at 5,000 pods that decoding was a tenth of
// what the server allocated while relabelling. A clientset without a REST
// client (a fake, in tests) takes the typed call.
func (s *Server) patchPod(ctx context.Context, ns, name string, patch []byte) error {
	opts := &metav1.PatchOptions{FieldManager: "credence"}
	if rc, ok := s.cs.CoreV1().RESTClient().(*rest.RESTClient); ok && rc != nil {
		return rc.Patch(types.MergePatchType).Namespace(ns).Resource("pods").Name(name).
			VersionedParams(opts, scheme.ParameterCodec).Body(patch).Do(ctx).Error()
	}
	_, err := s.cs.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, patch, *opts)
	return err
}
