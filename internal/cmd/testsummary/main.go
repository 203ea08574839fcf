// Command testsummary reads `go test -json` on stdin and prints what a plain
// `go test` prints (package results, the output of failed tests), then every
// skipped test with its reason, a closing count line, and exits 1 when
// anything failed. scripts/test pipes go test through it:
//
//	go test -json ./... | go run ./internal/cmd/testsummary
//
// Skips are grouped: tests that lack a real component (the
// testutil.MissingMarker message, which fails them under CI=true), tests
// that ran without a missing part, and skips by design (short mode, a
// child-process helper, a generator).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// missingMarker is testutil.MissingMarker (not imported: this command does
// not link the test helpers).
const missingMarker = "MISSING COMPONENT"

// partlyMarker starts the message of testutil.MissingPart.
const partlyMarker = "PARTLY SKIPPED:"

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type testKey struct{ pkg, test string }

type skip struct {
	pkg, test, reason string
}

type summary struct {
	out     io.Writer
	prefix  string               // module path prefix trimmed from package names
	buf     map[testKey][]string // each test's own output
	top     map[testKey][]string // a top-level test's output with its subtests', in order
	passed  int
	failed  int
	skipped []skip
	partly  []skip
	broken  bool // a package or build failed
}

func main() {
	s := newSummary(os.Stdout, modulePrefix("go.mod"))
	if err := s.read(os.Stdin); err != nil {
		fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
		os.Exit(2)
	}
	s.report()
	if s.failedAny() {
		os.Exit(1)
	}
}

func newSummary(out io.Writer, prefix string) *summary {
	return &summary{out: out, prefix: prefix, buf: map[testKey][]string{}, top: map[testKey][]string{}}
}

// modulePrefix returns "module/path/" from a go.mod, or "".
func modulePrefix(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`) + "/"
		}
	}
	return ""
}

func (s *summary) failedAny() bool { return s.failed > 0 || s.broken }

// read consumes the stream; lines that are not JSON events (a build error
// printed by go itself) are passed through.
func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			fmt.Fprintf(s.out, "%s\n", line)
			continue
		}
		s.event(ev)
	}
	return sc.Err()
}

func (s *summary) event(ev event) {
	k := testKey{ev.Package, ev.Test}
	switch ev.Action {
	case "build-output":
		io.WriteString(s.out, ev.Output)
	case "build-fail":
		s.broken = true
	case "output":
		if ev.Test == "" {
			// Package lines: "ok  pkg 1.2s", "FAIL pkg", a panic. A bare
			// PASS is what -v adds before "ok".
			if ev.Output != "PASS\n" {
				io.WriteString(s.out, ev.Output)
			}
			return
		}
		s.buf[k] = append(s.buf[k], ev.Output)
		tk := topKey(k)
		s.top[tk] = append(s.top[tk], ev.Output)
	case "pass":
		if ev.Test == "" {
			s.flushPackage(ev.Package, false)
			return
		}
		s.passed++
		for _, l := range s.buf[k] {
			if i := strings.Index(l, partlyMarker); i >= 0 {
				s.partly = append(s.partly, skip{s.short(ev.Package), ev.Test, strings.TrimSpace(l[i+len(partlyMarker):])})
			}
		}
		s.done(k)
	case "skip":
		if ev.Test == "" {
			s.flushPackage(ev.Package, false)
			return
		}
		s.skipped = append(s.skipped, skip{s.short(ev.Package), ev.Test, skipReason(s.buf[k])})
		s.done(k)
	case "fail":
		if ev.Test == "" {
			s.broken = true
			s.flushPackage(ev.Package, true)
			return
		}
		s.failed++
		if k == topKey(k) {
			s.print(s.top[k]) // with its subtests' output
		}
		s.done(k)
	}
}

// topKey is the key of the top-level test of k (TestX of TestX/sub).
func topKey(k testKey) testKey {
	if i := strings.IndexByte(k.test, '/'); i >= 0 {
		k.test = k.test[:i]
	}
	return k
}

// done forgets a finished test's output; a top-level test's with it.
func (s *summary) done(k testKey) {
	delete(s.buf, k)
	if k == topKey(k) {
		delete(s.top, k)
	}
}

// flushPackage drops the buffers of a finished package's tests, printing
// them when it failed: a test still running when the binary died (panic,
// timeout) has no event of its own.
func (s *summary) flushPackage(pkg string, failed bool) {
	var keys []testKey
	for k := range s.top {
		if k.pkg == pkg {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].test < keys[j].test })
	for _, k := range keys {
		if failed {
			s.print(s.top[k])
		}
		delete(s.top, k)
	}
	for k := range s.buf {
		if k.pkg == pkg {
			delete(s.buf, k)
		}
	}
}

// print writes a test's output as plain go test does: without -v's
// "=== RUN" progress lines.
func (s *summary) print(lines []string) {
	for _, l := range lines {
		if isProgress(l) {
			continue
		}
		io.WriteString(s.out, l)
	}
}

func isProgress(l string) bool {
	t := strings.TrimSpace(l)
	return strings.HasPrefix(t, "=== RUN") || strings.HasPrefix(t, "=== PAUSE") ||
		strings.HasPrefix(t, "=== CONT") || strings.HasPrefix(t, "=== NAME")
}

// skipReason is the last line a skipped test printed before "--- SKIP":
// the message of its t.Skip.
func skipReason(lines []string) string {
	var reason string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || isProgress(l) || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		reason = t
	}
	if reason == "" {
		return "(no reason given)"
	}
	return reason
}

func (s *summary) short(pkg string) string {
	if s.prefix != "" {
		if p, ok := strings.CutPrefix(pkg, s.prefix); ok {
			return p
		}
	}
	return pkg
}

func (s *summary) report() {
	var missing, design []skip
	for _, sk := range s.skipped {
		if strings.Contains(sk.reason, missingMarker) {
			missing = append(missing, sk)
		} else {
			design = append(design, sk)
		}
	}
	if len(s.skipped)+len(s.partly) > 0 {
		fmt.Fprintf(s.out, "\n== skipped: %s\n", count(len(s.skipped)+len(s.partly), "test", "tests"))
		section := func(title string, list []skip) {
			if len(list) == 0 {
				return
			}
			fmt.Fprintf(s.out, "%s:\n", title)
			sort.Slice(list, func(i, j int) bool {
				if list[i].pkg != list[j].pkg {
					return list[i].pkg < list[j].pkg
				}
				return list[i].test < list[j].test
			})
			var b bytes.Buffer
			for _, sk := range list {
				fmt.Fprintf(&b, "  %s %s\n      %s\n", sk.pkg, sk.test, sk.reason)
			}
			s.out.Write(b.Bytes())
		}
		section("a real component is missing (these fail under CI=true)", missing)
		section("ran without a missing part (fails under CI=true)", s.partly)
		section("skipped by design", design)
	}
	fmt.Fprintf(s.out, "\ntests: %d passed, %d failed, %d skipped\n", s.passed, s.failed, len(s.skipped))
	if s.broken && s.failed == 0 {
		fmt.Fprintln(s.out, "a package failed to build or its test binary failed outside a test: see above")
	}
}

func count(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
