package match

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/osrelease"
)

// EcosystemSource is an optional capability of a Source: how many
// advisories it holds for an ecosystem ("Debian:12", "npm"). A package
// whose ecosystems hold none was not checked, whatever its version: a
// database built without that ecosystem says nothing about it. A Source
// without this capability cannot tell, so none of its packages counts as
// checked.
type EcosystemSource interface {
	EcosystemRecords(ctx context.Context, ecosystem string) (int, error)
}

// GapReason says why packages could not be checked.
type GapReason string

// Reasons a package is not checked. None of them means "not affected".
const (
	// GapUnrecognisedOS: OS packages of an image with no os-release, or
	// with a distribution credence does not recognise.
	GapUnrecognisedOS GapReason = "unrecognised-os"
	// GapNoOSVEcosystem: the distribution is recognised, but OSV publishes
	// no advisories for it (CentOS, Oracle Linux, Fedora, Amazon Linux).
	GapNoOSVEcosystem GapReason = "no-osv-ecosystem"
	// GapNoRecords: the database holds no advisories for the ecosystem
	// (not imported, or a release OSV has no data for yet).
	GapNoRecords GapReason = "no-records"
	// GapNoVersionOrder: credence cannot order versions of the ecosystem.
	GapNoVersionOrder GapReason = "no-version-order"
	// GapNoMatcher: no matcher handles the package's type.
	GapNoMatcher GapReason = "no-matcher"
	// GapUndecided: an advisory for the package, or its version, could not
	// be evaluated (see Result.Undecided for each one).
	GapUndecided GapReason = "undecided"
)

// Gap is a group of packages that could not be checked for one reason.
type Gap struct {
	Reason GapReason `json:"reason"`
	// Ecosystem is the OSV ecosystem concerned, when there is one.
	Ecosystem string `json:"ecosystem,omitempty"`
	// Detail says why, for people.
	Detail   string               `json:"detail"`
	Packages []*inventory.Package `json:"packages"`
}

// Coverage says which packages a match could not check and why. Packages
// in a gap are unknown, never clean: a gate must not pass them silently.
type Coverage struct {
	Complete bool  `json:"complete"`
	Gaps     []Gap `json:"gaps,omitempty"`
}

// Unchecked returns every package in a gap, once.
func (c Coverage) Unchecked() []*inventory.Package {
	var out []*inventory.Package
	seen := map[*inventory.Package]bool{}
	for _, g := range c.Gaps {
		for _, p := range g.Packages {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// String is one line for people: "12 packages not checked: 10 no-records
// (Debian:13), 2 undecided".
func (c Coverage) String() string {
	if c.Complete {
		return "every package checked"
	}
	var parts []string
	for _, g := range c.Gaps {
		s := fmt.Sprintf("%d %s", len(g.Packages), g.Reason)
		if g.Ecosystem != "" {
			s += " (" + g.Ecosystem + ")"
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("%d packages not checked: %s", len(c.Unchecked()), strings.Join(parts, ", "))
}

// gaps collects packages per (reason, ecosystem, detail).
type gaps struct {
	byKey map[[3]string]int
	list  []Gap
}

func (g *gaps) add(p *inventory.Package, reason GapReason, eco, detail string) {
	if g.byKey == nil {
		g.byKey = map[[3]string]int{}
	}
	k := [3]string{string(reason), eco, detail}
	i, ok := g.byKey[k]
	if !ok {
		i = len(g.list)
		g.byKey[k] = i
		g.list = append(g.list, Gap{Reason: reason, Ecosystem: eco, Detail: detail})
	}
	if !slices.Contains(g.list[i].Packages, p) {
		g.list[i].Packages = append(g.list[i].Packages, p)
	}
}

func (g *gaps) coverage() Coverage {
	slices.SortStableFunc(g.list, func(a, b Gap) int {
		return cmp.Or(cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Ecosystem, b.Ecosystem))
	})
	return Coverage{Complete: len(g.list) == 0, Gaps: g.list}
}

// noEcosystem explains why an OS package has no ecosystem, from the
// distribution the image's os-release names (nil when it has none).
func noEcosystem(d *inventory.Distro) (GapReason, string) {
	if d == nil {
		return GapUnrecognisedOS, "no os-release file: the distribution is unknown, so its packages' advisories cannot be looked up"
	}
	known, ok := osrelease.Lookup(d.ID)
	name := cmp.Or(d.PrettyName, d.ID+" "+d.VersionID)
	switch {
	case !ok:
		return GapUnrecognisedOS, fmt.Sprintf("distribution %q (os-release ID %q) is not one credence recognises", name, d.ID)
	case known.OSV == "":
		return GapNoOSVEcosystem, fmt.Sprintf("OSV publishes no advisories for %s (%s)", known.Name, name)
	}
	return GapUnrecognisedOS, fmt.Sprintf("%s release %q has no OSV ecosystem credence can name", known.Name, cmp.Or(d.VersionID, d.VersionCodename))
}

// ecosystemCounts caches, per ecosystem, whether the source holds records.
type ecosystemCounts struct {
	src   EcosystemSource
	known map[string]int
}

// records returns how many advisories the source holds for eco; -1 when
// the source cannot say.
func (e *ecosystemCounts) records(ctx context.Context, eco string) (int, error) {
	if e.src == nil {
		return -1, nil
	}
	if n, ok := e.known[eco]; ok {
		return n, nil
	}
	n, err := e.src.EcosystemRecords(ctx, eco)
	if err != nil {
		return 0, fmt.Errorf("count advisories of %s: %w", eco, err)
	}
	e.known[eco] = n
	return n, nil
}
