package dashboard

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/credence-dev/credence/report/htmlkit"
	"github.com/credence-dev/credence/store"
)

// Source is what the dashboard reads: a small, read-only view of the store
// (*store.Store is one). Every method is the store's, with its meaning: in
// particular ErrNotFound from Findings is "not matched under a committed
// database version", unknown, never clean.
type Source interface {
	// ListWorkloads lists workloads ranked by risk, a keyset page at a time.
	ListWorkloads(ctx context.Context, lo store.ListOptions) ([]store.WorkloadSummary, error)
	// CountWorkloads counts what ListWorkloads lists over all its pages,
	// and how many of those score at least each of scores.
	CountWorkloads(ctx context.Context, lo store.ListOptions, scores ...float64) (total int, atLeast []int, err error)
	// Namespaces lists the namespaces of the current workloads.
	Namespaces(ctx context.Context, opts ...store.ReadOption) ([]string, error)
	// GetSubject is a workload's Subject (ErrNotFound when it has none now).
	GetSubject(ctx context.Context, key string, opts ...store.ReadOption) (*store.StoredSubject, error)
	// GetDecision is a workload's policy decision (ErrNotFound when none).
	GetDecision(ctx context.Context, key string, opts ...store.ReadOption) (*store.StoredDecision, error)
	// Findings are an image's findings (ErrNotFound: unknown).
	Findings(ctx context.Context, digest string, opts ...store.ReadOption) (*store.ImageFindings, error)
	// CountFindings counts the findings of each digest; digests never
	// matched are absent.
	CountFindings(ctx context.Context, digests []string) (map[string]*store.FindingCounts, error)
	// WorkloadTimeline and ImageTimeline are the timelines, oldest first
	// (ErrNotFound for a workload or image never seen).
	WorkloadTimeline(ctx context.Context, key string) ([]store.Event, error)
	ImageTimeline(ctx context.Context, digest string) ([]store.Event, error)
	// CurrentDBVersion is the vulnerability database the findings come
	// from (ErrNotFound before the first).
	CurrentDBVersion(ctx context.Context) (store.DBVersion, error)
}

// Option configures New.
type Option func(*options)

type options struct {
	prefix   string
	pageSize int
	clock    func() time.Time
	log      *slog.Logger
}

// DefaultPrefix is where credence serve mounts the dashboard.
const DefaultPrefix = "/ui"

// Page sizes of the ranked list.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// WithPrefix is the path the handler is mounted under ("/ui", the default;
// "" for the root). Links in the pages start with it.
func WithPrefix(p string) Option {
	return func(o *options) { o.prefix = "/" + strings.Trim(p, "/") }
}

// WithPageSize is the number of workloads a page of the ranked list shows
// (default 50, at most 500): a store of 10,000 workloads is never rendered
// at once.
func WithPageSize(n int) Option {
	return func(o *options) { o.pageSize = min(max(n, 1), MaxPageSize) }
}

// WithClock sets the clock the pages say "3 h ago" with.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.clock = now }
}

// WithLogger is where the handler logs what went wrong on its side (a
// store that is unavailable, a page that failed to render); the page only
// says that it did.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// New returns the dashboard's handler. Mount it at its prefix:
//
//	mux.Handle("/ui/", dashboard.New(st))
//
// (a handler behind http.StripPrefix works too: paths without the prefix
// are taken as relative to it). It answers GET and HEAD:
//
//	/ui/                                   workloads ranked by risk (?ns=, ?risk=medium|high, paging)
//	/ui/workloads/{namespace}/{kind}/{name} one workload (?at=RFC3339: as it was then)
//	/ui/images/{digest}                     an image's timeline
//	/ui/assets/{file}                       the picture's scripts (cached for good)
//
// Unknown workloads and digests are a 404 page, bad parameters a 400, a
// store that is unavailable a 503: each a short page saying so, never a
// stack.
func New(src Source, opts ...Option) http.Handler {
	o := options{prefix: DefaultPrefix, pageSize: DefaultPageSize, clock: time.Now, log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.prefix == "/" {
		o.prefix = ""
	}
	h := &handler{src: src, o: o, mux: http.NewServeMux()}
	p := o.prefix
	h.mux.HandleFunc("GET "+p+"/{$}", h.page(h.ranked))
	h.mux.HandleFunc("GET "+p+"/workloads/{ns}/{kind}/{name}", h.page(h.workload))
	h.mux.HandleFunc("GET "+p+"/images/{digest}", h.page(h.image))
	h.mux.HandleFunc("GET "+p+"/assets/{file}", h.asset)
	h.mux.HandleFunc(p+"/", h.page(func(r *http.Request) (*rendered, error) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return nil, &httpError{code: http.StatusMethodNotAllowed, msg: "The dashboard only reads: " + r.Method + " is not allowed."}
		}
		return nil, notFound("No page at %s.", clip(r.URL.Path, 200))
	}))
	return h
}

type handler struct {
	src     Source
	o       options
	mux     *http.ServeMux
	nsCache namespaceCache
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := h.o.prefix
	if p != "" && r.URL.Path != p && !strings.HasPrefix(r.URL.Path, p+"/") {
		// Mounted behind http.StripPrefix: the path is relative to the prefix.
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = p + "/" + strings.TrimPrefix(r.URL.Path, "/")
		if u.RawPath != "" {
			u.RawPath = p + "/" + strings.TrimPrefix(u.RawPath, "/")
		}
		r2.URL = &u
		r = r2
	}
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", cspNoScript())
	h.mux.ServeHTTP(w, r)
}

// rendered is a page ready to be written.
type rendered struct {
	tmpl string
	data any
	// scripts: the page draws pictures.
	scripts bool
	status  int
}

// httpError is a page that says what went wrong, with its status.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func notFound(format string, args ...any) error {
	return &httpError{code: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// page runs a page builder, renders its template into a buffer (so a
// failure never sends half a page) and writes it; errors become an error
// page, panics too.
func (h *handler) page(build func(*http.Request) (*rendered, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var pg *rendered
		err := func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					h.o.log.Error("dashboard: panic", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
					err = fmt.Errorf("panic: %v", v)
				}
			}()
			pg, err = build(r)
			return err
		}()
		if err != nil {
			pg = h.errorPage(r, err)
		}
		var b bytes.Buffer
		if err := h.execute(&b, pg); err != nil {
			h.o.log.Error("dashboard: render", "path", r.URL.Path, "err", err)
			b.Reset()
			pg = h.errorPage(r, errors.New("render"))
			if err := h.execute(&b, pg); err != nil {
				http.Error(w, "credence dashboard: the page could not be rendered", http.StatusInternalServerError)
				return
			}
		}
		hd := w.Header()
		hd.Set("Content-Type", "text/html; charset=utf-8")
		hd.Set("Cache-Control", "no-store")
		if pg.scripts {
			hd.Set("Content-Security-Policy", cspWithScripts())
		}
		status := pg.status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			w.Write(b.Bytes())
		}
	}
}

// errorPage turns an error into a page: the message of an httpError, a
// store that is unavailable (503, try again), anything else a 500 that
// says only that it failed (the cause goes to the log).
func (h *handler) errorPage(r *http.Request, err error) *rendered {
	var he *httpError
	switch {
	case errors.As(err, &he):
	case errors.Is(err, context.Canceled):
		he = &httpError{code: 499, msg: "The request was cancelled."}
	case store.IsRetryable(err) || errors.Is(err, context.DeadlineExceeded):
		h.o.log.Warn("dashboard: store unavailable", "path", r.URL.Path, "err", err)
		he = &httpError{code: http.StatusServiceUnavailable, msg: "The store is unavailable or busy right now. Try again in a moment."}
	default:
		h.o.log.Error("dashboard: internal error", "path", r.URL.Path, "err", err)
		he = &httpError{code: http.StatusInternalServerError, msg: "Something went wrong on the server while building this page; it has been logged."}
	}
	title := map[int]string{400: "Bad request", 404: "Not found", 405: "Method not allowed", 503: "Store unavailable"}[he.code]
	if title == "" {
		title = "Error"
	}
	return &rendered{tmpl: "error", status: he.code, data: &errorView{Chrome: h.chrome(r.Context(), title), Code: he.code, Message: he.msg}}
}

type errorView struct {
	Chrome
	Code    int
	Message string
}

// Chrome is what every page shows around its content.
type Chrome struct {
	Title  string
	Home   string
	Assets []assetRef // scripts to load (a workload page's pictures)
	CSS    template.CSS
	// Database names the vulnerability database the findings come from.
	Database    string
	DatabaseAge string
	NoDatabase  bool
	Now         when
}

type assetRef struct {
	URL, Integrity string
}

func (h *handler) chrome(ctx context.Context, title string) Chrome {
	c := Chrome{Title: title, Home: h.o.prefix + "/", CSS: template.CSS(stylesheet()), Now: h.when(h.o.clock())}
	v, err := h.src.CurrentDBVersion(ctx)
	switch {
	case err == nil:
		c.Database = v.ID
		if !v.CommittedAt.IsZero() {
			c.DatabaseAge = "current since " + h.when(v.CommittedAt).Text
		}
	case errors.Is(err, store.ErrNotFound):
		c.NoDatabase = true
	default:
		c.Database = "unknown (the store did not say)"
	}
	return c
}

func (h *handler) withScripts(c *Chrome) {
	scripts, err := htmlkit.PictureScripts()
	if err != nil {
		panic(err) // embedded and checked by tests: cannot happen
	}
	for _, s := range scripts {
		c.Assets = append(c.Assets, assetRef{URL: h.o.prefix + "/assets/" + s.FileName(), Integrity: s.Integrity})
	}
}

// asset serves the picture's scripts under names that carry their content
// hash, cached for good.
func (h *handler) asset(w http.ResponseWriter, r *http.Request) {
	scripts, err := htmlkit.PictureScripts()
	if err == nil {
		for _, s := range scripts {
			if r.PathValue("file") == s.FileName() {
				hd := w.Header()
				hd.Set("Content-Type", "text/javascript; charset=utf-8")
				hd.Set("Cache-Control", "public, max-age=31536000, immutable")
				http.ServeContent(w, r, s.FileName(), time.Time{}, strings.NewReader(s.Body))
				return
			}
		}
	}
	h.page(func(r *http.Request) (*rendered, error) { return nil, notFound("No asset %s.", r.PathValue("file")) })(w, r)
}

var loadTemplates = sync.OnceValues(func() (map[string]*template.Template, error) {
	base, err := htmlkit.NewTemplate("layout", funcs)
	if err != nil {
		return nil, err
	}
	if base, err = base.ParseFS(templateFS, "templates/layout.html.tmpl", "templates/parts.html.tmpl"); err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, name := range []string{"ranked", "workload", "image", "error"} {
		t, err := base.Clone()
		if err == nil {
			t, err = t.ParseFS(templateFS, "templates/"+name+".html.tmpl")
		}
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
})

//go:embed templates
var templateFS embed.FS

var funcs = template.FuncMap{
	"level": riskLevel,
	"bar":   func(score float64) int { return int(min(100, max(0, score))+2.5) / 5 * 5 },
}

func (h *handler) execute(b *bytes.Buffer, pg *rendered) error {
	ts, err := loadTemplates()
	if err != nil {
		return err
	}
	t, ok := ts[pg.tmpl]
	if !ok {
		return fmt.Errorf("no template %q", pg.tmpl)
	}
	return t.ExecuteTemplate(b, "layout", pg.data)
}

var stylesheet = sync.OnceValue(func() string {
	b, err := templateFS.ReadFile("templates/dashboard.css")
	if err != nil {
		panic(err)
	}
	return htmlkit.Stylesheet() + "\n" + string(b)
})

// The Content-Security-Policy of each page: nothing from anywhere, except
// the page's stylesheet (by hash) and cytoscape's one small stylesheet, and
// on a page with pictures its two scripts (by hash, loaded from the
// dashboard's assets with matching integrity attributes). Forms submit
// only to the dashboard; no page can be framed.
func csp(scripts string) string {
	return "default-src 'none'; script-src " + scripts +
		"; style-src '" + htmlkit.Integrity([]byte(stylesheet())) + "' '" + htmlkit.Integrity([]byte(htmlkit.CytoscapeStyle)) + "'" +
		"; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

var cspNoScript = sync.OnceValue(func() string { return csp("'none'") })

var cspWithScripts = sync.OnceValue(func() string {
	scripts, err := htmlkit.PictureScripts()
	if err != nil {
		panic(err)
	}
	var src []string
	for _, s := range scripts {
		src = append(src, s.CSPSource())
	}
	return csp(strings.Join(src, " "))
})

// when is a time as pages show it.
type when struct {
	Text string // "2026-01-02 03:04:05 UTC"
	ISO  string // RFC 3339, for <time datetime>
	Ago  string // "3 h ago"
}

// IsZero reports a time not known.
func (w when) IsZero() bool { return w.Text == "" }

func (h *handler) when(t time.Time) when {
	if t.IsZero() {
		return when{}
	}
	t = t.UTC()
	return when{Text: t.Format("2006-01-02 15:04:05 UTC"), ISO: t.Format(time.RFC3339), Ago: ago(h.o.clock().Sub(t))}
}

// day is a date with no time of day (CISA KEV's dateAdded).
func (h *handler) day(t time.Time) when {
	w := h.when(t)
	if !w.IsZero() {
		w.Text = t.UTC().Format("2006-01-02")
	}
	return w
}

func ago(d time.Duration) string {
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d/time.Hour))
	case d < 60*24*time.Hour:
		s = fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d < 2*365*24*time.Hour:
		s = fmt.Sprintf("%d months", int(d/(30*24*time.Hour)))
	default:
		s = fmt.Sprintf("%d years", int(d/(365*24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// Risk levels, as credence's SARIF output rates workloads: high from 50,
// medium from 15, low below.
const (
	highRisk   = 50
	mediumRisk = 15
)

func riskLevel(score float64) string {
	switch {
	case score >= highRisk:
		return "high"
	case score >= mediumRisk:
		return "medium"
	}
	return "low"
}

// URLs of the pages. Each path segment is escaped: names come from the
// cluster.
func (h *handler) workloadURL(ns, kind, name string) string {
	return h.o.prefix + "/workloads/" + url.PathEscape(ns) + "/" + url.PathEscape(kind) + "/" + url.PathEscape(name)
}

func (h *handler) workloadKeyURL(key string) string {
	ns, kind, name, err := store.ParseWorkloadKey(key)
	if err != nil {
		return ""
	}
	return h.workloadURL(ns, kind, name)
}

func (h *handler) imageURL(digest string) string {
	if !digestRE.MatchString(digest) {
		return ""
	}
	return h.o.prefix + "/images/" + url.PathEscape(digest)
}

// clip shortens s to at most n bytes (on a rune boundary) for a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
