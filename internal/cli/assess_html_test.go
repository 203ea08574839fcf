//go:build !node && !scan

package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
)

// -o html writes the report page for the sample cluster; the database the
// assessment used is named in its header. (report's tests load the page in
// a real browser.)
func TestAssessHTML(t *testing.T) {
	root := testutil.RepoRoot(t)
	out, errOut, code := run(t, "assess", "--manifests", filepath.Join(root, "testdata", "cluster", "manifests"),
		"--images", filepath.Join(root, "testdata", "cluster", "images"), "--db", "sample", "--offline", "--no-cache", "-o", "html")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, "<!DOCTYPE html>") || !strings.HasSuffix(strings.TrimSpace(out), "</html>") {
		t.Fatalf("not an HTML page: %.200q", out)
	}
	for _, want := range []string{"<dt>Database</dt><dd>sample (", `href="#w1">shop/web</a>`, "payments/ledger", `id="credence-pictures"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if !strings.Contains(errOut, "embedded sample database") {
		t.Errorf("stderr %q: the sample database warning belongs on stderr, not in the page", errOut)
	}
}
