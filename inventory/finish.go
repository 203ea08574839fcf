package inventory

import (
	"cmp"
	"slices"
	"strings"

	"github.com/package-url/packageurl-go"
)

// finish gives every package its ecosystem and purl, and sorts them.
func finish(inv *Inventory) {
	unknownDistro := false
	for _, p := range inv.Packages {
		if p.OSPackage() {
			if inv.Distro != nil {
				p.Ecosystem = inv.Distro.Ecosystem
			}
			if p.Ecosystem == "" {
				unknownDistro = true
			}
		} else {
			p.Ecosystem = languageEcosystems[p.Type]
		}
		p.PURL = PURL(p, inv.Distro)
	}
	if unknownDistro {
		what := "no os-release file was found"
		if inv.Distro != nil {
			what = "credence knows no OSV ecosystem for " + inv.Distro.ID + " " + inv.Distro.VersionID
		}
		inv.Status.Warnings = append(inv.Status.Warnings,
			"OS packages have no ecosystem because "+what+": their vulnerabilities cannot be matched (unknown, not safe)")
	}
	slices.SortFunc(inv.Packages, comparePackages)
	inv.Packages = slices.CompactFunc(inv.Packages, func(a, b *Package) bool { return comparePackages(a, b) == 0 })
}

func comparePackages(a, b *Package) int {
	return cmp.Or(
		cmp.Compare(a.Type, b.Type),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Version, b.Version),
		cmp.Compare(a.Arch, b.Arch),
		slices.Compare(a.Locations, b.Locations),
	)
}

// PURL returns the package URL of p; OS packages are qualified with the
// distribution d (which may be nil).
func PURL(p *Package, d *Distro) string {
	namespace, name := p.Namespace, p.Name
	var q packageurl.Qualifiers
	add := func(k, v string) {
		if v != "" {
			q = append(q, packageurl.Qualifier{Key: k, Value: v})
		}
	}
	switch p.Type {
	case TypeDeb, TypeRPM, TypeAPK:
		if d != nil {
			namespace = d.ID
		}
		add("arch", p.Arch)
		if md, ok := p.Metadata.(interface{ PURLQualifiers() map[string]string }); ok {
			for k, v := range md.PURLQualifiers() {
				add(k, v)
			}
		}
		if d != nil && d.VersionID != "" {
			add("distro", d.ID+"-"+d.VersionID)
		}
	case TypeGolang:
		if i := strings.LastIndexByte(name, '/'); i >= 0 && namespace == "" {
			namespace, name = name[:i], name[i+1:]
		}
	case TypePyPI:
		name = strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
	}
	slices.SortFunc(q, func(a, b packageurl.Qualifier) int { return cmp.Compare(a.Key, b.Key) })
	return packageurl.NewPackageURL(p.Type, namespace, name, p.Version, q, "").ToString()
}
