package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A module whose tests pass, fail, skip for a missing component, skip by
// design, run without a missing part, and have subtests.
var fixture = map[string]string{
	"go.mod": "module example.com/m\n\ngo 1.22\n",
	"a/a_test.go": `package a

import "testing"

func TestPass(t *testing.T) { t.Log("quiet when passing") }

func TestFail(t *testing.T) {
	t.Error("boom: the wanted value")
	t.Run("sub", func(t *testing.T) { t.Error("sub boom") })
}

func TestMissing(t *testing.T) {
	t.Log("looking for swtpm")
	t.Skip("SKIPPED LOUDLY: MISSING COMPONENT swtpm: apt-get install swtpm")
}

func TestShort(t *testing.T) { t.Skip("short mode: the bomb expands 600 MiB") }

func TestPartly(t *testing.T) {
	t.Log("PARTLY SKIPPED: MISSING COMPONENT objcopy: apt-get install binutils (that part of the test is not run)")
}

func TestSub(t *testing.T) {
	t.Run("ok", func(t *testing.T) {})
	t.Run("skipped", func(t *testing.T) { t.Skip("not on this platform") })
}
`,
	"b/b_test.go": `package b

import "testing"

func TestB(t *testing.T) {}
`,
	"c/c.go": "package c\n",
}

func goTool(t *testing.T) string {
	t.Helper()
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		if p, err = exec.LookPath("go"); err != nil {
			t.Fatal("no go toolchain: this test runs the real go test -json")
		}
	}
	return p
}

func TestSummaryOfRealGoTest(t *testing.T) {
	dir := t.TempDir()
	for name, body := range fixture {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(goTool(t), "test", "-json", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=", "GOWORK=off")
	stream, err := cmd.Output()
	if err == nil {
		t.Fatal("go test passed a module with a failing test")
	}
	var out bytes.Buffer
	s := newSummary(&out, "example.com/m/")
	if err := s.read(bytes.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	s.report()
	got := out.String()
	if !s.failedAny() {
		t.Error("the summary did not see the failure")
	}
	for _, want := range []string{
		"--- FAIL: TestFail", "boom: the wanted value", // a failed test's output, as plain go test prints it
		"--- FAIL: TestFail/sub", "sub boom",
		"FAIL\texample.com/m/a", "ok  \texample.com/m/b", // package lines
		"== skipped: 4 tests",
		"a real component is missing (these fail under CI=true):\n  a TestMissing\n      a_test.go:",
		"SKIPPED LOUDLY: MISSING COMPONENT swtpm: apt-get install swtpm",
		"ran without a missing part (fails under CI=true):\n  a TestPartly\n      MISSING COMPONENT objcopy",
		"skipped by design:\n  a TestShort\n", "short mode: the bomb expands 600 MiB",
		"  a TestSub/skipped\n", "not on this platform",
		"\ntests: 5 passed, 2 failed, 3 skipped\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
	for _, not := range []string{"quiet when passing", "=== RUN", "looking for swtpm\n"} {
		if strings.Contains(got, not) {
			t.Errorf("%q printed:\n%s", not, got)
		}
	}
	if !strings.HasSuffix(got, "tests: 5 passed, 2 failed, 3 skipped\n") {
		t.Errorf("the count is not the closing line:\n%s", got)
	}
}

func TestSummaryPassesThroughNonJSON(t *testing.T) {
	var out bytes.Buffer
	s := newSummary(&out, "")
	in := "# example.com/m/a\na/a.go:3:1: syntax error\n" +
		`{"Action":"build-fail","Package":"example.com/m/a"}` + "\n"
	if err := s.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	s.report()
	if !strings.Contains(out.String(), "a/a.go:3:1: syntax error") || !s.failedAny() {
		t.Errorf("failed=%v:\n%s", s.failedAny(), out.String())
	}
}
