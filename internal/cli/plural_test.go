//go:build !node && !scan

package cli

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 findings"}, {1, "1 finding"}, {2, "2 findings"}, {-1, "-1 findings"}} {
		if got := count(tc.n, "finding", "findings"); got != tc.want {
			t.Errorf("count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// wordsAfterCount are the words a "%d" may precede in a format string: none
// of them changes with the number. A noun after "%d" goes through count.
var wordsAfterCount = map[string]bool{
	"covered": true, "in": true, "on": true, "with": true, "suppressed": true, "undecided": true, "more": true,
	"distinct": true, "read": true, "from": true, "unknown": true, "passed": true, "warned": true, "failed": true,
	"reached": true, "partly": true, "denied": true, "allowed": true, "of": true, "bytes": true,
}

// TestCountsInProse keeps "%d findings" (which prints "1 findings") out of
// the command line's format strings.
func TestCountsInProse(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	countWord := regexp.MustCompile(`%d ([A-Za-z][A-Za-z/-]*(\(s\))?)`)
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, m := range countWord.FindAllStringSubmatch(s, -1) {
				if !wordsAfterCount[m[1]] {
					t.Errorf("%s: %q counts %q with %%d: use count(n, one, many)", fset.Position(lit.Pos()), s, m[1])
				}
			}
			return true
		})
	}
}

// Counts of one read as English in the outputs a new user sees first.
func TestCountsOfOne(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: nginx}]
`), 0o644)
	out, errOut, code := run(t, "posture", "--manifests", dir)
	if code != ExitOK || !strings.Contains(out, "\n1 container shares the node's kernel") {
		t.Errorf("posture: exit %d %s\n%s", code, errOut, out)
	}
	out, _, _ = run(t, "blast-radius", "--manifests", dir, "--from", "shop/web")
	if !strings.Contains(out, "Reaches 0 containers, 2 identities, 0 secrets, 1 node;") {
		t.Errorf("blast-radius:\n%s", out)
	}
	ev, ak, _ := recordedEvidence(t)
	_, errOut, code = run(t, "attest", "verify", "--evidence", ev, "--nonce", strings.Repeat("00", 32), "--ak", ak,
		"--pcr", "23", "--allow-resettable-pcr", "--state-dir", t.TempDir())
	if code != ExitPolicy || !strings.Contains(errOut, "evidence failed verification (1 reason)") {
		t.Errorf("attest verify: exit %d %q", code, errOut)
	}
}
