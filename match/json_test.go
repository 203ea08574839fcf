package match_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
)

// TestFindingJSONLeavesLinkedOut: a finding's package is written without
// the functions its binary links (the inventory has them), and nothing
// else changes: HTML characters are escaped only when the caller's
// encoder escapes them.
func TestFindingJSONLeavesLinkedOut(t *testing.T) {
	p := &inventory.Package{Name: "golang.org/x/net", Version: "v0.46.0", Type: "golang",
		Linked: &inventory.GoLinked{Packages: map[string][]string{"golang.org/x/net/html": {"Parse"}}}}
	f := match.Finding{ID: "GO-1", Summary: "<script> & co", Package: p, Reachability: &match.Reachability{State: match.ReachLinked, Symbols: []string{"golang.org/x/net/html.Parse"}}}
	res := match.Result{Findings: []match.Finding{f}, Undecided: []match.Undecided{{Package: p, Reason: "r"}},
		Coverage: match.Coverage{Gaps: []match.Gap{{Reason: "x", Packages: []*inventory.Package{p}}}}}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, `"linked":`) || strings.Count(out, `"name":"golang.org/x/net"`) != 3 {
		t.Errorf("JSON: %s", out)
	}
	if !strings.Contains(out, `"<script> & co"`) || !strings.Contains(out, `"reachability":{"state":"linked","symbols":["golang.org/x/net/html.Parse"]`) {
		t.Errorf("JSON without HTML escaping: %s", out)
	}
	if b, _ := json.Marshal(f); !strings.Contains(string(b), `\u003cscript\u003e \u0026 co`) {
		t.Errorf("json.Marshal escapes HTML: %s", b)
	}
	if p.Linked == nil {
		t.Error("writing the finding changed its package")
	}
}
