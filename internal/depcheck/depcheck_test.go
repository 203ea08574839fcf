// Package depcheck keeps heavy dependencies out of the scan path: reading an
// image, extracting its packages and matching advisories must not link
// Kubernetes, TPM or database packages (the credence binary may).
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are import path prefixes the scan path must not link.
var forbidden = []string{
	"k8s.io/",
	"sigs.k8s.io/",
	"github.com/google/go-tpm",
	"github.com/containerd/nri",
	"github.com/jackc/pgx",
	"modernc.org/sqlite",
	"database/sql",
	"github.com/spf13/cobra",
}

// exceptions name packages allowed one forbidden prefix, with the reason.
var exceptions = map[string][]string{
	// rpm's SQLite database format (Fedora 33+, RHEL 9, CBL-Mariner) can only
	// be read with SQLite; go-rpmdb uses the pure-Go modernc driver.
	"github.com/credence-dev/credence/inventory/rpm": {"modernc.org/sqlite", "database/sql"},
}

func TestScanPathDependencies(t *testing.T) {
	roots := []string{
		"github.com/credence-dev/credence/image",
		"github.com/credence-dev/credence/inventory",
		"github.com/credence-dev/credence/inventory/all",
		"github.com/credence-dev/credence/match",
	}
	for _, root := range roots {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", root).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "is not in std") || strings.Contains(string(out), "cannot find package") || strings.Contains(string(out), "no required module provides") {
				t.Logf("%s does not exist yet", root)
				continue
			}
			t.Fatalf("go list %s: %v\n%s", root, err, out)
		}
		deps := strings.Fields(string(out))
		allowed := map[string]bool{}
		for _, d := range deps {
			for _, prefix := range exceptions[d] {
				allowed[prefix] = true
			}
		}
		for _, d := range deps {
			for _, f := range forbidden {
				if strings.HasPrefix(d, f) && !allowed[f] {
					t.Errorf("%s links %s (forbidden prefix %s)", root, d, f)
				}
			}
		}
	}
}
