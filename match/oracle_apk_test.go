package match_test

import (
	"strconv"
	"strings"
	"testing"
)

// apkLess orders Alpine versions for the accuracy oracle without the
// version library under test. It is written here from apk-tools' documented
// version format (numbers separated by dots, an optional letter, suffixes
// _alpha _beta _pre _rc before the release and _cvs _svn _git _hg _p after
// it, each with an optional number, an optional ~hash, then -rN):
//
//   - numbers compare numerically, except that a later number with a
//     leading zero compares as a decimal fraction ("1.01" < "1.1");
//   - where one version goes on and the other does not, what comes next
//     decides: a pre-release suffix sorts before the end, the end before a
//     post-release suffix, that before a letter, that before a further
//     number ("1.2_rc1" < "1.2" < "1.2_p1" < "1.2a" < "1.2.1");
//   - suffixes of the same place compare by kind, then number; -rN last.
func apkLess(t *testing.T, pairs [][2]string) map[[2]string]bool {
	t.Helper()
	m := map[[2]string]bool{}
	for _, pr := range pairs {
		a, err := parseAPK(pr[0])
		if err != nil {
			t.Fatalf("apk oracle: %v", err)
		}
		b, err := parseAPK(pr[1])
		if err != nil {
			t.Fatalf("apk oracle: %v", err)
		}
		m[pr] = compareAPK(a, b) < 0
	}
	return m
}

type apkToken struct {
	rank int // see apkRank*
	text string
	num  int
}

// Token ranks where two versions differ in shape.
const (
	apkRankPre    = iota // _alpha _beta _pre _rc
	apkRankEnd           // end of the version (before -rN)
	apkRankPost          // _cvs _svn _git _hg _p
	apkRankLetter        // a letter after the numbers
	apkRankNumber        // a further dotted number
)

var apkSuffixes = []string{"alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"}

type apkVersion struct {
	tokens []apkToken
	rel    int
}

func parseAPK(s string) (apkVersion, error) {
	var v apkVersion
	rest := s
	if i := strings.LastIndex(rest, "-r"); i >= 0 {
		n, err := strconv.Atoi(rest[i+2:])
		if err != nil {
			return v, &apkError{s}
		}
		v.rel, rest = n, rest[:i]
	}
	if i := strings.IndexByte(rest, '~'); i >= 0 {
		rest = rest[:i] // the commit hash does not order versions
	}
	main, suffixes, _ := strings.Cut(rest, "_")
	// numbers, then an optional letter, which may carry digits of its own
	// (libretls 3.3.3p1)
	letter, letterNum := "", ""
	if i := strings.IndexFunc(main, func(r rune) bool { return r >= 'a' && r <= 'z' }); i >= 0 {
		letter, letterNum, main = main[i:i+1], main[i+1:], main[:i]
	}
	for i, part := range strings.Split(main, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || part == "" {
			return v, &apkError{s}
		}
		tok := apkToken{rank: apkRankNumber, num: n, text: part}
		if i == 0 {
			tok.text = "" // the first number always compares numerically
		}
		v.tokens = append(v.tokens, tok)
	}
	if letter != "" {
		v.tokens = append(v.tokens, apkToken{rank: apkRankLetter, text: letter})
		if letterNum != "" {
			n, err := strconv.Atoi(letterNum)
			if err != nil {
				return v, &apkError{s}
			}
			v.tokens = append(v.tokens, apkToken{rank: apkRankNumber, num: n})
		}
	}
	if suffixes != "" {
		for _, suf := range strings.Split(suffixes, "_") {
			name := strings.TrimRight(suf, "0123456789")
			num := 0
			if d := suf[len(name):]; d != "" {
				num, _ = strconv.Atoi(d)
			}
			kind := -1
			for k, known := range apkSuffixes {
				if known != "" && known == name {
					kind = k
				}
			}
			if kind < 0 {
				return v, &apkError{s}
			}
			rank := apkRankPost
			if kind < 4 {
				rank = apkRankPre
			}
			v.tokens = append(v.tokens, apkToken{rank: rank, num: kind*1_000_000_000 + num})
		}
	}
	return v, nil
}

type apkError struct{ v string }

func (e *apkError) Error() string { return "not an apk version: " + e.v }

func compareAPK(a, b apkVersion) int {
	for i := 0; ; i++ {
		ta, tb := apkToken{rank: apkRankEnd}, apkToken{rank: apkRankEnd}
		if i < len(a.tokens) {
			ta = a.tokens[i]
		}
		if i < len(b.tokens) {
			tb = b.tokens[i]
		}
		if ta.rank == apkRankEnd && tb.rank == apkRankEnd {
			return sign(a.rel - b.rel)
		}
		if ta.rank != tb.rank {
			return sign(ta.rank - tb.rank)
		}
		var c int
		switch {
		case ta.rank == apkRankLetter:
			c = strings.Compare(ta.text, tb.text)
		case ta.rank == apkRankNumber && (strings.HasPrefix(ta.text, "0") || strings.HasPrefix(tb.text, "0")):
			c = strings.Compare(strings.TrimRight(ta.text, "0"), strings.TrimRight(tb.text, "0")) // decimal fractions
		default:
			c = sign(ta.num - tb.num)
		}
		if c != 0 {
			return c
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// The oracle's order on the cases its doc states, and on apk-tools' own
// examples of its format.
func TestAPKOracleOrder(t *testing.T) {
	ordered := []string{"1.0_alpha1", "1.0_beta", "1.0_rc1", "1.0", "1.0-r1", "1.0_p1", "1.0a", "1.0a1", "1.0.1", "1.01.0", "1.1", "1.2.10", "1.10"}
	for i := range ordered {
		for j := range ordered {
			a, _ := parseAPK(ordered[i])
			b, _ := parseAPK(ordered[j])
			if got, want := compareAPK(a, b), sign(i-j); got != want {
				t.Errorf("compare(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}
