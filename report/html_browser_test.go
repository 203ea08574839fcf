package report_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/internal/testutil/browsertest"
	"github.com/credence-dev/credence/report"
)

// openInChromium writes page to a temporary file, loads it with file:// in
// a fresh headless Chromium, waits for the pictures to be drawn, and returns
// a browser context for further actions with what the page did so far.
func openInChromium(t *testing.T, html []byte) (context.Context, *browsertest.Run, string) {
	return openInChromiumJS(t, html, true)
}

// openInChromiumJS is openInChromium with the page's scripts on or off.
func openInChromiumJS(t *testing.T, html []byte, scripts bool) (context.Context, *browsertest.Run, string) {
	t.Helper()
	ctx, run := browsertest.Start(t, scripts)
	file := filepath.Join(t.TempDir(), "assess.html")
	if err := os.WriteFile(file, html, 0o644); err != nil {
		t.Fatal(err)
	}
	url := "file://" + file
	browsertest.Navigate(t, ctx, run, url)
	if scripts {
		browsertest.WaitPictures(t, ctx, run)
	}
	return ctx, run, url
}

func checkPictures(t *testing.T, ctx context.Context, want []wantPicture) map[string]browsertest.Drawn {
	t.Helper()
	got := browsertest.Pictures(t, ctx)
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

// checkQuiet: no problem, and no request but the page itself.
func checkQuiet(t *testing.T, run *browsertest.Run, url string) {
	t.Helper()
	browsertest.CheckQuiet(t, run, func(r string) bool { return r == url })
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
	if text := browsertest.ClickFirstEdge(t, ctx, want[0].ID); !strings.Contains(text, first.Reason) || !strings.Contains(text, string(first.Kind)) {
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
	browsertest.Screenshot(t, ctx, "assess.png")
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
	text := browsertest.ClickFirstEdge(t, ctx, "pic-w1")
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
	browsertest.Screenshot(t, ctx, "assess-hostile.png")
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
