package dashboard_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/posture"
	"github.com/credence-dev/credence/store"
)

// Hostile strings, as a cluster, an image or an advisory can carry them.
// Each must reach the page as text, never as markup or script. Workload
// names cannot hold '/' (the store's keys are namespace/Kind/name), so
// evilName has none.
const (
	evilScript = `<script>window.__pwned=1</script>`
	evilClose  = `</script><img src=x onerror="window.__pwned=2">`
	evilAttr   = `"><svg onload="window.__pwned=3"></svg>`
	evilJS     = "'+alert(4)+'\u2028</SCRIPT ><!--<script>"
	evilName   = `x<img src=x onerror="window.__pwned=5">"'`
)

func evil(s string) string { return s + " " + evilScript + evilClose + evilAttr + evilJS }

var hostileDigest = "sha256:" + "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12"

// hostileSubject is built by hand: every string a cluster, an image or an
// alert controls carries markup.
func hostileSubject() *assess.Subject {
	e := evil
	steps := []graph.Step{
		{From: e("ns/pod/c"), To: e("ServiceAccount ns/sa"), Edge: graph.Edge{Kind: graph.EdgeTokenSteal, Likelihood: 1, Reason: e("reads the token"),
			Evidence: []graph.Evidence{{Object: e("Pod ns/pod"), Field: e("spec")}}, Fixes: []graph.Fix{{ID: "x", Summary: e("fix it")}}}},
		{From: e("ServiceAccount ns/sa"), To: e("Secret ns/s"), Edge: graph.Edge{Kind: graph.EdgeRBACSecrets, Likelihood: 0.5, Unknown: true, Reason: e("may read")}},
	}
	other := []graph.Step{steps[0], {From: e("ServiceAccount ns/sa"), To: e("node n"), Edge: graph.Edge{Kind: graph.EdgeUnknown, Likelihood: 0.3, Unknown: true, Reason: e("unknown")}}}
	br := &assess.BlastRadius{Critical: 0.5, Counts: graph.Counts{Secrets: 1, CriticalAssets: 2},
		Assets:   []graph.Asset{{Name: e("Secret ns/s"), Critical: e("secret")}, {Name: e("node n"), Critical: "node"}},
		Path:     &graph.Path{To: e("Secret ns/s"), Likelihood: 0.5, Steps: steps},
		Paths:    []graph.Path{{To: e("Secret ns/s"), Likelihood: 0.5, Steps: steps}, {To: e("node n"), Likelihood: 0.3, Unknown: true, Steps: other}},
		Unknowns: []string{e("an RBAC rule")},
	}
	prof := &posture.Profile{Privileged: true, RunsAsRoot: posture.Yes, RunsAsRootReason: e("uid 0"),
		HostPaths: []posture.HostPathMount{{Path: e("/var/run"), Risk: posture.RiskCritical, Reason: e("socket")}},
		Seccomp:   posture.Confinement{Profile: e("Unconfined"), Confined: posture.No, Reason: e("unconfined")},
		Escapes:   []posture.Escape{{Title: e("privileged"), Verdict: posture.Open, Reason: e("all caps")}},
		Unknowns:  []string{e("pvc")}}
	return &assess.Subject{Version: assess.SchemaVersion,
		Workload: assess.Workload{Namespace: evilName, Kind: "Deployment", Name: evilName, Pod: e("pod"), Owners: []string{e("Deployment/web")},
			ServiceAccount: e("sa"), Node: e("node"), Labels: map[string]string{e("app"): e("web")}, Annotations: map[string]string{e("note"): e("hi")},
			PodSecurity: posture.PodSecurity{Level: "privileged"}},
		Containers: []assess.Container{{Name: e("c"), Kind: posture.ContainerKind("container"), Key: e("container:ns/pod/c"),
			Image:       assess.ImageRef{Reference: e("evil/image:1"), Digest: hostileDigest, ResolvedBy: e("pinned"), Status: assess.Scanned},
			Posture:     prof,
			Exposure:    assess.Exposure{Level: "internet", Why: e("Service ns/lb"), Reach: 1},
			Exploit:     assess.Exploit{Known: true, Likelihood: 0.9, Reason: e("KEV"), Evidence: []string{e("CVE-1")}},
			BlastRadius: br, Provenance: assess.Evidence{Status: assess.NotChecked, Reason: e("no verifier")},
			MeasuredRun: assess.Evidence{Status: assess.NotChecked, Reason: e("no log")},
			Compromised: &assess.Alert{Rule: e("rule")}}},
		Risk:     assess.Risk{Score: 45, Likelihood: 0.9, Impact: 0.5, Entry: e("c"), Why: e("why")},
		Unknowns: []string{e("image partly unchecked")},
	}
}

func hostileFindings() []match.Finding {
	e := evil
	pub := time.Date(2021, 12, 10, 0, 0, 0, 0, time.UTC)
	return []match.Finding{{ID: e("CVE-1"), Aliases: []string{e("GHSA-1")}, Summary: e("bad"), Installed: e("1.0"), Fixed: []string{e("2.0")},
		FixState: match.FixAvailable, Severity: match.Severity{Level: match.Critical}, KEV: &match.KEV{CVE: e("CVE-1"), DateAdded: "2021-12-11"},
		Package: &inventory.Package{Name: e("pkg"), Version: e("1.0"), Type: "npm"}, Published: &pub}}
}

// hostileStore writes the hostile Subject, its image's hostile findings and
// a hostile decision into a real SQLite store through the store's API.
func hostileStore(t testing.TB) *store.Store {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "hostile.db"), store.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v, err := st.BeginDBVersion(ctx, store.DBVersionInfo{ID: evil("db")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordMatch(ctx, &store.ImageMatch{Digest: hostileDigest, DBVersion: v.Seq, Findings: hostileFindings(), Unchecked: []string{evil("npm")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CommitDBVersion(ctx, v.Seq); err != nil {
		t.Fatal(err)
	}
	s := hostileSubject()
	if _, err := st.PutSubject(ctx, s); err != nil {
		t.Fatal(err)
	}
	d := policy.Decision{Workload: store.WorkloadKey(s.Workload), Outcome: policy.Deny,
		Failures: []policy.Failure{{Rule: evil("rule"), Policy: evil("policy"), Effect: policy.EffectDeny, Result: policy.Fail, Message: evil("message"),
			Evidence: []policy.Evidence{{Container: evil("c"), Result: policy.Fail, Message: evil("why"), Items: []string{evil("item")}}}}},
		Notes: []string{evil("note")}}
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutDecision(ctx, store.WorkloadKey(s.Workload), store.Decision{Verdict: evil("deny"), Data: data}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	return st
}
