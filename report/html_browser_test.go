package report_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/report"
)

// chromium finds Debian's chromium (scripts/setup.d/apt-packages.txt). Under
// CI=true a missing browser fails the test; elsewhere it skips loudly.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CREDENCE_CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testutil.NeedComponent(t, "chromium", "run scripts/setup.d/00-apt.sh as root (apt package chromium), or set CREDENCE_CHROMIUM")
	return ""
}

// browserRun is what a page did while it loaded in headless Chromium.
type browserRun struct {
	mu       sync.Mutex
	problems []string // console errors, exceptions, error log entries, dialogs
	requests []string // every URL the page requested
}

func (r *browserRun) add(list *[]string, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*list = append(*list, s)
}

func (r *browserRun) snapshot() (problems, requests []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.problems...), append([]string(nil), r.requests...)
}

// openInChromium writes page to a temporary file, loads it with file:// in
// a fresh headless Chromium, waits for the pictures to be drawn, and returns
// a browser context for further actions with what the page did so far.
func openInChromium(t *testing.T, html []byte) (context.Context, *browserRun, string) {
	return openInChromiumJS(t, html, true)
}

// openInChromiumJS is openInChromium with the page's scripts on or off.
func openInChromiumJS(t *testing.T, html []byte, scripts bool) (context.Context, *browserRun, string) {
	t.Helper()
	exe := chromium(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "assess.html")
	if err := os.WriteFile(file, html, 0o644); err != nil {
		t.Fatal(err)
	}
	var chromeOut bytes.Buffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // required as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1400, 1000),
		chromedp.CombinedOutput(&chromeOut),
	)
	run := &browserRun{}
	var ctx context.Context
	listen := func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			switch ev.Type {
			case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeAssert, runtime.ConsoleAPICalledTypeWarning:
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				run.add(&run.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			run.add(&run.problems, fmt.Sprintf("exception at %d:%d: %s", d.LineNumber, d.ColumnNumber, msg))
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
				run.add(&run.problems, fmt.Sprintf("log %s (%s): %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			run.add(&run.requests, ev.Request.URL)
		case *page.EventJavascriptDialogOpening:
			run.add(&run.problems, "dialog opened: "+ev.Message)
			// A listener must not run commands itself: dismiss it from another goroutine.
			go func() {
				_ = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
					_, err := cdp.Call(ctx, t, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{})
					return err
				}))
			}()
		}
	}
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithListener(listen))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		if t.Failed() && chromeOut.Len() > 0 {
			t.Logf("chromium output:\n%s", tailOf(chromeOut.String(), 3000))
		}
	})
	// The first Run starts the browser and must not carry a timeout (it
	// would stop the browser); later actions are bounded.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v\n%s", exe, err, tailOf(chromeOut.String(), 3000))
	}
	url := "file://" + file
	load, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if !scripts {
		if err := chromedp.Do(load, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		})); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(load,
		chromedp.Navigate(url),
	); err != nil {
		problems, _ := run.snapshot()
		t.Fatalf("load %s: %v (problems: %v)", url, err, problems)
	}
	if !scripts {
		return ctx, run, url
	}
	if _, err := chromedp.Run(load, chromedp.Poll[bool](`window.credenceReady === true`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		problems, _ := run.snapshot()
		t.Fatalf("the page did not finish drawing: %v (problems: %v)", err, problems)
	}
	return ctx, run, url
}

// drawn is what one cytoscape instance holds and shows.
type drawn struct {
	Nodes, Edges int
	Labels       []string
	// Inside counts the nodes whose rendered box lies inside the visible
	// container: the picture is on screen, not laid out off it.
	Inside          int
	Width, Height   float64
	Zoom            float64
	CanvasPainted   bool
	PanelBeforeText string
}

const readGraphs = `(() => {
  const out = {};
  for (const [id, cy] of Object.entries(window.credenceGraphs)) {
    const w = cy.width(), h = cy.height();
    let inside = 0;
    cy.nodes().forEach(n => { const b = n.renderedBoundingBox({includeLabels: false}); if (b.x1 >= 0 && b.y1 >= 0 && b.x2 <= w && b.y2 <= h) inside++; });
    let painted = false;
    for (const c of document.getElementById(id).querySelectorAll('canvas')) {
      const ctx = c.getContext('2d'); if (!ctx || !c.width || !c.height) continue;
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < d.length; i += 4 * 7) { if (d[i] !== 0) { painted = true; break; } }
      if (painted) break;
    }
    out[id] = {Nodes: cy.nodes().length, Edges: cy.edges().length, Labels: cy.nodes().map(n => n.data('name')),
      Inside: inside, Width: w, Height: h, Zoom: cy.zoom(), CanvasPainted: painted};
  }
  return out;
})()`

// scrollToEachPicture brings every picture into view, as a reader scrolling
// down the page does, and waits until each is drawn (they are drawn when
// they come near the viewport).
func scrollToEachPicture(t *testing.T, ctx context.Context) {
	t.Helper()
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.picture')].map(e => e.id)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		wait, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := chromedp.Do(wait,
			chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).scrollIntoView({block: 'center'})`, id)),
			chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
				_, err := chromedp.Poll[bool](fmt.Sprintf(`!!window.credenceGraphs[%q]`, id))(ctx, t)
				return chromedp.Void{}, err
			}))
		cancel()
		if err != nil {
			t.Fatalf("picture %s was not drawn once in view: %v", id, err)
		}
	}
}

func checkPictures(t *testing.T, ctx context.Context, want []wantPicture) map[string]drawn {
	t.Helper()
	scrollToEachPicture(t, ctx)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]drawn](readGraphs))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("%d pictures drawn, want %d", len(got), len(want))
	}
	for _, w := range want {
		g, ok := got[w.ID]
		if !ok {
			t.Errorf("picture %s not drawn", w.ID)
			continue
		}
		if g.Nodes != w.Nodes || g.Edges != w.Edges {
			t.Errorf("picture %s draws %d nodes and %d edges, want %d and %d (distinct names and steps of its paths)", w.ID, g.Nodes, g.Edges, w.Nodes, w.Edges)
		}
		if fmt.Sprint(sortedCopy(g.Labels)) != fmt.Sprint(sortedCopy(w.Names)) {
			t.Errorf("picture %s labels %q, want %q", w.ID, g.Labels, w.Names)
		}
		if g.Inside != g.Nodes || g.Width < 200 || g.Height < 200 || !g.CanvasPainted {
			t.Errorf("picture %s: %d of %d nodes inside its %.0fx%.0f view (zoom %.2f), canvas painted %v", w.ID, g.Inside, g.Nodes, g.Width, g.Height, g.Zoom, g.CanvasPainted)
		}
	}
	return got
}

func checkQuiet(t *testing.T, run *browserRun, url string) {
	t.Helper()
	problems, requests := run.snapshot()
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
	sawPage := false
	for _, r := range requests {
		if r == url {
			sawPage = true
			continue
		}
		t.Errorf("the page requested %s: it must need nothing but itself", r)
	}
	if !sawPage {
		t.Errorf("no request for the page itself was seen (requests: %v): is network monitoring on?", requests)
	}
}

// clickFirstEdge clicks the middle of a picture's first edge with the mouse
// and returns the side panel's text.
func clickFirstEdge(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	// Scroll first, and let the scroll event reach cytoscape (it caches
	// the container's position) before reading where the edge is.
	scroll := fmt.Sprintf(`document.getElementById(%q).scrollIntoView({block: 'center'})`, id)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](scroll), chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	js := fmt.Sprintf(`(() => { const el = document.getElementById(%q);
	  const cy = window.credenceGraphs[%q]; const b = el.getBoundingClientRect(); const m = cy.edges()[0].renderedMidpoint();
	  const x = b.left + m.x, y = b.top + m.y, hit = document.elementFromPoint(x, y);
	  return {X: x, Y: y, Hit: hit ? hit.tagName + '.' + hit.className + ' in ' + (hit.closest('[id]') || {}).id : 'nothing'}; })()`, id, id)
	at, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		X, Y float64
		Hit  string
	}](js))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(at.X, at.Y), chromedp.Sleep(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.getElementById(%q).textContent`, id+"-panel")))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("clicked %s at (%.0f, %.0f) on %s", id, at.X, at.Y, at.Hit)
	return text
}

func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`), chromedp.Sleep(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(testutil.CacheDir(t), "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d KB)", p, len(png)/1024)
	return p
}

// The sample cluster's report in real headless Chromium: no console error,
// no request but the page, every picture draws the nodes and edges of its
// paths, and clicking a step shows its reason.
func TestHTMLInChromium(t *testing.T) {
	a := sampleAssessment(t)
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, a, report.WithDatabase("sample (embedded demo data)")); err != nil {
		t.Fatal(err)
	}
	ctx, run, url := openInChromium(t, buf.Bytes())
	want := wantPictures(t, a)
	checkPictures(t, ctx, want)

	// A click on the worst workload's first step shows that step's reason.
	first := a.Subjects[0].Containers[0].BlastRadius.Paths[0].Steps[0]
	for _, c := range a.Subjects[0].Containers {
		if c.Name == a.Subjects[0].Risk.Entry {
			first = c.BlastRadius.Paths[0].Steps[0]
		}
	}
	if text := clickFirstEdge(t, ctx, want[0].ID); !strings.Contains(text, first.Reason) || !strings.Contains(text, string(first.Kind)) {
		t.Errorf("panel after clicking the first step reads %q, want its kind %s and reason %q", text, first.Kind, first.Reason)
	}
	// The tables are in the DOM as HTML (they need no script).
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('table.rank tbody tr').length`))
	if err != nil {
		t.Fatal(err)
	}
	if rows != len(a.Subjects) {
		t.Errorf("ranking has %d rows, want %d", rows, len(a.Subjects))
	}
	screenshot(t, ctx, "assess.png")
	checkQuiet(t, run, url)
}

// Markup in every string the cluster controls reaches the page as text:
// nothing runs, no element is injected, and the pictures still draw.
func TestHTMLHostileInChromium(t *testing.T) {
	a := hostileAssessment()
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, a, report.WithDatabase(evilScript)); err != nil {
		t.Fatal(err)
	}
	ctx, run, url := openInChromium(t, buf.Bytes())
	checkPictures(t, ctx, wantPictures(t, a))
	type state struct {
		Pwned    bool
		Injected int
		Scripts  int
		Text     string
		Title    string
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[state](`({Pwned: window.__pwned !== undefined, Injected: document.querySelectorAll('img, svg, iframe, object, embed').length,
	  Scripts: document.scripts.length, Text: document.body.textContent, Title: document.title})`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Pwned || res.Injected != 0 || res.Scripts != 3 {
		t.Errorf("hostile input took effect: pwned %v, %d injected elements, %d scripts (want 3)", res.Pwned, res.Injected, res.Scripts)
	}
	for _, s := range []string{evilScript, evilClose, evilAttr} {
		if !strings.Contains(res.Text, s) || !strings.Contains(res.Title, s) {
			t.Errorf("the page does not show %q as text", s)
		}
	}
	text := clickFirstEdge(t, ctx, "pic-w1")
	if !strings.Contains(text, "reads the token "+evilScript+evilClose) {
		t.Errorf("panel reads %q, want the hostile reason as text", text)
	}
	pwned, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__pwned !== undefined || document.querySelectorAll('img, svg').length > 0`))
	if err != nil {
		t.Fatal(err)
	}
	if pwned {
		t.Error("showing a hostile step in the panel ran or injected markup")
	}
	screenshot(t, ctx, "assess-hostile.png")
	checkQuiet(t, run, url)
}

// With JavaScript off the tables and every path still read as HTML, and
// each picture says it needs JavaScript.
func TestHTMLWithoutJavaScriptInChromium(t *testing.T) {
	a := sampleAssessment(t)
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, a); err != nil {
		t.Fatal(err)
	}
	ctx, run, url := openInChromiumJS(t, buf.Bytes(), false)
	type state struct {
		Rows, Paths, Steps, Drawn, NoScript int
		Ran                                 bool
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[state](`({Rows: document.querySelectorAll('table.rank tbody tr').length,
	  Paths: document.querySelectorAll('details.path').length, Steps: document.querySelectorAll('li.step').length,
	  Drawn: document.querySelectorAll('.picture canvas').length,
	  NoScript: [...document.querySelectorAll('.picture')].filter(p => p.innerText.includes('needs JavaScript')).length,
	  Ran: window.credenceReady === true})`))
	if err != nil {
		t.Fatal(err)
	}
	paths, steps := 0, 0
	for _, s := range a.Subjects {
		for _, c := range s.Containers {
			if c.Name == s.Risk.Entry && c.BlastRadius != nil {
				paths += len(c.BlastRadius.Paths)
				for _, p := range c.BlastRadius.Paths {
					steps += len(p.Steps)
				}
			}
		}
	}
	for _, al := range a.Alerts {
		if al.BlastRadius != nil {
			paths += len(al.BlastRadius.Paths)
			for _, p := range al.BlastRadius.Paths {
				steps += len(p.Steps)
			}
		}
	}
	pics := len(wantPictures(t, a))
	if got.Ran || got.Drawn != 0 || got.Rows != len(a.Subjects) || got.Paths != paths || got.Steps != steps || got.NoScript != pics {
		t.Errorf("without JavaScript: %+v; want %d rows, %d paths, %d steps, %d pictures saying they need JavaScript, nothing drawn",
			got, len(a.Subjects), paths, steps, pics)
	}
	checkQuiet(t, run, url)
}

// A page with nothing to draw loads cleanly too.
func TestHTMLEmptyInChromium(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, &assess.Assessment{Version: assess.SchemaVersion, Source: "manifests empty/"}); err != nil {
		t.Fatal(err)
	}
	ctx, run, url := openInChromium(t, buf.Bytes())
	checkPictures(t, ctx, nil)
	checkQuiet(t, run, url)
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func tailOf(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
