//go:build !node && !scan

package cli

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
)

// run executes the command line and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Execute(args, &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

func sample(t *testing.T) string {
	return filepath.Join(testutil.RepoRoot(t), "testdata", "images", "sample")
}

// The README's first command: the sample image's inventory as a table.
func TestInventoryTable(t *testing.T) {
	out, errOut, code := run(t, "inventory", sample(t))
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	out = strings.Replace(out, sample(t), "testdata/images/sample", 1)
	testutil.Golden(t, "testdata/inventory-sample.txt", []byte(out))
}

func TestInventoryJSON(t *testing.T) {
	out, _, code := run(t, "inventory", "oci:"+sample(t)+":latest", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	var report struct {
		Image struct {
			ManifestDigest string `json:"manifestDigest"`
			ConfigDigest   string `json:"configDigest"`
		} `json:"image"`
		Packages []struct {
			Name  string `json:"name"`
			Layer struct {
				Index     int    `json:"index"`
				CreatedBy string `json:"createdBy"`
			} `json:"layer"`
		} `json:"packages"`
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	if report.Image.ManifestDigest == "" || report.Image.ConfigDigest == "" || len(report.Packages) == 0 || report.Status.State != "succeeded" {
		t.Errorf("report = %+v", report)
	}
}

// Bad input and usage exit 2 with one line that says what to do.
func TestErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"inventory"}, "credence inventory takes exactly one IMAGE argument, got 0"},
		{[]string{"inventory", "./no/such/dir"}, "no such file or directory"},
		{[]string{"inventory", "oci:" + sample(t) + ":v9"}, `no image tagged "v9"; tags: latest`},
		{[]string{"inventory", sample(t), "--platform", "linux"}, "invalid platform"},
		{[]string{"sbom", sample(t), "-o", "xml"}, `unknown output format "xml": use one of table, json, cyclonedx-json, spdx-json`},
		{[]string{"version", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"bogus"}, `unknown command "bogus"`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := run(t, tc.args...)
			if code != ExitError {
				t.Errorf("exit %d, want %d", code, ExitError)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
			first := strings.SplitN(errOut, "\n", 2)[0]
			if !strings.HasPrefix(first, "credence: ") || !strings.Contains(first, tc.want) {
				t.Errorf("stderr first line = %q, want credence: ...%s...", first, tc.want)
			}
		})
	}
}

func TestSBOMFormats(t *testing.T) {
	for format, want := range map[string]string{"cyclonedx-json": `"specVersion": "1.6"`, "spdx-json": `"spdxVersion": "SPDX-2.3"`} {
		out, _, code := run(t, "sbom", sample(t), "-o", format)
		if code != ExitOK || !strings.Contains(out, want) {
			t.Errorf("sbom -o %s: exit %d, output lacks %s", format, code, want)
		}
	}
}
