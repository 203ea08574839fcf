package match_test

import (
	"archive/zip"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/all"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/vulndb"
	"github.com/credence-dev/credence/vulndb/sample"
)

// The accuracy tests compare credence's findings with ground truth read
// straight from the advisory data, not from match: the oracle below reads
// the raw OSV JSON of the shared archives itself and decides which records
// affect each package with a version order that is not the one under test
// (credence orders versions with osv-scalibr/semantic, in package
// versions): dpkg --compare-versions for Debian, rpm's own rpm.vercmp
// (Debian's rpm package) for rpm distributions, and apk's ordering written
// independently in oracle_apk_test.go for Alpine. Language packages are
// held to the facts of ../shared/data/README.md.

var (
	sharedOnce sync.Once
	sharedDB   *vulndb.DB
	sharedErr  error
)

// shared imports all of ../shared/data once per test binary.
func shared(t testing.TB) *vulndb.DB {
	t.Helper()
	data := filepath.Join(testutil.Shared(t), "data")
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "credence-accuracy-")
		if err != nil {
			sharedErr = err
			return
		}
		p := filepath.Join(dir, "vuln.db")
		ins, err := vulndb.Inputs(data)
		if err == nil {
			_, err = vulndb.Import(context.Background(), p, ins)
		}
		if err == nil {
			sharedDB, err = vulndb.Open(p)
		}
		sharedErr = err
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedDB
}

// rawRecord is the oracle's own minimal reading of an OSV record.
type rawRecord struct {
	ID        string `json:"id"`
	Withdrawn string `json:"withdrawn"`
	Affected  []struct {
		Package struct{ Ecosystem, Name string } `json:"package"`
		Ranges  []struct {
			Type   string              `json:"type"`
			Events []map[string]string `json:"events"`
		} `json:"ranges"`
		Versions []string `json:"versions"`
	} `json:"affected"`
}

// lessFunc answers, for each pair (a, b), whether version a sorts before b
// in the ecosystem's own order. It gets every pair at once, so an external
// tool runs once or in parallel.
type lessFunc func(t *testing.T, pairs [][2]string) map[[2]string]bool

// interval is one affected interval of a range: [introduced, fixed), with
// introduced "0" before every version and fixed "" for no fix yet.
type interval struct{ introduced, fixed string }

// intervals reads a range written as introduced/fixed pairs, each
// introduced followed by at most one fixed: the shape every distro record
// in the shared data has. Any other shape fails the test: the oracle only
// claims what it can check directly.
func intervals(t *testing.T, id string, events []map[string]string) []interval {
	var out []interval
	for _, e := range events {
		if len(e) != 1 {
			t.Fatalf("%s: the oracle does not handle event %v", id, e)
		}
		switch {
		case e["introduced"] != "":
			out = append(out, interval{introduced: e["introduced"]})
		case e["fixed"] != "" && len(out) > 0 && out[len(out)-1].fixed == "":
			out[len(out)-1].fixed = e["fixed"]
		default:
			t.Fatalf("%s: the oracle does not handle the events %v", id, events)
		}
	}
	return out
}

// oracle lists, for each package, the ids of the records of zipPath that
// affect it: a record's affected entry for the package's source name (dpkg
// Source, apk origin, else its name) in the package's ecosystem, with an
// ECOSYSTEM range interval holding the source version (else the version),
// by less. Withdrawn records do not count.
func oracle(t *testing.T, zipPath string, pkgs []*inventory.Package, less lessFunc) map[string][]string {
	t.Helper()
	type key struct{ eco, name string }
	want := map[key][]*inventory.Package{}
	versionOf := func(p *inventory.Package) string { return cmp.Or(p.SourceVersion, p.Version) }
	for _, p := range pkgs {
		k := key{p.Ecosystem, cmp.Or(p.SourceName, p.Name)}
		want[k] = append(want[k], p)
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	type candidate struct {
		id  string
		p   *inventory.Package
		ivs []interval
	}
	var cands []candidate
	need := map[[2]string]bool{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		var r rawRecord
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if r.Withdrawn != "" {
			continue
		}
		for _, af := range r.Affected {
			ps := want[key{af.Package.Ecosystem, af.Package.Name}]
			if len(ps) == 0 {
				continue
			}
			if len(af.Versions) > 0 {
				t.Fatalf("%s: the oracle does not handle versions lists", r.ID)
			}
			var ivs []interval
			for _, rg := range af.Ranges {
				if rg.Type != "ECOSYSTEM" {
					t.Fatalf("%s: the oracle does not handle %s ranges", r.ID, rg.Type)
				}
				ivs = append(ivs, intervals(t, r.ID, rg.Events)...)
			}
			for _, p := range ps {
				cands = append(cands, candidate{r.ID, p, ivs})
				for _, iv := range ivs {
					if iv.introduced != "0" {
						need[[2]string{versionOf(p), iv.introduced}] = true
					}
					if iv.fixed != "" {
						need[[2]string{versionOf(p), iv.fixed}] = true
					}
				}
			}
		}
	}
	pairs := make([][2]string, 0, len(need))
	for pr := range need {
		pairs = append(pairs, pr)
	}
	before := less(t, pairs)
	out := map[string][]string{}
	for _, c := range cands {
		v := versionOf(c.p)
		for _, iv := range c.ivs {
			if (iv.introduced == "0" || !before[[2]string{v, iv.introduced}]) && (iv.fixed == "" || before[[2]string{v, iv.fixed}]) {
				k := c.p.Name + "@" + c.p.Version
				if !slices.Contains(out[k], c.id) {
					out[k] = append(out[k], c.id)
				}
			}
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

// dpkgLess orders Debian versions with dpkg itself.
func dpkgLess(t *testing.T, pairs [][2]string) map[[2]string]bool {
	t.Helper()
	if _, err := exec.LookPath("dpkg"); err != nil {
		testutil.NeedComponent(t, "dpkg", "Debian's package manager orders the Debian oracle's versions")
	}
	out := make([]bool, len(pairs))
	var g errgroup.Group
	g.SetLimit(4)
	for i, pr := range pairs {
		g.Go(func() error {
			err := exec.Command("dpkg", "--compare-versions", pr[0], "lt", pr[1]).Run()
			var exit *exec.ExitError
			switch {
			case err == nil:
				out[i] = true
			case errors.As(err, &exit) && exit.ExitCode() == 1:
			default:
				return fmt.Errorf("dpkg --compare-versions %s lt %s: %w", pr[0], pr[1], err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	m := map[[2]string]bool{}
	for i, pr := range pairs {
		m[pr] = out[i]
	}
	return m
}

// rpmLess orders rpm versions ([epoch:]version-release) with rpm's own
// rpm.vercmp, in one rpm run.
func rpmLess(t *testing.T, pairs [][2]string) map[[2]string]bool {
	t.Helper()
	if _, err := exec.LookPath("rpm"); err != nil {
		testutil.NeedComponent(t, "rpm", "Debian package rpm (scripts/setup.d/apt-packages.txt) orders the rpm oracle's versions")
	}
	var in strings.Builder
	for _, pr := range pairs {
		if strings.ContainsAny(pr[0]+pr[1], " \t\n") {
			t.Fatalf("rpm version with a space: %q", pr)
		}
		in.WriteString(pr[0] + " " + pr[1] + "\n")
	}
	f := filepath.Join(t.TempDir(), "pairs")
	if err := os.WriteFile(f, []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `%{lua: for line in io.lines("` + f + `") do local a, b = line:match("^(%S+) (%S+)$"); print(rpm.vercmp(a, b) .. "\n") end}`
	b, err := exec.Command("rpm", "--eval", script).Output()
	if err != nil {
		t.Fatalf("rpm --eval: %v", err)
	}
	lines := strings.Fields(string(b))
	if len(lines) != len(pairs) {
		t.Fatalf("rpm.vercmp: %d answers for %d pairs", len(lines), len(pairs))
	}
	m := map[[2]string]bool{}
	for i, pr := range pairs {
		m[pr] = lines[i] == "-1"
	}
	return m
}

// matched lists, per package, every advisory behind the findings.
func matched(res *match.Result) map[string][]string {
	out := map[string][]string{}
	for _, f := range res.Findings {
		k := f.Package.Name + "@" + f.Package.Version
		out[k] = append(out[k], f.Advisories...)
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

func scanImage(t testing.TB, ref string) *inventory.Inventory {
	t.Helper()
	return extractortest.ScanFixture(t, ref, all.Extractors()...)
}

func osPackages(inv *inventory.Inventory) []*inventory.Package {
	var out []*inventory.Package
	for _, p := range inv.Packages {
		if p.OSPackage() {
			out = append(out, p)
		}
	}
	return out
}

// TestAccuracyAlpine scans each real Alpine apk database of
// ../shared/fixtures/alpine and compares with the oracle on the Alpine data.
func TestAccuracyAlpine(t *testing.T) {
	db := shared(t)
	root := filepath.Join(testutil.Shared(t), "fixtures", "alpine")
	dirs, _ := os.ReadDir(root)
	total := 0
	for _, d := range dirs {
		t.Run(d.Name(), func(t *testing.T) {
			inv := scanImage(t, "dir:"+filepath.Join(root, d.Name()))
			pkgs := osPackages(inv)
			if len(pkgs) == 0 || pkgs[0].Ecosystem == "" {
				t.Fatalf("no Alpine ecosystem for %s (distro %+v): every fixture release must map to one", d.Name(), inv.Distro)
			}
			res, err := match.Match(context.Background(), db, pkgs)
			if err != nil {
				t.Fatal(err)
			}
			want := oracle(t, filepath.Join(testutil.Shared(t), "data", "osv", "Alpine", "all.zip"), pkgs, apkLess)
			if diff := gocmp.Diff(want, matched(res)); diff != "" {
				t.Errorf("%s (%s): advisories per package (-oracle +credence):\n%s", d.Name(), pkgs[0].Ecosystem, diff)
			}
			if len(res.Undecided) > 0 {
				t.Errorf("undecided: %+v", res.Undecided)
			}
			n := 0
			for _, ids := range want {
				n += len(ids)
			}
			total += n
			t.Logf("%s: %d packages, %d advisories, %d findings", pkgs[0].Ecosystem, len(pkgs), n, len(res.Findings))
		})
	}
	if total == 0 {
		t.Errorf("no Alpine fixture has any advisory: the test checks nothing")
	}
}

// rpmOracle is the oracle for rpm distributions, where advisories name
// binary packages (and sometimes the source package): a package is affected
// by an entry for its own name compared with its version, or for its
// source rpm's name compared with the source version plus the package's
// epoch (a source rpm's file name has none).
func rpmOracle(t *testing.T, zipPath string, pkgs []*inventory.Package) map[string][]string {
	t.Helper()
	var asBinary, asSource []*inventory.Package
	for _, p := range pkgs {
		b := *p
		b.SourceName, b.SourceVersion = "", ""
		asBinary = append(asBinary, &b)
		if p.SourceName != "" && p.SourceName != p.Name {
			s := *p
			s.Name, s.SourceName = p.Name, p.SourceName
			if epoch, _, ok := strings.Cut(p.Version, ":"); ok {
				s.SourceVersion = epoch + ":" + p.SourceVersion
			}
			asSource = append(asSource, &s)
		}
	}
	out := oracle(t, zipPath, asBinary, rpmLess)
	for k, ids := range oracle(t, zipPath, asSource, rpmLess) {
		for _, id := range ids {
			if !slices.Contains(out[k], id) {
				out[k] = append(out[k], id)
			}
		}
		sort.Strings(out[k])
	}
	return out
}

// TestAccuracyRPM reads the real CentOS 8 rpm database of
// ../shared/fixtures/rpm (it has no os-release) and evaluates its packages
// as AlmaLinux:8, the binary-compatible rebuild of the same RHEL 8 sources
// whose advisories the shared data holds, against the oracle.
func TestAccuracyRPM(t *testing.T) {
	db := shared(t)
	inv := scanImage(t, "dir:"+filepath.Join(testutil.Shared(t), "fixtures", "rpm", "centos8-modularitylabel"))
	var pkgs []*inventory.Package
	for _, p := range inv.Packages {
		if p.Type == inventory.TypeRPM && p.Name != "gpg-pubkey" {
			q := *p
			q.Ecosystem = "AlmaLinux:8"
			pkgs = append(pkgs, &q)
		}
	}
	if len(pkgs) != 518-1 {
		t.Fatalf("%d rpm packages extracted, want 517 (the CentOS 8 rpmdb's 518 less gpg-pubkey)", len(pkgs))
	}
	res, err := match.Match(context.Background(), db, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	want := rpmOracle(t, filepath.Join(testutil.Shared(t), "data", "osv", "AlmaLinux", "all.zip"), pkgs)
	if diff := gocmp.Diff(want, matched(res)); diff != "" {
		t.Errorf("advisories per package (-oracle +credence):\n%s", diff)
	}
	n := 0
	for _, ids := range want {
		n += len(ids)
	}
	if n == 0 {
		t.Errorf("no advisory applies: the test checks nothing")
	}
	t.Logf("AlmaLinux:8: %d rpm packages, %d package/advisory pairs, %d findings, %d undecided", len(pkgs), n, len(res.Findings), len(res.Undecided))
}

// TestAccuracyDebianFixture scans the real Debian bookworm fixture-app image
// (its packages are newer than the 2023 Debian data: the oracle expects
// none affected; TestAccuracyDebianOlder has affected ones).
func TestAccuracyDebianFixture(t *testing.T) {
	db := shared(t)
	fx := testutil.DebianFixtures(t)
	inv := scanImage(t, "oci:"+filepath.Join(fx, "oci", "fixture-app"))
	pkgs := osPackages(inv)
	res, err := match.Match(context.Background(), db, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	want := oracle(t, filepath.Join(testutil.Shared(t), "data", "osv", "Debian", "all.zip"), pkgs, dpkgLess)
	if diff := gocmp.Diff(want, matched(res)); diff != "" {
		t.Errorf("advisories per package (-oracle +credence):\n%s", diff)
	}
	if len(res.Undecided) > 0 {
		t.Errorf("undecided: %+v", res.Undecided)
	}
	n := 0
	for _, ids := range want {
		n += len(ids)
	}
	t.Logf("Debian:12: %d dpkg packages, %d advisories, %d findings", len(pkgs), n, len(res.Findings))

	// The language packages of the image, as its ground truth lists them
	// (EXPECTED/), held to the facts; and, where credence's extractors
	// report them, the same facts on the scan itself.
	truth := []*inventory.Package{
		{Name: "golang.org/x/net", Version: "v0.0.0-20210226172049-e18ecbb05110", Type: "golang", Ecosystem: "Go"},
		{Name: "stdlib", Version: goVersionOf(t, fx), Type: "golang", Ecosystem: "Go"},
		{Name: "requests", Version: "2.28.1", Type: "pypi", Ecosystem: "PyPI"},
		{Name: "urllib3", Version: "1.26.12", Type: "pypi", Ecosystem: "PyPI"},
		{Name: "lodash", Version: "4.17.15", Type: "npm", Ecosystem: "npm"},
		{Name: "minimist", Version: "1.2.0", Type: "npm", Ecosystem: "npm"},
	}
	facts := []fact{
		{"golang.org/x/net", "GO-2023-2102", true},
		{"golang.org/x/net", "GO-2024-2687", true},
		{"stdlib", "GO-2023-2102", false}, // built with a current Go
		{"requests", "PYSEC-2023-74", true},
		{"urllib3", "PYSEC-2023-212", true},
		{"lodash", "GHSA-35jh-r3h4-6jhm", true},
		{"lodash", "GHSA-jf85-cpcp-j695", false}, // 4.17.15 >= 4.17.12; the deleted 4.17.4 must not show
		{"minimist", "GHSA-xvch-5gv4-984h", true},
	}
	res, err = match.Match(context.Background(), db, truth)
	if err != nil {
		t.Fatal(err)
	}
	checkFacts(t, "EXPECTED packages", res, facts)
	var scanned []*inventory.Package
	for _, p := range inv.Packages {
		if !p.OSPackage() {
			scanned = append(scanned, p)
		}
	}
	res, err = match.Match(context.Background(), db, scanned)
	if err != nil {
		t.Fatal(err)
	}
	var present []fact
	for _, f := range facts {
		for _, p := range scanned {
			if p.Name == f.pkg {
				present = append(present, f)
				break
			}
		}
	}
	t.Logf("scan reports %d language packages; %d of %d facts checkable on the scan", len(scanned), len(present), len(facts))
	checkFacts(t, "scan", res, present)
}

// TestAccuracyDebianOlder scans real Debian packages at older versions
// (testdata/debian-older: the fixture image's packages at the version their
// changelog lists before mid-2022, so the 2023 data does affect them) and
// compares credence with the dpkg oracle, record by record.
func TestAccuracyDebianOlder(t *testing.T) {
	db := shared(t)
	inv := scanImage(t, "dir:"+filepath.Join("testdata", "debian-older"))
	pkgs := osPackages(inv)
	if len(pkgs) != 76 {
		t.Fatalf("%d dpkg packages, want the 76 of testdata/debian-older", len(pkgs))
	}
	res, err := match.Match(context.Background(), db, pkgs, match.WithDistro(inv.Distro))
	if err != nil {
		t.Fatal(err)
	}
	want := oracle(t, filepath.Join(testutil.Shared(t), "data", "osv", "Debian", "all.zip"), pkgs, dpkgLess)
	if diff := gocmp.Diff(want, matched(res)); diff != "" {
		t.Errorf("advisories per package (-oracle +credence):\n%s", diff)
	}
	if !res.Coverage.Complete {
		t.Errorf("coverage: %s", res.Coverage)
	}
	n := 0
	for _, ids := range want {
		n += len(ids)
	}
	if len(want) < 10 || n < 20 {
		t.Errorf("the oracle finds %d affected packages, %d pairs: too few for the test to mean much", len(want), n)
	}
	t.Logf("Debian:12: %d dpkg packages, %d affected, %d package/advisory pairs, %d findings", len(pkgs), len(want), n, len(res.Findings))
}

// goVersionOf reads the Go version of the goapp binary from EXPECTED.
func goVersionOf(t *testing.T, fx string) string {
	b, err := os.ReadFile(filepath.Join(fx, "EXPECTED", "go-binaries.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.LastIndex(line, ": go"); i > 0 {
			return strings.TrimSpace(line[i+2:])
		}
	}
	t.Fatal("no Go version in go-binaries.txt")
	return ""
}

type fact struct {
	pkg, id string
	want    bool
}

func checkFacts(t *testing.T, what string, res *match.Result, facts []fact) {
	t.Helper()
	for _, f := range facts {
		found := false
		for _, fd := range res.Findings {
			if fd.Package.Name == f.pkg && (fd.ID == f.id || slices.Contains(fd.Advisories, f.id)) {
				found = true
				if len(fd.Reasons) == 0 {
					t.Errorf("%s: %s on %s has no reason", what, f.id, f.pkg)
				}
			}
		}
		if found != f.want {
			t.Errorf("%s: %s on %s: reported %v, want %v", what, f.id, f.pkg, found, f.want)
		}
	}
}

// TestFactsShared holds the facts of ../shared/data/README.md on the full
// database, including distro facts for ecosystems with no fixture image.
func TestFactsShared(t *testing.T) {
	db := shared(t)
	pkgs := []*inventory.Package{
		{Name: "libssl1.1", Version: "1.1.1n-0+deb11u3", Type: "deb", Ecosystem: "Debian:11", SourceName: "openssl", SourceVersion: "1.1.1n-0+deb11u3"},
		{Name: "sudo", Version: "1.9.5p1-1", Type: "deb", Ecosystem: "Debian:12", SourceName: "sudo"},
		{Name: "libc6", Version: "2.35-0ubuntu3.3", Type: "deb", Ecosystem: "Ubuntu:22.04:LTS", SourceName: "glibc", SourceVersion: "2.35-0ubuntu3.3"},
		{Name: "libcrypto3", Version: "3.0.7-r0", Type: "apk", Ecosystem: "Alpine:v3.17", SourceName: "openssl"},
		{Name: "busybox", Version: "1.36.1-r0", Type: "apk", Ecosystem: "Alpine:v3.18", SourceName: "busybox"},
		{Name: "glibc-common", Version: "2.34-60.el9_2.6", Type: "rpm", Ecosystem: "AlmaLinux:9", SourceName: "glibc", SourceVersion: "2.34-60.el9_2.6"},
		{Name: "h2", Version: "0.4.3", Type: "cargo", Ecosystem: "crates.io"},
		{Name: "log4j-core", Namespace: "org.apache.logging.log4j", Version: "2.14.1", Type: "maven", Ecosystem: "Maven"},
		{Name: "log4j-core", Namespace: "org.apache.logging.log4j", Version: "2.12.2", Type: "maven", Ecosystem: "Maven"},
		{Name: "spring-beans", Namespace: "org.springframework", Version: "5.3.17", Type: "maven", Ecosystem: "Maven"},
		{Name: "stdlib", Version: "go1.21.2", Type: "golang", Ecosystem: "Go"},
		{Name: "stdlib", Version: "go1.21.3", Type: "golang", Ecosystem: "Go"},
	}
	res, err := match.Match(context.Background(), db, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		pkg, version, id string
		kevAdded         string // "" when not in KEV
	}
	for _, w := range []want{
		{"libssl1.1", "1.1.1n-0+deb11u3", "DSA-5343-1", ""},
		{"sudo", "1.9.5p1-1", "DEBIAN-CVE-2021-3156", "2022-04-06"},
		{"libc6", "2.35-0ubuntu3.3", "UBUNTU-CVE-2023-4911", "2023-11-21"},
		{"libcrypto3", "3.0.7-r0", "ALPINE-CVE-2023-0286", ""},
		{"busybox", "1.36.1-r0", "ALPINE-CVE-2022-48174", ""},
		{"glibc-common", "2.34-60.el9_2.6", "ALSA-2023:5453", "2023-11-21"},
		{"h2", "0.4.3", "RUSTSEC-2024-0332", ""},
		{"log4j-core", "2.14.1", "GHSA-jfh8-c2jp-5v3q", "2021-12-10"},
		{"spring-beans", "5.3.17", "GHSA-36p3-wjmg-h94x", "2022-04-04"},
		{"stdlib", "go1.21.2", "GO-2023-2102", ""},
	} {
		var got *match.Finding
		for i, f := range res.Findings {
			if f.Package.Name == w.pkg && f.Package.Version == w.version && (f.ID == w.id || slices.Contains(f.Advisories, w.id)) {
				got = &res.Findings[i]
			}
		}
		if got == nil {
			t.Errorf("%s %s: %s not reported", w.pkg, w.version, w.id)
			continue
		}
		added := ""
		if got.KEV != nil {
			added = got.KEV.DateAdded
		}
		if added != w.kevAdded {
			t.Errorf("%s %s %s: KEV dateAdded %q, want %q", w.pkg, w.version, w.id, added, w.kevAdded)
		}
	}
	// GO-2023-2102 (CVE-2023-39325) lists the KEV-catalogued HTTP/2 rapid
	// reset CVE-2023-44487 as related: shown as related KEV, not as KEV.
	for _, f := range res.Findings {
		if f.ID == "GO-2023-2102" && f.Package.Version == "go1.21.2" {
			if f.KEV != nil || len(f.RelatedKEV) != 1 || f.RelatedKEV[0].CVE != "CVE-2023-44487" || f.RelatedKEV[0].DateAdded != "2023-10-10" {
				t.Errorf("GO-2023-2102: KEV %+v related KEV %+v, want only related CVE-2023-44487 (2023-10-10)", f.KEV, f.RelatedKEV)
			}
		}
	}
	for _, f := range res.Findings {
		if f.Package.Version == "2.12.2" && (f.ID == "GHSA-jfh8-c2jp-5v3q" || slices.Contains(f.Advisories, "GHSA-jfh8-c2jp-5v3q")) {
			t.Errorf("log4j-core 2.12.2 is not affected by Log4Shell")
		}
		if f.Package.Version == "go1.21.3" && slices.Contains(f.Advisories, "GO-2023-2102") {
			t.Errorf("go1.21.3 is fixed for GO-2023-2102")
		}
		// DSA-5343-1 and DEBIAN-CVE-2023-0286 are one finding for libssl1.1.
		if f.ID == "DEBIAN-CVE-2023-0286" {
			t.Errorf("DEBIAN-CVE-2023-0286 reported on its own; it should merge into DSA-5343-1")
		}
	}
	// The Log4Shell KEV entry says ransomware use is known.
	for _, f := range res.Findings {
		if f.ID == "GHSA-jfh8-c2jp-5v3q" && f.Package.Version == "2.14.1" && (f.KEV == nil || f.KEV.KnownRansomwareCampaignUse != "Known") {
			t.Errorf("Log4Shell KEV = %+v, want knownRansomwareCampaignUse Known", f.KEV)
		}
	}
	k, _ := db.KEV(context.Background(), []string{"CVE-2024-3094", "CVE-2014-0160"})
	if _, ok := k["CVE-2024-3094"]; ok {
		t.Errorf("CVE-2024-3094 (xz) is not in KEV")
	}
	if _, ok := k["CVE-2014-0160"]; !ok {
		t.Errorf("CVE-2014-0160 is in KEV")
	}
}

// TestFactsSample holds the facts on the embedded sample data with the
// language packages of testdata/images/sample: no ../shared needed.
func TestFactsSample(t *testing.T) {
	db, err := sample.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pkgs := []*inventory.Package{
		{Name: "lodash", Version: "4.17.4", Type: "npm", Ecosystem: "npm"},
		{Name: "minimist", Version: "1.2.0", Type: "npm", Ecosystem: "npm"},
		{Name: "requests", Version: "2.25.0", Type: "pypi", Ecosystem: "PyPI"},
		{Name: "urllib3", Version: "1.26.4", Type: "pypi", Ecosystem: "PyPI"},
		{Name: "golang.org/x/net", Version: "v0.0.0-20210226172049-e18ecbb05110", Type: "golang", Ecosystem: "Go"},
		{Name: "h2", Version: "0.3.20", Type: "cargo", Ecosystem: "crates.io"},
		{Name: "log4j-core", Namespace: "org.apache.logging.log4j", Version: "2.14.1", Type: "maven", Ecosystem: "Maven"},
	}
	res, err := match.Match(context.Background(), db, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	checkFacts(t, "sample", res, []fact{
		{"lodash", "GHSA-jf85-cpcp-j695", true},
		{"lodash", "GHSA-35jh-r3h4-6jhm", true},
		{"minimist", "GHSA-xvch-5gv4-984h", true},
		{"requests", "PYSEC-2023-74", true},
		{"urllib3", "PYSEC-2023-212", true},
		{"golang.org/x/net", "GO-2023-2102", true},
		{"h2", "RUSTSEC-2024-0332", true},
		{"log4j-core", "GHSA-jfh8-c2jp-5v3q", true},
		{"log4j-core", "GHSA-7rjr-3q55-vv33", true},
	})
	for _, f := range res.Findings {
		switch f.ID {
		case "GHSA-jfh8-c2jp-5v3q":
			if f.KEV == nil || f.KEV.DateAdded != "2021-12-10" || f.Severity.Level != match.Critical {
				t.Errorf("Log4Shell: KEV %+v severity %+v", f.KEV, f.Severity)
			}
		case "PYSEC-2023-212":
			if diff := gocmp.Diff([]string{"1.26.18"}, f.Fixed); diff != "" {
				t.Errorf("urllib3 fixed (-want +got):\n%s", diff)
			}
		case "GHSA-jf85-cpcp-j695":
			if f.Severity.Score != 9.1 || !slices.Contains(f.Aliases, "CVE-2019-10744") {
				t.Errorf("lodash: severity %+v aliases %v", f.Severity, f.Aliases)
			}
		}
	}
}

// missing reports a tool an accuracy test needs: under CI=true the test
// fails (scripts/setup installs it), elsewhere it is skipped loudly.
