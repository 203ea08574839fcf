package osv

import "strings"

// NormalizeName returns the name under which a package is indexed and
// looked up in an ecosystem, so that spellings the ecosystem treats as equal
// meet: PyPI names per PEP 503 (lower case, runs of "-", "_", "." become
// "-"), crates.io names in lower case. Other ecosystems compare names
// exactly (npm "@scope/name", Maven "groupId:artifactId", Go module paths,
// distro source packages).
func NormalizeName(ecosystem, name string) string {
	switch BaseEcosystem(ecosystem) {
	case "PyPI":
		return pep503(name)
	case "crates.io":
		return strings.ToLower(name)
	}
	return name
}

func pep503(name string) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(strings.TrimSpace(name)) {
		if r == '-' || r == '_' || r == '.' {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('-')
		}
		sep = false
		b.WriteRune(r)
	}
	return b.String()
}
