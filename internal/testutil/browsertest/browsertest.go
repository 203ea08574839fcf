// Package browsertest drives Debian's headless Chromium through chromedp for
// tests of credence's pages (the HTML report, the dashboard): what a page
// logged and requested, its blast-radius pictures as cytoscape holds them,
// mouse clicks on a step, and screenshots saved outside the repository.
package browsertest

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

	"github.com/credence-dev/credence/internal/testutil"
)

// Chromium finds Debian's chromium (scripts/setup.d/apt-packages.txt). Under
// CI=true a missing browser fails the test; elsewhere it skips loudly.
func Chromium(t testing.TB) string {
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

// Run is what the pages of one browser did: console errors and warnings,
// exceptions, error log entries (CSP violations among them), dialogs, and
// every URL requested.
type Run struct {
	mu       sync.Mutex
	problems []string
	requests []string
}

func (r *Run) add(list *[]string, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*list = append(*list, s)
}

// Snapshot returns the problems and requests so far.
func (r *Run) Snapshot() (problems, requests []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.problems), slices.Clone(r.requests)
}

// Reset forgets what was seen so far (before the next page).
func (r *Run) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems, r.requests = nil, nil
}

// Start launches a fresh headless Chromium (its own profile in a temp dir,
// no background networking) and returns its context and the Run that
// records what its pages do. With scripts false, JavaScript is off.
func Start(t testing.TB, scripts bool) (context.Context, *Run) {
	t.Helper()
	exe := Chromium(t)
	dir := t.TempDir()
	var chromeOut bytes.Buffer
	var outMu sync.Mutex
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
		chromedp.CombinedOutput(lockedWriter{&outMu, &chromeOut}),
	)
	run := &Run{}
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
		outMu.Lock()
		defer outMu.Unlock()
		if t.Failed() && chromeOut.Len() > 0 {
			t.Logf("chromium output:\n%s", tailOf(chromeOut.String(), 3000))
		}
	})
	// The first Run starts the browser and must not carry a timeout (it
	// would stop the browser); later actions are bounded.
	if err := chromedp.Do(ctx); err != nil {
		outMu.Lock()
		defer outMu.Unlock()
		t.Fatalf("start chromium %s: %v\n%s", exe, err, tailOf(chromeOut.String(), 3000))
	}
	if !scripts {
		if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		})); err != nil {
			t.Fatal(err)
		}
	}
	return ctx, run
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// Navigate loads url and waits for it to load (60 s at most).
func Navigate(t testing.TB, ctx context.Context, run *Run, url string) {
	t.Helper()
	load, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(load, chromedp.Navigate(url)); err != nil {
		problems, _ := run.Snapshot()
		t.Fatalf("load %s: %v (problems: %v)", url, err, problems)
	}
}

// WaitPictures waits until the page's picture script has run
// (window.credenceReady).
func WaitPictures(t testing.TB, ctx context.Context, run *Run) {
	t.Helper()
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(wait, chromedp.Poll[bool](`window.credenceReady === true`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		problems, _ := run.Snapshot()
		t.Fatalf("the page did not finish drawing: %v (problems: %v)", err, problems)
	}
}

// CheckQuiet fails the test for every problem the pages had and every
// request allowed does not accept; it fails too when no request was seen
// at all (network monitoring off).
func CheckQuiet(t testing.TB, run *Run, allowed func(url string) bool) {
	t.Helper()
	problems, requests := run.Snapshot()
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
	for _, r := range requests {
		if !allowed(r) {
			t.Errorf("the page requested %s: it must need nothing but its own origin", r)
		}
	}
	if len(requests) == 0 {
		t.Error("no request was seen: is network monitoring on?")
	}
}

// Drawn is what one cytoscape instance holds and shows.
type Drawn struct {
	Nodes, Edges int
	Labels       []string
	// Inside counts the nodes whose rendered box lies inside the visible
	// container: the picture is on screen, not laid out off it.
	Inside        int
	Width, Height float64
	Zoom          float64
	CanvasPainted bool
}

const readGraphs = `(() => {
  const out = {};
  for (const [id, cy] of Object.entries(window.credenceGraphs || {})) {
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

// Pictures brings every picture of the page into view, as a reader
// scrolling down does (they are drawn when they come near the viewport),
// waits until each is drawn, and returns what each cytoscape instance
// holds, by the picture's id.
func Pictures(t testing.TB, ctx context.Context) map[string]Drawn {
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
				_, err := chromedp.Poll[bool](fmt.Sprintf(`!!(window.credenceGraphs && window.credenceGraphs[%q])`, id))(ctx, t)
				return chromedp.Void{}, err
			}))
		cancel()
		if err != nil {
			t.Fatalf("picture %s was not drawn once in view: %v", id, err)
		}
	}
	// Cytoscape paints its canvas on a later animation frame: on a loaded
	// machine the instance exists well before. Wait for two frames (not by
	// reading the pixels again: Chromium warns of repeated readbacks).
	frames, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = chromedp.Run(frames, chromedp.Poll[bool](`(() => {
	  if (window.__credenceFrames === undefined) {
	    window.__credenceFrames = false;
	    requestAnimationFrame(() => requestAnimationFrame(() => { window.__credenceFrames = true; }));
	  }
	  return window.__credenceFrames; })()`))
	cancel()
	if err != nil {
		t.Fatalf("the page drew no frame: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`delete window.__credenceFrames`)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]Drawn](readGraphs))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// ClickFirstEdge clicks the middle of a picture's first edge with the
// mouse and returns the text of the picture's side panel (id + "-panel").
func ClickFirstEdge(t testing.TB, ctx context.Context, id string) string {
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

// Screenshot saves a full-page screenshot as name under
// $CREDENCE_CACHE/screenshots (outside the repository) and returns its
// path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
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

func tailOf(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
