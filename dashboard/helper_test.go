package dashboard_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/dashboard"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/store"
	"github.com/credence-dev/credence/vulndb"
	sampledb "github.com/credence-dev/credence/vulndb/sample"
)

// Facts of the sample cluster (testdata/cluster/README.md): the web image
// carries log4j-core 2.14.1; the api image has no sample advisory.
const (
	webDigest = "sha256:5872df9159cccd95624b4f624969d9abbbc5cb0b5123c06bfcb01e4cf5a9bb6a"
	apiDigest = "sha256:eb2c254075ad8f27163656392777487689db51bd8f2bdafbe8a808e8f41dd4a7"
	log4shell = "CVE-2021-44228"
)

// clock is a settable clock for the store (store.WithClock).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// sample is the sample cluster written into a real SQLite store the way
// credence serve writes it: yesterday's database (the sample data without
// the log4j advisories) matched and committed at t0 with every Subject and
// its policy decision (the default policy); today's database (the sample
// data) begun at t1, the stored inventories re-matched (no image read) and
// committed at t2, the Subjects and decisions re-evaluated.
type sample struct {
	st         *store.Store
	dsn        string
	today      *assess.Assessment
	decisions  map[string]policy.Decision
	t0, t1, t2 time.Time
	clk        *clock
}

var (
	sampleOnce sync.Once
	sampleVal  *sample
	sampleErr  error
	sampleDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sampleDir != "" {
		os.RemoveAll(sampleDir)
	}
	os.Exit(code)
}

// sampleStore builds the sample store once per test binary; tests only
// read it.
func sampleStore(t testing.TB) *sample {
	t.Helper()
	sampleOnce.Do(func() { sampleVal, sampleErr = buildSample(t) })
	if sampleErr != nil {
		t.Fatal(sampleErr)
	}
	return sampleVal
}

func buildSample(t testing.TB) (*sample, error) {
	ctx := context.Background()
	root := testutil.RepoRoot(t)
	snap, err := cluster.FromManifests(ctx, filepath.Join(root, "testdata", "cluster", "manifests"))
	if err != nil {
		return nil, err
	}
	dirs, _, err := assess.NewImageDirs(ctx, []string{filepath.Join(root, "testdata", "cluster", "images")}, nil)
	if err != nil {
		return nil, err
	}
	old, err := yesterdaysDB(ctx, root)
	if err != nil {
		return nil, err
	}
	today, err := sampledb.Open(ctx)
	if err != nil {
		return nil, err
	}
	engine, err := policy.Compile(policy.DefaultPolicy())
	if err != nil {
		return nil, err
	}
	if sampleDir, err = os.MkdirTemp("", "credence-dashboard-test-"); err != nil {
		return nil, err
	}
	smp := &sample{clk: &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}, decisions: map[string]policy.Decision{}}
	smp.dsn = "sqlite://" + filepath.Join(sampleDir, "credence.db")
	if smp.st, err = store.Open(ctx, smp.dsn, store.WithClock(smp.clk.Now)); err != nil {
		return nil, err
	}
	smp.t0 = smp.clk.Now()
	v1, err := smp.st.BeginDBVersion(ctx, store.DBVersionInfo{ID: "sample-yesterday"})
	if err != nil {
		return nil, err
	}
	a1, err := assess.Assess(ctx, snap, old, assess.WithImageDirs(dirs), assess.WithCache(smp.st), assess.WithClock(func() time.Time { return smp.t0 }))
	if err != nil {
		return nil, err
	}
	if err := record(ctx, smp, engine, a1, v1.Seq); err != nil {
		return nil, err
	}
	if _, err := smp.st.CommitDBVersion(ctx, v1.Seq); err != nil {
		return nil, err
	}
	smp.t1 = smp.clk.Add(24 * time.Hour)
	v2, err := smp.st.BeginDBVersion(ctx, store.DBVersionInfo{ID: "sample-today", Built: smp.t1})
	if err != nil {
		return nil, err
	}
	if smp.today, err = assess.Assess(ctx, snap, today, assess.WithImageDirs(dirs), assess.WithCache(smp.st), assess.WithClock(func() time.Time { return smp.t1 })); err != nil {
		return nil, err
	}
	if err := recordMatches(ctx, smp.st, smp.today, v2.Seq); err != nil {
		return nil, err
	}
	smp.t2 = smp.clk.Add(time.Minute)
	if _, err := smp.st.CommitDBVersion(ctx, v2.Seq); err != nil {
		return nil, err
	}
	if err := record(ctx, smp, engine, smp.today, v2.Seq); err != nil {
		return nil, err
	}
	smp.clk.Add(time.Hour)
	return smp, nil
}

// yesterdaysDB is the sample database without the log4j advisories.
func yesterdaysDB(ctx context.Context, root string) (match.Source, error) {
	dir, err := os.MkdirTemp("", "credence-dashboard-olddb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(root, "vulndb", "sample", "data", "osv")
	ents, err := os.ReadDir(data)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(data, e.Name()))
		if err != nil {
			return nil, err
		}
		if !strings.Contains(string(b), "log4j") {
			if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
				return nil, err
			}
		}
	}
	ins, err := vulndb.Inputs(dir)
	if err != nil {
		return nil, err
	}
	src, _, err := vulndb.LoadMemory(ctx, "yesterday", ins)
	return src, err
}

func recordMatches(ctx context.Context, st *store.Store, a *assess.Assessment, seq int64) error {
	return st.Update(ctx, func(tx *store.Tx) error {
		for _, img := range a.Images {
			if m := store.MatchOf(img, seq); m != nil {
				if _, err := tx.RecordMatch(ctx, m); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// record writes an assessment's matches, Subjects and policy decisions.
func record(ctx context.Context, smp *sample, engine *policy.Engine, a *assess.Assessment, seq int64) error {
	images := policy.NewImageIndex(a.Images...)
	return smp.st.Update(ctx, func(tx *store.Tx) error {
		for _, img := range a.Images {
			if m := store.MatchOf(img, seq); m != nil {
				if _, err := tx.RecordMatch(ctx, m); err != nil {
					return err
				}
			}
		}
		for i := range a.Subjects {
			s := &a.Subjects[i]
			if _, err := tx.PutSubject(ctx, s); err != nil {
				return err
			}
			d := engine.Evaluate(policy.Input{Subject: s, Images: images, Now: a.Generated})
			data, err := json.Marshal(d)
			if err != nil {
				return err
			}
			key := store.WorkloadKey(s.Workload)
			if _, err := tx.PutDecision(ctx, key, store.Decision{Verdict: string(d.Outcome), Data: data}); err != nil {
				return err
			}
			smp.decisions[key] = d
		}
		return nil
	})
}

// server serves the dashboard at /ui/ as credence serve mounts it.
func server(t testing.TB, src dashboard.Source, opts ...dashboard.Option) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/ui/", dashboard.New(src, opts...))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// page is a fetched page, parsed.
type page struct {
	status int
	header http.Header
	body   string
	doc    *html.Node
}

func get(t testing.TB, url string) *page {
	t.Helper()
	return do(t, http.MethodGet, url)
}

func do(t testing.TB, method, url string) *page {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := &page{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if p.doc, err = html.Parse(strings.NewReader(p.body)); err != nil {
		t.Fatal(err)
	}
	return p
}

// all returns the elements with tag (any when "") and class (any when "").
func (p *page) all(tag, class string) []*html.Node {
	var out []*html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (tag == "" || n.Data == tag) && (class == "" || hasClass(n, class)) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(p.doc)
	return out
}

func (p *page) byID(id string) *html.Node {
	var found *html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if found != nil {
			return
		}
		if n.Type == html.ElementNode && attr(n, "id") == id {
			found = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(p.doc)
	return found
}

func hasClass(n *html.Node, class string) bool {
	return slices.Contains(strings.Fields(attr(n, "class")), class)
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// text is the text content of n.
func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// rankedKeys are the assessment's workloads in the order the store ranks
// them: risk descending, then key.
func rankedKeys(a *assess.Assessment) []string {
	type w struct {
		key   string
		score float64
	}
	var ws []w
	for _, s := range a.Subjects {
		ws = append(ws, w{store.WorkloadKey(s.Workload), s.Risk.Score})
	}
	slices.SortFunc(ws, func(x, y w) int {
		if x.score != y.score {
			if x.score > y.score {
				return -1
			}
			return 1
		}
		return strings.Compare(x.key, y.key)
	})
	var out []string
	for _, x := range ws {
		out = append(out, x.key)
	}
	return out
}

func subjectOf(a *assess.Assessment, key string) *assess.Subject {
	for i := range a.Subjects {
		if store.WorkloadKey(a.Subjects[i].Workload) == key {
			return &a.Subjects[i]
		}
	}
	return nil
}

func entryOf(s *assess.Subject) *assess.Container {
	for i := range s.Containers {
		if s.Containers[i].Name == s.Risk.Entry {
			return &s.Containers[i]
		}
	}
	return nil
}

// workloadsRunning are the workloads (with a container each) of the
// assessment that run digest.
func workloadsRunning(a *assess.Assessment, digest string) []string {
	var out []string
	for _, s := range a.Subjects {
		for _, c := range s.Containers {
			if c.Image.Digest == digest {
				out = append(out, store.WorkloadKey(s.Workload)+" "+c.Name)
			}
		}
	}
	return out
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
