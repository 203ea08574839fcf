// Package versions orders versions the way each ecosystem does (dpkg, apk,
// rpm, SemVer, PEP 440, Maven) on top of osv-scalibr/semantic, with guards.
package versions

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/osv-scalibr/semantic"

	"github.com/credence-dev/credence/vulndb/osv"
)

// ErrUnsupportedEcosystem is returned for an ecosystem whose version order
// credence does not know: its packages are undecided, never "not affected".
var ErrUnsupportedEcosystem = errors.New("unsupported ecosystem")

// ErrInvalidVersion is returned for a version the ecosystem's rules reject.
var ErrInvalidVersion = errors.New("invalid version")

// maxVersionLen bounds a version string; real ones are under 100 bytes.
const maxVersionLen = 256

// Version is a parsed version in one ecosystem's order.
type Version struct {
	raw string
	v   semantic.Version
}

// String is the version as written.
func (v Version) String() string { return v.raw }

// Parse parses s under the version rules of ecosystem (an OSV
// ecosystem, with or without a release suffix: "Debian:12", "npm"):
// dpkg for Debian and Ubuntu, apk for Alpine, rpm for AlmaLinux, Rocky, Red
// Hat, SUSE, openSUSE, Photon OS and Azure Linux, SemVer for npm, Go and crates.io, PEP 440 for PyPI, Maven's
// ComparableVersion for Maven (osv-scalibr/semantic).
func Parse(ecosystem, s string) (Version, error) {
	if len(s) > maxVersionLen {
		return Version{}, fmt.Errorf("%w: %d bytes", ErrInvalidVersion, len(s))
	}
	if strings.TrimSpace(s) == "" {
		return Version{}, fmt.Errorf("%w: empty", ErrInvalidVersion)
	}
	base := semanticName(osv.BaseEcosystem(ecosystem))
	if base == "Go" {
		s = Go(s)
	}
	if base == "Debian" || base == "Ubuntu" {
		if err := checkDebian(s); err != nil {
			return Version{}, fmt.Errorf("%w: %q in %s: %v", ErrInvalidVersion, s, base, err)
		}
	}
	if (base == "npm" || base == "Go" || base == "crates.io") && !semverLike.MatchString(s) {
		// semantic parses anything ("(devel)", "latest") as a SemVer-like
		// version, which would compare as old and match every range.
		return Version{}, fmt.Errorf("%w: %q is not a SemVer version", ErrInvalidVersion, s)
	}
	if base == "Alpine" && !apkVersion.MatchString(s) {
		return Version{}, fmt.Errorf("%w: %q does not follow apk's version grammar", ErrInvalidVersion, s)
	}
	v, err := semantic.Parse(s, base)
	if err != nil {
		if errors.Is(err, semantic.ErrUnsupportedEcosystem) {
			return Version{}, fmt.Errorf("%w: %s", ErrUnsupportedEcosystem, ecosystem)
		}
		return Version{}, fmt.Errorf("%w: %q in %s: %v", ErrInvalidVersion, s, base, err)
	}
	return Version{raw: s, v: v}, nil
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
// Both must come from the same ecosystem.
func (v Version) Compare(w Version) int {
	c, err := v.v.Compare(w.v)
	if err != nil {
		// Different ecosystems: a programming error, ordered by text so the
		// order stays total.
		return strings.Compare(v.raw, w.raw)
	}
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

// Supported reports whether credence can order versions of eco.
func Supported(eco string) bool {
	_, err := semantic.Parse("0", semanticName(osv.BaseEcosystem(eco)))
	return err == nil || !errors.Is(err, semantic.ErrUnsupportedEcosystem)
}

// semanticName maps ecosystems osv-scalibr/semantic does not name to the
// one whose order they use: Photon OS and Azure Linux (CBL-Mariner) are
// rpm distributions, ordered as rpm orders versions (rpmvercmp), as
// semantic does for "Red Hat".
func semanticName(base string) string {
	switch base {
	case "Photon OS", "Azure Linux":
		return "Red Hat"
	}
	return base
}

// Go turns the spellings Go versions come in into the SemVer form
// the Go vulnerability database uses: module versions drop the leading "v"
// ("v0.17.0" → "0.17.0"); toolchain versions drop "go" and spell
// pre-releases as SemVer ("go1.21" → "1.21.0", "go1.21rc2" → "1.21.0-rc.2").
func Go(s string) string {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "go"); ok && len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
		return toolchainSemver(rest)
	}
	return strings.TrimPrefix(s, "v")
}

func toolchainSemver(s string) string {
	// Split off a pre-release ("rc2", "beta1") glued to the number.
	num, pre := s, ""
	for _, tag := range []string{"rc", "beta", "alpha"} {
		if i := strings.Index(s, tag); i > 0 {
			num, pre = s[:i], tag+"."+s[i+len(tag):]
			break
		}
	}
	if i := strings.IndexAny(num, " -+"); i >= 0 { // "1.21.2 X:boringcrypto"
		num = num[:i]
	}
	parts := strings.Split(num, ".")
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	out := strings.Join(parts, ".")
	if pre != "" {
		out += "-" + pre
	}
	return out
}

// checkDebian applies Debian policy 5.6.12 (semantic accepts anything):
// [epoch:]upstream_version[-debian_revision]; the epoch is digits; the
// upstream version starts with a digit and holds only alphanumerics and
// . + ~ - (hyphen only when there is a revision); the revision holds only
// alphanumerics and . + ~.
func checkDebian(s string) error {
	rest := s
	if epoch, after, ok := strings.Cut(s, ":"); ok {
		if epoch == "" || strings.Trim(epoch, "0123456789") != "" {
			return errors.New("epoch is not a number")
		}
		rest = after
	}
	upstream, revision := rest, ""
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		upstream, revision = rest[:i], rest[i+1:]
		if revision == "" {
			return errors.New("empty revision")
		}
	}
	if upstream == "" || upstream[0] < '0' || upstream[0] > '9' {
		return errors.New("upstream version must start with a digit")
	}
	for _, r := range upstream {
		if !isAlnum(r) && !strings.ContainsRune(".+~-", r) {
			return fmt.Errorf("character %q not allowed in the upstream version", r)
		}
	}
	for _, r := range revision {
		if !isAlnum(r) && !strings.ContainsRune(".+~", r) {
			return fmt.Errorf("character %q not allowed in the revision", r)
		}
	}
	return nil
}

func isAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// apkVersion is apk-tools' version grammar: numbers separated by dots, an
// optional letter (with digits, as in libretls 3.3.3p1), suffixes (_alpha, _beta, _pre, _rc, _cvs, _svn, _git,
// _hg, _p, each with an optional number), an optional ~hash, and -rN.
// osv-scalibr/semantic parses strings outside it ("10.rc.0") and orders
// them non-transitively, so they are refused here (found by TestTotalOrder).
var apkVersion = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*([a-z][0-9]*)?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*(~[0-9a-f]+)?(-r[0-9]+)?$`)

// semverLike accepts SemVer and the looser forms registries hold ("1.2",
// "4.17.21", "0.0.0-2021…", "1.0.0-rc.1+build"): digits first.
var semverLike = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*([-+.~_][0-9A-Za-z.+~_-]*)?$`)
