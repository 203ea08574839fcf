package sbom

import (
	"strconv"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/credence-dev/credence/match"
)

// AddVulnerabilities adds a CycloneDX vulnerabilities section to bom: one
// entry per finding id, affecting the components (by bom-ref) of the
// packages it was found in, with its aliases under references, ratings
// (CVSS score and vector, or the ecosystem's rating), fixed versions as
// recommendation, KEV and EPSS as properties, and suppressed findings
// marked with an analysis (response will_not_fix), never removed. A finding
// only partly accepted has no analysis (it is open) and a
// "credence:accepted" property per accepted CVE. A Go finding whose
// vulnerable code is linked or not linked into its binary says so in a
// "credence:reachability" property per component; when the code is not
// linked into any of the entry's components the entry's analysis is
// state not_affected, justification code_not_reachable (CycloneDX's
// words for it), the entry still listed.
func AddVulnerabilities(bom *cdx.BOM, findings []match.Finding) {
	refs := map[string]string{} // package identity → bom-ref
	if bom.Components != nil {
		for _, c := range *bom.Components {
			if c.PackageURL != "" {
				if _, ok := refs[c.PackageURL]; !ok {
					refs[c.PackageURL] = c.BOMRef
				}
			}
		}
	}
	byID := map[string]int{}
	var vulns []cdx.Vulnerability
	var notLinked []bool // per entry: every finding under it is not linked
	var notLinkedWhy [][]string
	for _, f := range findings {
		ref := refs[f.Package.PURL]
		if ref == "" {
			ref = f.Package.PURL
		}
		i, ok := byID[f.ID]
		if !ok {
			i = len(vulns)
			byID[f.ID] = i
			vulns = append(vulns, vulnerability(f))
			notLinked = append(notLinked, true)
			notLinkedWhy = append(notLinkedWhy, nil)
		}
		notLinked[i] = notLinked[i] && f.NotLinked()
		if r := f.Reachability; r != nil && r.State != match.ReachUnknown {
			val := f.Package.PURL + ": " + string(r.State)
			if len(r.Symbols) > 0 {
				val += " (" + strings.Join(r.Symbols, ", ") + ")"
			}
			if r.State == match.ReachNotLinked {
				notLinkedWhy[i] = append(notLinkedWhy[i], f.Package.PURL+": "+r.Reason)
			}
			props := append(*vulns[i].Properties, cdx.Property{Name: "credence:reachability", Value: val})
			vulns[i].Properties = &props
		}
		v := &vulns[i]
		affects := *v.Affects
		affects = append(affects, cdx.Affects{Ref: ref, Range: &[]cdx.AffectedVersions{{Version: f.Installed, Status: cdx.VulnerabilityStatusAffected}}})
		v.Affects = &affects
		for _, vu := range f.Vulnerabilities {
			if vu.Suppressed != nil && f.Suppressed == nil {
				// Partly accepted: the vulnerability entry stays open; what
				// was accepted is recorded, by CVE.
				prop := cdx.Property{Name: "credence:accepted", Value: vu.ID + " in " + f.Package.PURL + ": " + vu.Suppressed.Reason}
				if vu.Suppressed.Expires != "" {
					prop.Value += " (until " + vu.Suppressed.Expires + ")"
				}
				props := append(*v.Properties, prop)
				v.Properties = &props
			}
		}
		if f.Suppressed != nil && v.Analysis == nil {
			// An accepted risk: no claim about exploitability, a decision
			// not to fix for now.
			v.Analysis = &cdx.VulnerabilityAnalysis{Detail: "accepted risk (credence --ignore): " + f.Suppressed.Reason, Response: &[]cdx.ImpactAnalysisResponse{cdx.IARWillNotFix}}
			if f.Suppressed.Expires != "" {
				v.Analysis.Detail += " (until " + f.Suppressed.Expires + ")"
			}
		}
		if len(f.Fixed) > 0 {
			rec := "Upgrade " + match.CanonicalName(f.Package) + " to " + strings.Join(f.Fixed, " or ")
			if !strings.Contains(v.Recommendation, rec) {
				v.Recommendation = strings.TrimPrefix(v.Recommendation+"; "+rec, "; ")
			}
		}
	}
	for i := range vulns {
		if !notLinked[i] {
			continue
		}
		v := &vulns[i]
		detail := "the vulnerable code is not linked into the binary (credence read its Go function table): " + strings.Join(notLinkedWhy[i], "; ")
		if v.Analysis == nil {
			v.Analysis = &cdx.VulnerabilityAnalysis{}
		} else {
			detail += "; " + v.Analysis.Detail
		}
		v.Analysis.State, v.Analysis.Justification, v.Analysis.Detail = cdx.IASNotAffected, cdx.IAJCodeNotReachable, detail
	}
	if len(vulns) > 0 {
		bom.Vulnerabilities = &vulns
	}
}

func vulnerability(f match.Finding) cdx.Vulnerability {
	v := cdx.Vulnerability{
		BOMRef:      f.ID,
		ID:          f.ID,
		Source:      source(f.ID),
		Description: f.Summary,
		Affects:     &[]cdx.Affects{},
	}
	var refs []cdx.VulnerabilityReference
	for _, a := range f.Aliases {
		refs = append(refs, cdx.VulnerabilityReference{ID: a, Source: source(a)})
	}
	if len(refs) > 0 {
		v.References = &refs
	}
	r := cdx.VulnerabilityRating{Severity: cdxSeverity(f.Severity.Level)}
	if f.Severity.Score > 0 {
		s := f.Severity.Score
		r.Score = &s
		r.Vector = f.Severity.Vector
		switch {
		case strings.HasPrefix(f.Severity.Vector, "CVSS:4"):
			r.Method = cdx.ScoringMethodCVSSv4
		case strings.HasPrefix(f.Severity.Vector, "CVSS:3.1"):
			r.Method = cdx.ScoringMethodCVSSv31
		case strings.HasPrefix(f.Severity.Vector, "CVSS:3"):
			r.Method = cdx.ScoringMethodCVSSv3
		}
	} else {
		r.Method = cdx.ScoringMethodOther
	}
	v.Ratings = &[]cdx.VulnerabilityRating{r}
	if f.Published != nil {
		v.Published = f.Published.UTC().Format("2006-01-02T15:04:05Z")
	}
	var props []cdx.Property
	if f.KEV != nil {
		props = append(props, cdx.Property{Name: "credence:kev:cve", Value: f.KEV.CVE}, cdx.Property{Name: "credence:kev:dateAdded", Value: f.KEV.DateAdded})
		if f.KEV.KnownRansomwareCampaignUse != "" {
			props = append(props, cdx.Property{Name: "credence:kev:knownRansomwareCampaignUse", Value: f.KEV.KnownRansomwareCampaignUse})
		}
	}
	for _, k := range f.RelatedKEV {
		props = append(props, cdx.Property{Name: "credence:kev:related", Value: k.CVE + " " + k.DateAdded})
	}
	if f.EPSS != nil {
		props = append(props, cdx.Property{Name: "credence:epss:score", Value: strconv.FormatFloat(f.EPSS.Score, 'f', -1, 64)},
			cdx.Property{Name: "credence:epss:percentile", Value: strconv.FormatFloat(f.EPSS.Percentile, 'f', -1, 64)})
	}
	props = append(props, cdx.Property{Name: "credence:fixState", Value: string(f.FixState)})
	v.Properties = &props
	return v
}

func cdxSeverity(l match.Level) cdx.Severity {
	switch l {
	case match.Critical:
		return cdx.SeverityCritical
	case match.High:
		return cdx.SeverityHigh
	case match.Medium:
		return cdx.SeverityMedium
	case match.Low:
		return cdx.SeverityLow
	case match.None:
		return cdx.SeverityNone
	}
	return cdx.SeverityUnknown
}

// source names the database an id comes from, with its URL.
func source(id string) *cdx.Source {
	prefix, _, _ := strings.Cut(id, "-")
	switch prefix {
	case "CVE":
		return &cdx.Source{Name: "NVD", URL: "https://nvd.nist.gov/vuln/detail/" + id}
	case "GHSA":
		return &cdx.Source{Name: "GitHub", URL: "https://github.com/advisories/" + id}
	}
	return &cdx.Source{Name: "OSV", URL: "https://osv.dev/vulnerability/" + id}
}

// AddCoverage records what could not be checked: a "credence:notChecked"
// property ("reason: detail") on each such component, and
// "credence:coverage" (complete or incomplete) on the BOM's metadata, so a
// consumer never reads an unchecked component as free of vulnerabilities.
func AddCoverage(bom *cdx.BOM, c match.Coverage) {
	state := "complete"
	if !c.Complete {
		state = "incomplete: " + c.String()
	}
	if bom.Metadata == nil {
		bom.Metadata = &cdx.Metadata{}
	}
	props := []cdx.Property{}
	if bom.Metadata.Properties != nil {
		props = *bom.Metadata.Properties
	}
	props = append(props, cdx.Property{Name: "credence:coverage", Value: state})
	bom.Metadata.Properties = &props
	if bom.Components == nil {
		return
	}
	why := map[string][]string{} // purl → reasons
	for _, g := range c.Gaps {
		for _, p := range g.Packages {
			why[p.PURL] = append(why[p.PURL], string(g.Reason)+": "+g.Detail)
		}
	}
	comps := *bom.Components
	for i := range comps {
		reasons, ok := why[comps[i].PackageURL]
		if !ok || comps[i].PackageURL == "" {
			continue
		}
		cp := []cdx.Property{}
		if comps[i].Properties != nil {
			cp = *comps[i].Properties
		}
		for _, r := range reasons {
			cp = append(cp, cdx.Property{Name: "credence:notChecked", Value: r})
		}
		comps[i].Properties = &cp
	}
}
