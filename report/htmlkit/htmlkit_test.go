package htmlkit_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/report/htmlkit"
)

// The scripts are the files in the repository, and their integrity values
// are the SHA-256 of those bytes (computed here from the files, not by
// htmlkit), so a CSP built from them allows exactly them.
func TestPictureScripts(t *testing.T) {
	scripts, err := htmlkit.PictureScripts()
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"vendor/cytoscape.min.js", "assets/picture.js"}
	if len(scripts) != len(files) {
		t.Fatalf("%d scripts, want %d", len(scripts), len(files))
	}
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		want := "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
		s := scripts[i]
		if s.Body != string(b) || s.Integrity != want || s.CSPSource() != "'"+want+"'" {
			t.Errorf("%s: integrity %s, CSP %s, body equal %v; want %s", f, s.Integrity, s.CSPSource(), s.Body == string(b), want)
		}
		name := s.FileName()
		if !strings.HasPrefix(name, strings.TrimSuffix(s.Name, ".js")+".") || !strings.HasSuffix(name, ".js") || name == s.Name {
			t.Errorf("%s: file name %q does not carry a content hash", f, name)
		}
	}
	changed := scripts[1]
	changed.Body += " "
	if changed.FileName() == scripts[1].FileName() {
		t.Error("a changed script keeps its file name: caches would serve the old one")
	}
}

// The vendored cytoscape.js inserts exactly the stylesheet CytoscapeStyle
// names (a page's CSP allows it by hash; the dashboard's browser test sees
// no violation).
func TestCytoscapeStyle(t *testing.T) {
	b, err := os.ReadFile("vendor/cytoscape.min.js")
	if err != nil {
		t.Fatal(err)
	}
	js := string(b)
	for _, want := range []string{`s="__________cytoscape_container"`, `u.textContent="."+s+" { position: relative; }"`} {
		if !strings.Contains(js, want) {
			t.Errorf("cytoscape.min.js no longer has %s: check what it inserts and update htmlkit.CytoscapeStyle", want)
		}
	}
	if htmlkit.CytoscapeStyle != ".__________cytoscape_container { position: relative; }" {
		t.Errorf("CytoscapeStyle %q", htmlkit.CytoscapeStyle)
	}
}

// The picture is the union of the paths: one node per distinct name, one
// edge per distinct (from, to, kind), the first step's source as the
// entry, critical assets named by the assets and by the paths' ends.
func TestNewPicture(t *testing.T) {
	step := func(from, to string, kind graph.EdgeKind, l float64, fixes ...string) graph.Step {
		var fs []graph.Fix
		for _, f := range fixes {
			fs = append(fs, graph.Fix{ID: f, Summary: "remove " + f})
		}
		return graph.Step{From: from, To: to, Edge: graph.Edge{Kind: kind, Likelihood: l, Reason: from + " to " + to, Fixes: fs}}
	}
	paths := []graph.Path{
		{To: "Secret a/s", Likelihood: 1, Steps: []graph.Step{step("a/p/c", "ServiceAccount a/sa", graph.EdgeTokenSteal, 1, "automount"), step("ServiceAccount a/sa", "Secret a/s", graph.EdgeRBACSecrets, 1)}},
		{To: "node n", Likelihood: 0.5, Steps: []graph.Step{step("a/p/c", "ServiceAccount a/sa", graph.EdgeTokenSteal, 1, "automount"), step("ServiceAccount a/sa", "node n", graph.EdgeUnknown, 0.5)}},
	}
	pic := htmlkit.NewPicture("pic-1", paths, nil, []graph.Asset{{Name: "node n", Critical: "node"}}, "")
	type node struct{ Name, Role, Critical string }
	var nodes []node
	for _, n := range pic.Nodes {
		nodes = append(nodes, node{n.Name, n.Role, n.Critical})
	}
	want := []node{{"a/p/c", "entry", ""}, {"ServiceAccount a/sa", "step", ""}, {"Secret a/s", "critical", "reached"}, {"node n", "critical", "node"}}
	if diff := cmp.Diff(want, nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	if len(pic.Edges) != 3 || pic.Root != pic.Nodes[0].ID {
		t.Fatalf("%d edges (want 3 distinct steps), root %s", len(pic.Edges), pic.Root)
	}
	e := pic.Edges[0]
	if e.Family != "token" || e.Reason != "a/p/c to ServiceAccount a/sa" || len(e.Fixes) != 1 || e.Fixes[0] != "remove automount" {
		t.Errorf("first edge %+v", e)
	}
	if pic.Edges[2].Family != "unknown" {
		t.Errorf("an unknown step's family %q", pic.Edges[2].Family)
	}
	// An alert's picture: the alert is the root, its container compromised.
	alert := []graph.Path{{To: "Secret a/s", Steps: append([]graph.Step{step("runtime alert", "a/p/c", "ALERT", 1)}, paths[0].Steps...)}}
	pic = htmlkit.NewPicture("pic-2", alert, nil, nil, "a/p/c")
	if pic.Nodes[0].Role != "alert" || pic.Nodes[1].Role != "compromised" {
		t.Errorf("alert picture roles %q, %q", pic.Nodes[0].Role, pic.Nodes[1].Role)
	}
	// One path alone (no Paths) is drawn.
	if pic := htmlkit.NewPicture("pic-3", nil, &paths[0], nil, ""); len(pic.Nodes) != 3 || len(pic.Edges) != 2 {
		t.Errorf("one path: %d nodes, %d edges", len(pic.Nodes), len(pic.Edges))
	}
}

func TestFindingViews(t *testing.T) {
	f := func(id string, lvl match.Level, kev, suppressed bool) match.Finding {
		m := match.Finding{ID: id, Severity: match.Severity{Level: lvl}, FixState: match.NoFixYet}
		if kev {
			m.KEV = &match.KEV{CVE: id}
		}
		if suppressed {
			m.Suppressed = &match.Suppression{Reason: "vex"}
		}
		return m
	}
	fs := []match.Finding{f("low", match.Low, false, false), f("crit", match.Critical, false, false), f("kev-medium", match.Medium, true, false),
		f("hidden", match.Critical, false, true), f("high", match.High, false, false)}
	views, more := htmlkit.FindingViews(fs, 3)
	var ids []string
	for _, v := range views {
		ids = append(ids, v.ID)
	}
	if diff := cmp.Diff([]string{"kev-medium", "crit", "high"}, ids); diff != "" || more != 1 {
		t.Errorf("order (-want +got):\n%s; more %d, want 1 (the suppressed one not counted)", diff, more)
	}
	if fs[0].ID != "low" {
		t.Error("FindingViews reordered its input")
	}
}

// The shared definitions are there and render hostile text as text.
func TestNewTemplate(t *testing.T) {
	tmpl, err := htmlkit.NewTemplate("page", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"picture", "paths", "legend", "sev"} {
		if tmpl.Lookup(name) == nil {
			t.Errorf("definition %q missing", name)
		}
	}
	tmpl, err = tmpl.Parse(`{{template "paths" .}}`)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	evil := `<script>alert(1)</script>`
	paths := htmlkit.PathViews([]graph.Path{{To: evil, Steps: []graph.Step{{From: "a", To: evil, Edge: graph.Edge{Kind: graph.EdgeTokenSteal, Reason: evil}}}}}, nil)
	if err := tmpl.Execute(&b, paths); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), evil) || !strings.Contains(b.String(), "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("hostile text not escaped: %s", b.String())
	}
}
