package cli

import (
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
	"github.com/credence-dev/credence/report"
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

--fail-on critical|high|medium|low|kev exits 1 when an unsuppressed finding
is at or above that severity (kev: in the KEV catalog). --ignore FILE accepts
risks (YAML or JSON: id, optional package, reason, expires); suppressed
findings are still shown, marked. Findings whose severity is unknown do not
trip --fail-on levels; they are counted in the summary.

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
		res, err := match.Match(cmd.Context(), src, inv.Packages)
		if err != nil {
			return err
		}
		warnings = append(warnings, match.ApplyIgnores(res.Findings, rules, time.Now())...)
		if len(res.Undecided) > 0 {
			warnings = append(warnings, fmt.Sprintf("%s could not be evaluated (see undecided in -o json): unknown, not safe", count(len(res.Undecided), "package/advisory pair", "package/advisory pairs")))
		}
		for _, m := range inv.Status.Warnings {
			warnings = append(warnings, m)
		}
		for _, e := range inv.Status.FileErrors {
			warnings = append(warnings, fmt.Sprintf("%s could not read %s (layer %d): %s", e.Extractor, e.Path, e.Layer, e.Error))
		}
		sum := summarize(res)
		rep := scanReport{Image: img, Distro: inv.Distro, Database: dbInfo(st), Summary: sum, Findings: res.Findings, Undecided: res.Undecided, Matchers: res.Matchers, Warnings: warnings,
			Timing: timing{InventoryNs: invTime, MatchNs: res.Duration}}
		if rep.Warnings == nil {
			rep.Warnings = []string{}
		}
		w := cmd.OutOrStdout()
		switch out.format {
		case "json":
			err = writeJSON(w, rep)
		case "sarif":
			err = report.WriteSARIF(w, report.SARIFInput{ImageRef: img.Reference, ImageID: img.ID(), Findings: res.Findings})
		case "cyclonedx-json":
			bom := sbom.CycloneDX(img, inv)
			sbom.AddVulnerabilities(bom, res.Findings)
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
		return failure(res.Findings, threshold, *failOn == "kev")
	}
	return cmd
}

// failure returns a policy failure when an unsuppressed finding crosses the threshold.
func failure(fs []match.Finding, threshold match.Level, kev bool) error {
	if threshold == "" && !kev {
		return nil
	}
	n := 0
	for _, f := range fs {
		if f.Suppressed != nil {
			continue
		}
		if (kev && f.KEV != nil) || (threshold != "" && f.Severity.Level.Rank() >= threshold.Rank()) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	what := "at or above " + string(threshold)
	if kev {
		what = "in the CISA KEV catalog"
	}
	return &policyFailure{fmt.Sprintf("%s %s (--fail-on)", count(n, "finding", "findings"), what)}
}

type scanReport struct {
	Image     *image.Image      `json:"image"`
	Distro    *inventory.Distro `json:"distro,omitempty"`
	Database  database          `json:"database"`
	Summary   summary           `json:"summary"`
	Findings  []match.Finding   `json:"findings"`
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
	Suppressed int            `json:"suppressed"`
	Undecided  int            `json:"undecided"`
}

func summarize(res *match.Result) summary {
	s := summary{BySeverity: map[string]int{}, Undecided: len(res.Undecided)}
	pkgs := map[*inventory.Package]bool{}
	for _, f := range res.Findings {
		if f.Suppressed != nil {
			s.Suppressed++
			continue
		}
		s.Findings++
		pkgs[f.Package] = true
		s.BySeverity[string(f.Severity.Level)]++
		if f.KEV != nil {
			s.KEV++
		}
		if f.FixState == match.NoFixYet {
			s.NoFix++
		}
	}
	s.Packages = len(pkgs)
	return s
}

func printScan(w io.Writer, img *image.Image, inv *inventory.Inventory, rep scanReport) error {
	fmt.Fprintf(w, "Image:    %s\n", img.Reference)
	if inv.Distro != nil {
		fmt.Fprintf(w, "Distro:   %s (%s)\n", inv.Distro.PrettyName, inv.Distro.Ecosystem)
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
			if f.FixState == match.NoFixYet {
				fixed = "no fix yet"
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
	fmt.Fprintf(w, "; %d in CISA KEV; %d with no fix yet; %d suppressed; %d undecided\n", s.KEV, s.NoFix, s.Suppressed, s.Undecided)
	return nil
}
