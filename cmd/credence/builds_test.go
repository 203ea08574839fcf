package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
)

// TestScanBuild: the scan build (go build -tags scan, the image commands
// alone, for CI pipelines) writes what the full build writes, byte for byte
// but for timings, for the sample image's inventory, SBOMs and findings;
// and it has no command beyond the image commands.
func TestScanBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary twice")
	}
	root := testutil.RepoRoot(t)
	dir := t.TempDir()
	build := func(name, tags string) string {
		out := filepath.Join(dir, name)
		if err := testutil.BuildCredence(root, out, tags); err != nil {
			t.Fatal(err)
		}
		return out
	}
	full, scan := build("credence", ""), build("credence-scan", "scan")
	run := func(bin string, args ...string) []byte {
		cmd := exec.Command(bin, args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
		}
		return stdout.Bytes()
	}
	image := filepath.Join("testdata", "images", "sample")
	for _, args := range [][]string{
		{"inventory", "-o", "json", image},
		{"sbom", "-o", "cyclonedx-json", image},
		{"sbom", "-o", "spdx-json", image},
		{"scan", "--db", "sample", "-o", "json", image},
		{"scan", "--db", "sample", "-o", "sarif", image},
	} {
		a, b := withoutTimings(t, run(full, args...)), withoutTimings(t, run(scan, args...))
		if len(a) < 100 {
			t.Fatalf("credence %s wrote %d bytes", strings.Join(args, " "), len(a))
		}
		if !bytes.Equal(a, b) {
			t.Errorf("credence %s: the scan build writes something else than the full build", strings.Join(args, " "))
		}
	}
	help := string(run(scan, "--help"))
	for _, cmd := range []string{"inventory", "sbom", "scan", "db", "version"} {
		if !strings.Contains(help, "\n  "+cmd+" ") {
			t.Errorf("the scan build lacks %q:\n%s", cmd, help)
		}
	}
	for _, cmd := range []string{"assess", "serve", "admission", "agent", "verify", "check", "blast-radius", "posture"} {
		if strings.Contains(help, "\n  "+cmd+" ") {
			t.Errorf("the scan build has %q:\n%s", cmd, help)
		}
	}
}

// withoutTimings drops the members no two runs share from a JSON document:
// how long a stage took ("timing", "durationNs") and when and as which
// document an SBOM was made (SPDX "created" and "documentNamespace",
// CycloneDX "timestamp" and "serialNumber", which follow the time: two
// runs a second apart differ there); other documents are as they are.
func withoutTimings(t *testing.T, b []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return b
	}
	var strip func(v any)
	strip = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range []string{"timing", "durationNs", "created", "documentNamespace", "timestamp", "serialNumber"} {
				delete(v, k)
			}
			for _, x := range v {
				strip(x)
			}
		case []any:
			for _, x := range v {
				strip(x)
			}
		}
	}
	strip(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
