package match_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/vulndb/kev"
	"github.com/credence-dev/credence/vulndb/osv"
)

// bundleSource is a DSA that bundles two CVEs, one of them in KEV, and the
// per-CVE Debian records of both: the shape of DSA-5343-1 in the real data.
func bundleSource(t *testing.T) *memSource {
	return &memSource{
		advs: []*osv.Advisory{
			adv(t, `{"id":"DSA-9000-1","modified":"2023-04-02T00:00:00Z","related":["CVE-2099-0001","CVE-2099-0002"],"affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.1.1n-0+deb11u4"}]}]}]}`),
			adv(t, `{"id":"DEBIAN-CVE-2099-0001","modified":"2023-07-14T00:00:00Z","upstream":["CVE-2099-0001"],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.1.1n-0+deb11u4"}]}]}]}`),
			adv(t, `{"id":"DEBIAN-CVE-2099-0002","modified":"2023-07-14T00:00:00Z","upstream":["CVE-2099-0002"],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}],"affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`),
		},
		kevs: map[string]kev.Entry{"CVE-2099-0001": {CVE: "CVE-2099-0001", DateAdded: "2024-01-01"}},
	}
}

func openssl() *inventory.Package {
	return &inventory.Package{Name: "libssl1.1", Version: "1.1.1n-0+deb11u3", Type: "deb", Ecosystem: "Debian:11", SourceName: "openssl", SourceVersion: "1.1.1n-0+deb11u3"}
}

// Item 1 of issue 12: accepting one CVE of a merged finding must not hide
// the others, and a KEV-listed CVE is accepted only by name.
func TestIgnoreAcceptsOnlyWhatItNames(t *testing.T) {
	tests := []struct {
		name       string
		rules      string
		suppressed bool     // the whole finding
		accepted   []string // vulnerabilities accepted
		openLevel  match.Level
		openKEV    string
		warning    string
	}{
		{name: "the low CVE by name: the KEV-listed critical one stays open",
			rules:    "- {id: CVE-2099-0002, reason: local only}",
			accepted: []string{"CVE-2099-0002"}, openLevel: match.Critical, openKEV: "CVE-2099-0001"},
		{name: "its per-CVE record by id",
			rules:    "- {id: DEBIAN-CVE-2099-0002, reason: local only}",
			accepted: []string{"CVE-2099-0002"}, openLevel: match.Critical, openKEV: "CVE-2099-0001"},
		{name: "the KEV CVE by name: the finding stays open at the other's severity, no longer KEV",
			rules:    "- {id: CVE-2099-0001, reason: mitigated by config}",
			accepted: []string{"CVE-2099-0001"}, openLevel: match.Low},
		{name: "the bundle: it does not accept the KEV-listed CVE it does not name",
			rules:    "- {id: DSA-9000-1, reason: reviewed}",
			accepted: []string{"CVE-2099-0002"}, openLevel: match.Critical, openKEV: "CVE-2099-0001",
			warning: "does not accept CVE-2099-0001 in libssl1.1 1.1.1n-0+deb11u3: it is in the CISA KEV catalog"},
		{name: "the bundle and the KEV CVE by name: the finding is suppressed",
			rules:      "- {id: DSA-9000-1, reason: reviewed}\n- {id: CVE-2099-0001, reason: mitigated by config}",
			suppressed: true, accepted: []string{"CVE-2099-0001", "CVE-2099-0002"}, openLevel: match.Unknown,
			warning: "does not accept CVE-2099-0001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := match.Match(context.Background(), bundleSource(t), []*inventory.Package{openssl()})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Findings) != 1 {
				t.Fatalf("findings %v, want the one merged finding", ids(res.Findings))
			}
			rules, err := match.ParseIgnores(strings.NewReader(tt.rules))
			if err != nil {
				t.Fatal(err)
			}
			warnings := match.ApplyIgnores(res.Findings, rules, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			f := res.Findings[0]
			if (f.Suppressed != nil) != tt.suppressed {
				t.Errorf("finding suppressed = %+v, want %v", f.Suppressed, tt.suppressed)
			}
			var accepted []string
			for _, v := range f.Vulnerabilities {
				if v.Suppressed != nil {
					accepted = append(accepted, v.ID)
				}
			}
			if diff := cmp.Diff(tt.accepted, accepted); diff != "" {
				t.Errorf("accepted (-want +got):\n%s", diff)
			}
			if got := f.OpenSeverity().Level; got != tt.openLevel {
				t.Errorf("open severity %s, want %s", got, tt.openLevel)
			}
			gotKEV := ""
			if k := f.OpenKEV(); k != nil {
				gotKEV = k.CVE
			}
			if gotKEV != tt.openKEV {
				t.Errorf("open KEV %q, want %q", gotKEV, tt.openKEV)
			}
			if tt.warning == "" && len(warnings) > 0 || tt.warning != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tt.warning)) {
				t.Errorf("warnings %q, want one containing %q", warnings, tt.warning)
			}
			// The finding as a whole keeps its worst severity and KEV entry.
			if f.Severity.Level != match.Critical || f.KEV == nil || f.KEV.CVE != "CVE-2099-0001" {
				t.Errorf("finding severity %+v KEV %+v", f.Severity, f.KEV)
			}
		})
	}
}

// Item 3 of issue 12: a finding merged from a record with a fix and one
// with no fix yet is not "fixed": upgrading leaves one CVE open.
func TestFixStateOfMergedFinding(t *testing.T) {
	res, err := match.Match(context.Background(), bundleSource(t), []*inventory.Package{openssl()})
	if err != nil || len(res.Findings) != 1 {
		t.Fatalf("%v %v", res, err)
	}
	f := res.Findings[0]
	if f.FixState != match.FixPartial || !cmp.Equal(f.Fixed, []string{"1.1.1n-0+deb11u4"}) {
		t.Errorf("finding fix state %q fixed %v, want %q [1.1.1n-0+deb11u4]", f.FixState, f.Fixed, match.FixPartial)
	}
	got := map[string]match.FixState{}
	for _, v := range f.Vulnerabilities {
		got[v.ID] = v.FixState
	}
	want := map[string]match.FixState{"CVE-2099-0001": match.FixAvailable, "CVE-2099-0002": match.FixPartial}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("per-vulnerability fix state (-want +got):\n%s", diff)
	}
	// One range with no fix and nothing else: no fix yet.
	src := &memSource{advs: []*osv.Advisory{adv(t, `{"id":"X-1","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"p"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`)}}
	res, _ = match.Match(context.Background(), src, []*inventory.Package{{Name: "p", Version: "1.0.0", Type: "npm", Ecosystem: "npm"}})
	if len(res.Findings) != 1 || res.Findings[0].FixState != match.NoFixYet || res.Findings[0].Fixed != nil {
		t.Errorf("unfixed: %+v", res.Findings)
	}
}

// Item 2 of issue 12: what could not be checked is reported per package
// with the reason, in the result itself (not only as CLI text).
func TestCoverageGaps(t *testing.T) {
	src := &memSource{advs: []*osv.Advisory{
		adv(t, `{"id":"DEBIAN-CVE-2099-1","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.2.13.dfsg-1"}]}]}]}`),
		adv(t, `{"id":"GHSA-x","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"left-pad"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}`),
	}}
	deb := func(name, eco string) *inventory.Package {
		return &inventory.Package{Name: name, Version: "1.0-1", Type: "deb", Ecosystem: eco}
	}
	rpm := func(name string) *inventory.Package {
		return &inventory.Package{Name: name, Version: "1.0-1.el9", Type: "rpm"}
	}
	tests := []struct {
		name   string
		distro *inventory.Distro
		pkgs   []*inventory.Package
		want   []string // reason ecosystem: packages
	}{
		{"covered", &inventory.Distro{ID: "debian", VersionID: "12"}, []*inventory.Package{deb("zlib1g", "Debian:12"), deb("bash", "Debian:12"), {Name: "left-pad", Version: "1.1.0", Type: "npm", Ecosystem: "npm"}}, nil},
		{"a Debian release the database has no records for", &inventory.Distro{ID: "debian", VersionID: "13"}, []*inventory.Package{deb("zlib1g", "Debian:13")},
			[]string{"no-records Debian:13: zlib1g"}},
		{"an ecosystem never imported", nil, []*inventory.Package{{Name: "requests", Version: "2.0.0", Type: "pypi", Ecosystem: "PyPI"}},
			[]string{"no-records PyPI: requests"}},
		{"no os-release", nil, []*inventory.Package{rpm("bash")},
			[]string{"unrecognised-os : bash"}},
		{"an unknown distribution", &inventory.Distro{ID: "plan9", VersionID: "4"}, []*inventory.Package{rpm("bash")},
			[]string{"unrecognised-os : bash"}},
		{"OSV has no ecosystem for it", &inventory.Distro{ID: "ol", VersionID: "9.3", PrettyName: "Oracle Linux Server 9.3"}, []*inventory.Package{rpm("bash"), rpm("glibc")},
			[]string{"no-osv-ecosystem : bash, glibc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := match.Match(context.Background(), src, tt.pkgs, match.WithDistro(tt.distro))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range res.Coverage.Gaps {
				var names []string
				for _, p := range g.Packages {
					names = append(names, p.Name)
				}
				got = append(got, string(g.Reason)+" "+g.Ecosystem+": "+strings.Join(names, ", "))
				if g.Detail == "" {
					t.Errorf("gap %s has no detail", g.Reason)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("gaps (-want +got):\n%s", diff)
			}
			if res.Coverage.Complete != (tt.want == nil) {
				t.Errorf("complete = %v", res.Coverage.Complete)
			}
		})
	}
	res, _ := match.Match(context.Background(), src, []*inventory.Package{rpm("bash")}, match.WithDistro(&inventory.Distro{ID: "ol", VersionID: "9.3", PrettyName: "Oracle Linux Server 9.3"}))
	if d := res.Coverage.Gaps[0].Detail; d != "OSV publishes no advisories for Oracle Linux (Oracle Linux Server 9.3)" {
		t.Errorf("detail %q", d)
	}
	// A source that cannot say which ecosystems it holds checks nothing.
	res, _ = match.Match(context.Background(), sourceOnly{src}, []*inventory.Package{deb("zlib1g", "Debian:12")})
	if res.Coverage.Complete {
		t.Errorf("a source without EcosystemRecords counted as complete coverage")
	}
}

type sourceOnly struct{ match.Source }

// A UBI image names BaseOS in its os-release; advisories for its packages
// may be filed under AppStream of the same release.
func TestRedHatStreams(t *testing.T) {
	src := &memSource{advs: []*osv.Advisory{
		adv(t, `{"id":"RHSA-2099:1","modified":"2023-01-01T00:00:00Z","upstream":["CVE-2099-7"],"affected":[{"package":{"ecosystem":"Red Hat:enterprise_linux:9::appstream","name":"nodejs"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:18.19.0-1.el9"}]}]}]}`),
	}}
	p := &inventory.Package{Name: "nodejs", Version: "1:18.18.2-1.el9", Type: "rpm", Ecosystem: "Red Hat:enterprise_linux:9::baseos", SourceName: "nodejs", SourceVersion: "18.18.2-1.el9"}
	res, err := match.Match(context.Background(), src, []*inventory.Package{p})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"nodejs@1:18.18.2-1.el9:RHSA-2099:1"}, ids(res.Findings)); diff != "" || !res.Coverage.Complete {
		t.Errorf("complete=%v (-want +got):\n%s", res.Coverage.Complete, diff)
	}
}
