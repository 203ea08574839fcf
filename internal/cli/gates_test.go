//go:build !node && !scan

package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/schematest"
)

// These tests hold the gates of issue 12 through the command line only, so
// that they can be run unchanged against an older credence.

// bundleFixture is an Alpine root filesystem whose busybox is affected by a
// synthetic distro advisory bundling two CVEs (DSA-9000-1 shape: the CVEs in
// related): CVE-2021-44228, which the sample KEV subset lists, and
// CVE-2099-0002, whose own record (ALPINE-CVE-2099-0002) has no fix yet.
func bundleFixture(t *testing.T) (ref, db string) {
	t.Helper()
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	os.MkdirAll(filepath.Join(rootfs, "lib", "apk", "db"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc", "os-release"), []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.14.10\nPRETTY_NAME=\"Alpine Linux v3.14\"\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "lib", "apk", "db", "installed"), []byte("P:busybox\nV:1.33.1-r1\nA:x86_64\no:busybox\nL:GPL-2.0-only\n\n"), 0o644)
	osvDir := filepath.Join(dir, "osv")
	os.MkdirAll(osvDir, 0o755)
	os.WriteFile(filepath.Join(osvDir, "DSA-9000-1.json"), []byte(`{"id":"DSA-9000-1","modified":"2024-01-01T00:00:00Z","summary":"synthetic bundle","related":["CVE-2021-44228","CVE-2099-0002"],"affected":[{"package":{"ecosystem":"Alpine:v3.14","name":"busybox"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.33.1-r6"}]}]}]}`), 0o644)
	os.WriteFile(filepath.Join(osvDir, "ALPINE-CVE-2099-0002.json"), []byte(`{"id":"ALPINE-CVE-2099-0002","modified":"2024-01-01T00:00:00Z","upstream":["CVE-2099-0002"],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}],"affected":[{"package":{"ecosystem":"Alpine:v3.14","name":"busybox"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`), 0o644)
	kev := filepath.Join(testutil.RepoRoot(t), "vulndb", "sample", "data", "known_exploited_vulnerabilities.json")
	db = filepath.Join(dir, "vuln.db")
	if _, stderr, code := run(t, "db", "import", "--db", db, osvDir, kev); code != 0 {
		t.Fatalf("db import: %s", stderr)
	}
	return "dir:" + rootfs, db
}

func ignoreFile(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ignore.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Item 1: a rule naming one CVE of a bundle accepts that CVE only; the
// finding stays open and still trips --fail-on kev for the KEV-listed one.
func TestScanIgnoreAcceptsOnlyWhatItNames(t *testing.T) {
	ref, db := bundleFixture(t)
	for _, tt := range []struct {
		name, rules string
		code        int
		stderr      string
	}{
		{"no rule", "", 1, ""},
		{"the other CVE", "ignore: [{id: CVE-2099-0002, reason: local only}]", 1, ""},
		{"the bundle", "ignore: [{id: DSA-9000-1, reason: reviewed}]", 1, "does not accept CVE-2021-44228"},
		{"the KEV CVE by name", "ignore: [{id: CVE-2021-44228, reason: mitigated}]", 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"scan", "--db", db, ref, "--fail-on", "kev"}
			if tt.rules != "" {
				args = append(args, "--ignore", ignoreFile(t, tt.rules))
			}
			out, stderr, code := run(t, args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, want %d; stderr %q (want %q)\n%s", code, tt.code, stderr, tt.stderr, out)
			}
		})
	}
	// The table says what was accepted and what is open; JSON has it per CVE.
	ign := ignoreFile(t, "ignore: [{id: CVE-2099-0002, reason: local only}]")
	out, _, _ := run(t, "scan", "--db", db, ref, "--ignore", ign)
	if !strings.Contains(out, "accepted CVE-2099-0002 (local only); open: CVE-2021-44228") || strings.Contains(out, "suppressed: local only") {
		t.Errorf("table:\n%s", out)
	}
	out, _, _ = run(t, "scan", "--db", db, ref, "--ignore", ign, "-o", "json")
	var rep struct {
		Findings []struct {
			ID              string
			Suppressed      any
			Vulnerabilities []struct {
				ID         string
				Suppressed *struct{ Reason string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Findings) != 1 {
		t.Fatalf("%v\n%s", err, out)
	}
	f := rep.Findings[0]
	if f.Suppressed != nil || len(f.Vulnerabilities) != 2 || f.Vulnerabilities[0].Suppressed != nil || f.Vulnerabilities[1].Suppressed == nil {
		t.Errorf("JSON finding %+v", f)
	}
	// SARIF: the result stays active (no suppression) and lists the
	// accepted CVE; CycloneDX records it without an analysis.
	out, _, _ = run(t, "scan", "--db", db, ref, "--ignore", ign, "-o", "sarif")
	schematest.Validate(t, schematest.SARIF(t), []byte(out))
	if strings.Contains(out, `"suppressions"`) || !strings.Contains(out, `"acceptedVulnerabilities"`) {
		t.Errorf("SARIF:\n%s", out)
	}
	out, _, _ = run(t, "scan", "--db", db, ref, "--ignore", ign, "-o", "cyclonedx-json")
	schematest.Validate(t, schematest.CycloneDX(t), []byte(out))
	if strings.Contains(out, `"analysis"`) || !strings.Contains(out, `CVE-2099-0002 in pkg:apk/alpine/busybox`) {
		t.Errorf("CycloneDX:\n%s", out)
	}
}

// Item 3: a finding merged from a fixed bundle and a record with no fix
// yet for one of its CVEs is only partly fixed.
func TestScanFixStateOfMergedFinding(t *testing.T) {
	ref, db := bundleFixture(t)
	out, _, _ := run(t, "scan", "--db", db, ref, "-o", "json")
	var rep struct {
		Findings []struct {
			ID       string
			FixState string
			Fixed    []string `json:"fixedVersions"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Findings) != 1 {
		t.Fatalf("%v\n%s", err, out)
	}
	if f := rep.Findings[0]; f.FixState != "partly fixed" || len(f.Fixed) != 1 || f.Fixed[0] != "1.33.1-r6" {
		t.Errorf("finding %+v, want partly fixed with 1.33.1-r6", f)
	}
	out, _, _ = run(t, "scan", "--db", db, ref)
	if !strings.Contains(out, "1.33.1-r6 (partly: CVE-2099-0002 no fix yet)") {
		t.Errorf("table:\n%s", out)
	}
}

// Item 2: packages that could not be checked fail --fail-on unless
// --allow-unknown, and every output names them with the reason.
func TestScanUnknownIsNotClean(t *testing.T) {
	_, db := scanFixture(t) // Alpine:v3.14 advisories only
	mk := func(osRelease string) string {
		root := filepath.Join(t.TempDir(), "rootfs")
		os.MkdirAll(filepath.Join(root, "etc"), 0o755)
		os.MkdirAll(filepath.Join(root, "var", "lib", "dpkg"), 0o755)
		if osRelease != "" {
			os.WriteFile(filepath.Join(root, "etc", "os-release"), []byte(osRelease), 0o644)
		}
		os.WriteFile(filepath.Join(root, "var", "lib", "dpkg", "status"), []byte("Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nSource: zlib\nArchitecture: amd64\n\n"), 0o644)
		os.WriteFile(filepath.Join(root, "requirements.txt"), []byte("requests==2.25.0\n"), 0o644)
		return "dir:" + root
	}
	for _, tt := range []struct {
		name, osRelease, reason string
	}{
		{"a release the database has no records for", "ID=debian\nVERSION_ID=\"13\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n", "no-records"},
		{"a distribution OSV has no advisories for", "ID=\"ol\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"Oracle Linux Server 9.3\"\n", "no-osv-ecosystem"},
		{"no os-release", "", "unrecognised-os"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ref := mk(tt.osRelease)
			_, stderr, code := run(t, "scan", "--db", db, ref, "--fail-on", "critical")
			if code != 1 || !strings.Contains(stderr, "not checked") {
				t.Errorf("--fail-on critical: exit %d, want 1: %s", code, stderr)
			}
			if _, stderr, code := run(t, "scan", "--db", db, ref, "--fail-on", "critical", "--allow-unknown"); code != 0 {
				t.Errorf("--allow-unknown: exit %d, want 0: %s", code, stderr)
			}
			if _, _, code := run(t, "scan", "--db", db, ref); code != 0 {
				t.Errorf("no gate: exit %d, want 0", code)
			}
			out, _, _ := run(t, "scan", "--db", db, ref)
			if !strings.Contains(out, "Not checked (unknown, not clean):") || !strings.Contains(out, tt.reason+": 1 package:") || !strings.Contains(out, "zlib1g 1:1.2.13.dfsg-1") {
				t.Errorf("table:\n%s", out)
			}
			out, _, _ = run(t, "scan", "--db", db, ref, "-o", "json")
			var rep struct {
				Coverage struct {
					Complete bool
					Gaps     []struct {
						Reason, Ecosystem, Detail string
						Packages                  []struct{ Name string }
					}
				}
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, g := range rep.Coverage.Gaps {
				for _, p := range g.Packages {
					got[p.Name] = g.Reason + " " + g.Ecosystem
				}
			}
			// requests: the test database holds no PyPI advisories either.
			want := map[string]string{"zlib1g": tt.reason + " ", "requests": "no-records PyPI"}
			if tt.reason == "no-records" {
				want["zlib1g"] = "no-records Debian:13"
			}
			if rep.Coverage.Complete || len(got) != 2 || got["zlib1g"] != want["zlib1g"] || got["requests"] != want["requests"] {
				t.Errorf("JSON coverage %+v, want %v", rep.Coverage, want)
			}
			out, _, _ = run(t, "scan", "--db", db, ref, "-o", "sarif")
			schematest.Validate(t, schematest.SARIF(t), []byte(out))
			if !strings.Contains(out, `"kind": "open"`) || !strings.Contains(out, "credence/not-checked/"+tt.reason) || !strings.Contains(out, "zlib1g 1:1.2.13.dfsg-1 could not be checked") {
				t.Errorf("SARIF:\n%s", out)
			}
			out, _, _ = run(t, "scan", "--db", db, ref, "-o", "cyclonedx-json")
			schematest.Validate(t, schematest.CycloneDX(t), []byte(out))
			if !strings.Contains(out, `"credence:notChecked"`) || !strings.Contains(out, "incomplete: 2 packages not checked") {
				t.Errorf("CycloneDX:\n%s", out)
			}
		})
	}
}
