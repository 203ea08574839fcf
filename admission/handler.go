package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/posture"
	"github.com/credence-dev/credence/provenance"
)

// Policies holds the compiled policy the webhook evaluates; Set swaps it
// atomically, so a new policy decides the very next request.
type Policies struct{ e atomic.Pointer[policy.Engine] }

// NewPolicies holds e.
func NewPolicies(e *policy.Engine) *Policies {
	p := &Policies{}
	p.e.Store(e)
	return p
}

// Engine is the current policy.
func (p *Policies) Engine() *policy.Engine { return p.e.Load() }

// Set replaces the policy.
func (p *Policies) Set(e *policy.Engine) { p.e.Store(e) }

// Defaults of a Handler.
const (
	// DefaultDeadline bounds the work on one request (tag look-ups,
	// verifications, the graph delta) when the API server does not say its
	// timeout; with ?timeout=T the deadline is T less a fifth (at least
	// 300 ms less), so the answer always beats the API server's own timer.
	DefaultDeadline = 8 * time.Second
	maxWarnings     = 10
	maxWarningLen   = 400
	maxMessageLen   = 4000
)

// Handler is the validating admission webhook: an http.Handler that takes
// AdmissionReview v1 requests and answers allow, warn or deny from the
// policy, evaluated on every request. Build it with NewHandler; mount it
// where the webhook configuration points (credence serves it at
// /validate).
type Handler struct {
	policies *Policies
	o        handlerOptions
	pe       *posture.Evaluator
	stats    handlerStats
}

type handlerOptions struct {
	verdicts *VerdictCache
	images   *ImageStore
	resolver Resolver
	blast    *Blast
	owners   Owners
	record   *attest.RecordWriter
	self     []string
	log      *slog.Logger
	maxBody  int64
	deadline time.Duration
	now      func() time.Time
}

type handlerStats struct {
	requests, allowed, warned, denied, errors atomic.Int64
}

// Option configures a Handler.
type Option func(*handlerOptions) error

// WithVerdicts verifies provenance through c (without it provenance is
// "not-checked": unknown, and rules that read it fail unless they say
// otherwise).
func WithVerdicts(c *VerdictCache) Option {
	return func(o *handlerOptions) error { o.verdicts = c; return nil }
}

// WithImages reads scan results (findings) from s.
func WithImages(s *ImageStore) Option {
	return func(o *handlerOptions) error {
		if s == nil {
			return errors.New("nil image store")
		}
		o.images = s
		return nil
	}
}

// WithResolver resolves image tags to digests (a registry); without it a
// tag resolves only through an assessment in the ImageStore, or not at all.
func WithResolver(r Resolver) Option {
	return func(o *handlerOptions) error { o.resolver = r; return nil }
}

// WithBlast computes blast radius and new paths to critical assets from a
// cluster view (the graph-delta gate); it also names pods' owners.
func WithBlast(b *Blast) Option {
	return func(o *handlerOptions) error {
		o.blast = b
		if b != nil && o.owners == nil {
			o.owners = b.view
		}
		return nil
	}
}

// WithOwners names live pods' top-level controllers (default: the Blast's
// cluster view, else the pod's own controller reference).
func WithOwners(ow Owners) Option {
	return func(o *handlerOptions) error { o.owners = ow; return nil }
}

// WithRecord appends every decision to a signed admission record. A
// decision that cannot be recorded is a denial: an unrecorded admission
// cannot be reconciled later.
func WithRecord(w *attest.RecordWriter) Option {
	return func(o *handlerOptions) error { o.record = w; return nil }
}

// WithSelf excludes requests made by these users (the webhook's own
// service account, "system:serviceaccount:NS:NAME"): they are allowed
// without evaluation, so the webhook can never lock itself out. The
// generated configuration excludes them too; this is the defensive check.
func WithSelf(usernames ...string) Option {
	return func(o *handlerOptions) error { o.self = append(o.self, usernames...); return nil }
}

// WithLogger logs one line per decision (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *handlerOptions) error { o.log = l; return nil }
}

// WithMaxBodyBytes bounds a review (default DefaultMaxBodyBytes).
func WithMaxBodyBytes(n int64) Option {
	return func(o *handlerOptions) error {
		if n < 1<<10 {
			return fmt.Errorf("max body %d: at least 1 KiB", n)
		}
		o.maxBody = n
		return nil
	}
}

// WithDeadline bounds the work on one request (see DefaultDeadline).
func WithDeadline(d time.Duration) Option {
	return func(o *handlerOptions) error {
		if d <= 0 {
			return fmt.Errorf("deadline %s: must be positive", d)
		}
		o.deadline = d
		return nil
	}
}

// WithClock sets the clock exemptions expire against (tests).
func WithClock(now func() time.Time) Option {
	return func(o *handlerOptions) error { o.now = now; return nil }
}

// NewHandler builds the webhook around the policies.
func NewHandler(p *Policies, opts ...Option) (*Handler, error) {
	if p == nil || p.Engine() == nil {
		return nil, errors.New("admission: a compiled policy is required")
	}
	o := handlerOptions{maxBody: DefaultMaxBodyBytes, deadline: DefaultDeadline, now: time.Now,
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), images: NewImageStore()}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, fmt.Errorf("admission: %w", err)
		}
	}
	pe, err := posture.NewEvaluator()
	if err != nil {
		return nil, err
	}
	return &Handler{policies: p, o: o, pe: pe}, nil
}

// ServeHTTP answers one AdmissionReview. A body that is not one (wrong
// method or type, too large, malformed) gets HTTP 400/405/413/415 with the
// reason: the API server then applies the webhook's failurePolicy (Fail:
// the request is refused), so nothing is admitted by accident.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h.stats.requests.Add(1)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, "credence admission: POST an AdmissionReview")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		h.fail(w, http.StatusUnsupportedMediaType, "credence admission: Content-Type "+ct+", want application/json")
		return
	}
	rv, err := DecodeReview(http.MaxBytesReader(w, r.Body, h.o.maxBody))
	if err != nil {
		code := http.StatusBadRequest
		var mb *http.MaxBytesError
		if errors.As(err, &mb) || strings.Contains(err.Error(), "over ") {
			code = http.StatusRequestEntityTooLarge
		}
		h.fail(w, code, "credence admission: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.deadline(r))
	defer cancel()
	out := h.Review(ctx, rv.Request)
	out.LatencyMs = float64(time.Since(start).Microseconds()) / 1000
	h.log(out)
	b, err := json.Marshal(reviewResponse(string(rv.Request.UID), out.response()))
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "credence admission: encode response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (h *Handler) fail(w http.ResponseWriter, code int, msg string) {
	h.stats.errors.Add(1)
	h.o.log.Warn("admission request refused", "status", code, "error", msg)
	http.Error(w, msg, code)
}

// deadline is the time this request may take: the configured deadline, cut
// below the API server's own timeout (the ?timeout= it sends).
func (h *Handler) deadline(r *http.Request) time.Duration {
	d := h.o.deadline
	if t, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && t > 0 {
		margin := max(t/5, 300*time.Millisecond)
		if t-margin < d {
			d = max(t-margin, 50*time.Millisecond)
		}
	}
	return d
}

// Outcome is one decision as the webhook logs and records it.
type Outcome struct {
	UID         string `json:"uid"`
	Operation   string `json:"operation"`
	Kind        string `json:"kind"`
	SubResource string `json:"subResource,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name"`
	// Workload is "namespace/Kind/name" of what was judged.
	Workload string `json:"workload,omitempty"`
	User     string `json:"user"`
	DryRun   bool   `json:"dryRun,omitempty"`
	// Decision is allow, warn or deny.
	Decision string `json:"decision"`
	// Reason says why no policy was evaluated (own service account, spec
	// unchanged, kind not judged) or why the request was refused (malformed).
	Reason string `json:"reason,omitempty"`
	// Policy is the policy's decision: every rule that did not pass, with
	// its evidence.
	Policy *policy.Decision `json:"policy,omitempty"`
	// Affected are the decisions on other workloads a binding or
	// NetworkPolicy changes (judged on their new paths only).
	Affected []policy.Decision `json:"affected,omitempty"`
	// Images are the containers' images as resolved and verified.
	Images []ImageOutcome `json:"images,omitempty"`
	// Pod is the admitted pod's identity.
	Pod        *PodIdentity `json:"pod,omitempty"`
	BreakGlass *BreakGlass  `json:"breakGlass,omitempty"`
	Notes      []string     `json:"notes,omitempty"`
	// Record is the decision's seq in the signed admission record.
	Record    uint64  `json:"record,omitempty"`
	LatencyMs float64 `json:"latencyMs"`

	status   int32
	message  string
	warnings []string
	admitted []attest.AdmittedWorkload
}

// ImageOutcome is one container's image.
type ImageOutcome struct {
	Container  string `json:"container"`
	Reference  string `json:"reference"`
	Digest     string `json:"digest,omitempty"`
	ResolvedBy string `json:"resolvedBy,omitempty"`
	Scanned    bool   `json:"scanned"`
	// Provenance is the verdict's status, Step the failed step, Signer who
	// signed, Served how the verdict was obtained (cache, verified,
	// coalesced, deadline).
	Provenance string `json:"provenance"`
	Step       string `json:"step,omitempty"`
	Signer     string `json:"signer,omitempty"`
	Served     Served `json:"served,omitempty"`
	// Needs are the facts the policy reads about this image.
	Needs []string `json:"needs,omitempty"`
}

// PodIdentity names a pod and what it runs as.
type PodIdentity struct {
	UID            string `json:"uid,omitempty"`
	Name           string `json:"name"`
	ServiceAccount string `json:"serviceAccount"`
}

func (o *Outcome) response() *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{Allowed: o.Decision != string(policy.Deny), Warnings: o.warnings}
	if !resp.Allowed {
		code := o.status
		if code == 0 {
			code = http.StatusForbidden
		}
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: metav1.StatusReasonForbidden, Message: o.message}
		if code == http.StatusBadRequest {
			resp.Result.Reason = metav1.StatusReasonBadRequest
		}
	}
	return resp
}

func (h *Handler) log(o *Outcome) {
	switch o.Decision {
	case string(policy.Deny):
		h.stats.denied.Add(1)
	case string(policy.WarnOutcome):
		h.stats.warned.Add(1)
	default:
		h.stats.allowed.Add(1)
	}
	var rules []string
	if o.Policy != nil {
		for _, f := range o.Policy.Failures {
			if f.Effect != policy.EffectPass {
				rules = append(rules, f.Rule+"="+string(f.Effect))
			}
		}
	}
	for _, a := range o.Affected {
		for _, f := range a.Failures {
			rules = append(rules, a.Workload+":"+f.Rule+"="+string(f.Effect))
		}
	}
	var imgs []string
	for _, im := range o.Images {
		s := im.Reference
		if im.Digest != "" && !strings.Contains(s, "@") {
			s += "@" + im.Digest
		}
		imgs = append(imgs, s+" provenance="+im.Provenance+"/"+string(im.Served))
	}
	attrs := []any{"uid", o.UID, "op", o.Operation, "kind", o.Kind, "ns", o.Namespace, "name", o.Name, "user", o.User,
		"decision", o.Decision, "latency_ms", o.LatencyMs}
	if o.Workload != "" {
		attrs = append(attrs, "workload", o.Workload)
	}
	if o.DryRun {
		attrs = append(attrs, "dry_run", true)
	}
	if o.Reason != "" {
		attrs = append(attrs, "reason", o.Reason)
	}
	if len(rules) > 0 {
		attrs = append(attrs, "rules", strings.Join(rules, ","))
	}
	if len(imgs) > 0 {
		attrs = append(attrs, "images", strings.Join(imgs, ";"))
	}
	if o.BreakGlass != nil {
		attrs = append(attrs, "break_glass", o.BreakGlass.Ticket)
	}
	if o.Record > 0 {
		attrs = append(attrs, "record", o.Record)
	}
	h.o.log.Info("admission", attrs...)
}

// Stats counts requests and decisions.
type Stats struct {
	Requests int64 `json:"requests"`
	Allowed  int64 `json:"allowed"`
	Warned   int64 `json:"warned"`
	Denied   int64 `json:"denied"`
	// Errors are requests refused before a decision (malformed reviews).
	Errors int64 `json:"errors"`
}

// Stats returns the counters.
func (h *Handler) Stats() Stats {
	return Stats{Requests: h.stats.requests.Load(), Allowed: h.stats.allowed.Load(), Warned: h.stats.warned.Load(),
		Denied: h.stats.denied.Load(), Errors: h.stats.errors.Load()}
}

// Review decides one admission request. It never returns an error: every
// failure is an outcome (a malformed object is denied; a check that could
// not complete follows the policy's failure mode).
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) *Outcome {
	o := &Outcome{UID: string(req.UID), Operation: string(req.Operation), Kind: req.Kind.Kind, SubResource: req.SubResource,
		Namespace: req.Namespace, Name: req.Name, User: req.UserInfo.Username, DryRun: req.DryRun != nil && *req.DryRun,
		Decision: string(policy.Allow)}
	h.review(ctx, req, o)
	h.finish(o)
	return o
}

func (h *Handler) review(ctx context.Context, req *admissionv1.AdmissionRequest, o *Outcome) {
	for _, u := range h.o.self {
		if req.UserInfo.Username == u {
			o.Reason = "the webhook's own service account (excluded)"
			return
		}
	}
	kind := req.Kind.Kind
	switch {
	case req.Operation == "":
		// The API server always names one: a review without it is not one.
		o.malformed(fmt.Errorf("%w: the review names no operation", ErrMalformed))
		return
	case req.Operation != admissionv1.Create && req.Operation != admissionv1.Update:
		o.Reason = "operation " + string(req.Operation) + " is not judged"
		return
	case podKinds[kind] && (req.Kind.Group == "" || req.Kind.Group == "apps" || req.Kind.Group == "batch"):
		h.reviewWorkload(ctx, req, o)
	case graphKinds[kind]:
		h.reviewGraphObject(ctx, req, o)
	default:
		o.Reason = "kind " + req.Kind.String() + " is not judged by credence (check the webhook's rules)"
		o.warnings = append(o.warnings, "credence: "+o.Reason)
	}
}

// malformed denies a request whose object does not decode.
func (o *Outcome) malformed(err error) {
	o.Decision, o.status = string(policy.Deny), http.StatusBadRequest
	o.Reason = err.Error()
	o.message = "credence: " + err.Error()
}

func (h *Handler) reviewWorkload(ctx context.Context, req *admissionv1.AdmissionRequest, o *Outcome) {
	w, err := decodeWorkload(req.Kind.Kind, req.Object.Raw)
	if err != nil {
		o.malformed(err)
		return
	}
	if len(w.spec.Containers) == 0 {
		// The API server never sends one (validation needs a container);
		// a policy over no container would decide nothing.
		o.malformed(fmt.Errorf("%w: the %s's pod spec has no containers", ErrMalformed, req.Kind.Kind))
		return
	}
	if req.Operation == admissionv1.Update && req.SubResource == "" {
		if old, err := decodeWorkload(req.Kind.Kind, req.OldObject.Raw); err == nil && sameTemplate(w, old) {
			o.Reason = "the pod template did not change"
			return
		}
	}
	e := h.policies.Engine()
	now := h.o.now()
	pod := w.pod(req.Namespace, h.o.owners)
	kind, wname := workloadParts(firstNonEmpty(pod.Workload, pod.Owner), pod.Name)
	o.Workload = pod.Namespace + "/" + kind + "/" + wname
	o.Pod = &PodIdentity{UID: string(w.meta.UID), Name: pod.Name, ServiceAccount: pod.Spec.ServiceAccountName}
	if w.kind != "Pod" {
		o.Pod.UID = ""
	}
	refs := images(&pod.Spec)
	names := containerNames(&pod.Spec)
	needs := e.Needs(policy.Target{Namespace: pod.Namespace, Kind: kind, Name: wname, Labels: pod.Labels, Images: refs}, now)

	resolved := make([]assess.ImageRef, len(refs))
	evidence := make([]assess.Evidence, len(refs))
	o.Images = make([]ImageOutcome, len(refs))
	type pending struct {
		vd     *provenance.Verdict
		served Served
		done   chan struct{}
	}
	verifying := map[string]*pending{}
	keys := make([]string, len(refs)) // repository@digest, once parsed
	for i, ref := range refs {
		n := needs[i]
		im := &o.Images[i]
		im.Container, im.Reference, im.Needs = names[i], ref, needNames(n)
		var parsed name.Reference
		resolved[i], parsed = h.resolve(ctx, ref, n.Scan || n.Provenance)
		im.Digest, im.ResolvedBy = resolved[i].Digest, resolved[i].ResolvedBy
		switch {
		case !n.Provenance:
			evidence[i] = assess.Evidence{Status: assess.NotChecked, Reason: "the policy does not read this image's provenance"}
		case h.o.verdicts == nil:
			evidence[i] = assess.Evidence{Status: assess.NotChecked, Reason: "no provenance verifier configured (give keys or identities to trust)"}
		case resolved[i].Digest == "":
			evidence[i] = assess.Evidence{Status: assess.NotChecked, Reason: "image not resolved to a digest: " + resolved[i].Reason}
		default:
			img := parsed.Context().Name() + "@" + resolved[i].Digest
			keys[i] = img
			if verifying[img] == nil {
				f := &pending{done: make(chan struct{})}
				verifying[img] = f
				go func() {
					defer close(f.done)
					f.vd, f.served = h.o.verdicts.Verdict(ctx, img)
				}()
			}
		}
	}
	// One verification per distinct image of the pod, run together.
	for i := range refs {
		if !needs[i].Provenance || evidence[i].Status != "" {
			o.Images[i].Provenance = string(firstNonEmptyStatus(evidence[i].Status))
			continue
		}
		f := verifying[keys[i]]
		<-f.done
		evidence[i] = assess.EvidenceOf(f.vd)
		im := &o.Images[i]
		im.Provenance, im.Step, im.Served = string(evidence[i].Status), string(f.vd.Step), f.served
		if f.vd.Signer != nil {
			im.Signer = f.vd.Authority + ": " + signerName(f.vd.Signer)
		}
	}
	for i := range resolved {
		if img := h.o.images.Get(resolved[i].Digest); img != nil && resolved[i].Digest != "" {
			o.Images[i].Scanned = true
		}
	}

	facts := assess.PodFacts{Pod: &pod, Posture: h.pe, Images: resolved, Provenance: evidence, Scanned: h.o.images.Get}
	var base policy.Baseline
	wantPaths := false
	for _, n := range needs {
		wantPaths = wantPaths || n.BlastRadius
	}
	if h.o.blast != nil {
		facts.Snapshot = h.o.blast.Snapshot()
		if wantPaths {
			d, err := h.o.blast.PodDelta(ctx, w, &pod)
			if err != nil {
				o.Notes = append(o.Notes, "blast radius unknown: "+err.Error())
			} else {
				facts.Graph, facts.Snapshot, facts.GraphPod, base = d.graph, d.snap, d.graphPod, d.baseline
				if d.graphPod == "" {
					facts.Pod = d.pod
				}
				o.Notes = append(o.Notes, d.notes...)
			}
		}
	} else if wantPaths {
		o.Notes = append(o.Notes, "blast radius unknown: the webhook has no cluster view")
	}
	s, err := assess.PodSubject(facts)
	if err != nil {
		o.malformed(err)
		return
	}
	d := e.Evaluate(policy.Input{Subject: &s, Images: h.o.images.Index(), Baseline: base, Now: now})
	o.Policy = &d
	o.Decision = string(d.Outcome)
	if bg, err := parseBreakGlass(pod.Annotations); err != nil {
		o.warnings = append(o.warnings, "credence: break-glass ignored: "+err.Error())
	} else if bg != nil {
		bg.By = req.UserInfo.Username
		o.BreakGlass = bg
		if d.Denied() {
			if applyBreakGlass(e, &d, pod.Namespace, bg) {
				o.Decision = string(d.Outcome)
				o.warnings = append(o.warnings, fmt.Sprintf("credence: BREAK-GLASS %s (%s) by %s lifted %s; this admission is audited",
					bg.Ticket, bg.Reason, bg.By, strings.Join(bg.Lifted, ", ")))
			} else if len(bg.Refused) > 0 {
				o.warnings = append(o.warnings, "credence: break-glass refused: policy does not allow it in namespace "+pod.Namespace+" for "+strings.Join(bg.Refused, ", "))
			}
		} else {
			o.warnings = append(o.warnings, "credence: break-glass annotation present but nothing was denied; it was not used")
		}
	}
	h.messages(o, []policy.Decision{d}, "")
	if !d.Denied() && w.kind == "Pod" && req.Operation == admissionv1.Create && !o.DryRun && w.meta.UID != "" {
		o.admitted = admittedOf(&s, &pod, string(w.meta.UID))
	}
}

func firstNonEmptyStatus(s assess.EvidenceStatus) assess.EvidenceStatus {
	if s == "" {
		return assess.NotChecked
	}
	return s
}

func signerName(s *provenance.Signer) string {
	if s.Kind == "key" {
		return "key " + s.KeyID
	}
	return s.Subject + " (" + s.Issuer + ")"
}

func needNames(n policy.Need) []string {
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{{n.Scan, policy.FactScan}, {n.Provenance, policy.FactProvenance}, {n.Posture, policy.FactPosture}, {n.BlastRadius, policy.FactBlastRadius}} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return out
}

// resolve finds the digest of one reference: pinned (no I/O), else the
// registry when the policy needs something of the image, else the digest
// it had when assessed. It returns the parsed reference too (nil when it
// does not parse; then the digest is empty).
func (h *Handler) resolve(ctx context.Context, ref string, needed bool) (assess.ImageRef, name.Reference) {
	out := assess.ImageRef{Reference: ref, Status: assess.NotScanned}
	r, err := name.ParseReference(ref)
	if err != nil {
		out.Reason = "the reference does not parse: " + err.Error()
		return out, nil
	}
	if d, ok := r.(name.Digest); ok {
		out.Digest, out.ResolvedBy = d.DigestStr(), "pinned"
		return out, r
	}
	if !needed {
		out.Reason = "not resolved: the policy reads nothing of this image (no registry call)"
		return out, r
	}
	if h.o.resolver != nil {
		d, err := h.o.resolver.Resolve(ctx, r)
		if err == nil {
			out.Digest, out.ResolvedBy = d, "registry"
			return out, r
		}
		out.Reason = "tag not resolved: " + err.Error()
	}
	if d := h.o.images.Assessed(ref); d != "" {
		out.Digest, out.ResolvedBy, out.Reason = d, "assessment", ""
		return out, r
	}
	if out.Reason == "" {
		out.Reason = "tag not resolved: no registry access and no assessment lists it"
	}
	return out, r
}

// messages fills the response's message and warnings from decisions.
func (h *Handler) messages(o *Outcome, ds []policy.Decision, prefix string) {
	var deny []string
	for _, d := range ds {
		p := prefix
		if len(ds) > 1 || prefix != "" {
			p = d.Workload + ": "
		}
		for _, f := range d.Failures {
			msg := p + f.Rule + ": " + f.Message
			if items := evidenceItems(f); len(items) > 0 {
				msg += " [" + strings.Join(items, "; ") + "]"
			}
			switch f.Effect {
			case policy.EffectDeny:
				deny = append(deny, msg)
			case policy.EffectWarn:
				if len(o.warnings) < maxWarnings {
					o.warnings = append(o.warnings, truncate("credence: "+msg, maxWarningLen))
				}
			}
		}
	}
	if len(deny) > 0 {
		o.message = truncate("credence denied "+o.Kind+" "+o.Name+": "+strings.Join(deny, "; "), maxMessageLen)
	}
}

// evidenceItems are the first few evidence items of a failure (new paths,
// findings, failed checks).
func evidenceItems(f policy.Failure) []string {
	var out []string
	for _, ev := range f.Evidence {
		for _, it := range ev.Items {
			if len(out) == 3 {
				return append(out, "…")
			}
			out = append(out, it)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "…"
}

// finish records the decision. A decision that cannot be recorded denies.
func (h *Handler) finish(o *Outcome) {
	if h.o.record == nil {
		return
	}
	seq, err := h.o.record.Append(o, o.admitted)
	if err != nil {
		o.Notes = append(o.Notes, "record: "+err.Error())
		if o.Decision != string(policy.Deny) {
			o.Decision, o.status = string(policy.Deny), http.StatusInternalServerError
			o.message = "credence: the decision could not be written to the admission record (" + err.Error() + "); nothing is admitted unrecorded"
		}
		return
	}
	o.Record = seq
}

// admittedOf lists the containers of an admitted pod as reconcile reads
// them: image digest and the settings a measured start reports.
func admittedOf(s *assess.Subject, pod *cluster.Pod, uid string) []attest.AdmittedWorkload {
	var out []attest.AdmittedWorkload
	for _, c := range s.Containers {
		// A tag resolved here may name another digest by the time the
		// kubelet pulls it: reconcile reports that as drift, which it is.
		// Capabilities are left out: the effective set depends on the
		// runtime's default set, which admission cannot see.
		w := attest.AdmittedWorkload{PodUID: uid, Namespace: pod.Namespace, Pod: pod.Name, Container: c.Name, ImageDigest: c.Image.Digest}
		if p := c.Posture; p != nil {
			w.Privileged, w.HostNetwork, w.HostPID, w.HostIPC = ptr(p.Privileged), ptr(p.HostNetwork), ptr(p.HostPID), ptr(p.HostIPC)
			w.ReadOnlyRootfs = ptr(p.ReadOnlyRootFilesystem)
		}
		out = append(out, w)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func typesUID(s string) types.UID { return types.UID(s) }

// reviewGraphObject judges a binding or NetworkPolicy by the new paths to
// critical assets it opens: every workload whose containers may reach
// what the change altered is judged again, on its paths only.
func (h *Handler) reviewGraphObject(ctx context.Context, req *admissionv1.AdmissionRequest, o *Outcome) {
	obj, meta, err := decodeGraphObject(req.Kind.Kind, req.Object.Raw)
	if err != nil {
		o.malformed(err)
		return
	}
	if meta.GetNamespace() == "" && req.Namespace != "" && req.Kind.Kind != "ClusterRoleBinding" {
		meta.SetNamespace(req.Namespace)
	}
	e := h.policies.Engine()
	var gated []policy.RuleInfo
	for _, r := range e.Rules() {
		for _, f := range r.Facts {
			if f == policy.FactBlastRadius && r.Mode != policy.Audit {
				gated = append(gated, r)
				break
			}
		}
	}
	if len(gated) == 0 {
		o.Reason = "no policy rule reads paths to critical assets"
		return
	}
	if h.o.blast == nil {
		h.unknownPaths(o, gated, "the webhook has no cluster view")
		return
	}
	d, err := h.o.blast.ObjectDelta(ctx, obj)
	if err != nil {
		h.unknownPaths(o, gated, err.Error())
		return
	}
	o.Notes = append(o.Notes, fmt.Sprintf("%s altered %s; %s checked", req.Kind.Kind, count(d.touched, "graph node", "graph nodes"), count(len(d.pods), "affected workload", "affected workloads")))
	now := h.o.now()
	worst := policy.Allow
	for _, p := range d.pods {
		s, err := assess.PodSubject(assess.PodFacts{Pod: p, Snapshot: d.snap, Posture: h.pe, Graph: d.graph, Scanned: h.o.images.Get})
		if err != nil {
			continue
		}
		dec := e.Evaluate(policy.Input{Subject: &s, Images: h.o.images.Index(), Baseline: d.baseline, Now: now, Facts: []string{policy.FactBlastRadius}})
		if dec.Outcome == policy.Allow && len(dec.Failures) == 0 {
			continue
		}
		o.Affected = append(o.Affected, dec)
		switch {
		case dec.Outcome == policy.Deny:
			worst = policy.Deny
		case dec.Outcome == policy.WarnOutcome && worst == policy.Allow:
			worst = policy.WarnOutcome
		}
	}
	o.Decision = string(worst)
	h.messages(o, o.Affected, "affected")
}

// unknownPaths decides when a change's new paths cannot be computed: each
// rule that reads paths fails as unknown, under its mode and its policy's
// failure mode (never a silent allow).
func (h *Handler) unknownPaths(o *Outcome, rules []policy.RuleInfo, why string) {
	o.Reason = "new paths to critical assets unknown: " + why
	deny := false
	var names []string
	for _, r := range rules {
		if r.Mode == policy.Enforce && r.FailureMode == policy.FailClosed {
			deny = true
		}
		names = append(names, r.ID)
	}
	msg := fmt.Sprintf("cannot tell whether this %s opens new paths to critical assets (%s); rules %s", o.Kind, why, strings.Join(names, ", "))
	if deny {
		o.Decision, o.message = string(policy.Deny), "credence denied "+o.Kind+" "+o.Name+": "+msg
		return
	}
	o.Decision = string(policy.WarnOutcome)
	o.warnings = append(o.warnings, truncate("credence: "+msg, maxWarningLen))
}

// count writes n with the form of the noun its number needs.
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
