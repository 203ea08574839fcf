// Package depcheck keeps heavy dependencies out of the scan path: reading an
// image, extracting its packages and matching advisories must not link
// Kubernetes, TPM, container runtime or database packages (the binary may).
package depcheck

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// scanPath are the package patterns of the scan path.
var scanPath = []string{"./image/...", "./inventory/...", "./match/...", "./versions/..."}

// forbidden are import path prefixes the scan path must not link.
var forbidden = []string{
	"k8s.io/",
	"sigs.k8s.io/",
	"github.com/google/go-tpm",
	"github.com/containerd/nri",
	"github.com/containerd/ttrpc",
	"github.com/tetratelabs/wazero",
	"github.com/opencontainers/runtime-spec",
	"github.com/jackc/pgx",
	"modernc.org/sqlite",
	"database/sql",
	"github.com/spf13/cobra",
	"github.com/chromedp/", // the HTML report's browser tests only
	"github.com/credence-dev/credence/attest",
	"github.com/credence-dev/credence/agent",
	"github.com/credence-dev/credence/cluster",
	"github.com/credence-dev/credence/graph",
}

// exceptions name packages allowed to bring in a forbidden prefix, with the
// reason. The prefix is allowed only as a dependency of that package.
var exceptions = map[string][]string{
	// rpm's SQLite database format (Fedora 33+, RHEL 9, CBL-Mariner) can only
	// be read with SQLite; go-rpmdb uses the pure-Go modernc driver.
	"github.com/credence-dev/credence/inventory/rpm": {"modernc.org/sqlite", "database/sql"},
}

func TestScanPathDependencies(t *testing.T) {
	args := append([]string{"list", "-e", "-f", `{{.ImportPath}} {{join .Deps " "}}`}, scanPath...)
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		deps[fields[0]] = fields[1:]
	}
	if len(deps) < 10 {
		t.Fatalf("go list found only %d packages in %v", len(deps), scanPath)
	}
	for pkg, ds := range deps {
		for _, d := range ds {
			for _, f := range forbidden {
				if strings.HasPrefix(d, f) && !allowed(deps, pkg, d, f) {
					t.Errorf("%s links %s (forbidden prefix %s)", pkg, d, f)
				}
			}
		}
	}
}

// allowed reports whether dep, forbidden by prefix, comes to pkg through an
// excepted package that may bring it in.
func allowed(deps map[string][]string, pkg, dep, prefix string) bool {
	for exc, prefixes := range exceptions {
		if !slices.Contains(prefixes, prefix) {
			continue
		}
		if exc == pkg || (slices.Contains(deps[pkg], exc) && slices.Contains(deps[exc], dep)) {
			return true
		}
	}
	return false
}

// nodeForbidden are what the node build (go build -tags node ./cmd/credence,
// the agent alone) must not link: each costs initialisation at every
// container start the OCI hook measures.
var nodeForbidden = []string{
	"k8s.io/client-go/kubernetes", "k8s.io/client-go/tools/clientcmd", "k8s.io/pod-security-admission",
	"github.com/sigstore/", "cel.dev/", "github.com/google/cel-go", "modernc.org/sqlite", "github.com/jackc/pgx",
	"github.com/prometheus/", "github.com/google/go-containerregistry",
	"github.com/credence-dev/credence/assess", "github.com/credence-dev/credence/graph",
	"github.com/credence-dev/credence/provenance", "github.com/credence-dev/credence/policy",
	"github.com/credence-dev/credence/store", "github.com/credence-dev/credence/vulndb",
}

func TestNodeBuildDependencies(t *testing.T) {
	checkBuild(t, "node", []string{"github.com/credence-dev/credence/agent/ocihook"}, nodeForbidden)
}

// scanForbidden are what the scan build (go build -tags scan ./cmd/credence,
// the image commands alone) must not link.
var scanForbidden = []string{
	"k8s.io/", "sigs.k8s.io/", "github.com/sigstore/", "cel.dev/", "github.com/google/cel-go", "github.com/jackc/pgx",
	"github.com/prometheus/", "github.com/google/go-tpm", "github.com/containerd/", "github.com/opencontainers/runtime-spec",
	"github.com/credence-dev/credence/agent", "github.com/credence-dev/credence/attest",
	"github.com/credence-dev/credence/assess", "github.com/credence-dev/credence/cluster", "github.com/credence-dev/credence/graph",
	"github.com/credence-dev/credence/posture", "github.com/credence-dev/credence/provenance", "github.com/credence-dev/credence/policy",
	"github.com/credence-dev/credence/store", "github.com/credence-dev/credence/server", "github.com/credence-dev/credence/admission",
	"github.com/credence-dev/credence/report/htmlkit", "github.com/credence-dev/credence/dashboard",
}

func TestScanBuildDependencies(t *testing.T) {
	checkBuild(t, "scan", []string{"github.com/credence-dev/credence/inventory/all", "github.com/credence-dev/credence/match",
		"github.com/credence-dev/credence/sbom", "github.com/credence-dev/credence/vulndb"}, scanForbidden)
}

// checkBuild lists what go build -tags tag ./cmd/credence links, and fails
// unless it has every package in want and nothing under a forbidden prefix.
func checkBuild(t *testing.T, tag string, want, forbidden []string) {
	t.Helper()
	cmd := exec.Command("go", "list", "-tags", tag, "-deps", "./cmd/credence")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -tags %s: %v\n%s", tag, err, out)
	}
	deps := strings.Fields(string(out))
	for _, w := range want {
		if !slices.Contains(deps, w) {
			t.Fatalf("the %s build does not link %s: %d packages", tag, w, len(deps))
		}
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) {
				t.Errorf("the %s build links %s (forbidden prefix %s)", tag, d, f)
			}
		}
	}
}
