package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/store"
)

// Handler is the server's HTTP interface: /healthz, /readyz, /metrics,
// the API under /api/v1/, the dashboard under /ui/ and the admission
// webhook at /validate (when given).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	metrics := promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	s.handle(mux, "GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if s.allowed(w, r, Access{Verb: "get", Path: "/metrics"}) {
			metrics.ServeHTTP(w, r)
		}
	})
	if s.o.profiling {
		s.handle(mux, "GET /debug/pprof/{profile...}", func(w http.ResponseWriter, r *http.Request) {
			if s.allowed(w, r, Access{Verb: "get", Path: "/debug/pprof"}) {
				pprofHandler(r.PathValue("profile")).ServeHTTP(w, r)
			}
		})
	}
	s.handle(mux, "GET /api/v1/subjects", s.listSubjects)
	s.handle(mux, "GET /api/v1/subjects/{namespace}/{kind}/{name}", s.getSubject)
	s.handle(mux, "GET /api/v1/subjects/{namespace}/{kind}/{name}/timeline", s.workloadTimeline)
	s.handle(mux, "GET /api/v1/images/{digest}/findings", s.findings)
	s.handle(mux, "GET /api/v1/images/{digest}/timeline", s.imageTimeline)
	s.handle(mux, "GET /api/v1/blast-radius/{namespace}/{pod}", s.blastRadius)
	s.handle(mux, "GET /api/v1/blast-radius/{namespace}/{pod}/{container}", s.blastRadius)
	s.handle(mux, "POST /api/v1/alerts", s.postAlerts)
	s.handle(mux, "GET /api/v1/status", s.status)
	if s.o.dashboard != nil {
		ui := http.StripPrefix("/ui", s.o.dashboard)
		s.handle(mux, "/ui/", func(w http.ResponseWriter, r *http.Request) {
			if s.allowed(w, r, Access{Verb: "list", Resource: "subjects"}) {
				ui.ServeHTTP(w, r)
			}
		})
	}
	if s.o.admission != nil {
		// The API server calls the webhook over TLS with no bearer token;
		// the webhook decides on its own what to admit.
		s.handle(mux, "/validate", s.o.admission.ServeHTTP)
	}
	return mux
}

// pprofHandler is net/http/pprof's handler for one profile ("" the index).
func pprofHandler(name string) http.Handler {
	switch name {
	case "":
		return http.HandlerFunc(pprof.Index)
	case "profile":
		return http.HandlerFunc(pprof.Profile)
	case "cmdline":
		return http.HandlerFunc(pprof.Cmdline)
	case "symbol":
		return http.HandlerFunc(pprof.Symbol)
	case "trace":
		return http.HandlerFunc(pprof.Trace)
	}
	return pprof.Handler(name)
}

// handle registers a route with its latency and status counted under its
// pattern (a bounded label).
func (s *Server) handle(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	route := pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		route = p
	}
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h(rec, r)
		s.m.httpRequests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		s.m.httpSeconds.WithLabelValues(route).Observe(time.Since(t0).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// readyz: ready once the store answers and the informers listed the
// cluster.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var why []string
	if !s.w.synced.Load() {
		why = append(why, "informers not synced")
	}
	if err := s.storeErr.Load(); err != nil {
		why = append(why, "store: "+(*err).Error())
	}
	if len(why) > 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, strings.Join(why, "; "))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// allowed authenticates the request's bearer token and authorises a; it
// writes the refusal itself (401, 403, 503) and returns false.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request, a Access) bool {
	token, ok := bearer(r)
	if !ok {
		if s.o.anonymousRead && (a.Verb == "get" || a.Verb == "list") {
			return true
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="credence"`)
		writeError(w, http.StatusUnauthorized, "a bearer token is required")
		return false
	}
	if s.o.auth == nil {
		writeError(w, http.StatusUnauthorized, "this server has no way to check tokens (no --token-file, no cluster)")
		return false
	}
	u, err := s.o.auth.Authenticate(r.Context(), token)
	if err != nil {
		s.o.log.Warn("cannot check a token", "error", err)
		writeError(w, http.StatusServiceUnavailable, "the token could not be checked; retry")
		return false
	}
	if u == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="credence", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid token")
		return false
	}
	ok, reason, err := s.o.authz.Authorize(r.Context(), u, a)
	if err != nil {
		s.o.log.Warn("cannot authorize a request", "user", u.Name, "error", err)
		writeError(w, http.StatusServiceUnavailable, "the request could not be authorized; retry")
		return false
	}
	if !ok {
		scope := "cluster-wide"
		if a.Namespace != "" {
			scope = "in namespace " + a.Namespace
		}
		msg := fmt.Sprintf("user %q may not %s %s %s", u.Name, a.Verb, what(a), scope)
		if a.Path == "" {
			msg = fmt.Sprintf("user %q may not %s %s.%s %s", u.Name, a.Verb, a.Resource, APIGroup, scope)
		}
		if reason != "" {
			msg += ": " + reason
		}
		writeError(w, http.StatusForbidden, msg)
		return false
	}
	return true
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	t, ok := strings.CutPrefix(h, "Bearer ")
	t = strings.TrimSpace(t)
	return t, ok && t != ""
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

// storeError answers a store failure: 404 for not found, 503 (retry) when
// the store is unavailable or full, 500 otherwise.
func (s *Server) storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case store.IsRetryable(err):
		writeError(w, http.StatusServiceUnavailable, "the store is unavailable; retry")
	default:
		s.o.log.Error("API request failed", "error", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// asOf reads the optional asOf parameter (RFC 3339).
func asOf(r *http.Request) ([]store.ReadOption, time.Time, error) {
	v := r.URL.Query().Get("asOf")
	if v == "" {
		return nil, time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, t, fmt.Errorf("asOf %q: want an RFC 3339 time (2026-01-02T15:04:05Z)", v)
	}
	return []store.ReadOption{store.AsOf(t)}, t, nil
}

// listSubjects: workloads ranked by risk, a page at a time.
func (s *Server) listSubjects(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ns := q.Get("namespace")
	if !s.allowed(w, r, Access{Verb: "list", Resource: "subjects", Namespace: ns}) {
		return
	}
	lo := store.ListOptions{Namespace: ns, Limit: 100}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit: want 1 to 1000")
			return
		}
		lo.Limit = n
	}
	if v := q.Get("minScore"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			writeError(w, http.StatusBadRequest, "minScore: want a number from 0")
			return
		}
		lo.MinScore = f
	}
	if v := q.Get("after"); v != "" {
		score, key, err := decodeCursor(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "after: not a cursor this server gave")
			return
		}
		lo.AfterScore, lo.AfterKey = score, key
	}
	_, at, err := asOf(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	lo.AsOf = at
	items, err := s.st.ListWorkloads(r.Context(), lo)
	if err != nil {
		s.storeError(w, err)
		return
	}
	out := struct {
		Items []store.WorkloadSummary `json:"items"`
		Next  string                  `json:"next,omitempty"`
	}{Items: items}
	if len(items) == lo.Limit {
		last := items[len(items)-1]
		out.Next = encodeCursor(last.Score, last.Key)
	}
	writeJSON(w, http.StatusOK, out)
}

func encodeCursor(score float64, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatFloat(score, 'g', -1, 64) + "|" + key))
}

func decodeCursor(c string) (float64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", err
	}
	sc, key, ok := strings.Cut(string(b), "|")
	if !ok {
		return 0, "", errors.New("no separator")
	}
	f, err := strconv.ParseFloat(sc, 64)
	return f, key, err
}

func workloadOf(r *http.Request) string {
	return r.PathValue("namespace") + "/" + r.PathValue("kind") + "/" + r.PathValue("name")
}

// getSubject: one workload's Subject and decision, now or as of a time.
func (s *Server) getSubject(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(w, r, Access{Verb: "get", Resource: "subjects", Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}) {
		return
	}
	ro, _, err := asOf(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	key := workloadOf(r)
	subj, err := s.st.GetSubject(r.Context(), key, ro...)
	if err != nil {
		s.storeError(w, err)
		return
	}
	out := struct {
		*store.StoredSubject
		Decision *store.StoredDecision `json:"decision,omitempty"`
	}{StoredSubject: subj}
	if d, err := s.st.GetDecision(r.Context(), key, ro...); err == nil {
		out.Decision = d
	} else if !errors.Is(err, store.ErrNotFound) {
		s.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) workloadTimeline(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(w, r, Access{Verb: "get", Resource: "subjects", Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}) {
		return
	}
	ev, err := s.st.WorkloadTimeline(r.Context(), workloadOf(r))
	if err != nil {
		s.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"workload": workloadOf(r), "events": ev})
}

func digestParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	d := r.PathValue("digest")
	if _, dg := assess.DigestOf(d); dg == "" || dg != d {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not an image digest (sha256:<64 hex>)", d))
		return "", false
	}
	return d, true
}

func (s *Server) findings(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(w, r, Access{Verb: "get", Resource: "images"}) {
		return
	}
	d, ok := digestParam(w, r)
	if !ok {
		return
	}
	ro, _, err := asOf(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f, err := s.st.Findings(r.Context(), d, ro...)
	if err != nil {
		s.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) imageTimeline(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(w, r, Access{Verb: "get", Resource: "images"}) {
		return
	}
	d, ok := digestParam(w, r)
	if !ok {
		return
	}
	ev, err := s.st.ImageTimeline(r.Context(), d)
	if err != nil {
		s.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"digest": d, "events": ev})
}

// blastRadius answers a blast-radius query from a container, on the
// current trust graph.
func (s *Server) blastRadius(w http.ResponseWriter, r *http.Request) {
	ns, pod, ctr := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	if !s.allowed(w, r, Access{Verb: "get", Resource: "subjects", Namespace: ns}) {
		return
	}
	opts, err := queryOptions(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	m, err := s.latestModel(r.Context())
	if err != nil {
		s.modelError(w, err)
		return
	}
	p := m.pod(ns, pod)
	if p == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("pod %s/%s is not in the cluster (as of %s)", ns, pod, m.builtAt.UTC().Format(time.RFC3339)))
		return
	}
	if ctr == "" && len(p.Spec.Containers) > 0 {
		ctr = p.Spec.Containers[0].Name
	}
	res, err := m.g.Query(graph.ContainerKey(ns, pod, ctr), opts...)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"workload": workloadKey(p), "asOf": m.builtAt.UTC(), "blastRadius": res})
}

// queryOptions reads maxDepth, minLikelihood, paths and cuts.
func queryOptions(r *http.Request) ([]graph.QueryOption, error) {
	q := r.URL.Query()
	opts := []graph.QueryOption{graph.WithMaxPaths(5), graph.WithMaxCuts(0)}
	num := func(name string, lo, hi int, f func(int) graph.QueryOption) error {
		v := q.Get(name)
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%s: want %d to %d", name, lo, hi)
		}
		opts = append(opts, f(n))
		return nil
	}
	if err := num("maxDepth", 1, 20, graph.WithMaxDepth); err != nil {
		return nil, err
	}
	if err := num("paths", 1, 50, graph.WithMaxPaths); err != nil {
		return nil, err
	}
	if err := num("cuts", 0, 8, graph.WithMaxCuts); err != nil {
		return nil, err
	}
	if v := q.Get("minLikelihood"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return nil, errors.New("minLikelihood: want 0 to 1")
		}
		opts = append(opts, graph.WithMinLikelihood(f))
	}
	return opts, nil
}

func (s *Server) modelError(w http.ResponseWriter, err error) {
	if errors.Is(err, errNotReady) {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	s.storeError(w, err)
}

// status: this replica, the store's database version and the job queue.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(w, r, Access{Verb: "list", Resource: "subjects"}) {
		return
	}
	ctx := r.Context()
	out := map[string]any{"replica": s.o.identity, "leader": s.leading.Load(), "synced": s.w.synced.Load()}
	if v, err := s.st.CurrentDBVersion(ctx); err == nil {
		out["dbVersion"] = v
	}
	if v, err := s.st.PendingDBVersion(ctx); err == nil {
		out["dbPending"] = v
	}
	if _, info, err := s.db.current(ctx); err == nil {
		out["localDB"] = info.ID
	}
	if jc, err := s.st.JobCounts(ctx); err == nil {
		out["jobs"] = jc
	}
	writeJSON(w, http.StatusOK, out)
}
