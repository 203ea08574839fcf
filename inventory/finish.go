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
	inv.Packages = merge(inv.Packages)
}

// merge folds packages with the same Key, found at several paths (a
// lockfile and the node_modules it describes, one module in two binaries),
// into one package listing every path; its layer is the earliest of them.
// packages must be sorted.
func merge(pkgs []*Package) []*Package {
	var out []*Package
	for _, p := range pkgs {
		if n := len(out); n > 0 && out[n-1].Key() == p.Key() {
			last := out[n-1]
			for _, loc := range p.Locations {
				if !slices.Contains(last.Locations, loc) {
					last.Locations = append(last.Locations, loc)
				}
			}
			if p.Layer != nil && (last.Layer == nil || p.Layer.Index < last.Layer.Index) {
				last.Layer = p.Layer
			}
			last.Linked = mergeLinked(last.Linked, p.Linked)
			continue
		}
		out = append(out, p)
	}
	for _, p := range out {
		slices.Sort(p.Locations)
	}
	return out
}

// mergeLinked combines what two binaries say of one module: the functions
// either links (a finding on the merged package is linked when any of
// its binaries links the code). When one of them is not known (a go.mod,
// an unreadable function table) the merged package's are not known.
func mergeLinked(a, b *GoLinked) *GoLinked {
	switch {
	case a == nil && b == nil:
		return nil
	case a == nil || b == nil:
		return &GoLinked{Unknown: "the module was also found in a file that is not a Go binary (a go.mod?): linked functions unknown"}
	case a.Unknown != "":
		return a
	case b.Unknown != "":
		return &GoLinked{Unknown: b.Unknown}
	}
	out := &GoLinked{Packages: map[string][]string{}}
	for _, l := range []*GoLinked{a, b} {
		for path, fns := range l.Packages {
			out.Packages[path] = append(out.Packages[path], fns...)
		}
	}
	for path, fns := range out.Packages {
		slices.Sort(fns)
		out.Packages[path] = slices.Compact(fns)
	}
	if len(out.Packages) == 0 {
		out.Packages = nil
	}
	return out
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
	version := p.Version
	if p.Type == TypeRPM {
		// purl-spec: an rpm epoch goes in the "epoch" qualifier, not the version.
		if e, rest, ok := strings.Cut(version, ":"); ok && e != "" && strings.Trim(e, "0123456789") == "" {
			version = rest
		}
	}
	slices.SortFunc(q, func(a, b packageurl.Qualifier) int { return cmp.Compare(a.Key, b.Key) })
	return packageurl.NewPackageURL(p.Type, namespace, name, version, q, "").ToString()
}
