package dashboard_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/dashboard"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/store"
)

// The store is what the dashboard reads.
var _ dashboard.Source = (*store.Store)(nil)

// rowKeys are the workload keys of a ranked page's rows, from their links.
func rowKeys(t testing.TB, p *page) []string {
	t.Helper()
	var keys []string
	for _, td := range p.all("td", "wl-name") {
		var a *html.Node
		for c := td.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode && c.Data == "a" {
				a = c
				break
			}
		}
		if a == nil {
			t.Fatal("a row without a link")
		}
		path, err := url.PathUnescape(attr(a, "href"))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, strings.TrimPrefix(path, "/ui/workloads/"))
	}
	return keys
}

// The ranked page of the sample store: one row per workload, riskiest
// first, each with the numbers of its Subject, its image's KEV count, the
// unknown marker where an image's findings are not known, and its policy
// decision.
func TestRankedPage(t *testing.T) {
	smp := sampleStore(t)
	srv := server(t, smp.st, dashboard.WithClock(smp.clk.Now))
	p := get(t, srv.URL+"/ui/")
	if p.status != http.StatusOK {
		t.Fatalf("status %d", p.status)
	}
	want := rankedKeys(smp.today)
	if got := rowKeys(t, p); !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	images := map[string]*assess.Image{}
	for _, img := range smp.today.Images {
		images[img.Digest] = img
	}
	rows := p.all("tr", "wl")
	for i, key := range want {
		s := subjectOf(smp.today, key)
		cells := cellsOf(rows[i])
		kev, unknown := 0, false
		for _, c := range s.Containers {
			img := images[c.Image.Digest]
			if img == nil || img.Status != assess.Scanned || !c.Exploit.Known {
				unknown = true
			}
			if img != nil {
				kev += img.Counts.KEV
			}
		}
		checks := []struct{ col, want string }{
			{"risk", fmt.Sprintf("%.1f", s.Risk.Score)},
			{"hit", fmt.Sprintf("%.2f", s.Risk.Likelihood)},
			{"impact", fmt.Sprintf("%.2f", s.Risk.Impact)},
			{"exposure", entryOf(s).Exposure.Level},
			{"decision", string(smp.decisions[key].Outcome)},
		}
		if kev > 0 {
			checks = append(checks, struct{ col, want string }{"kev", fmt.Sprint(kev)})
		}
		for _, c := range checks {
			if !strings.Contains(cells[c.col], c.want) {
				t.Errorf("%s: %s cell %q lacks %q", key, c.col, cells[c.col], c.want)
			}
		}
		if got := strings.Contains(cells["vulns"], "+unknown"); got != unknown {
			t.Errorf("%s: unknown marker %v, want %v (an image not scanned or not fully checked)", key, got, unknown)
		}
	}
	// The summary: every workload, and how many are high risk.
	high := 0
	for _, s := range smp.today.Subjects {
		if s.Risk.Score >= 50 {
			high++
		}
	}
	if cards := text(p.all("ul", "dash-cards")[0]); !strings.Contains(cards, fmt.Sprintf("%d workloads", len(want))) || !strings.Contains(cards, fmt.Sprintf("%d high risk", high)) {
		t.Errorf("summary %q: want %d workloads, %d high risk", cards, len(want), high)
	}
	if !strings.Contains(p.body, "sample-today") {
		t.Error("the page does not name the current database version")
	}
}

// cellsOf names a ranked row's cells.
func cellsOf(tr *html.Node) map[string]string {
	names := []string{"rank", "workload", "risk", "hit", "impact", "exposure", "vulns", "kev", "decision", "since"}
	out := map[string]string{}
	i := 0
	for c := tr.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data == "td" && i < len(names) {
			out[names[i]] = strings.Join(strings.Fields(text(c)), " ")
			i++
		}
	}
	return out
}

// pagingStore holds n workloads over three namespaces with scores spread
// from 0 to 99 (ties included): the sample's Subjects under other names.
func pagingStore(t testing.TB, n int) (*store.Store, []string, map[string]float64) {
	t.Helper()
	smp := sampleStore(t)
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "paging.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	scores := map[string]float64{}
	nss := []string{"alpha", "beta", "gamma"}
	err = st.Update(ctx, func(tx *store.Tx) error {
		for i := range n {
			s := smp.today.Subjects[i%len(smp.today.Subjects)]
			s.Workload.Namespace = nss[i%len(nss)]
			s.Workload.Name = fmt.Sprintf("w%04d", i)
			s.Risk.Score = float64((i * 37) % 100)
			if i%10 == 0 {
				s.Risk.Score = 50 // ties at a level's edge
			}
			if _, err := tx.PutSubject(ctx, &s); err != nil {
				return err
			}
			scores[store.WorkloadKey(s.Workload)] = s.Risk.Score
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(scores))
	for k := range scores {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if scores[a] != scores[b] {
			if scores[a] > scores[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return st, keys, scores
}

// Paging walks the whole list a page at a time, without a row lost or
// repeated, in rank order, with filters kept across pages; the numbers
// of the summary are those of the workloads written.
func TestRankedPaging(t *testing.T) {
	st, keys, scores := pagingStore(t, 130)
	srv := server(t, st, dashboard.WithPageSize(50))
	for _, c := range []struct {
		query string
		keep  func(key string) bool
	}{
		{"", func(string) bool { return true }},
		{"?ns=beta", func(k string) bool { return strings.HasPrefix(k, "beta/") }},
		{"?risk=high", func(k string) bool { return scores[k] >= 50 }},
		{"?ns=gamma&risk=medium", func(k string) bool { return strings.HasPrefix(k, "gamma/") && scores[k] >= 15 }},
	} {
		t.Run(c.query, func(t *testing.T) {
			var want []string
			for _, k := range keys {
				if c.keep(k) {
					want = append(want, k)
				}
			}
			var got []string
			next := srv.URL + "/ui/" + c.query
			pages := 0
			for next != "" {
				p := get(t, next)
				if p.status != http.StatusOK {
					t.Fatalf("%s: status %d", next, p.status)
				}
				rows := rowKeys(t, p)
				pages++
				if len(rows) > 50 {
					t.Fatalf("page %d has %d rows, more than a page", pages, len(rows))
				}
				if pages > 1 && len(p.all("a", "")) > 0 && !strings.Contains(p.body, `rel="first"`) {
					t.Errorf("page %d has no link to the first page", pages)
				}
				wantLine := fmt.Sprintf("Workloads %d–%d of %d", len(got)+1, len(got)+len(rows), len(want))
				if len(rows) > 0 && !strings.Contains(text(p.all("p", "pager-line")[0]), wantLine) {
					t.Errorf("page %d says %q, want %q", pages, text(p.all("p", "pager-line")[0]), wantLine)
				}
				got = append(got, rows...)
				next = ""
				for _, a := range p.all("a", "") {
					if attr(a, "rel") == "next" {
						next = srv.URL + attr(a, "href")
					}
				}
				if pages > 10 {
					t.Fatal("more than 10 pages")
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("the pages list %d workloads, want %d in rank order\ngot  %v\nwant %v", len(got), len(want), got, want)
			}
			if wantPages := max(1, (len(want)+49)/50); pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
		})
	}
	// The summary of a namespace: its workloads, and how many are at least
	// high and medium.
	p := get(t, srv.URL+"/ui/?ns=alpha")
	all, high, medium := 0, 0, 0
	for k, s := range scores {
		if strings.HasPrefix(k, "alpha/") {
			all++
			if s >= 50 {
				high++
			} else if s >= 15 {
				medium++
			}
		}
	}
	cards := strings.Join(strings.Fields(text(p.all("ul", "dash-cards")[0])), " ")
	for _, w := range []string{fmt.Sprintf("%d workloads in alpha", all), fmt.Sprintf("%d high risk", high), fmt.Sprintf("%d medium risk", medium)} {
		if !strings.Contains(cards, w) {
			t.Errorf("summary %q lacks %q", cards, w)
		}
	}
	// The namespace filter offers every namespace.
	var options []string
	for _, o := range p.all("option", "") {
		options = append(options, attr(o, "value"))
	}
	if !slices.Equal(options[:4], []string{"", "alpha", "beta", "gamma"}) {
		t.Errorf("namespace options %v", options)
	}
}

// Each workload page of the sample: the picture data of each container
// with paths (nodes and edges as the Subject's paths have them), the
// findings of its images (as the assessment found them), its policy
// decision, its unknowns, the cut on the worst path marked, and its
// timeline as the store has it.
func TestWorkloadPages(t *testing.T) {
	smp := sampleStore(t)
	srv := server(t, smp.st, dashboard.WithClock(smp.clk.Now))
	images := map[string]*assess.Image{}
	for _, img := range smp.today.Images {
		images[img.Digest] = img
	}
	for _, key := range rankedKeys(smp.today) {
		t.Run(key, func(t *testing.T) {
			s := subjectOf(smp.today, key)
			p := get(t, srv.URL+"/ui/workloads/"+key)
			if p.status != http.StatusOK {
				t.Fatalf("status %d: %s", p.status, text(p.all("p", "error-msg")[0]))
			}
			// Pictures.
			want := wantPictures(t, s)
			pics := picturesOf(t, p)
			if len(pics) != len(want) {
				t.Fatalf("%d pictures, want %d", len(pics), len(want))
			}
			for i, w := range want {
				if len(pics[i].Nodes) != w.Nodes || len(pics[i].Edges) != w.Edges {
					t.Errorf("picture %d (%s): %d nodes, %d edges; want %d, %d", i+1, w.Container, len(pics[i].Nodes), len(pics[i].Edges), w.Nodes, w.Edges)
				}
				if p.byID(pics[i].ID) == nil || p.byID(pics[i].ID+"-panel") == nil {
					t.Errorf("picture %s has no element to draw in", pics[i].ID)
				}
			}
			// Findings: a row per unsuppressed finding of each image.
			wantRows := 0
			seen := map[string]bool{}
			for _, c := range s.Containers {
				if img := images[c.Image.Digest]; img != nil && !seen[img.Digest] {
					seen[img.Digest] = true
					for _, f := range img.Findings {
						if f.Suppressed == nil {
							wantRows++
						}
					}
				}
			}
			if got := len(p.all("tr", "finding")); got != min(wantRows, 200*len(seen)) {
				t.Errorf("%d finding rows, want %d", got, wantRows)
			}
			// The decision.
			d := smp.decisions[key]
			if got := len(p.all("tr", "failure")); got != len(d.Failures) {
				t.Errorf("%d failed rules shown, the decision has %d", got, len(d.Failures))
			}
			if v := p.all("span", "verdict"); len(v) == 0 || text(v[0]) != string(d.Outcome) {
				t.Errorf("verdict shown %v, want %s", v, d.Outcome)
			}
			// Unknowns.
			unk := text(p.byID("unknowns"))
			for _, u := range s.Unknowns {
				if !strings.Contains(unk, u) {
					t.Errorf("unknown %q not shown", u)
				}
			}
			// The cuts: those named on the worst path's steps are marked.
			worstFixes := map[string]bool{}
			if e := entryOf(s); e != nil && e.BlastRadius != nil && e.BlastRadius.Path != nil {
				for _, st := range e.BlastRadius.Path.Steps {
					for _, f := range st.Fixes {
						worstFixes[f.Summary] = true
					}
				}
			}
			marked := map[string]bool{}
			for _, li := range p.all("li", "cut") {
				if strings.Contains(text(li), "including the one the risk score comes from") {
					marked[text(p.firstIn(li, "p", "cut-what"))] = true
				}
			}
			for f := range worstFixes {
				if !marked[f] {
					t.Errorf("the cut %q removes a step of the worst path and is not marked so (marked: %v)", f, marked)
				}
			}
			if len(marked) != len(worstFixes) {
				t.Errorf("%d cuts marked as on the worst path, the Subject names %d", len(marked), len(worstFixes))
			}
			// The timeline.
			ev, err := smp.st.WorkloadTimeline(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(p.all("tr", "event")); got != len(ev) {
				t.Errorf("%d timeline entries, the store has %d events", got, len(ev))
			}
		})
	}
}

type picture struct {
	ID    string            `json:"id"`
	Nodes []json.RawMessage `json:"nodes"`
	Edges []json.RawMessage `json:"edges"`
}

func picturesOf(t testing.TB, p *page) []picture {
	t.Helper()
	n := p.byID("credence-pictures")
	if n == nil {
		return nil
	}
	var pics []picture
	if err := json.Unmarshal([]byte(text(n)), &pics); err != nil {
		t.Fatalf("pictures JSON: %v", err)
	}
	return pics
}

func (p *page) firstIn(n *html.Node, tag, class string) *html.Node {
	sub := &page{doc: n}
	if all := sub.all(tag, class); len(all) > 0 {
		return all[0]
	}
	return nil
}

// The web image's page: its advisories' lives against the upstream
// records (the OSV record's published date, CISA KEV's dateAdded), the
// workloads that ran it, and its timeline as the store has it.
func TestImagePage(t *testing.T) {
	smp := sampleStore(t)
	srv := server(t, smp.st, dashboard.WithClock(smp.clk.Now))
	p := get(t, srv.URL+"/ui/images/"+webDigest)
	if p.status != http.StatusOK {
		t.Fatalf("status %d", p.status)
	}
	var web *assess.Image
	for _, img := range smp.today.Images {
		if img.Digest == webDigest {
			web = img
		}
	}
	if got := len(p.all("tr", "life")); got != len(web.Findings) {
		t.Errorf("%d advisories in the lifecycle table, the image has %d findings", got, len(web.Findings))
	}
	// Log4Shell: published as the OSV record says, in KEV since CISA's
	// dateAdded, matched when today's database was committed.
	var row *html.Node
	for _, tr := range p.all("tr", "life") {
		if strings.Contains(text(tr), "GHSA-jfh8-c2jp-5v3q") {
			row = tr
		}
	}
	if row == nil {
		t.Fatal("no lifecycle row for Log4Shell (GHSA-jfh8-c2jp-5v3q)")
	}
	cells := tds(row)
	published := upstreamPublished(t, "Maven-GHSA-jfh8-c2jp-5v3q.json").UTC().Format("2006-01-02 15:04:05")
	kev := upstreamKEVAdded(t, log4shell)
	if !strings.Contains(cells[2], published) || !strings.Contains(cells[3], smp.t2.Format("2006-01-02 15:04:05")) || !strings.Contains(cells[4], kev) {
		t.Errorf("Log4Shell row %q: want published %s, matched %s, in KEV %s", cells, published, smp.t2, kev)
	}
	if got, want := len(p.all("tr", "run")), len(workloadsRunning(smp.today, webDigest)); got != want || want == 0 {
		t.Errorf("%d workloads ran it, want %d", got, want)
	}
	ev, err := smp.st.ImageTimeline(context.Background(), webDigest)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p.all("tr", "event")); got != len(ev) {
		t.Errorf("%d timeline entries, the store has %d events", got, len(ev))
	}
	// The api image was matched and has no finding: clean under this
	// database, not unknown.
	p = get(t, srv.URL+"/ui/images/"+apiDigest)
	if p.status != http.StatusOK || !strings.Contains(p.body, "No advisory has matched this image") || strings.Contains(text(p.byID("findings")), "unknown") {
		t.Errorf("api image: status %d, findings %q", p.status, text(p.byID("findings")))
	}
}

func tds(tr *html.Node) []string {
	var out []string
	for c := tr.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data == "td" {
			out = append(out, strings.Join(strings.Fields(text(c)), " "))
		}
	}
	return out
}

func upstreamPublished(t testing.TB, file string) time.Time {
	t.Helper()
	var rec struct{ Published time.Time }
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "vulndb", "sample", "data", "osv", file))
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		t.Fatal(err)
	}
	return rec.Published
}

func upstreamKEVAdded(t testing.TB, cve string) string {
	t.Helper()
	var cat struct {
		Vulnerabilities []struct{ CveID, DateAdded string }
	}
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "vulndb", "sample", "data", "known_exploited_vulnerabilities.json"))
	if err == nil {
		err = json.Unmarshal(b, &cat)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range cat.Vulnerabilities {
		if v.CveID == cve {
			return v.DateAdded
		}
	}
	t.Fatalf("%s not in the sample KEV catalog", cve)
	return ""
}

// Unknown workloads and digests, bad parameters and methods: a short page
// with the status and a message, never a stack.
func TestErrorPages(t *testing.T) {
	smp := sampleStore(t)
	srv := server(t, smp.st)
	for _, c := range []struct {
		method, path string
		status       int
		says         string
	}{
		{"GET", "/ui/workloads/shop/Deployment/nope", 404, "never seen the workload shop/Deployment/nope"},
		{"GET", "/ui/workloads/shop/web", 404, "No page at"},
		{"GET", "/ui/workloads/shop/Deployment/web/more", 404, "No page at"},
		{"GET", "/ui/images/sha256:" + strings.Repeat("0", 64), 404, "never seen the image"},
		{"GET", "/ui/images/not-a-digest", 400, "is not an image digest"},
		{"GET", "/ui/images/" + url.PathEscape("sha256:<script>"), 400, "is not an image digest"},
		{"GET", "/ui/nope", 404, "No page at /ui/nope"},
		{"GET", "/ui/assets/evil.js", 404, "No asset evil.js"},
		{"GET", "/ui/?risk=extreme", 400, "Unknown risk level"},
		{"GET", "/ui/?after=x&score=NaN", 400, "page cursor is broken"},
		{"GET", "/ui/?ns=" + strings.Repeat("a", 2000), 400, "too long"},
		{"GET", "/ui/workloads/shop/Deployment/web?at=yesterday", 400, "not RFC 3339"},
		{"GET", "/ui/workloads/shop/Deployment/web?at=2020-01-01T00:00:00Z", 404, "had no Subject at 2020-01-01 00:00:00 UTC"},
		{"POST", "/ui/", 405, "only reads"},
		{"DELETE", "/ui/workloads/shop/Deployment/web", 405, "only reads"},
	} {
		p := do(t, c.method, srv.URL+c.path)
		msg := ""
		if m := p.all("p", "error-msg"); len(m) > 0 {
			msg = text(m[0])
		}
		if p.status != c.status || !strings.Contains(msg, c.says) {
			t.Errorf("%s %s: %d %q, want %d saying %q", c.method, c.path, p.status, msg, c.status, c.says)
		}
		if strings.Contains(p.body, "goroutine") || strings.Contains(p.body, ".go:") || p.header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s %s: a stack in the body, or no CSP", c.method, c.path)
		}
	}
	// HEAD answers like GET, without a body.
	p := do(t, "HEAD", srv.URL+"/ui/")
	if p.status != 200 || p.body != "" {
		t.Errorf("HEAD: %d, %d bytes", p.status, len(p.body))
	}
}

// failing is a Source whose every read fails with err, or panics.
type failing struct {
	dashboard.Source
	err   error
	panic bool
}

func (f failing) fail() error {
	if f.panic {
		panic("the store exploded")
	}
	return f.err
}
func (f failing) ListWorkloads(context.Context, store.ListOptions) ([]store.WorkloadSummary, error) {
	return nil, f.fail()
}
func (f failing) CountWorkloads(context.Context, store.ListOptions, ...float64) (int, []int, error) {
	return 0, nil, f.fail()
}
func (f failing) Namespaces(context.Context, ...store.ReadOption) ([]string, error) {
	return nil, f.fail()
}
func (f failing) GetSubject(context.Context, string, ...store.ReadOption) (*store.StoredSubject, error) {
	return nil, f.fail()
}
func (f failing) WorkloadTimeline(context.Context, string) ([]store.Event, error) {
	return nil, f.fail()
}
func (f failing) ImageTimeline(context.Context, string) ([]store.Event, error) { return nil, f.fail() }
func (f failing) CurrentDBVersion(context.Context) (store.DBVersion, error) {
	return store.DBVersion{}, f.err
}

// A store that is down is a 503 that says to try again; a failure of our
// own is a 500 that says only that it was logged (the log has the cause
// and the stack, the page neither).
func TestStoreFailures(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	down := server(t, failing{err: fmt.Errorf("list: %w", store.ErrUnavailable)}, dashboard.WithLogger(log))
	for _, path := range []string{"/ui/", "/ui/workloads/a/Pod/b", "/ui/images/" + webDigest} {
		p := get(t, down.URL+path)
		if p.status != 503 || !strings.Contains(p.body, "Try again") {
			t.Errorf("%s with the store down: %d %q", path, p.status, text(p.all("p", "error-msg")[0]))
		}
	}
	broken := server(t, failing{err: store.ErrNotFound, panic: true}, dashboard.WithLogger(log))
	p := get(t, broken.URL+"/ui/")
	if p.status != 500 || strings.Contains(p.body, "exploded") || strings.Contains(p.body, "goroutine") {
		t.Errorf("a panic: %d, body shows the cause or a stack: %q", p.status, text(p.all("main", "")[0]))
	}
	if !strings.Contains(logs.String(), "the store exploded") || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("the log lacks the panic and its stack: %s", logs.String())
	}
}

var onAttr = regexp.MustCompile(`^on`)

// inlineHandlers lists the elements with an on* attribute or a
// javascript: URL.
func inlineHandlers(p *page) []string {
	var bad []string
	for _, n := range p.all("", "") {
		for _, a := range n.Attr {
			if onAttr.MatchString(strings.ToLower(a.Key)) || strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
				bad = append(bad, n.Data+" "+a.Key+"="+a.Val)
			}
		}
	}
	return bad
}

// The policy of every page: scripts only on a workload's page, and only
// the two served by the dashboard, each allowed by the hash its integrity
// attribute states, which is the hash of what /ui/assets serves; the page's
// one stylesheet allowed by its hash; no inline handler anywhere.
func TestContentSecurityPolicy(t *testing.T) {
	smp := sampleStore(t)
	srv := server(t, smp.st)
	for _, path := range []string{"/ui/", "/ui/workloads/shop/Deployment/web", "/ui/images/" + webDigest, "/ui/nope"} {
		p := get(t, srv.URL+path)
		csp := p.header.Get("Content-Security-Policy")
		for _, must := range []string{"default-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, must) {
				t.Errorf("%s: CSP %q lacks %s", path, csp, must)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") {
			t.Errorf("%s: CSP %q allows unsafe or wildcard sources", path, csp)
		}
		if bad := inlineHandlers(p); len(bad) > 0 {
			t.Errorf("%s: inline handlers %v", path, bad)
		}
		if p.header.Get("X-Content-Type-Options") != "nosniff" || p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", path, p.header)
		}
		// The stylesheet's hash, computed here from the page.
		styles := p.all("style", "")
		if len(styles) != 1 {
			t.Fatalf("%s: %d style elements", path, len(styles))
		}
		if h := hashOf([]byte(text(styles[0]))); !strings.Contains(csp, "style-src '"+h+"'") {
			t.Errorf("%s: CSP %q does not allow the page's stylesheet (%s)", path, csp, h)
		}
		var scripts, sources []string
		for _, s := range p.all("script", "") {
			if src := attr(s, "src"); src != "" {
				scripts = append(scripts, src)
				a := get(t, srv.URL+src)
				h := hashOf([]byte(a.body))
				if a.status != 200 || attr(s, "integrity") != h || !strings.Contains(a.header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(a.header.Get("Content-Type"), "text/javascript") {
					t.Errorf("%s: script %s: %d, integrity %s, served %s, headers %v", path, src, a.status, attr(s, "integrity"), h, a.header)
				}
				sources = append(sources, "'"+h+"'")
			} else if attr(s, "type") != "application/json" {
				t.Errorf("%s: an inline script", path)
			}
		}
		wantScripts := "script-src 'none'"
		if path == "/ui/workloads/shop/Deployment/web" {
			if len(scripts) != 2 {
				t.Errorf("%s: scripts %v, want cytoscape and the picture script", path, scripts)
			}
			wantScripts = "script-src " + strings.Join(sources, " ") + ";"
		}
		if !strings.Contains(csp, wantScripts) {
			t.Errorf("%s: CSP %q, want %q", path, csp, wantScripts)
		}
	}
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256-" + base64.StdEncoding.EncodeToString(h[:])
}

// Markup in every string the store holds (names, labels, annotations,
// advisory text, step reasons, decisions) and in the query reaches the
// pages as text: no element, attribute or script of it survives.
func TestHostileContentEscaped(t *testing.T) {
	st := hostileStore(t)
	srv := server(t, st)
	key := url.PathEscape(evilName) + "/Deployment/" + url.PathEscape(evilName)
	for _, path := range []string{"/ui/", "/ui/?ns=" + url.QueryEscape(evilName), "/ui/?ns=" + url.QueryEscape(evil("x")),
		"/ui/workloads/" + key, "/ui/images/" + hostileDigest} {
		p := get(t, srv.URL+path)
		if p.status != 200 {
			t.Fatalf("%s: status %d", path, p.status)
		}
		for _, raw := range []string{evilScript, evilClose, evilAttr, "<img", "<svg", "</SCRIPT"} {
			if strings.Contains(p.body, raw) {
				t.Errorf("%s holds %q unescaped", path, raw)
			}
		}
		if bad := inlineHandlers(p); len(bad) > 0 {
			t.Errorf("%s: elements with handlers %v", path, bad)
		}
		for _, tag := range []string{"img", "svg", "iframe", "object", "embed"} {
			if n := len(p.all(tag, "")); n > 0 {
				t.Errorf("%s: %d <%s> elements", path, n, tag)
			}
		}
		if n := len(p.all("script", "")); (strings.HasPrefix(path, "/ui/workloads/") && n != 3) || (!strings.HasPrefix(path, "/ui/workloads/") && n != 0) {
			t.Errorf("%s: %d script elements", path, n)
		}
	}
	// The text is shown, not dropped.
	p := get(t, srv.URL+"/ui/workloads/"+key)
	body := text(p.byID("main"))
	for _, s := range []string{evil("why"), evil("app") + "=" + evil("web"), evil("note") + ": " + evil("hi"), evil("bad"), evil("message"), evil("fix it"), evil("image partly unchecked")} {
		if !strings.Contains(body, s) {
			t.Errorf("the workload page does not show %q as text", s)
		}
	}
	// The pictures' JSON holds no '<' (written \u003c) and decodes to the
	// hostile reason intact.
	block := text(p.byID("credence-pictures"))
	if strings.Contains(block, "<") {
		t.Error("the pictures' JSON holds a raw '<'")
	}
	var pics []struct {
		Edges []struct{ Reason string } `json:"edges"`
	}
	if err := json.Unmarshal([]byte(block), &pics); err != nil || len(pics) != 1 || pics[0].Edges[0].Reason != evil("reads the token") {
		t.Errorf("pictures JSON: %v %+v", err, pics)
	}
	// The workload is on the ranked page, linked.
	p = get(t, srv.URL+"/ui/")
	if keys := rowKeys(t, p); len(keys) != 1 || keys[0] != evilName+"/Deployment/"+evilName {
		t.Errorf("ranked rows %q", keys)
	}
}

// A workload that went away: its last Subject with the time it went,
// and its timeline; as of a time before it was seen: a 404 that says so.
func TestRemovedWorkload(t *testing.T) {
	smp := sampleStore(t)
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "gone.db"), store.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := *subjectOf(smp.today, "shop/Deployment/web")
	if _, err := st.PutSubject(ctx, &s); err != nil {
		t.Fatal(err)
	}
	gone := clk.Add(2 * time.Hour)
	if _, err := st.RemoveWorkload(ctx, "shop/Deployment/web"); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	srv := server(t, st, dashboard.WithClock(clk.Now))
	p := get(t, srv.URL+"/ui/workloads/shop/Deployment/web")
	banner := p.all("p", "banner-gone")
	if p.status != 200 || len(banner) != 1 || !strings.Contains(text(banner[0]), gone.Format("2006-01-02 15:04:05 UTC")) {
		t.Fatalf("removed workload: %d, banner %v", p.status, banner)
	}
	if !strings.Contains(text(p.byID("timeline")), "went away") || !strings.Contains(p.body, fmt.Sprintf("%.1f", s.Risk.Score)) {
		t.Error("the removed workload's page lacks its removal or its last risk")
	}
	if rows := rowKeys(t, get(t, srv.URL+"/ui/")); len(rows) != 0 {
		t.Errorf("a removed workload is ranked: %v", rows)
	}
	p = get(t, srv.URL+"/ui/workloads/shop/Deployment/web?at=2026-01-01T00:00:00Z")
	if p.status != 404 || !strings.Contains(p.body, "first seen 2026-02-01 00:00:00 UTC") {
		t.Errorf("as of before it was seen: %d %q", p.status, text(p.all("p", "error-msg")[0]))
	}
	p = get(t, srv.URL+"/ui/workloads/shop/Deployment/web?at="+url.QueryEscape(gone.Add(-time.Minute).Format(time.RFC3339)))
	if p.status != 200 || len(p.all("p", "banner")) != 1 {
		t.Errorf("as of before it went: %d", p.status)
	}
}

// Behind http.StripPrefix the handler serves the same pages, and its links
// still carry the prefix.
func TestStripPrefix(t *testing.T) {
	smp := sampleStore(t)
	mux := http.NewServeMux()
	mux.Handle("/ui/", http.StripPrefix("/ui", dashboard.New(smp.st)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p := get(t, srv.URL+"/ui/")
	if keys := rowKeys(t, p); p.status != 200 || !slices.Equal(keys, rankedKeys(smp.today)) {
		t.Fatalf("behind StripPrefix: %d %v", p.status, keys)
	}
	if p := get(t, srv.URL+"/ui/workloads/shop/Deployment/web"); p.status != 200 || len(picturesOf(t, p)) == 0 {
		t.Errorf("workload behind StripPrefix: %d", p.status)
	}
	// And at another prefix.
	mux = http.NewServeMux()
	mux.Handle("/dash/", dashboard.New(smp.st, dashboard.WithPrefix("/dash/")))
	srv2 := httptest.NewServer(mux)
	defer srv2.Close()
	p = get(t, srv2.URL+"/dash/")
	if p.status != 200 || !strings.Contains(p.body, `href="/dash/workloads/shop/Deployment/web"`) {
		t.Errorf("at /dash/: %d", p.status)
	}
}

// An empty store (no workload, no database committed) says so, and says
// that findings are unknown rather than absent.
func TestEmptyStore(t *testing.T) {
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "empty.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := server(t, st)
	p := get(t, srv.URL+"/ui/")
	if p.status != 200 || !strings.Contains(p.body, "No workloads in the store yet") || !strings.Contains(p.body, "no vulnerability database committed yet: findings unknown") {
		t.Errorf("empty store: %d %q", p.status, text(p.byID("main")))
	}
	p = get(t, srv.URL+"/ui/?ns=nowhere")
	if p.status != 200 || !strings.Contains(p.body, "No workload matches these filters") {
		t.Errorf("empty filter: %d %q", p.status, text(p.byID("main")))
	}
}

// Each change of a workload links to the workload as it was then: the web
// workload as first seen, under yesterday's database, has no Log4Shell
// finding; now it has.
func TestWorkloadAsOf(t *testing.T) {
	smp := sampleStore(t)
	srv := server(t, smp.st, dashboard.WithClock(smp.clk.Now))
	p := get(t, srv.URL+"/ui/workloads/shop/Deployment/web")
	var links []string
	for _, a := range p.all("a", "asof") {
		links = append(links, attr(a, "href"))
	}
	hist, err := smp.st.SubjectHistory(context.Background(), "shop/Deployment/web")
	if err != nil || len(hist) != 2 {
		t.Fatalf("history: %d versions, %v", len(hist), err)
	}
	if len(links) == 0 || !strings.Contains(links[0], "at="+url.QueryEscape(hist[0].ValidFrom.Format(time.RFC3339Nano))) {
		t.Fatalf("links to the workload as it was: %v, want the first at %s", links, hist[0].ValidFrom)
	}
	const l4s = "GHSA-jfh8-c2jp-5v3q"
	if !strings.Contains(text(p.byID("findings")), l4s) {
		t.Errorf("now: no %s among the findings", l4s)
	}
	old := get(t, srv.URL+links[0])
	if old.status != 200 || len(old.all("p", "banner")) != 1 || strings.Contains(text(old.byID("findings")), l4s) {
		t.Errorf("as first seen (%s): %d, %d banners, %s listed %v", links[0], old.status, len(old.all("p", "banner")), l4s, strings.Contains(text(old.byID("findings")), l4s))
	}
	if n := len(old.all("tr", "later")); n == 0 {
		t.Error("the events after that time are not marked as later")
	}
}
