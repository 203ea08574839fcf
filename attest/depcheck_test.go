package attest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
)

// TestScanPathDoesNotLinkTPMOrNRI keeps the TPM, NRI and OCI runtime
// dependencies of attest and agent out of the image scan path: only attest,
// agent and the CLI import them.
func TestScanPathDoesNotLinkTPMOrNRI(t *testing.T) {
	root := testutil.RepoRoot(t)
	var pkgs []string
	for _, p := range []string{"image", "inventory", "match"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			pkgs = append(pkgs, "./"+p+"/...")
		}
	}
	cmd := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/google/go-tpm", "github.com/containerd/nri", "github.com/containerd/ttrpc",
			"github.com/tetratelabs/wazero", "github.com/opencontainers/runtime-spec",
			"github.com/credence-dev/credence/attest", "github.com/credence-dev/credence/agent"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("%v links %s", pkgs, dep)
			}
		}
	}
}
