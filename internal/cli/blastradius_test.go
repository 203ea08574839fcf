//go:build !node && !scan

package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
)

const edgesFixture = "../../graph/testdata/edges/cluster.yaml"

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Execute(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBlastRadiusGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"from-web.txt", []string{"blast-radius", "--manifests", edgesFixture, "--from", "app/web"}},
		{"from-web.dot", []string{"blast-radius", "--manifests", edgesFixture, "--from", "app/web/web", "-o", "dot", "--paths", "3"}},
		{"all.txt", []string{"blast-radius", "--manifests", edgesFixture, "--all"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			testutil.Golden(t, "testdata/blast-radius-"+tc.name, []byte(out))
		})
	}
}

func TestBlastRadiusErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing container lists near matches", []string{"blast-radius", "--manifests", edgesFixture, "--from", "app/wbe"}, "nearest: app/web/web"},
		{"bad --from", []string{"blast-radius", "--manifests", edgesFixture, "--from", "web"}, "want NS/POD"},
		{"neither --from nor --all", []string{"blast-radius", "--manifests", edgesFixture}, "exactly one of --from"},
		{"dot with --all", []string{"blast-radius", "--manifests", edgesFixture, "--all", "-o", "dot"}, "use it with --from"},
		{"manifests and context", []string{"blast-radius", "--manifests", edgesFixture, "--context", "x", "--all"}, "cannot be combined"},
		{"missing manifests", []string{"blast-radius", "--manifests", "/nonexistent", "--all"}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(tc.args...)
			if code != ExitError || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, errs, tc.want)
			}
		})
	}
}
