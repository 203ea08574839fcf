package testutil_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
)

// childEnv marks the test binary run as a child by TestMissingComponentFailsUnderCI.
const childEnv = "TESTUTIL_CHILD"

// TestChildNeedsShared is run only as a child process: it needs the shared
// data at a path where there is none.
func TestChildNeedsShared(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("only run as a child process of TestMissingComponentFailsUnderCI")
	}
	testutil.Shared(t)
}

// TestChildNeedsPart is run only as a child process: part of it needs a
// component that is missing.
func TestChildNeedsPart(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("only run as a child process of TestMissingComponentFailsUnderCI")
	}
	testutil.MissingPart(t, "frobnicator", "apt-get install frobnicator")
	t.Log("the rest of the test ran")
}

// A test whose real component is missing fails under CI=true and skips
// loudly otherwise, saying what is missing and how to get it.
func TestMissingComponentFailsUnderCI(t *testing.T) {
	for _, tc := range []struct {
		test, ci string
		wantFail bool
		want     string
	}{
		{"TestChildNeedsShared", "true", true, "MISSING COMPONENT shared data and fixtures"},
		{"TestChildNeedsShared", "", false, "--- SKIP: TestChildNeedsShared"},
		{"TestChildNeedsShared", "false", false, "SKIPPED LOUDLY: MISSING COMPONENT shared data and fixtures"},
		{"TestChildNeedsPart", "1", true, "MISSING COMPONENT frobnicator: apt-get install frobnicator"},
		{"TestChildNeedsPart", "", false, "the rest of the test ran"},
	} {
		t.Run(tc.test+" CI="+tc.ci, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^"+tc.test+"$", "-test.v")
			cmd.Env = append(os.Environ(), childEnv+"=1", "CI="+tc.ci,
				"CREDENCE_SHARED="+filepath.Join(t.TempDir(), "no-shared"))
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.wantFail {
				t.Errorf("failed=%v, want %v:\n%s", failed, tc.wantFail, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("no %q in:\n%s", tc.want, out)
			}
		})
	}
}
