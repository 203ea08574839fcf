package versions_test

import (
	"errors"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/credence-dev/credence/versions"
)

var ecosystems = []string{"Debian:12", "Ubuntu:22.04:LTS", "Alpine:v3.18", "AlmaLinux:9", "npm", "Go", "crates.io", "PyPI", "Maven"}

func TestOrderFacts(t *testing.T) {
	// Facts from ../shared/data/README.md and the ecosystems' rules.
	tests := []struct{ eco, a, b string }{ // a < b
		{"Go", "1.21.2", "1.21.3"},
		{"Go", "go1.21.2", "1.21.3"},
		{"Go", "1.21.0-0", "1.21.0"},
		{"Go", "v0.0.0-20210226172049-e18ecbb05110", "0.17.0"},
		{"PyPI", "2.3.0", "2.31.0"},
		{"PyPI", "2.28.1", "2.31.0"},
		{"PyPI", "1.26.4", "1.26.18"},
		{"PyPI", "2.0.0rc1", "2.0.0"},
		{"npm", "4.17.4", "4.17.12"},
		{"Maven", "2.14.1", "2.15.0"},
		{"Maven", "2.12.1", "2.12.2"},
		{"Maven", "5.2.19.RELEASE", "5.2.20.RELEASE"},
		{"Debian:11", "1.1.1n-0+deb11u3", "1.1.1n-0+deb11u4"},
		{"Debian:12", "1.9.5p1-1.1", "1.9.13p3-1+deb12u1"},
		{"Debian:12", "3.0.8-1~bpo", "3.0.8-1"},
		{"Debian:12", "2:1.0-1", "10:0.1-1"},
		{"Alpine:v3.17", "3.0.7-r0", "3.0.8-r0"},
		{"Alpine:v3.18", "1.36.1-r0", "1.36.1-r1"},
		{"AlmaLinux:9", "2.34-60.el9_2.6", "2.34-60.el9_2.7"},
		{"Photon OS:5.0", "3.0.9-1.ph5", "3.0.9-2.ph5"},
		{"Azure Linux:3", "3.3.0-1.azl3", "3.3.0-2.azl3"},
		{"Red Hat:enterprise_linux:9::baseos", "1:3.0.7-24.el9", "1:3.0.7-25.el9"},
		{"SUSE:SUSE Linux Enterprise Server 15 SP5", "3.0.8-150500.5.8.1", "3.0.8-150500.5.14.1"},
		{"Ubuntu:22.04:LTS", "2.35-0ubuntu3.3", "2.35-0ubuntu3.4"},
		{"crates.io", "0.3.20", "0.3.26"},
		{"crates.io", "0.4.0-0", "0.4.0"},
	}
	for _, tt := range tests {
		a, err := versions.Parse(tt.eco, tt.a)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.eco, tt.a, err)
		}
		b, err := versions.Parse(tt.eco, tt.b)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.eco, tt.b, err)
		}
		if a.Compare(b) != -1 || b.Compare(a) != 1 {
			t.Errorf("%s: want %s < %s", tt.eco, tt.a, tt.b)
		}
	}
}

func TestInvalid(t *testing.T) {
	for _, tt := range []struct{ eco, v string }{
		{"Debian:12", "not a version!"}, {"Debian:12", "@@@"}, {"Debian:12", "a1.0"}, {"Debian:12", "x:1.0"},
		{"Debian:12", "1.0-"}, {"Debian:12", ""}, {"npm", strings.Repeat("1", 300)},
		{"Go", "(devel)"}, {"npm", "latest"}, {"crates.io", "*"}, {"npm", "^1.2.3"},
	} {
		if _, err := versions.Parse(tt.eco, tt.v); !errors.Is(err, versions.ErrInvalidVersion) {
			t.Errorf("Parse(%s, %q) = %v, want ErrInvalidVersion", tt.eco, tt.v, err)
		}
	}
	if _, err := versions.Parse("Hurd", "1.0"); !errors.Is(err, versions.ErrUnsupportedEcosystem) {
		t.Errorf("unknown ecosystem: %v", err)
	}
}

// randomVersion builds plausible and odd versions from the characters each
// ecosystem uses.
func randomVersion(r *rand.Rand, eco string) string {
	parts := []string{"0", "1", "2", "9", "10", "01", "a", "b", "rc", "alpha", "beta", "pre", "p", "r", "post", "dev", "el9", "ubuntu", "deb12u", "RELEASE", "SNAPSHOT", "final", "ga", "sp"}
	seps := []string{".", ".", ".", "-", "+", "~", "_", ""}
	var b strings.Builder
	b.WriteString([]string{"0", "1", "2", "10"}[r.IntN(4)])
	for range r.IntN(6) {
		b.WriteString(seps[r.IntN(len(seps))])
		b.WriteString(parts[r.IntN(len(parts))])
	}
	s := b.String()
	switch eco {
	case "Alpine:v3.18":
		if r.IntN(2) == 0 {
			s += "-r" + []string{"0", "1", "10"}[r.IntN(3)]
		}
	case "Debian:12", "AlmaLinux:9":
		if r.IntN(3) == 0 {
			s = []string{"1", "2"}[r.IntN(2)] + ":" + s
		}
	}
	return s
}

// TestTotalOrder checks, on random versions of every ecosystem, that
// Compare is a total order: reflexive, antisymmetric and transitive.
func TestTotalOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, eco := range ecosystems {
		var vs []versions.Version
		for len(vs) < 120 {
			gen := randomVersion
			if eco == "Maven" {
				gen = randomMavenVersion
			}
			v, err := versions.Parse(eco, gen(r, eco))
			if err == nil {
				vs = append(vs, v)
			}
		}
		checkOrder(t, eco, vs)
	}
}

func checkOrder(t *testing.T, eco string, vs []versions.Version) {
	t.Helper()
	fails := 0
	for _, a := range vs {
		if a.Compare(a) != 0 {
			t.Errorf("%s: %q != itself", eco, a)
		}
		for _, b := range vs {
			ab, ba := a.Compare(b), b.Compare(a)
			if ab != -ba {
				t.Errorf("%s: not antisymmetric: %q vs %q gives %d and %d", eco, a, b, ab, ba)
				fails++
			}
			for _, c := range vs {
				if ab <= 0 && b.Compare(c) <= 0 && a.Compare(c) > 0 {
					t.Errorf("%s: not transitive: %q <= %q <= %q but %q > %q", eco, a, b, c, a, c)
					fails++
				}
				if fails > 5 {
					t.FailNow()
				}
			}
		}
	}
}

// randomMavenVersion builds versions in the shapes Maven Central uses:
// numbers, then one qualifier after "-" or "." (2.14.1, 2.0.0-rc1,
// 5.2.20.RELEASE, 1.0-SNAPSHOT). Mixed shapes are covered by
// TestMavenKnownNonTransitive below.
func randomMavenVersion(r *rand.Rand, _ string) string {
	var b strings.Builder
	b.WriteString([]string{"0", "1", "2", "10"}[r.IntN(4)])
	for range r.IntN(3) {
		b.WriteString("." + []string{"0", "1", "2", "9", "10"}[r.IntN(5)])
	}
	switch r.IntN(4) {
	case 1:
		b.WriteString("-" + []string{"alpha", "beta", "rc1", "RC2", "SNAPSHOT", "M1", "alpha-1", "beta2"}[r.IntN(8)])
	case 2:
		b.WriteString("." + []string{"RELEASE", "Final", "GA"}[r.IntN(3)])
	}
	return b.String()
}

// TestMavenKnownNonTransitive records a defect of osv-scalibr/semantic
// v0.5.3: mixing "." and "-" qualifiers gives a non-transitive order
// (1 <= 1.r <= 1-alpha but 1 > 1-alpha; Maven's ComparableVersion has
// 1-alpha < 1 < 1.r). Real advisories use one shape per package, so
// matching is not affected in practice; if this test starts failing,
// upstream fixed it and the guard note in README can go.
func TestMavenKnownNonTransitive(t *testing.T) {
	p := func(s string) versions.Version {
		v, err := versions.Parse("Maven", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	one, dotR, alpha := p("1"), p("1.r"), p("1-alpha")
	if one.Compare(dotR) <= 0 && dotR.Compare(alpha) <= 0 && one.Compare(alpha) > 0 {
		t.Logf("known: semantic orders 1 <= 1.r <= 1-alpha < 1 (not transitive)")
		return
	}
	t.Errorf("the known non-transitive Maven case is now transitive: update this test and the README")
}

var mavenDash = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*(-[A-Za-z0-9]+)*$`)

func FuzzOrder(f *testing.F) {
	f.Add(uint8(0), "1.0-1", "1.0-1+b1", "1:0.9")
	f.Add(uint8(2), "1.2.3-r0", "1.2.3_rc1-r0", "1.2.3_p1-r1")
	f.Add(uint8(3), "2.34-60.el9_2.7", "2.34-60.el9", "1:2.0")
	f.Add(uint8(4), "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0")
	f.Add(uint8(7), "1.0rc1", "1.0.post1", "1.0.dev0")
	f.Add(uint8(8), "1.0-SNAPSHOT", "1.0", "1.0-sp1")
	f.Fuzz(func(t *testing.T, e uint8, a, b, c string) {
		eco := ecosystems[int(e)%len(ecosystems)]
		if eco == "Maven" && !(mavenDash.MatchString(a) && mavenDash.MatchString(b) && mavenDash.MatchString(c)) {
			return // see TestMavenKnownNonTransitive
		}
		var vs []versions.Version
		for _, s := range []string{a, b, c} {
			v, err := versions.Parse(eco, s)
			if err != nil {
				return
			}
			vs = append(vs, v)
		}
		checkOrder(t, eco, vs)
	})
}
