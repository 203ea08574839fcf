//go:build !node && !scan

package cli

import (
	"archive/zip"
	"encoding/json"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/schematest"
	"github.com/credence-dev/credence/match"
)

// TestScanGoReachabilityFixtureApp scans the real fixture-app image, whose
// usr/local/bin/goapp (../shared/fixtures/build-debian-image.sh) calls
// golang.org/x/text/language.Parse and golang.org/x/net/html.Parse and
// nothing else of those modules, against the Go vulnerability database.
// The oracle is the goapp source and the records, read here from the
// archive: GO-2021-0113 names language.Parse (linked); GO-2022-1059 names
// other language functions only (not linked); GO-2022-0288 names
// golang.org/x/net/http2, which goapp does not import (not linked). Every
// output keeps the not linked findings: the table notes them, JSON and
// SARIF carry the reachability (SARIF at the severity's level, with no
// suppression), CycloneDX marks them not_affected / code_not_reachable;
// --fail-on still counts them unless --ignore-unlinked.
func TestScanGoReachabilityFixtureApp(t *testing.T) {
	fx := testutil.DebianFixtures(t)
	shared := testutil.Shared(t)
	goZip := filepath.Join(shared, "data", "osv", "Go", "all.zip")
	syms := recordSymbols(t, goZip, "GO-2021-0113", "GO-2022-1059", "GO-2022-0288")
	if !slices.Contains(syms["GO-2021-0113"]["golang.org/x/text/language"], "Parse") ||
		slices.Contains(syms["GO-2022-1059"]["golang.org/x/text/language"], "Parse") || syms["GO-2022-1059"]["golang.org/x/text/language"] == nil ||
		syms["GO-2022-0288"]["golang.org/x/net/http2"] == nil {
		t.Fatalf("the records no longer say what this test assumes: %v", syms)
	}
	// The Go records carry no CVSS vector; Ubuntu's records of the same
	// CVEs give the findings a severity for the gates.
	db := filepath.Join(t.TempDir(), "vuln.db")
	if _, stderr, code := run(t, "db", "import", "--db", db, goZip, filepath.Join(shared, "data", "osv", "Ubuntu", "all.zip")); code != 0 {
		t.Fatalf("db import: %s", stderr)
	}
	ref := "oci:" + filepath.Join(fx, "oci", "fixture-app")
	want := map[string]match.Reach{"GO-2021-0113": match.ReachLinked, "GO-2022-1059": match.ReachNotLinked, "GO-2022-0288": match.ReachNotLinked}

	out, stderr, code := run(t, "scan", "--db", db, "--max-db-age", "0", ref, "-o", "json")
	if code != 0 {
		t.Fatalf("scan: exit %d: %s", code, stderr)
	}
	var rep struct {
		Summary  struct{ NotLinked, Findings int }
		Findings []struct {
			ID           string
			Severity     match.Severity
			Reachability *match.Reachability
			Package      map[string]any
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]*match.Reachability{}
	level := map[string]match.Level{}
	for _, f := range rep.Findings {
		got[f.ID] = f.Reachability
		level[f.ID] = f.Severity.Level
		if _, ok := f.Package["linked"]; ok {
			t.Errorf("%s: the finding's package carries its linked functions", f.ID)
		}
	}
	for id, state := range want {
		if r := got[id]; r == nil || r.State != state {
			t.Errorf("%s: reachability %+v, want %s", id, r, state)
		}
	}
	if r := got["GO-2021-0113"]; r != nil && !slices.Contains(r.Symbols, "golang.org/x/text/language.Parse") {
		t.Errorf("GO-2021-0113: evidence %v lacks golang.org/x/text/language.Parse", r.Symbols)
	}
	if rep.Summary.NotLinked < 2 || rep.Summary.NotLinked >= rep.Summary.Findings {
		t.Errorf("summary: %d not linked of %d findings", rep.Summary.NotLinked, rep.Summary.Findings)
	}

	out, _, _ = run(t, "scan", "--db", db, "--max-db-age", "0", ref)
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "GO-2022-1059") {
			line = l
		}
	}
	if !strings.Contains(line, "not linked into the binary") || !strings.Contains(out, "findings not linked into the binary") {
		t.Errorf("table: GO-2022-1059 row %q, or the summary, lacks the note:\n%s", line, out)
	}

	out, _, _ = run(t, "scan", "--db", db, "--max-db-age", "0", ref, "-o", "sarif")
	schematest.Validate(t, schematest.SARIF(t), []byte(out))
	var sarif struct {
		Runs []struct {
			Results []struct {
				RuleID       string
				Level        string
				Suppressions []any
				Properties   struct{ Reachability *match.Reachability }
			}
		}
	}
	json.Unmarshal([]byte(out), &sarif)
	for _, r := range sarif.Runs[0].Results {
		if r.RuleID == "GO-2022-1059" {
			// High, the level's "error" (sarifLevel), as for any finding.
			if level["GO-2022-1059"] != match.High {
				t.Errorf("GO-2022-1059: severity %s, want high (CVSS 7.5 from Ubuntu's record)", level["GO-2022-1059"])
			}
			if r.Properties.Reachability == nil || r.Properties.Reachability.State != match.ReachNotLinked || r.Level != "error" || len(r.Suppressions) > 0 {
				t.Errorf("SARIF GO-2022-1059 (high): level %s, reachability %+v, suppressions %v; want error, not linked, none", r.Level, r.Properties.Reachability, r.Suppressions)
			}
		}
	}

	out, _, _ = run(t, "scan", "--db", db, "--max-db-age", "0", ref, "-o", "cyclonedx-json")
	schematest.Validate(t, schematest.CycloneDX(t), []byte(out))
	var bom struct {
		Vulnerabilities []struct {
			ID       string
			Analysis *struct{ State, Justification string }
		}
	}
	json.Unmarshal([]byte(out), &bom)
	seen := 0
	for _, v := range bom.Vulnerabilities {
		switch state, ok := want[v.ID]; {
		case !ok:
		case state == match.ReachNotLinked && (v.Analysis == nil || v.Analysis.State != "not_affected" || v.Analysis.Justification != "code_not_reachable"):
			t.Errorf("CycloneDX %s: analysis %+v, want not_affected / code_not_reachable", v.ID, v.Analysis)
		case state == match.ReachLinked && v.Analysis != nil:
			t.Errorf("CycloneDX %s (linked): analysis %+v", v.ID, v.Analysis)
		default:
			seen++
		}
	}
	if seen != len(want) {
		t.Errorf("CycloneDX: %d of %d vulnerabilities checked", seen, len(want))
	}

	// Gates: a not linked finding counts unless --ignore-unlinked; with
	// it, the linked GO-2021-0113 still fails --fail-on high.
	// (--allow-unknown: the other ecosystems' packages are not checked
	// against this database.)
	if _, _, code := run(t, "scan", "--db", db, "--max-db-age", "0", ref, "--fail-on", "high", "--allow-unknown"); code != ExitPolicy {
		t.Errorf("--fail-on high: exit %d", code)
	}
	_, stderr, code = run(t, "scan", "--db", db, "--max-db-age", "0", ref, "--fail-on", "high", "--allow-unknown", "--ignore-unlinked")
	if code != ExitPolicy || !strings.Contains(stderr, "not linked into their binaries, let pass by --ignore-unlinked") {
		t.Errorf("--fail-on high --ignore-unlinked: exit %d, %s", code, stderr)
	}
}

// recordSymbols reads the vulnerable packages and symbols of records,
// straight from an OSV archive.
func recordSymbols(t *testing.T, zipPath string, ids ...string) map[string]map[string][]string {
	t.Helper()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]map[string][]string{}
	for _, f := range zr.File {
		id := strings.TrimSuffix(filepath.Base(f.Name), ".json")
		if !slices.Contains(ids, id) {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		var rec struct {
			Affected []struct {
				EcosystemSpecific struct {
					Imports []struct {
						Path    string
						Symbols []string
					}
				} `json:"ecosystem_specific"`
			}
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		out[id] = map[string][]string{}
		for _, a := range rec.Affected {
			for _, imp := range a.EcosystemSpecific.Imports {
				out[id][imp.Path] = append(out[id][imp.Path], imp.Symbols...)
			}
		}
	}
	return out
}

// TestGateUnlinked: a not linked finding fails --fail-on as any other;
// --ignore-unlinked lets it (and only it) pass, and says so.
func TestGateUnlinked(t *testing.T) {
	finding := func(id string, s match.Reach) match.Finding {
		return match.Finding{ID: id, Severity: match.Severity{Level: match.High},
			Vulnerabilities: []match.Vulnerability{{ID: id, Severity: match.Severity{Level: match.High}}},
			Reachability:    &match.Reachability{State: s}}
	}
	res := func(fs ...match.Finding) *match.Result {
		return &match.Result{Findings: fs, Coverage: match.Coverage{Complete: true}}
	}
	high := gate{threshold: match.High}
	for _, tc := range []struct {
		name    string
		res     *match.Result
		g       gate
		fail    bool
		message string
	}{
		{"not linked counts by default", res(finding("A", match.ReachNotLinked)), gate{threshold: match.High, unlinked: true}, true, "1 finding at or above high"},
		{"--ignore-unlinked lets it pass", res(finding("A", match.ReachNotLinked)), high, false, ""},
		{"--ignore-unlinked keeps linked", res(finding("A", match.ReachNotLinked), finding("B", match.ReachLinked)), high, true,
			"1 finding at or above high (and 1 finding not linked into their binaries, let pass by --ignore-unlinked)"},
		{"--ignore-unlinked keeps unknown", res(finding("C", match.ReachUnknown)), high, true, "1 finding at or above high"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := failure(tc.res, tc.g)
			if (err != nil) != tc.fail || (err != nil && !strings.Contains(err.Error(), tc.message)) {
				t.Errorf("failure = %v; want fail %v with %q", err, tc.fail, tc.message)
			}
		})
	}
}
