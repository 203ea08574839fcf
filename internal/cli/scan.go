//go:build !node

package cli

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/report/sarif"
	"github.com/credence-dev/credence/sbom"
	"github.com/credence-dev/credence/vulndb"
	sampledb "github.com/credence-dev/credence/vulndb/sample"
)

func newScanCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scan IMAGE",
		Short: "Find known vulnerabilities in an image's packages",
		Long: `Find the OSV advisories that apply to an image's packages, with severity (CVSS
score when a vector is given), CISA KEV and EPSS exploitability, the fixed
versions, the layer that added each package and why each advisory matched.

Outputs (-o): table (grouped by package), json, sarif (SARIF 2.1.0),
cyclonedx-json (CycloneDX 1.6 with a vulnerabilities section).

--fail-on critical|high|medium|low|kev exits 1 when an open vulnerability is
at or above that severity (kev: in the KEV catalog), and when any package
could not be checked: an OS credence does not recognise or that OSV has no
advisories for, an ecosystem the database holds no advisories for, an
advisory that could not be evaluated. Unknown is not clean: --allow-unknown
lets such packages pass the gate (they are still listed in every output).

--ignore FILE accepts risks (YAML or JSON: id, optional package, reason,
expires). A rule accepts what it names: one CVE of an advisory that bundles
several leaves the others open, and the finding still gates on them; a rule
naming the bundle does not accept a KEV-listed CVE in it (name that CVE).
Accepted vulnerabilities are still shown, marked. Findings whose severity is
unknown do not trip --fail-on levels; they are counted in the summary.

Go binaries: the function table of each binary says which functions were
linked in; a Go finding whose records name vulnerable packages or functions
none of which is in the binary is marked "not linked" (still shown, still
counted; it does not add to assess's exploitability). It gates like any
other unless --ignore-unlinked is given. Linked is not called, and a record
naming no functions leaves the finding as it is.

The database is --db, $` + vulndb.EnvDB + ` or ` + displayDefaultDB() + `;
--db sample uses the small embedded demo data.

` + imageRefHelp,
		Example: `  credence scan --db sample testdata/images/sample
  credence scan oci:./layout --fail-on high --ignore accepted.yaml
  credence scan docker-archive:app.tar -o sarif > app.sarif`,
		Args: cobra.ExactArgs(1),
	}
	out := addOutputFlag(cmd, "table", "table", "json", "sarif", "cyclonedx-json")
	imgFlags := addImageFlags(cmd)
	db := addDBFlag(cmd)
	failOn := cmd.Flags().String("fail-on", "", "exit 1 when a finding is at or above this severity: critical, high, medium, low, or kev")
	ignoreFile := cmd.Flags().String("ignore", "", "file of accepted risks (YAML or JSON)")
	maxAge := cmd.Flags().Duration("max-db-age", 7*24*time.Hour, "warn when the database's data is older than this (0: never)")
	allowUnknown := cmd.Flags().Bool("allow-unknown", false, "let packages that could not be checked pass --fail-on (they are still reported)")
	ignoreUnlinked := cmd.Flags().Bool("ignore-unlinked", false, "let Go findings whose vulnerable code is not linked into the binary pass --fail-on (they are still reported)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		stderr := cmd.ErrOrStderr()
		var threshold match.Level
		if *failOn != "" && *failOn != "kev" {
			l, err := match.ParseLevel(*failOn)
			if err != nil || l == match.None {
				return usagef("--fail-on %q: use critical, high, medium, low or kev", *failOn)
			}
			threshold = l
		}
		var rules []match.IgnoreRule
		if *ignoreFile != "" {
			f, err := os.Open(*ignoreFile)
			if err != nil {
				return usagef("--ignore: %v", err)
			}
			rules, err = match.ParseIgnores(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", *ignoreFile, err)
			}
		}
		src, st, closeDB, err := db.open(cmd.Context())
		if err != nil {
			return err
		}
		defer closeDB()
		var warnings []string
		if db.resolve() == sampledb.Name {
			warnings = append(warnings, "using the embedded sample database: a few dozen advisories for the demo image, not a real vulnerability database")
		} else if t := st.OldestData(); *maxAge > 0 && !t.IsZero() && time.Since(t) > *maxAge {
			warnings = append(warnings, fmt.Sprintf("vulnerability data is %s old (oldest source as of %s): run 'credence db update'", age(time.Since(t)), dateOf(t)))
		}

		start := time.Now()
		img, inv, err := imgFlags.inventory(cmd.Context(), args[0], stderr)
		if err != nil {
			return err
		}
		invTime := time.Since(start)
		res, err := match.Match(cmd.Context(), src, inv.Packages, match.WithDistro(inv.Distro))
		if err != nil {
			return err
		}
		warnings = append(warnings, match.ApplyIgnores(res.Findings, rules, time.Now())...)
		for _, g := range res.Coverage.Gaps {
			warnings = append(warnings, fmt.Sprintf("%s not checked (%s): %s: unknown, not safe", count(len(g.Packages), "package", "packages"), g.Reason, g.Detail))
		}
		for _, m := range inv.Status.Warnings {
			warnings = append(warnings, m)
		}
		for _, e := range inv.Status.FileErrors {
			warnings = append(warnings, fmt.Sprintf("%s could not read %s (layer %d): %s", e.Extractor, e.Path, e.Layer, e.Error))
		}
		sum := summarize(res)
		rep := scanReport{Image: img, Distro: inv.Distro, Database: dbInfo(st), Summary: sum, Findings: res.Findings, Coverage: res.Coverage, Undecided: res.Undecided, Matchers: res.Matchers, Warnings: warnings,
			Timing: timing{InventoryNs: invTime, MatchNs: res.Duration}}
		if rep.Warnings == nil {
			rep.Warnings = []string{}
		}
		w := cmd.OutOrStdout()
		switch out.format {
		case "json":
			err = writeJSON(w, rep)
		case "sarif":
			err = sarif.WriteImage(w, sarif.Image{ImageRef: img.Reference, ImageID: img.ID(), Findings: res.Findings, Coverage: res.Coverage})
		case "cyclonedx-json":
			bom := sbom.CycloneDX(img, inv)
			sbom.AddVulnerabilities(bom, res.Findings)
			sbom.AddCoverage(bom, res.Coverage)
			err = sbom.WriteCycloneDX(w, bom)
		default:
			err = printScan(w, img, inv, rep)
		}
		if err != nil {
			return err
		}
		for _, m := range warnings {
			fmt.Fprintf(stderr, "warning: %s\n", m)
		}
		return failure(res, gate{threshold: threshold, kev: *failOn == "kev", unknown: *failOn != "" && !*allowUnknown, unlinked: !*ignoreUnlinked})
	}
	return cmd
}

// gate is what --fail-on checks.
type gate struct {
	threshold match.Level
	kev       bool
	// unknown: packages that could not be checked fail the gate.
	unknown bool
	// unlinked: Go findings whose vulnerable code is not linked into the
	// binary count (the default: not linked is shown, never hidden, and
	// gates unless --ignore-unlinked).
	unlinked bool
}

// failure returns a policy failure when an open vulnerability crosses the
// threshold (accepted ones do not count; a finding with one open still
// does), or, unless unknown is allowed, when a package could not be checked.
func failure(res *match.Result, g gate) error {
	threshold, kev := g.threshold, g.kev
	if threshold == "" && !kev {
		return nil
	}
	n, passed := 0, 0
	for i := range res.Findings {
		f := &res.Findings[i]
		if (kev && f.OpenKEV() != nil) || (threshold != "" && f.OpenSeverity().Level.Rank() >= threshold.Rank()) {
			if !g.unlinked && f.NotLinked() {
				passed++
				continue
			}
			n++
		}
	}
	var why []string
	if n > 0 {
		what := "at or above " + string(threshold)
		if kev {
			what = "in the CISA KEV catalog"
		}
		why = append(why, fmt.Sprintf("%s %s", count(n, "finding", "findings"), what))
		if passed > 0 {
			why[0] += fmt.Sprintf(" (and %s not linked into their binaries, let pass by --ignore-unlinked)", count(passed, "finding", "findings"))
		}
	}
	if g.unknown && !res.Coverage.Complete {
		why = append(why, fmt.Sprintf("%s (unknown is not clean; --allow-unknown lets them pass)", res.Coverage))
	}
	if len(why) == 0 {
		return nil
	}
	return &policyFailure{strings.Join(why, "; ") + " (--fail-on)"}
}

type scanReport struct {
	Image     *image.Image      `json:"image"`
	Distro    *inventory.Distro `json:"distro,omitempty"`
	Database  database          `json:"database"`
	Summary   summary           `json:"summary"`
	Findings  []match.Finding   `json:"findings"`
	Coverage  match.Coverage    `json:"coverage"`
	Undecided []match.Undecided `json:"undecided,omitempty"`
	Matchers  []string          `json:"matchers"`
	Warnings  []string          `json:"warnings"`
	Timing    timing            `json:"timing"`
}

type timing struct {
	InventoryNs time.Duration `json:"inventoryNs"`
	MatchNs     time.Duration `json:"matchNs"`
}

type database struct {
	Path       string    `json:"path"`
	Built      time.Time `json:"built,omitzero"`
	OldestData time.Time `json:"oldestData,omitzero"`
	Advisories int       `json:"advisories"`
}

func dbInfo(st *vulndb.Status) database {
	return database{Path: st.Path, Built: st.Built, OldestData: st.OldestData(), Advisories: st.Advisories}
}

type summary struct {
	Findings   int            `json:"findings"`
	Packages   int            `json:"packages"`
	BySeverity map[string]int `json:"bySeverity"`
	KEV        int            `json:"kev"`
	NoFix      int            `json:"noFixYet"`
	PartlyFix  int            `json:"partlyFixed"`
	Suppressed int            `json:"suppressed"`
	// PartlyAccepted are open findings some of whose vulnerabilities an
	// ignore rule accepts.
	PartlyAccepted int `json:"partlyAccepted"`
	// NotLinked are open Go findings whose vulnerable code is not linked
	// into the binary (counted in Findings too: shown, never hidden).
	NotLinked int `json:"notLinked"`
	Undecided int `json:"undecided"`
	// Unchecked are the packages that could not be checked (coverage gaps).
	Unchecked int `json:"unchecked"`
}

// summarize counts open findings by their open severity and KEV status.
func summarize(res *match.Result) summary {
	s := summary{BySeverity: map[string]int{}, Undecided: len(res.Undecided), Unchecked: len(res.Coverage.Unchecked())}
	pkgs := map[*inventory.Package]bool{}
	for i := range res.Findings {
		f := &res.Findings[i]
		if f.Suppressed != nil {
			s.Suppressed++
			continue
		}
		if len(f.Open()) < len(f.Vulnerabilities) {
			s.PartlyAccepted++
		}
		s.Findings++
		pkgs[f.Package] = true
		s.BySeverity[string(f.OpenSeverity().Level)]++
		if f.OpenKEV() != nil {
			s.KEV++
		}
		if f.NotLinked() {
			s.NotLinked++
		}
		switch f.FixState {
		case match.NoFixYet:
			s.NoFix++
		case match.FixPartial:
			s.PartlyFix++
		}
	}
	s.Packages = len(pkgs)
	return s
}

func printScan(w io.Writer, img *image.Image, inv *inventory.Inventory, rep scanReport) error {
	fmt.Fprintf(w, "Image:    %s\n", img.Reference)
	if inv.Distro != nil {
		fmt.Fprintf(w, "Distro:   %s (%s)%s\n", inv.Distro.PrettyName, cmp.Or(inv.Distro.Ecosystem, "no OSV ecosystem"), distroNote(inv.Distro, rep.Coverage))
	}
	fmt.Fprintf(w, "Database: %s (%s", rep.Database.Path, count(rep.Database.Advisories, "advisory", "advisories"))
	if !rep.Database.OldestData.IsZero() {
		fmt.Fprintf(w, ", data as of %s", dateOf(rep.Database.OldestData))
	}
	fmt.Fprintf(w, ")\nPackages: %d\n\n", len(inv.Packages))
	if len(rep.Findings) > 0 {
		t := newTable(w, "PACKAGE", "VERSION", "TYPE", "LAYER", "VULNERABILITY", "SEVERITY", "FIXED IN", "KEV", "NOTE")
		var last *inventory.Package
		for _, f := range rep.Findings {
			p := f.Package
			name, ver, typ, layer := match.CanonicalName(p), p.Version, p.Type, ""
			if p.Layer != nil {
				layer = strconv.Itoa(p.Layer.Index)
			}
			if p == last {
				name, ver, typ, layer = "", "", "", ""
			}
			last = p
			sev := string(f.Severity.Level)
			if f.Severity.Score > 0 {
				sev += " " + strconv.FormatFloat(f.Severity.Score, 'f', 1, 64)
			}
			fixed := strings.Join(f.Fixed, ", ")
			switch f.FixState {
			case match.NoFixYet:
				fixed = "no fix yet"
			case match.FixPartial:
				fixed += " (partly: " + unfixed(&f) + " no fix yet)"
			}
			kev := ""
			if f.KEV != nil {
				kev = "KEV " + f.KEV.DateAdded
				if f.KEV.KnownRansomwareCampaignUse == "Known" {
					kev += " ransomware"
				}
			}
			if kev == "" && len(f.RelatedKEV) > 0 {
				kev = "related " + f.RelatedKEV[0].CVE + " in KEV " + f.RelatedKEV[0].DateAdded
			}
			note := ""
			if f.Suppressed != nil {
				note = "suppressed: " + f.Suppressed.Reason
			} else if open := f.Open(); len(open) < len(f.Vulnerabilities) {
				note = acceptedNote(&f, open)
			}
			if f.NotLinked() {
				note = strings.TrimPrefix(note+"; not linked into the binary", "; ")
			}
			id := f.ID
			if cves := f.CVEs(); len(cves) > 0 && !strings.HasPrefix(id, "CVE-") {
				id += " (" + cves[0]
				if len(cves) > 1 {
					id += fmt.Sprintf(" +%d", len(cves)-1)
				}
				id += ")"
			}
			if name == "" {
				name, ver, typ, layer = " ", " ", " ", " "
			}
			t.row(name, ver, typ, layer, id, sev, fixed, kev, note)
		}
		if err := t.flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	s := rep.Summary
	var parts []string
	for _, l := range []match.Level{match.Critical, match.High, match.Medium, match.Low, match.Unknown} {
		if n := s.BySeverity[string(l)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, l))
		}
	}
	fmt.Fprintf(w, "%s in %s", count(s.Findings, "vulnerability", "vulnerabilities"), count(s.Packages, "package", "packages"))
	if len(parts) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "; %d in CISA KEV; %d with no fix yet; %d suppressed; %d undecided", s.KEV, s.NoFix, s.Suppressed, s.Undecided)
	if s.PartlyFix > 0 {
		fmt.Fprintf(w, "; %d partly fixed", s.PartlyFix)
	}
	if s.PartlyAccepted > 0 {
		fmt.Fprintf(w, "; %d partly accepted", s.PartlyAccepted)
	}
	if s.NotLinked > 0 {
		fmt.Fprintf(w, "; %s not linked into the binary", count(s.NotLinked, "finding", "findings"))
	}
	fmt.Fprintf(w, "; %s not checked\n", count(s.Unchecked, "package", "packages"))
	printCoverage(w, rep.Coverage)
	return nil
}

// printCoverage lists, per reason, the packages that could not be checked.
func printCoverage(w io.Writer, c match.Coverage) {
	if c.Complete {
		return
	}
	fmt.Fprintf(w, "\nNot checked (unknown, not clean):\n")
	for _, g := range c.Gaps {
		fmt.Fprintf(w, "  %s: %s: %s\n", g.Reason, count(len(g.Packages), "package", "packages"), g.Detail)
		var line string
		for _, p := range g.Packages {
			item := match.CanonicalName(p) + " " + p.Version
			if line != "" && len(line)+len(item) > 100 {
				fmt.Fprintf(w, "    %s,\n", line)
				line = ""
			}
			if line != "" {
				line += ", "
			}
			line += item
		}
		fmt.Fprintf(w, "    %s\n", line)
	}
}

// unfixed names the vulnerabilities of f with a range that has no fix.
func unfixed(f *match.Finding) string {
	var ids []string
	for _, v := range f.Vulnerabilities {
		if v.FixState != match.FixAvailable {
			ids = append(ids, v.ID)
		}
	}
	return strings.Join(ids, ", ")
}

// acceptedNote says which vulnerabilities of a partly accepted finding are
// accepted, and what stays open.
func acceptedNote(f *match.Finding, open []match.Vulnerability) string {
	var acc, rest []string
	for _, v := range f.Vulnerabilities {
		if v.Suppressed != nil {
			acc = append(acc, v.ID+" ("+v.Suppressed.Reason+")")
		}
	}
	for _, v := range open {
		rest = append(rest, v.ID)
	}
	s := f.OpenSeverity()
	return "accepted " + strings.Join(acc, ", ") + "; open: " + strings.Join(rest, ", ") + " (" + string(s.Level) + ")"
}

// distroNote says, on the Distro line, when the image's OS packages could
// not be checked at all.
func distroNote(d *inventory.Distro, c match.Coverage) string {
	for _, g := range c.Gaps {
		switch {
		case g.Reason == match.GapNoRecords && g.Ecosystem == d.Ecosystem:
			return ": the database holds no advisories for it, its packages are not checked"
		case g.Reason == match.GapNoOSVEcosystem || g.Reason == match.GapUnrecognisedOS:
			return ": " + g.Detail
		}
	}
	return ""
}
