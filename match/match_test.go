package match_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/vulndb/epss"
	"github.com/credence-dev/credence/vulndb/kev"
	"github.com/credence-dev/credence/vulndb/osv"
)

// memSource is a fast fake for unit tests; the real store is tested in
// vulndb and end to end in the accuracy tests.
type memSource struct {
	advs []*osv.Advisory
	kevs map[string]kev.Entry
}

func (m *memSource) Advisories(_ context.Context, eco, name string) ([]*osv.Advisory, error) {
	var out []*osv.Advisory
	for _, a := range m.advs {
		for _, af := range a.Affected {
			if af.Package.Ecosystem == eco && osv.NormalizeName(eco, af.Package.Name) == name {
				out = append(out, a)
				break
			}
		}
	}
	return out, nil
}

func (m *memSource) EcosystemRecords(_ context.Context, eco string) (int, error) {
	n := 0
	for _, a := range m.advs {
		for _, af := range a.Affected {
			if af.Package.Ecosystem == eco {
				n++
				break
			}
		}
	}
	return n, nil
}

func (m *memSource) KEV(_ context.Context, cves []string) (map[string]kev.Entry, error) {
	out := map[string]kev.Entry{}
	for _, c := range cves {
		if e, ok := m.kevs[c]; ok {
			out[c] = e
		}
	}
	return out, nil
}

func (m *memSource) EPSS(context.Context, []string) (map[string]epss.Score, error) {
	return map[string]epss.Score{"CVE-2023-0286": {CVE: "CVE-2023-0286", EPSS: 0.5, Percentile: 0.9}}, nil
}

func adv(t *testing.T, js string) *osv.Advisory {
	t.Helper()
	a, err := osv.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ids(fs []match.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Package.Name+"@"+f.Package.Version+":"+f.ID)
	}
	return out
}

func TestRanges(t *testing.T) {
	// PYSEC-2023-212's shape: events not sorted, two intervals.
	urllib3 := `{"id":"PYSEC-2023-212","modified":"2023-10-17T00:00:00Z","aliases":["CVE-2023-45803"],"affected":[{"package":{"ecosystem":"PyPI","name":"urllib3"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.0.0"},{"fixed":"2.0.7"},{"introduced":"0"},{"fixed":"1.26.18"}]}]}]}`
	lastAffected := `{"id":"X-1","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"pkg"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"last_affected":"1.2.0"}]}]}]}`
	limit := `{"id":"X-2","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"lim"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"limit":"2.0.0"}]}]}]}`
	listed := `{"id":"X-3","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"Foo_Bar"},"versions":["1.0","1.1"]}]}`
	withdrawn := `{"id":"X-4","modified":"2023-01-01T00:00:00Z","withdrawn":"2023-02-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"pkg"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`
	unfixed := `{"id":"X-5","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"open"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`
	src := &memSource{}
	for _, js := range []string{urllib3, lastAffected, limit, listed, withdrawn, unfixed} {
		src.advs = append(src.advs, adv(t, js))
	}
	tests := []struct {
		name, eco, pkg, version string
		want                    []string
		wantFixed               []string
	}{
		{"unsorted events, old line affected", "PyPI", "urllib3", "1.26.4", []string{"PYSEC-2023-212"}, []string{"1.26.18"}},
		{"unsorted events, fixed old line", "PyPI", "urllib3", "1.26.18", nil, nil},
		{"unsorted events, new line affected", "PyPI", "urllib3", "2.0.6", []string{"PYSEC-2023-212"}, []string{"2.0.7"}},
		{"unsorted events, new line fixed", "PyPI", "urllib3", "2.0.7", nil, nil},
		{"before introduced", "npm", "pkg", "0.9.0", nil, nil},
		{"last_affected inclusive", "npm", "pkg", "1.2.0", []string{"X-1"}, nil},
		{"after last_affected", "npm", "pkg", "1.2.1", nil, nil},
		{"below limit", "npm", "lim", "1.9.9", []string{"X-2"}, nil},
		{"at limit", "npm", "lim", "2.0.0", nil, nil},
		{"versions list, PEP 503 name", "PyPI", "foo.bar", "1.1", []string{"X-3"}, nil},
		{"not in versions list", "PyPI", "foo-bar", "1.2", nil, nil},
		{"unfixed", "npm", "open", "9.9.9", []string{"X-5"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := map[string]string{"PyPI": "pypi", "npm": "npm"}[tt.eco]
			p := &inventory.Package{Name: tt.pkg, Version: tt.version, Type: typ, Ecosystem: tt.eco}
			res, err := match.Match(context.Background(), src, []*inventory.Package{p})
			if err != nil {
				t.Fatal(err)
			}
			var got, fixed []string
			for _, f := range res.Findings {
				got = append(got, f.ID)
				fixed = append(fixed, f.Fixed...)
				if len(f.Reasons) == 0 {
					t.Errorf("%s has no reason", f.ID)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantFixed, fixed); diff != "" {
				t.Errorf("fixed (-want +got):\n%s", diff)
			}
			for _, f := range res.Findings {
				if tt.wantFixed == nil && f.FixState != match.NoFixYet {
					t.Errorf("%s: fix state %q, want no fix yet", f.ID, f.FixState)
				}
			}
		})
	}
}

func TestReasonSaysWhy(t *testing.T) {
	src := &memSource{advs: []*osv.Advisory{adv(t, `{"id":"PYSEC-2023-212","modified":"2023-10-17T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"urllib3"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.0.0"},{"fixed":"2.0.7"},{"introduced":"0"},{"fixed":"1.26.18"}]}]}]}`)}}
	res, err := match.Match(context.Background(), src, []*inventory.Package{{Name: "urllib3", Version: "1.26.4", Type: "pypi", Ecosystem: "PyPI"}})
	if err != nil || len(res.Findings) != 1 {
		t.Fatalf("got %v, %v", res, err)
	}
	want := "PYSEC-2023-212: urllib3 1.26.4 in ECOSYSTEM range [introduced 0, fixed 1.26.18)"
	if got := res.Findings[0].Reasons[0].String(); got != want {
		t.Errorf("reason = %q, want %q", got, want)
	}
}

// Debian: a DSA bundles CVEs in related; the DEBIAN-CVE records of those
// CVEs are the same vulnerabilities for the same package: one finding,
// matched on the source package and its version.
func TestDistroSourcePackageAndAliasMerge(t *testing.T) {
	src := &memSource{
		advs: []*osv.Advisory{
			adv(t, `{"id":"DSA-5343-1","modified":"2023-04-02T00:00:00Z","related":["CVE-2023-0286","CVE-2023-0215"],"affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.1.1n-0+deb11u4"}]}]}]}`),
			adv(t, `{"id":"DEBIAN-CVE-2023-0286","modified":"2023-07-14T00:00:00Z","upstream":["CVE-2023-0286"],"affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.1.1n-0+deb11u4"}]}]},{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.8-1"}]}]}]}`),
			adv(t, `{"id":"DEBIAN-CVE-2099-1","modified":"2023-07-14T00:00:00Z","upstream":["CVE-2099-1"],"affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`),
		},
		kevs: map[string]kev.Entry{"CVE-2023-0286": {CVE: "CVE-2023-0286", DateAdded: "2024-01-01", KnownRansomwareCampaignUse: "Unknown"}},
	}
	// libssl1.1 is built from openssl: matched on the source package.
	p := &inventory.Package{Name: "libssl1.1", Version: "1.1.1n-0+deb11u3", Type: "deb", Ecosystem: "Debian:11", SourceName: "openssl", SourceVersion: "1.1.1n-0+deb11u3"}
	res, err := match.Match(context.Background(), src, []*inventory.Package{p})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"libssl1.1@1.1.1n-0+deb11u3:DEBIAN-CVE-2099-1", "libssl1.1@1.1.1n-0+deb11u3:DSA-5343-1"}, ids(res.Findings)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	var dsa match.Finding
	for _, f := range res.Findings {
		if f.ID == "DSA-5343-1" {
			dsa = f
		}
	}
	if diff := cmp.Diff([]string{"CVE-2023-0215", "CVE-2023-0286", "DEBIAN-CVE-2023-0286"}, dsa.Aliases); diff != "" {
		t.Errorf("aliases (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"DSA-5343-1", "DEBIAN-CVE-2023-0286"}, dsa.Advisories); diff != "" {
		t.Errorf("advisories (-want +got):\n%s", diff)
	}
	if dsa.KEV == nil || dsa.KEV.DateAdded != "2024-01-01" {
		t.Errorf("KEV = %+v, want the entry of CVE-2023-0286", dsa.KEV)
	}
	if dsa.EPSS == nil || dsa.EPSS.Score != 0.5 {
		t.Errorf("EPSS = %+v", dsa.EPSS)
	}
	if dsa.Reasons[0].Package != "openssl" || dsa.Reasons[0].Version != "1.1.1n-0+deb11u3" {
		t.Errorf("reason = %+v, want the source package", dsa.Reasons[0])
	}
	// Fixed source version: nothing.
	p2 := *p
	p2.Version, p2.SourceVersion = "1.1.1n-0+deb11u4", "1.1.1n-0+deb11u4"
	res, _ = match.Match(context.Background(), src, []*inventory.Package{&p2})
	if diff := cmp.Diff([]string{"libssl1.1@1.1.1n-0+deb11u4:DEBIAN-CVE-2099-1"}, ids(res.Findings)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLanguageNames(t *testing.T) {
	src := &memSource{advs: []*osv.Advisory{
		adv(t, `{"id":"GHSA-log4j","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Maven","name":"org.apache.logging.log4j:log4j-core"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.13.0"},{"fixed":"2.15.0"}]},{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.3.1"}]},{"type":"ECOSYSTEM","events":[{"introduced":"2.4"},{"fixed":"2.12.2"}]}]}]}`),
		adv(t, `{"id":"GHSA-scoped","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"@babel/traverse"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"7.23.2"}]}]}]}`),
		adv(t, `{"id":"GO-x","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"stdlib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.20.10"},{"introduced":"1.21.0-0"},{"fixed":"1.21.3"}]}]},{"package":{"ecosystem":"Go","name":"golang.org/x/net"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.17.0"}]}]}]}`),
	}}
	pkgs := []*inventory.Package{
		{Name: "log4j-core", Namespace: "org.apache.logging.log4j", Version: "2.14.1", Type: "maven", Ecosystem: "Maven"},
		{Name: "log4j-core", Namespace: "org.apache.logging.log4j", Version: "2.15.0", Type: "maven", Ecosystem: "Maven"},
		{Name: "log4j-core", Namespace: "org.apache.logging.log4j", Version: "2.12.2", Type: "maven", Ecosystem: "Maven"},
		{Name: "traverse", Namespace: "@babel", Version: "7.22.0", Type: "npm", Ecosystem: "npm"},
		{Name: "traverse", Version: "7.22.0", Type: "npm", Ecosystem: "npm"}, // unscoped: another package
		{Name: "stdlib", Version: "go1.21.2", Type: "golang", Ecosystem: "Go"},
		{Name: "stdlib", Version: "go1.21.3", Type: "golang", Ecosystem: "Go"},
		{Name: "golang.org/x/net", Version: "v0.0.0-20210226172049-e18ecbb05110", Type: "golang", Ecosystem: "Go"},
		{Name: "golang.org/x/net", Version: "v0.17.0", Type: "golang", Ecosystem: "Go"},
	}
	res, err := match.Match(context.Background(), src, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"golang.org/x/net@v0.0.0-20210226172049-e18ecbb05110:GO-x",
		"log4j-core@2.14.1:GHSA-log4j",
		"stdlib@go1.21.2:GO-x",
		"traverse@7.22.0:GHSA-scoped",
	}
	if diff := cmp.Diff(want, ids(res.Findings)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestUndecided(t *testing.T) {
	src := &memSource{advs: []*osv.Advisory{
		adv(t, `{"id":"BAD-1","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"foo"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"not a version!"}]}]}]}`),
	}}
	pkgs := []*inventory.Package{
		{Name: "foo", Version: "1.0-1", Type: "deb", Ecosystem: "Debian:12"},
		{Name: "foo", Version: "@@@", Type: "deb", Ecosystem: "Debian:12"},
		{Name: "bar", Version: "@@@", Type: "deb", Ecosystem: "Debian:12"},   // no advisories: nothing to decide
		{Name: "baz", Version: "1.0", Type: "deb"},                           // no ecosystem: unknown distro
		{Name: "qux", Version: "1.0", Type: "gem", Ecosystem: "Unknownland"}, // unknown ecosystem
	}
	res, err := match.Match(context.Background(), src, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 0 {
		t.Errorf("findings %v, want none", ids(res.Findings))
	}
	var got []string
	for _, u := range res.Undecided {
		got = append(got, u.Package.Name+" "+u.Advisory)
	}
	if diff := cmp.Diff([]string{"foo BAD-1", "foo "}, got); diff != "" {
		t.Errorf("undecided (-want +got):\n%s", diff)
	}
	// Every one of them is a coverage gap: unknown, not clean.
	got = nil
	for _, g := range res.Coverage.Gaps {
		for _, p := range g.Packages {
			got = append(got, string(g.Reason)+" "+p.Name+"@"+p.Version)
		}
	}
	want := []string{"no-version-order qux@1.0", "undecided foo@1.0-1", "undecided foo@@@@", "unrecognised-os baz@1.0"}
	if diff := cmp.Diff(want, got); diff != "" || res.Coverage.Complete {
		t.Errorf("coverage complete=%v gaps (-want +got):\n%s", res.Coverage.Complete, diff)
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		name, js string
		want     match.Severity
	}{
		{"CVSS v3.1 computed", `{"id":"A","modified":"2023-01-01T00:00:00Z","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:H"}],"affected":[{"package":{"ecosystem":"npm","name":"p"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`,
			match.Severity{Level: match.Critical, Score: 9.1, Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:H", Source: "CVSS_V3 in A"}},
		{"CVSS v4 computed", `{"id":"A","modified":"2023-01-01T00:00:00Z","severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}],"affected":[{"package":{"ecosystem":"npm","name":"p"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`,
			match.Severity{Level: match.Critical, Score: 9.3, Vector: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", Source: "CVSS_V4 in A"}},
		{"Ubuntu priority", `{"id":"A","modified":"2023-01-01T00:00:00Z","severity":[{"type":"Ubuntu","score":"medium"}],"affected":[{"package":{"ecosystem":"npm","name":"p"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`,
			match.Severity{Level: match.Medium, Source: "Ubuntu priority in A"}},
		{"GitHub rating", `{"id":"A","modified":"2023-01-01T00:00:00Z","database_specific":{"severity":"MODERATE"},"affected":[{"package":{"ecosystem":"npm","name":"p"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`,
			match.Severity{Level: match.Medium, Source: "database severity in A"}},
		{"Red Hat style title", `{"id":"A","modified":"2023-01-01T00:00:00Z","summary":"Important: glibc security update","affected":[{"package":{"ecosystem":"npm","name":"p"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`,
			match.Severity{Level: match.High, Source: "impact in title in A"}},
		{"none given", `{"id":"A","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"p"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`,
			match.Severity{Level: match.Unknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &memSource{advs: []*osv.Advisory{adv(t, tt.js)}}
			res, err := match.Match(context.Background(), src, []*inventory.Package{{Name: "p", Version: "1.0.0", Type: "npm", Ecosystem: "npm"}})
			if err != nil || len(res.Findings) != 1 {
				t.Fatalf("%v %v", res, err)
			}
			if diff := cmp.Diff(tt.want, res.Findings[0].Severity); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestIgnores(t *testing.T) {
	src := &memSource{advs: []*osv.Advisory{
		adv(t, `{"id":"GHSA-a","aliases":["CVE-1"],"modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"p"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]},{"package":{"ecosystem":"npm","name":"q"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`),
		adv(t, `{"id":"GHSA-b","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"p"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`),
	}}
	pkgs := []*inventory.Package{{Name: "p", Version: "1.0.0", Type: "npm", Ecosystem: "npm"}, {Name: "q", Version: "1.0.0", Type: "npm", Ecosystem: "npm"}}
	res, _ := match.Match(context.Background(), src, pkgs)
	rules, err := match.ParseIgnores(stringsReader(`
ignore:
  - id: CVE-1
    package: q
    reason: not reachable from our code
    expires: 2030-01-01
  - id: GHSA-b
    reason: accepted
    expires: 2020-01-01
`))
	if err != nil {
		t.Fatal(err)
	}
	warnings := match.ApplyIgnores(res.Findings, rules, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	if len(warnings) != 1 {
		t.Errorf("warnings %q, want one for the expired rule", warnings)
	}
	var got []string
	for _, f := range res.Findings {
		s := f.Package.Name + ":" + f.ID
		if f.Suppressed != nil {
			s += " suppressed"
		}
		got = append(got, s)
	}
	if diff := cmp.Diff([]string{"p:GHSA-a", "p:GHSA-b", "q:GHSA-a suppressed"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// JSON is accepted too; a rule without a reason is refused.
	if _, err := match.ParseIgnores(stringsReader(`[{"id":"CVE-1","reason":"r"}]`)); err != nil {
		t.Errorf("JSON list: %v", err)
	}
	for _, bad := range []string{`[{"id":"CVE-1"}]`, `ignore: [{reason: r}]`, `ignore: [{id: x, reason: r, expires: tomorrow}]`, `ignore: [{id: x, reason: r, colour: red}]`} {
		if _, err := match.ParseIgnores(stringsReader(bad)); err == nil {
			t.Errorf("ParseIgnores(%q) succeeded, want an error", bad)
		}
	}
}

func TestFindingJSON(t *testing.T) {
	// Findings serialise; the package is embedded with its layer and paths.
	f := match.Finding{ID: "X", Package: &inventory.Package{Name: "p", Locations: []string{"a"}, Layer: &inventory.Layer{Index: 2}}}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	json.Unmarshal(b, &back)
	if !slices.Contains([]string{"X"}, back["id"].(string)) || back["package"].(map[string]any)["layer"] == nil {
		t.Errorf("JSON %s", b)
	}
}

// rpm: advisories name binary packages, some the source package; the
// source rpm's version carries no epoch and takes the binary's.
func TestRPMEpoch(t *testing.T) {
	src := &memSource{advs: []*osv.Advisory{
		adv(t, `{"id":"ALSA-1","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"AlmaLinux:8","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.1.1k-7.el8_6"}]}]}]}`),
		adv(t, `{"id":"ALSA-2","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"AlmaLinux:8","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.1.1c-1.el8"}]}]}]}`),
	}}
	p := &inventory.Package{Name: "openssl-libs", Version: "1:1.1.1c-15.el8", Type: "rpm", Ecosystem: "AlmaLinux:8", SourceName: "openssl", SourceVersion: "1.1.1c-15.el8"}
	res, err := match.Match(context.Background(), src, []*inventory.Package{p})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"openssl-libs@1:1.1.1c-15.el8:ALSA-1"}, ids(res.Findings)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
