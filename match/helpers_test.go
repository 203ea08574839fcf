package match_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/credence-dev/credence/match"
)

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func FuzzParseIgnores(f *testing.F) {
	f.Add("ignore:\n  - id: CVE-1\n    reason: r\n    expires: 2030-01-01\n")
	f.Add(`[{"id":"x","reason":"y","package":"p"}]`)
	f.Fuzz(func(t *testing.T, s string) {
		rules, err := match.ParseIgnores(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, r := range rules {
			if strings.TrimSpace(r.ID) == "" || strings.TrimSpace(r.Reason) == "" {
				t.Fatalf("accepted a rule without id or reason: %+v", r)
			}
		}
		match.ApplyIgnores(nil, rules, time.Now())
	})
}
