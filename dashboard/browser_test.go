package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/dashboard"
	"github.com/credence-dev/credence/internal/testutil/browsertest"
	"github.com/credence-dev/credence/store"
)

// wantPicture is what one container's picture must draw, computed from the
// Subject's JSON (not by the dashboard's code): the distinct node names and
// the distinct steps (from, to, kind) of its paths.
type wantPicture struct {
	Container    string
	Nodes, Edges int
	Names        []string
}

func wantPictures(t testing.TB, s *assess.Subject) []wantPicture {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	type path struct {
		Steps []struct{ From, To, Kind string } `json:"steps"`
	}
	var m struct {
		Risk       struct{ Entry string } `json:"risk"`
		Containers []struct {
			Name        string `json:"name"`
			BlastRadius *struct {
				Path  *path  `json:"path"`
				Paths []path `json:"paths"`
			} `json:"blastRadius"`
		} `json:"containers"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var want []wantPicture
	for _, c := range m.Containers {
		if c.BlastRadius == nil {
			continue
		}
		paths := c.BlastRadius.Paths
		if len(paths) == 0 && c.BlastRadius.Path != nil {
			paths = []path{*c.BlastRadius.Path}
		}
		if len(paths) == 0 {
			continue
		}
		nodes, edges := map[string]bool{}, map[string]bool{}
		w := wantPicture{Container: c.Name}
		for _, p := range paths {
			for _, s := range p.Steps {
				for _, n := range []string{s.From, s.To} {
					if !nodes[n] {
						nodes[n] = true
						w.Names = append(w.Names, n)
					}
				}
				edges[s.From+"\x00"+s.To+"\x00"+s.Kind] = true
			}
		}
		w.Nodes, w.Edges = len(nodes), len(edges)
		// The entry container's picture comes first.
		if c.Name == m.Risk.Entry {
			want = append([]wantPicture{w}, want...)
		} else {
			want = append(want, w)
		}
	}
	return want
}

func sameOrigin(srvURL string) func(string) bool {
	return func(u string) bool { return strings.HasPrefix(u, srvURL+"/") }
}

// The sample store in real headless Chromium: the ranked page lists every
// workload in the store; following a link opens the workload, whose
// pictures draw the nodes and edges of its Subject's paths and whose
// steps show their reason when clicked; the image page lists the store's
// timeline. No console error, no CSP violation, no request outside the
// test server.
func TestDashboardInChromium(t *testing.T) {
	smp := sampleStore(t)
	srv := server(t, smp.st, dashboard.WithClock(smp.clk.Now))
	ctx, run := browsertest.Start(t, true)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	// The ranked page: one row per workload in the store, riskiest first.
	browsertest.Navigate(t, ctx, run, srv.URL+"/ui/")
	type row struct {
		Name, Href string
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]row](`[...document.querySelectorAll('tr.wl td.wl-name a')].map(a => ({Name: a.textContent, Href: a.href}))`))
	if err != nil {
		t.Fatal(err)
	}
	ranked := rankedKeys(smp.today)
	if len(rows) != len(ranked) {
		t.Fatalf("ranked page shows %d workloads, the store holds %d", len(rows), len(ranked))
	}
	for i, key := range ranked {
		ns, _, name, _ := store.ParseWorkloadKey(key)
		if rows[i].Name != ns+"/"+name {
			t.Errorf("row %d is %s, want %s", i+1, rows[i].Name, ns+"/"+name)
		}
	}
	browsertest.Screenshot(t, ctx, "dashboard-ranked.png")

	// Follow the riskiest workload's link, as a reader would.
	top := subjectOf(smp.today, ranked[0])
	clickAndWait(t, ctx, `tr.wl td.wl-name a`)
	browsertest.WaitPictures(t, ctx, run)
	url, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	if url != rows[0].Href {
		t.Errorf("the link led to %s, want %s", url, rows[0].Href)
	}
	want := wantPictures(t, top)
	got := browsertest.Pictures(t, ctx)
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("%d pictures drawn, want %d (one per container with paths)", len(got), len(want))
	}
	for i, w := range want {
		id := fmt.Sprintf("pic-%d", i+1)
		g := got[id]
		if g.Nodes != w.Nodes || g.Edges != w.Edges {
			t.Errorf("picture %s (container %s) draws %d nodes, %d edges; the Subject's paths have %d distinct names, %d distinct steps", id, w.Container, g.Nodes, g.Edges, w.Nodes, w.Edges)
		}
		if fmt.Sprint(sorted(g.Labels)) != fmt.Sprint(sorted(w.Names)) {
			t.Errorf("picture %s labels %q, want %q", id, g.Labels, w.Names)
		}
		if g.Inside != g.Nodes || g.Width < 200 || g.Height < 200 || !g.CanvasPainted {
			t.Errorf("picture %s: %d of %d nodes inside its %.0fx%.0f view, canvas painted %v", id, g.Inside, g.Nodes, g.Width, g.Height, g.CanvasPainted)
		}
	}
	// A click on the first step shows its reason.
	first := entryOf(top).BlastRadius.Paths[0].Steps[0]
	if text := browsertest.ClickFirstEdge(t, ctx, "pic-1"); !strings.Contains(text, first.Reason) || !strings.Contains(text, string(first.Kind)) {
		t.Errorf("the panel after clicking the first step reads %q, want its kind %s and reason %q", text, first.Kind, first.Reason)
	}
	// The timeline: one entry per event of the store's timeline.
	events, err := smp.st.WorkloadTimeline(context.Background(), ranked[0])
	if err != nil {
		t.Fatal(err)
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#timeline tr.event').length`))
	if err != nil {
		t.Fatal(err)
	}
	if n != len(events) {
		t.Errorf("the workload's timeline shows %d entries, the store has %d events", n, len(events))
	}
	browsertest.Screenshot(t, ctx, "dashboard-workload.png")

	// The image page, from the container's digest link.
	clickAndWait(t, ctx, `.ctr-entry a[href*="/ui/images/"]`)
	digest := entryOf(top).Image.Digest
	ievents, err := smp.st.ImageTimeline(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	type imageState struct {
		Events, Runs int
		Title        string
	}
	st, err := chromedp.Run(ctx, chromedp.Evaluate[imageState](`({Events: document.querySelectorAll('#timeline tr.event').length, Runs: document.querySelectorAll('tr.run').length, Title: document.querySelector('h1').textContent})`))
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != len(ievents) || !strings.Contains(st.Title, digest) || st.Runs != len(workloadsRunning(smp.today, digest)) {
		t.Errorf("image page: %+v; want %d events (the store's), %d runs, the digest %s in the title", st, len(ievents), len(workloadsRunning(smp.today, digest)), digest)
	}
	browsertest.Screenshot(t, ctx, "dashboard-image.png")
	browsertest.CheckQuiet(t, run, sameOrigin(srv.URL))
}

// With JavaScript off everything but the picture works: the ranked list,
// its filter form (a real click on its button), paging links, a
// workload's paths as text (each picture says it needs JavaScript), its
// timeline.
func TestDashboardWithoutJavaScriptInChromium(t *testing.T) {
	smp := sampleStore(t)
	srv := server(t, smp.st, dashboard.WithClock(smp.clk.Now), dashboard.WithPageSize(2))
	ctx, run := browsertest.Start(t, false)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	browsertest.Navigate(t, ctx, run, srv.URL+"/ui/")
	// Choose the namespace "shop" in the form and press its button.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector('select[name=ns]').value = 'shop'`)); err != nil {
		t.Fatal(err)
	}
	clickAndWait(t, ctx, `form.filters button`)
	var shop []string
	for _, k := range rankedKeys(smp.today) {
		if strings.HasPrefix(k, "shop/") {
			shop = append(shop, k)
		}
	}
	seen := listPages(t, ctx)
	if !slices.Equal(seen, shop) {
		t.Errorf("the filtered, paged list shows %v, want %v", seen, shop)
	}

	browsertest.Navigate(t, ctx, run, srv.URL+"/ui/workloads/shop/Deployment/web")
	type state struct {
		Steps, Events, NoScript, Canvas int
		Ran                             bool
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[state](`({Steps: document.querySelectorAll('li.step').length,
	  Events: document.querySelectorAll('tr.event').length, Canvas: document.querySelectorAll('canvas').length,
	  NoScript: [...document.querySelectorAll('.picture')].filter(p => p.innerText.includes('needs JavaScript')).length,
	  Ran: window.credenceReady === true})`))
	if err != nil {
		t.Fatal(err)
	}
	web := subjectOf(smp.today, "shop/Deployment/web")
	steps := 0
	for _, c := range web.Containers {
		if c.BlastRadius != nil {
			for _, p := range c.BlastRadius.Paths {
				steps += len(p.Steps)
			}
		}
	}
	events, _ := smp.st.WorkloadTimeline(context.Background(), "shop/Deployment/web")
	if got.Ran || got.Canvas != 0 || got.Steps != steps || got.Events != len(events) || got.NoScript != len(wantPictures(t, web)) {
		t.Errorf("without JavaScript: %+v; want %d steps, %d events, %d pictures saying they need JavaScript, nothing drawn", got, steps, len(events), len(wantPictures(t, web)))
	}
	browsertest.CheckQuiet(t, run, sameOrigin(srv.URL))
}

// listPages reads the workload names of the current list page and of every
// page after it, following the "next" link with a real click.
func listPages(t *testing.T, ctx context.Context) []string {
	t.Helper()
	var keys []string
	for range 100 {
		hrefs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('tr.wl td.wl-name a')].map(a => decodeURIComponent(new URL(a.href).pathname))`))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hrefs {
			keys = append(keys, strings.TrimPrefix(h, "/ui/workloads/"))
		}
		next, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector('a[rel=next]')`))
		if err != nil {
			t.Fatal(err)
		}
		if !next {
			return keys
		}
		clickAndWait(t, ctx, `a[rel=next]`)
	}
	t.Fatal("more than 100 pages")
	return nil
}

// clickAndWait clicks the first element sel selects with the mouse and
// waits until the browser has loaded the page it leads to.
func clickAndWait(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	if err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(wait, chromedp.Click(sel, chromedp.NodeVisible)); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
	// The evaluation fails while the page is replaced: ask again.
	for {
		done, err := chromedp.Run(wait, chromedp.Evaluate[bool](fmt.Sprintf(`location.href !== %q && document.readyState === 'complete'`, before)))
		if err == nil && done {
			return
		}
		if wait.Err() != nil {
			t.Fatalf("clicking %s on %s led nowhere: %v", sel, before, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Markup in every string the store holds reaches each page as text in a
// real browser: nothing runs (no CSP violation is even attempted), no
// element is injected, the picture still draws, and its panel shows a
// hostile reason as text.
func TestDashboardHostileInChromium(t *testing.T) {
	st := hostileStore(t)
	srv := server(t, st)
	ctx, run := browsertest.Start(t, true)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	type state struct {
		Pwned            bool
		Injected, Rows   int
		Scripts, Handled int
		Text             string
	}
	const read = `({Pwned: window.__pwned !== undefined, Injected: document.querySelectorAll('img, svg, iframe, object, embed').length,
	  Rows: document.querySelectorAll('tr.wl').length, Scripts: document.scripts.length,
	  Handled: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
	  Text: document.body.textContent})`
	key := strings.ReplaceAll(evilName, `"`, `%22`)
	for _, c := range []struct {
		path    string
		scripts int
		shows   []string
	}{
		{"/ui/", 0, []string{evilName + "/" + evilName, evil("why")}},
		{"/ui/?ns=" + strings.ReplaceAll(evil("ns"), " ", "+"), 0, nil},
		{"/ui/workloads/" + key + "/Deployment/" + key, 3, []string{evil("why"), evil("bad"), evil("message"), evil("app") + "=" + evil("web")}},
		{"/ui/images/" + hostileDigest, 0, []string{evil("CVE-1"), evil("bad")}},
	} {
		browsertest.Navigate(t, ctx, run, srv.URL+c.path)
		if c.scripts > 0 {
			browsertest.WaitPictures(t, ctx, run)
			if got := browsertest.Pictures(t, ctx); len(got) != 1 || got["pic-1"].Edges != 3 {
				t.Errorf("%s: pictures %+v, want one with 3 edges", c.path, got)
			}
			if text := browsertest.ClickFirstEdge(t, ctx, "pic-1"); !strings.Contains(text, evil("reads the token")) {
				t.Errorf("%s: the panel reads %q, want the hostile reason as text", c.path, text)
			}
		}
		s, err := chromedp.Run(ctx, chromedp.Evaluate[state](read))
		if err != nil {
			t.Fatal(err)
		}
		if s.Pwned || s.Injected != 0 || s.Handled != 0 || s.Scripts != c.scripts {
			t.Errorf("%s: hostile input took effect: pwned %v, %d injected elements, %d with handlers, %d scripts (want %d)", c.path, s.Pwned, s.Injected, s.Handled, s.Scripts, c.scripts)
		}
		for _, want := range c.shows {
			if !strings.Contains(s.Text, want) {
				t.Errorf("%s does not show %q as text", c.path, want)
			}
		}
		if strings.HasPrefix(c.path, "/ui/workloads/") {
			browsertest.Screenshot(t, ctx, "dashboard-hostile.png")
		}
	}
	browsertest.CheckQuiet(t, run, sameOrigin(srv.URL))
}
