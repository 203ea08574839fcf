package match

import (
	"fmt"
	"slices"
	"strings"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/vulndb/osv"
)

// Reachability says whether the code a Go vulnerability is in was linked
// into the binary its package was read from, as govulncheck's binary mode
// tells it: the Go vulnerability database names the vulnerable packages
// and functions of most records (affected[].ecosystem_specific.imports),
// and the binary's function table (inventory.GoLinked) names every
// function the linker kept, inlined ones included.
//
// Linked is not called: a linked function may never run with attacker
// input, and reflection or plugins may reach code the table does not
// show as vulnerable (plugins load code from other files). Not linked
// means the vulnerable functions are not in this binary: the finding is
// still reported, never hidden.
type Reachability struct {
	State Reach `json:"state"`
	// Symbols are, for a linked vulnerability, the vulnerable functions
	// found in the binary ("golang.org/x/net/html.Parse"), or a package
	// path when the record names a package without functions.
	Symbols []string `json:"symbols,omitempty"`
	// Reason explains the state for people.
	Reason string `json:"reason"`
}

// Reach is a reachability state.
type Reach string

// Reachability states.
const (
	// ReachLinked: a vulnerable function (or, for a record naming only
	// packages, a function of a vulnerable package) is in the binary.
	ReachLinked Reach = "linked"
	// ReachNotLinked: the record names vulnerable packages or functions,
	// and none is in the binary.
	ReachNotLinked Reach = "not linked"
	// ReachUnknown: not decided (no binary was read, its function table
	// could not be, or the record names no packages): as before, assumed
	// reachable.
	ReachUnknown Reach = "unknown"
)

// NotLinked reports whether every vulnerability of the finding is known
// not to be linked into the binary: only then does the finding stop
// counting towards exploitability. It still counts for --fail-on.
func (f *Finding) NotLinked() bool {
	return f.Reachability != nil && f.Reachability.State == ReachNotLinked
}

// recordReach is what one record says of package p.
type recordReach struct {
	Reachability
	// abstains is set for a record that cannot say anything (it names no
	// packages of the module): another record of the same vulnerability
	// may.
	abstains bool
}

// setReachability fills the reachability of a Go finding on package p,
// per vulnerability (from the records that describe it) and for the
// finding (not linked only when every vulnerability is not linked).
func setReachability(f *Finding, p *inventory.Package) {
	if p.Type != inventory.TypeGolang {
		return
	}
	byID := map[string]recordReach{}
	for _, a := range f.advisories {
		byID[a.ID] = reachOfRecord(a, f.Reasons, p)
	}
	var vulns []Reachability
	for i := range f.Vulnerabilities {
		v := &f.Vulnerabilities[i]
		var rs []recordReach
		for _, id := range v.Advisories {
			if r, ok := byID[id]; ok {
				rs = append(rs, r)
			}
		}
		r := combineRecords(rs)
		v.Reachability = &r
		vulns = append(vulns, r)
	}
	r := combineVulnerabilities(vulns)
	f.Reachability = &r
}

// reachOfRecord evaluates one record against the functions p's binary links.
func reachOfRecord(a *osv.Advisory, reasons []Reason, p *inventory.Package) recordReach {
	unknown := func(why string, abstains bool) recordReach {
		return recordReach{Reachability: Reachability{State: ReachUnknown, Reason: why}, abstains: abstains}
	}
	switch {
	case p.Linked == nil:
		return unknown("not read from a Go binary (a go.mod or lockfile): which functions are linked is not known", false)
	case p.Linked.Unknown != "":
		return unknown(p.Linked.Unknown, false)
	}
	// The affected entries of this record that matched p.
	var imports []osv.GoImport
	for _, af := range a.Affected {
		if af.Package.Ecosystem != "Go" || !slices.ContainsFunc(reasons, func(r Reason) bool {
			return r.Advisory == a.ID && r.Package == af.Package.Name
		}) {
			continue
		}
		imports = append(imports, osv.GoImports(af.EcosystemSpecific)...)
	}
	if len(imports) == 0 {
		return unknown(a.ID+" names no vulnerable packages or functions", true)
	}
	// A module's records name its own packages; the standard library's
	// ("stdlib") name std packages.
	if p.Name != "stdlib" {
		imports = slices.DeleteFunc(imports, func(imp osv.GoImport) bool {
			return imp.Path != p.Name && !strings.HasPrefix(imp.Path, p.Name+"/")
		})
		if len(imports) == 0 {
			return unknown(a.ID+" names no package of module "+p.Name, true)
		}
	}
	var found, absent []string
	for _, imp := range imports {
		fns, ok := p.Linked.Packages[imp.Path]
		switch {
		case !ok:
			absent = append(absent, imp.Path+" (not linked)")
		case len(imp.Symbols) == 0:
			found = append(found, imp.Path)
		default:
			var missing []string
			for _, s := range imp.Symbols {
				if _, ok := slices.BinarySearch(fns, s); ok {
					found = append(found, imp.Path+"."+s)
				} else {
					missing = append(missing, s)
				}
			}
			if len(missing) == len(imp.Symbols) {
				absent = append(absent, imp.Path+" is linked but not "+shortList(missing))
			}
		}
	}
	if len(found) > 0 {
		slices.Sort(found)
		found = slices.Compact(found)
		return recordReach{Reachability: Reachability{State: ReachLinked, Symbols: found,
			Reason: "the binary links " + shortList(found) + " (" + a.ID + ")"}}
	}
	return recordReach{Reachability: Reachability{State: ReachNotLinked,
		Reason: "none of the vulnerable code " + a.ID + " names is in the binary: " + strings.Join(absent, "; ")}}
}

// shortList names up to three items and how many more.
func shortList(items []string) string {
	if len(items) <= 3 {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s, +%d more", strings.Join(items[:3], ", "), len(items)-3)
}

// combineRecords joins what the records of one vulnerability say: linked
// when any says linked; not linked when one says so and no other says
// linked or could not be decided (a record that names no packages of the
// module abstains); otherwise unknown.
func combineRecords(rs []recordReach) Reachability {
	var out Reachability
	var notLinked, undecided, abstained []string
	for _, r := range rs {
		switch {
		case r.State == ReachLinked:
			out.State = ReachLinked
			out.Symbols = append(out.Symbols, r.Symbols...)
			out.Reason = strings.TrimPrefix(out.Reason+"; "+r.Reason, "; ")
		case r.State == ReachNotLinked:
			notLinked = append(notLinked, r.Reason)
		case r.abstains:
			abstained = append(abstained, r.Reason)
		default:
			undecided = append(undecided, r.Reason)
		}
	}
	switch {
	case out.State == ReachLinked:
		slices.Sort(out.Symbols)
		out.Symbols = slices.Compact(out.Symbols)
		return out
	case len(undecided) > 0:
		return Reachability{State: ReachUnknown, Reason: undecided[0]}
	case len(notLinked) > 0:
		return Reachability{State: ReachNotLinked, Reason: strings.Join(notLinked, "; ")}
	case len(abstained) > 0:
		return Reachability{State: ReachUnknown, Reason: abstained[0]}
	}
	return Reachability{State: ReachUnknown, Reason: "no record of the vulnerability names vulnerable packages or functions"}
}

// combineVulnerabilities joins the vulnerabilities of a finding: not
// linked only when every one is; linked when any is; otherwise unknown.
func combineVulnerabilities(vs []Reachability) Reachability {
	if len(vs) == 0 {
		return Reachability{State: ReachUnknown, Reason: "no vulnerability"}
	}
	if len(vs) == 1 {
		return vs[0]
	}
	var out Reachability
	all := true
	var reasons []string
	for _, v := range vs {
		if v.State == ReachLinked {
			out.State = ReachLinked
			out.Symbols = append(out.Symbols, v.Symbols...)
			reasons = append(reasons, v.Reason)
		}
		all = all && v.State == ReachNotLinked
	}
	switch {
	case out.State == ReachLinked:
		slices.Sort(out.Symbols)
		out.Symbols = slices.Compact(out.Symbols)
		out.Reason = strings.Join(reasons, "; ")
		return out
	case all:
		for _, v := range vs {
			reasons = append(reasons, v.Reason)
		}
		return Reachability{State: ReachNotLinked, Reason: strings.Join(reasons, "; ")}
	}
	for _, v := range vs {
		if v.State == ReachUnknown {
			return Reachability{State: ReachUnknown, Reason: v.Reason}
		}
	}
	return Reachability{State: ReachUnknown}
}
