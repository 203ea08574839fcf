//go:build !node && !scan

package cli

import (
	"archive/zip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/schematest"
)

// scanFixture writes a small Alpine root filesystem (one apk package) and
// a database with two synthetic advisories for it plus the sample KEV
// subset, so scan output can be checked without ../shared.
func scanFixture(t *testing.T) (rootfs, db string) {
	t.Helper()
	dir := t.TempDir()
	rootfs = filepath.Join(dir, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	os.MkdirAll(filepath.Join(rootfs, "lib", "apk", "db"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc", "os-release"), []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.14.10\nPRETTY_NAME=\"Alpine Linux v3.14\"\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "lib", "apk", "db", "installed"), []byte("P:busybox\nV:1.33.1-r1\nA:x86_64\no:busybox\nL:GPL-2.0-only\n\nP:zlib\nV:1.2.12-r3\nA:x86_64\no:zlib\nL:Zlib\n\n"), 0o644)
	osvDir := filepath.Join(dir, "osv")
	os.MkdirAll(osvDir, 0o755)
	// Synthetic records (not real advisories): one fixed, aliased to a
	// CVE in KEV; one with no fix.
	os.WriteFile(filepath.Join(osvDir, "TEST-1.json"), []byte(`{"id":"TEST-1","modified":"2024-01-01T00:00:00Z","summary":"synthetic fixed advisory","aliases":["CVE-2021-44228"],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"}],"affected":[{"package":{"ecosystem":"Alpine:v3.14","name":"busybox"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.33.1-r6"}]}]}]}`), 0o644)
	os.WriteFile(filepath.Join(osvDir, "TEST-2.json"), []byte(`{"id":"TEST-2","modified":"2024-01-01T00:00:00Z","summary":"synthetic open advisory","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}],"affected":[{"package":{"ecosystem":"Alpine:v3.14","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`), 0o644)
	kev := filepath.Join(testutil.RepoRoot(t), "vulndb", "sample", "data", "known_exploited_vulnerabilities.json")
	db = filepath.Join(dir, "vuln.db")
	if _, stderr, code := run(t, "db", "import", "--db", db, osvDir, kev); code != 0 {
		t.Fatalf("db import: %s", stderr)
	}
	return rootfs, db
}

func TestScanOutputsAndGates(t *testing.T) {
	rootfs, db := scanFixture(t)
	ref := "dir:" + rootfs

	out, stderr, code := run(t, "scan", "--db", db, ref)
	if code != 0 {
		t.Fatalf("scan exit %d: %s", code, stderr)
	}
	for _, want := range []string{"busybox", "TEST-1 (CVE-2021-44228)", "critical 10.0", "1.33.1-r6", "KEV 2021-12-10 ransomware", "zlib", "no fix yet", "2 vulnerabilities in 2 packages (1 critical, 1 low); 1 in CISA KEV; 1 with no fix yet"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "warning: vulnerability data is") {
		t.Errorf("no data-age warning: %s", stderr)
	}

	// JSON: every finding says why it matched, with the layer-free dir: package.
	out, _, _ = run(t, "scan", "--db", db, ref, "-o", "json")
	var rep struct {
		Findings []struct {
			ID      string
			Reasons []struct{ RangeType, Introduced, Fixed string }
			Package struct{ Locations []string }
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 2 || rep.Findings[0].Reasons[0].Fixed != "1.33.1-r6" || len(rep.Findings[0].Package.Locations) == 0 {
		t.Errorf("JSON findings %+v", rep.Findings)
	}

	// SARIF 2.1.0, valid against the official schema.
	out, _, code = run(t, "scan", "--db", db, ref, "-o", "sarif")
	if code != 0 {
		t.Fatal("sarif failed")
	}
	schematest.Validate(t, schematest.SARIF(t), []byte(out))
	if !strings.Contains(out, `"security-severity": "10.0"`) {
		t.Errorf("SARIF lacks security-severity:\n%s", out)
	}

	// CycloneDX 1.6 with a vulnerabilities section, valid against the schema.
	out, _, code = run(t, "scan", "--db", db, ref, "-o", "cyclonedx-json")
	if code != 0 {
		t.Fatal("cyclonedx failed")
	}
	schematest.Validate(t, schematest.CycloneDX(t), []byte(out))
	var bom struct {
		Vulnerabilities []struct {
			ID         string
			References []struct{ ID string }
			Affects    []struct{ Ref string }
		}
	}
	json.Unmarshal([]byte(out), &bom)
	if len(bom.Vulnerabilities) != 2 || bom.Vulnerabilities[0].References[0].ID != "CVE-2021-44228" || !strings.HasPrefix(bom.Vulnerabilities[0].Affects[0].Ref, "pkg:apk/alpine/busybox") {
		t.Errorf("CycloneDX vulnerabilities %+v", bom.Vulnerabilities)
	}

	// Gates.
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"--fail-on", "critical"}, 1},
		{[]string{"--fail-on", "kev"}, 1},
		{[]string{"--fail-on", "low"}, 1},
		{[]string{"--fail-on", "banana"}, 2},
	} {
		_, stderr, code := run(t, append([]string{"scan", "--db", db, ref}, tt.args...)...)
		if code != tt.code {
			t.Errorf("%v: exit %d, want %d (%s)", tt.args, code, tt.code, stderr)
		}
	}

	// Accepted risks: shown as suppressed, no longer failing the gate;
	// an expired rule stops applying with a warning.
	ign := filepath.Join(t.TempDir(), "ignore.yaml")
	os.WriteFile(ign, []byte("ignore:\n  - id: CVE-2021-44228\n    package: busybox\n    reason: not reachable in this image\n    expires: 2999-01-01\n  - id: TEST-2\n    reason: old acceptance\n    expires: 2020-01-01\n"), 0o644)
	out, stderr, code = run(t, "scan", "--db", db, ref, "--ignore", ign, "--fail-on", "critical")
	if code != 0 || !strings.Contains(out, "suppressed: not reachable in this image") || !strings.Contains(out, "1 suppressed") {
		t.Errorf("with ignore: exit %d\n%s", code, out)
	}
	if !strings.Contains(stderr, "expired on 2020-01-01") {
		t.Errorf("no expiry warning: %s", stderr)
	}
	if _, _, code = run(t, "scan", "--db", db, ref, "--ignore", ign, "--fail-on", "low"); code != 1 {
		t.Errorf("expired rule still applied: exit %d", code)
	}
}

func TestScanNeedsADatabase(t *testing.T) {
	_, stderr, code := run(t, "scan", "--db", filepath.Join(t.TempDir(), "none.db"), "dir:"+t.TempDir())
	if code != 2 || !strings.Contains(stderr, "credence db update") || !strings.Contains(stderr, "--db sample") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// TestScanSample runs the README's command on the sample image with the
// embedded data. The sample's Alpine 3.14.10 packages have no open
// advisories; its language packages (lodash 4.17.4, requests 2.25.0,
// log4j-core 2.14.1, ...) do, once their extractors report them.
func TestScanSample(t *testing.T) {
	img := sample(t)
	out, stderr, code := run(t, "scan", "--db", "sample", img, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "embedded sample database") {
		t.Errorf("no sample warning: %s", stderr)
	}
	var rep struct {
		Findings []struct {
			ID         string
			Package    struct{ Name string }
			RelatedKEV []struct{ CVE string }
		}
		Coverage struct{ Complete bool }
	}
	json.Unmarshal([]byte(out), &rep)
	// The sample data holds the Alpine:v3.14 records of the image's apk
	// packages, so every package is checked.
	if !rep.Coverage.Complete {
		t.Errorf("the sample database does not cover the sample image: %s", out)
	}
	// golang.org/x/net from app/go.mod: the HTTP/2 rapid reset advisory,
	// related to the KEV-listed CVE-2023-44487.
	found := false
	for _, f := range rep.Findings {
		if f.ID == "GO-2023-2102" && f.Package.Name == "golang.org/x/net" {
			found = len(f.RelatedKEV) == 1 && f.RelatedKEV[0].CVE == "CVE-2023-44487"
		}
	}
	if !found {
		t.Errorf("GO-2023-2102 with related KEV CVE-2023-44487 not reported on golang.org/x/net: %s", out)
	}
	inv, _, _ := run(t, "inventory", img, "-o", "json")
	if strings.Contains(inv, `"lodash"`) {
		found := false
		for _, f := range rep.Findings {
			found = found || f.ID == "GHSA-jf85-cpcp-j695"
		}
		if !found {
			t.Errorf("lodash 4.17.4 is in the inventory but GHSA-jf85-cpcp-j695 is not reported")
		}
	} else {
		t.Logf("the npm extractor is not there yet: %d findings", len(rep.Findings))
	}
}

func TestDBStatus(t *testing.T) {
	_, db := scanFixture(t)
	out, _, code := run(t, "db", "status", "--db", db)
	if code != 0 || !strings.Contains(out, "Advisories: 2   KEV: 4") || !strings.Contains(out, "Alpine:v3.14") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	out, _, code = run(t, "db", "status", "--db", "sample", "-o", "json")
	if code != 0 || !strings.Contains(out, `"advisories": 110`) {
		t.Errorf("sample status: exit %d\n%s", code, out)
	}
	if _, stderr, code := run(t, "db", "import", "--db", "sample", "x"); code != 2 || !strings.Contains(stderr, "read-only") {
		t.Errorf("import into sample: exit %d %s", code, stderr)
	}
}

func TestDBUpdateCommand(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "npm"), 0o755)
	data := filepath.Join(testutil.RepoRoot(t), "vulndb", "sample", "data")
	zf, _ := os.Create(filepath.Join(root, "npm", "all.zip"))
	zw := zip.NewWriter(zf)
	entries, _ := os.ReadDir(filepath.Join(data, "osv"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "npm-") {
			b, _ := os.ReadFile(filepath.Join(data, "osv", e.Name()))
			w, _ := zw.Create(strings.TrimPrefix(e.Name(), "npm-"))
			w.Write(b)
		}
	}
	zw.Close()
	zf.Close()
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	defer srv.Close()
	db := filepath.Join(t.TempDir(), "vuln.db")
	args := []string{"db", "update", "--db", db, "--osv-url", srv.URL, "--ecosystems", "npm", "--kev-url", "-"}
	out, stderr, code := run(t, args...)
	if code != 0 || !strings.Contains(out, "fetched    "+srv.URL+"/npm/all.zip") || !strings.Contains(out, "Imported 3 advisories") {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	// http.FileServer answers If-Modified-Since with 304.
	out, _, code = run(t, args...)
	if code != 0 || !strings.Contains(out, "unchanged") || !strings.Contains(out, "is up to date") {
		t.Errorf("second update: exit %d\n%s", code, out)
	}
}
