package report_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/posture"
	"github.com/credence-dev/credence/report"
	sampledb "github.com/credence-dev/credence/vulndb/sample"
)

// sampleAlert is a Falco alert (JSON output format) for a pod of the sample
// cluster's shop/web Deployment, as its ReplicaSet would name it.
const sampleAlert = `{"output":"Notice A shell was spawned in a container (user=root shell=sh container=web)","priority":"Notice","rule":"Terminal shell in container","time":"2026-01-02T03:04:05.000000000Z","output_fields":{"k8s.ns.name":"shop","k8s.pod.name":"web-7d9f8c6b5-x2x4z","container.name":"web","container.id":"0123456789ab"}}`

// sampleAssessment assesses the sample cluster (testdata/cluster) offline
// against the embedded sample database, with one runtime alert, as
// 'credence assess --manifests testdata/cluster/manifests --images
// testdata/cluster/images --db sample --offline --no-cache --alert' does.
func sampleAssessment(t *testing.T) *assess.Assessment {
	t.Helper()
	ctx := context.Background()
	root := testutil.RepoRoot(t)
	snap, err := cluster.FromManifests(ctx, filepath.Join(root, "testdata", "cluster", "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := sampledb.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dirs, _, err := assess.NewImageDirs(ctx, []string{filepath.Join(root, "testdata", "cluster", "images")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	alerts, problems, err := assess.ReadAlerts(strings.NewReader(sampleAlert+"\n"), "alerts.json")
	if err != nil || len(problems) > 0 || len(alerts) != 1 {
		t.Fatalf("read alert: %v %v %d", err, problems, len(alerts))
	}
	a, err := assess.Assess(ctx, snap, src, assess.WithImageDirs(dirs), assess.WithAlerts(alerts),
		assess.WithClock(func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Subjects) < 4 || len(a.Alerts) != 1 || a.Alerts[0].Status != "matched" {
		t.Fatalf("sample assessment: %d subjects, alerts %+v", len(a.Subjects), a.Alerts)
	}
	return a
}

// wantPicture is what one picture must draw, computed from the
// assessment's JSON form (not from the report's code): the distinct node
// names and the distinct steps (from, to, kind) across the paths.
type wantPicture struct {
	ID           string
	Nodes, Edges int
	Names        []string
}

type jsonPath struct {
	Steps []struct{ From, To, Kind string } `json:"steps"`
}

func wantPictures(t *testing.T, a *assess.Assessment) []wantPicture {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Subjects []struct {
			Risk       struct{ Entry string } `json:"risk"`
			Containers []struct {
				Name        string `json:"name"`
				BlastRadius *struct {
					Path  *jsonPath  `json:"path"`
					Paths []jsonPath `json:"paths"`
				} `json:"blastRadius"`
			} `json:"containers"`
		} `json:"subjects"`
		Alerts []struct {
			BlastRadius *struct {
				Paths []jsonPath `json:"paths"`
			} `json:"blastRadius"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	count := func(id string, paths []jsonPath) wantPicture {
		nodes, edges := map[string]bool{}, map[string]bool{}
		w := wantPicture{ID: id}
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
		return w
	}
	var want []wantPicture
	for i, s := range m.Subjects {
		if i >= report.MaxPictures {
			break
		}
		for _, c := range s.Containers {
			if c.Name != s.Risk.Entry || c.BlastRadius == nil {
				continue
			}
			paths := c.BlastRadius.Paths
			if len(paths) == 0 && c.BlastRadius.Path != nil {
				paths = []jsonPath{*c.BlastRadius.Path}
			}
			if len(paths) > 0 {
				want = append(want, count(fmt.Sprintf("pic-w%d", i+1), paths))
			}
		}
	}
	for i, al := range m.Alerts {
		if al.BlastRadius != nil && len(al.BlastRadius.Paths) > 0 {
			want = append(want, count(fmt.Sprintf("pic-alert%d", i+1), al.BlastRadius.Paths))
		}
	}
	return want
}

// Hostile strings, as a cluster or an image can carry them. Each must reach
// the page as text, never as markup or script.
const (
	evilScript = `<script>window.__pwned=1</script>`
	evilClose  = `</script><img src=x onerror="window.__pwned=2">`
	evilAttr   = `"><svg onload="window.__pwned=3"></svg>`
	evilJS     = "'+alert(4)+'\u2028</SCRIPT ><!--<script>"
)

// hostileAssessment is built by hand: every string a cluster, an image or
// an alert controls carries markup.
func hostileAssessment() *assess.Assessment {
	e := func(s string) string { return s + " " + evilScript + evilClose + evilAttr + evilJS }
	steps := []graph.Step{
		{From: e("ns/pod/c"), To: e("ServiceAccount ns/sa"), Edge: graph.Edge{Kind: graph.EdgeTokenSteal, Likelihood: 1, Reason: e("reads the token"),
			Evidence: []graph.Evidence{{Object: e("Pod ns/pod"), Field: e("spec")}}, Fixes: []graph.Fix{{ID: "x", Summary: e("fix it")}}}},
		{From: e("ServiceAccount ns/sa"), To: e("Secret ns/s"), Edge: graph.Edge{Kind: graph.EdgeRBACSecrets, Likelihood: 0.5, Unknown: true, Reason: e("may read")}},
	}
	other := []graph.Step{steps[0], {From: e("ServiceAccount ns/sa"), To: e("node n"), Edge: graph.Edge{Kind: graph.EdgeUnknown, Likelihood: 0.3, Unknown: true, Reason: e("unknown")}}}
	br := &assess.BlastRadius{Critical: 0.5, Counts: graph.Counts{Secrets: 1, CriticalAssets: 2},
		Assets: []graph.Asset{{Name: e("Secret ns/s"), Critical: e("secret")}, {Name: e("node n"), Critical: "node"}},
		Path:   &graph.Path{To: e("Secret ns/s"), Likelihood: 0.5, Steps: steps},
		Paths:  []graph.Path{{To: e("Secret ns/s"), Likelihood: 0.5, Steps: steps}, {To: e("node n"), Likelihood: 0.3, Unknown: true, Steps: other}},
	}
	prof := &posture.Profile{Privileged: true, RunsAsRoot: posture.Yes, RunsAsRootReason: e("uid 0"),
		HostPaths: []posture.HostPathMount{{Path: e("/var/run"), Risk: posture.RiskCritical, Reason: e("socket")}},
		Seccomp:   posture.Confinement{Profile: e("Unconfined"), Confined: posture.No, Reason: e("unconfined")},
		Escapes:   []posture.Escape{{Title: e("privileged"), Verdict: posture.Open, Reason: e("all caps")}},
		Unknowns:  []string{e("pvc")}}
	img := &assess.Image{Digest: "sha256:" + strings.Repeat("a", 64), References: []string{e("evil/image:1")}, Source: e("oci:dir"), Status: assess.Scanned,
		Findings: []match.Finding{{ID: e("CVE-1"), Aliases: []string{e("GHSA-1")}, Summary: e("bad"), Installed: e("1.0"), Fixed: []string{e("2.0")},
			Severity: match.Severity{Level: match.Critical}, KEV: &match.KEV{CVE: "CVE-1"}}},
		Counts: assess.Counts{Findings: 1, BySeverity: map[string]int{"critical": 1}, KEV: 1}, Unchecked: []string{e("npm")}}
	s := assess.Subject{Version: assess.SchemaVersion,
		Workload: assess.Workload{Namespace: e("ns"), Kind: e("Deployment"), Name: e("web"), Pod: e("pod"), Owners: []string{e("Deployment/web")},
			ServiceAccount: e("sa"), Node: e("node"), Labels: map[string]string{e("app"): e("web")}, Annotations: map[string]string{e("note"): e("hi")},
			PodSecurity: posture.PodSecurity{Level: "privileged"}},
		Containers: []assess.Container{{Name: e("c"), Kind: posture.ContainerKind("container"), Key: e("container:ns/pod/c"),
			Image:       assess.ImageRef{Reference: e("evil/image:1"), Digest: img.Digest, ResolvedBy: e("pinned"), Status: assess.Scanned},
			Posture:     prof,
			Exposure:    assess.Exposure{Level: "internet", Why: e("Service ns/lb"), Reach: 1},
			Exploit:     assess.Exploit{Known: true, Likelihood: 0.9, Reason: e("KEV"), Evidence: []string{e("CVE-1")}},
			BlastRadius: br, Provenance: assess.Evidence{Status: assess.NotChecked}, MeasuredRun: assess.Evidence{Status: assess.NotChecked, Reason: e("no log")},
			Compromised: &assess.Alert{Rule: e("rule")}}},
		Risk:     assess.Risk{Score: 45, Likelihood: 0.9, Impact: 0.5, Entry: e("c"), Why: e("why")},
		Unknowns: []string{e("image partly unchecked")},
	}
	alertSteps := append([]graph.Step{{From: "runtime alert", To: e("ns/pod/c"), Edge: graph.Edge{Kind: "ALERT", Likelihood: 1, Reason: e("alert fired")}}}, steps...)
	return &assess.Assessment{Version: assess.SchemaVersion, Source: e("manifests dir"), Generated: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Subjects: []assess.Subject{s}, Images: []*assess.Image{img},
		ExposedKEV: []assess.ExposedKEV{{Workload: e("ns") + "/" + e("web"), Container: e("c"), Image: e("evil/image:1"), Finding: e("CVE-1"), CVE: e("CVE-1"),
			Package: e("pkg"), Exposure: "internet", Via: e("via")}},
		Cuts: []assess.Cut{{ID: e("cut"), Summary: e("do this"), Kind: "graph", RiskCut: 40, Workloads: 1, Why: e("because")}},
		Alerts: []assess.AlertResult{{Alert: assess.Alert{Rule: e("rule"), Priority: e("Critical"), Output: e("output"), Source: e("alerts.json:1"), Namespace: e("ns"), Pod: e("pod"), Container: e("c")}, Status: "matched", Workload: e("ns") + "/" + e("web"), Container: e("container:ns/pod/c"), MatchedBy: e("pod name"), BlastRadius: &graph.Result{From: e("ns/pod/c"), Paths: []graph.Path{{To: e("Secret ns/s"), Likelihood: 0.5, Steps: alertSteps}}}},
			{Alert: assess.Alert{Rule: e("other"), Source: e("alerts.json:2")}, Status: "unknown", Reason: e("pod not in snapshot")}},
		Unknowns: []string{e("RBAC not readable")},
		Stats:    assess.Stats{Workloads: 1, Containers: 1, Images: 1, ImagesRead: 1},
	}
}

var scriptTag = regexp.MustCompile(`(?i)<script`)

// picturesJSON returns the JSON block of a page, decoded.
func picturesJSON(t *testing.T, page []byte) []map[string]any {
	t.Helper()
	const open = `<script type="application/json" id="credence-pictures">`
	i := bytes.Index(page, []byte(open))
	if i < 0 {
		t.Fatal("no pictures JSON block")
	}
	rest := page[i+len(open):]
	j := bytes.Index(rest, []byte("</script>"))
	var pics []map[string]any
	if err := json.Unmarshal(rest[:j], &pics); err != nil {
		t.Fatalf("pictures JSON: %v\n%s", err, rest[:min(j, 500)])
	}
	return pics
}

func TestWriteHTMLEscapesHostileInput(t *testing.T) {
	a := hostileAssessment()
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, a, report.WithDatabase(evilScript)); err != nil {
		t.Fatal(err)
	}
	page := buf.Bytes()
	// Exactly the page's three script elements: the JSON data, cytoscape, the app.
	if n := len(scriptTag.FindAll(page, -1)); n != 3 {
		t.Errorf("%d <script tags in the page, want 3", n)
	}
	for _, raw := range []string{evilScript, evilClose, evilAttr, "<img", "<svg", "onerror=\"", "onload=\"", "</SCRIPT"} {
		if bytes.Contains(page, []byte(raw)) {
			t.Errorf("the page holds %q unescaped", raw)
		}
	}
	// The JSON block holds no '<' at all (written \u003c), so nothing in it can
	// close its element; it decodes, and carries the hostile text intact.
	block := page[bytes.Index(page, []byte(`id="credence-pictures">`)):]
	block = block[len(`id="credence-pictures">`):bytes.Index(block, []byte("</script>"))]
	if bytes.ContainsRune(block, '<') {
		t.Error("the pictures' JSON holds a raw '<'")
	}
	pics := picturesJSON(t, page)
	if len(pics) != 2 {
		t.Fatalf("%d pictures, want 2 (the workload and the alert)", len(pics))
	}
	edges := pics[0]["edges"].([]any)
	if r := edges[0].(map[string]any)["reason"].(string); !strings.Contains(r, evilClose) || !strings.Contains(r, evilJS) {
		t.Errorf("step reason lost its text: %q", r)
	}
	// The escaped forms are there (the text is shown, not dropped).
	for _, esc := range []string{"&lt;script&gt;window.__pwned=1&lt;/script&gt;", "&lt;/script&gt;&lt;img src=x onerror=&#34;window.__pwned=2&#34;&gt;"} {
		if !bytes.Contains(page, []byte(esc)) {
			t.Errorf("the page lacks the escaped text %q", esc)
		}
	}
}

func TestWriteHTMLPicturesMatchTheModel(t *testing.T) {
	a := sampleAssessment(t)
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, a, report.WithDatabase("sample")); err != nil {
		t.Fatal(err)
	}
	want := wantPictures(t, a)
	if len(want) < 5 {
		t.Fatalf("the sample has %d pictures, want one per workload and one for the alert", len(want))
	}
	pics := picturesJSON(t, buf.Bytes())
	if len(pics) != len(want) {
		t.Fatalf("%d pictures in the page, want %d", len(pics), len(want))
	}
	for i, w := range want {
		p := pics[i]
		nodes, edges := p["nodes"].([]any), p["edges"].([]any)
		if p["id"] != w.ID || len(nodes) != w.Nodes || len(edges) != w.Edges {
			t.Errorf("picture %d: %v with %d nodes, %d edges; want %s with %d, %d", i, p["id"], len(nodes), len(edges), w.ID, w.Nodes, w.Edges)
		}
		// Every workload's picture holds a critical asset and starts at its entry.
		roles := map[string]int{}
		for _, n := range nodes {
			roles[n.(map[string]any)["role"].(string)]++
		}
		if roles["critical"] == 0 || roles["entry"]+roles["alert"] != 1 {
			t.Errorf("picture %s roles %v: want one entry (or alert) and a critical asset", w.ID, roles)
		}
		if strings.HasPrefix(w.ID, "pic-alert") && roles["compromised"] != 1 {
			t.Errorf("alert picture %s roles %v: want the compromised container", w.ID, roles)
		}
	}
	page := buf.String()
	// The ranked table has a row per workload, in rank order, linking to its section.
	for i, s := range a.Subjects {
		row := fmt.Sprintf(`<td class="n">%d</td>`+"\n"+`        <td><a href="#w%d">%s/%s</a>`, i+1, i+1, s.Workload.Namespace, s.Workload.Name)
		if !strings.Contains(page, row) {
			t.Errorf("ranking row %d (%s) missing", i+1, s.Workload.Ref())
		}
		if !strings.Contains(page, fmt.Sprintf(`<article class="workload" id="w%d"`, i+1)) {
			t.Errorf("section of %s missing", s.Workload.Ref())
		}
	}
	for _, must := range []string{"sample", a.Cuts[0].Summary, a.ExposedKEV[0].CVE, "not-checked", "Could not establish"} {
		if !strings.Contains(page, escapeText(must)) {
			t.Errorf("the page lacks %q", must)
		}
	}
	for _, u := range a.Subjects {
		for _, x := range u.Unknowns {
			if !strings.Contains(page, escapeText(x)) {
				t.Errorf("unknown %q not shown", x)
			}
		}
	}
}

// escapeText escapes s as html/template does in text.
func escapeText(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;")
	return r.Replace(s)
}

// The embedded cytoscape.js is the one its README pins, and the CSP hashes
// in the page allow exactly the page's two scripts.
func TestVendoredCytoscape(t *testing.T) {
	js, err := os.ReadFile("htmlkit/vendor/cytoscape.min.js")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("htmlkit/vendor/README.md")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(js)
	if !bytes.Contains(readme, []byte("`"+hex.EncodeToString(sum[:])+"`")) {
		t.Errorf("htmlkit/vendor/cytoscape.min.js has sha256 %x, not the one htmlkit/vendor/README.md records: run scripts/vendor-cytoscape.sh", sum)
	}
	if lic, err := os.ReadFile("htmlkit/vendor/LICENSE"); err != nil || !bytes.Contains(lic, []byte("Permission is hereby granted")) {
		t.Errorf("htmlkit/vendor/LICENSE (MIT) missing: %v", err)
	}
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, &assess.Assessment{Source: "empty"}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if !strings.Contains(page, string(js)) {
		t.Error("the page does not inline cytoscape.min.js unchanged")
	}
	csp := regexp.MustCompile(`script-src ((?:[^;&]|&#39;|&#43;)+);`).FindStringSubmatch(page)
	if csp == nil || strings.Count(csp[1], "sha256-") != 2 || strings.Contains(csp[1], "unsafe") {
		t.Errorf("CSP script-src %q: want exactly two hashes", csp)
	}
	if !strings.Contains(page, "default-src &#39;none&#39;") {
		t.Error("CSP lacks default-src 'none' (no network)")
	}
}

// A large cluster draws only the riskiest MaxPictures workloads (the rest
// keep their paths as text), so the page stays a sane size.
func TestWriteHTMLBoundsPictures(t *testing.T) {
	a := sampleAssessment(t)
	var subjects []assess.Subject
	for i := 0; len(subjects) < 1000; i++ {
		s := a.Subjects[i%len(a.Subjects)]
		s.Workload.Name = fmt.Sprintf("%s-%d", s.Workload.Name, i)
		subjects = append(subjects, s)
	}
	a.Subjects = subjects
	var buf bytes.Buffer
	start := time.Now()
	if err := report.WriteHTML(&buf, a); err != nil {
		t.Fatal(err)
	}
	pics := picturesJSON(t, buf.Bytes())
	if len(pics) != report.MaxPictures+len(a.Alerts) {
		t.Errorf("%d pictures for 1,000 workloads, want %d and the alerts'", len(pics), report.MaxPictures)
	}
	if !strings.Contains(buf.String(), fmt.Sprintf("900 workloads beyond the %d riskiest are listed without a picture", report.MaxPictures)) {
		t.Error("the page does not say that 900 workloads are not drawn")
	}
	// Past the riskiest, one path each.
	want := 900 + len(a.Alerts[0].BlastRadius.Paths)
	for _, s := range a.Subjects[:report.MaxPictures] {
		for _, c := range s.Containers {
			if c.Name == s.Risk.Entry {
				want += len(c.BlastRadius.Paths)
			}
		}
	}
	if n := strings.Count(buf.String(), `<details class="path"`); n != want {
		t.Errorf("%d paths listed, want %d", n, want)
	}
	t.Logf("1,000 workloads: %.1f MB page in %v", float64(buf.Len())/1e6, time.Since(start).Round(time.Millisecond))
}
