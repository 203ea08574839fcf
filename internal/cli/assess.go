//go:build !node && !scan

package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/report"
)

func newAssessCmd() *cobra.Command {
	var (
		from, failOn, alerts string
		ignoreFile           string
		allowUnknown         bool
		top                  int
		maxDepth             int
		minLikelihood        float64
		criticalSel          string
		criticalNS           []string
	)
	cmd := &cobra.Command{
		Use:   "assess (--manifests DIR|FILE|- | --kubeconfig FILE [--context NAME])",
		Short: "Rank every workload by how likely it is to be hit and how much it hurts, with the path and the fix",
		Long: `assess answers the question credence exists for: which workloads in this
cluster are likely to be hit, and how far does the damage reach from each?

For every workload it resolves each container's image to a digest (a live
pod's status.imageID; a digest-pinned reference; --images on disk; else the
registry, with the Docker config and the pod's imagePullSecrets), reads each
distinct digest once (--jobs at a time), matches its packages against the
vulnerability database, and turns the findings into the likelihood that an
attacker who can reach the container takes it over (CISA KEV, EPSS, the CVSS
attack vector, severity; see "Exploitability" in the README). That likelihood
weighs the container's network steps in the blast-radius graph; exposure
(internet, node, cluster) says how reachable it is. Each workload is ranked by
likely-to-be-hit × hurts-most-if-hit, with the explained path to the worst
asset it reaches. Then: KEV findings on internet-exposed paths, and the single
changes (cluster or image) that cut the most risk across all workloads.

Inventories are cached by image digest (--cache, default
~/.cache/credence/inventory.db): after 'credence db update', assess re-matches
them without reading a layer.

An image that cannot be resolved or read is unknown (not scanned), never
clean: with --fail-on, a workload that could not be fully assessed fails the
gate unless --allow-unknown.

--alert FILE (or - for stdin) reads runtime alerts in Falco's JSON output
format; each alerted container is marked compromised and assess answers what
else falls from it, the alert being the first step's evidence.

Outputs (-o): table, json (the Subjects, schema ` + assess.SchemaVersion + `), sarif,
html (one self-contained page: the ranking, and per workload its containers
and a picture of its blast radius with each step's reason on hover or click;
no network at view time: open it in any browser, e.g. -o html > report.html).`,
		Example: `  credence assess --manifests testdata/cluster/manifests --images testdata/cluster/images --db sample --offline
  credence assess --context prod --fail-on kev
  credence assess --manifests deploy/ --images ./images --from shop/web -o json
  credence assess --manifests testdata/cluster/manifests --images testdata/cluster/images --db sample --offline -o html > assess.html
  falco -o json_output=true | credence assess --context prod --alert -`,
	}
	cf := addClusterFlags(cmd)
	out := addOutputFlag(cmd, "table", "table", "json", "sarif", "html")
	sf := addSubjectFlags(cmd, "never contact a registry: what --images does not hold is unknown")
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "only this workload: NS/NAME (a workload or pod name)")
	fl.StringVar(&failOn, "fail-on", "", "exit 1 when a finding in an assessed image is at or above this severity (critical, high, medium, low) or in KEV (kev); a workload that could not be fully assessed fails too unless --allow-unknown")
	fl.BoolVar(&allowUnknown, "allow-unknown", false, "with --fail-on: let workloads whose images could not be scanned or fully checked pass")
	fl.StringVar(&ignoreFile, "ignore", "", "file of accepted risks (YAML or JSON; see 'credence scan --help')")
	fl.StringVar(&alerts, "alert", "", "runtime alerts in Falco's JSON output format, one per line (FILE or - for stdin)")
	fl.IntVar(&top, "top", 20, "workloads to print in the table (0: all)")
	fl.IntVar(&maxDepth, "max-depth", 10, "longest attack path, in steps")
	fl.Float64Var(&minLikelihood, "min-likelihood", 0.01, "drop attack paths less likely than this")
	fl.StringVar(&criticalSel, "critical-namespace-selector", graph.DefaultCriticalNamespaceSelector, "label selector of critical namespaces")
	fl.StringSliceVar(&criticalNS, "critical-namespaces", []string{"kube-system"}, "critical namespaces by name")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		stderr := cmd.ErrOrStderr()
		if err := cf.validate(); err != nil {
			return err
		}
		if cf.manifests == "" && cf.kubeconfig == "" && cf.context == "" && os.Getenv("KUBECONFIG") == "" {
			if _, err := os.Stat(homeKubeconfig()); err != nil {
				return usagef("say which cluster: --manifests DIR|FILE|- or --kubeconfig FILE / --context NAME")
			}
		}
		var threshold match.Level
		if failOn != "" && failOn != "kev" {
			l, err := match.ParseLevel(failOn)
			if err != nil || l == match.None {
				return usagef("--fail-on %q: use critical, high, medium, low or kev", failOn)
			}
			threshold = l
		}
		if minLikelihood < 0 || minLikelihood > 1 || maxDepth < 1 {
			return usagef("--min-likelihood must be in [0, 1] and --max-depth at least 1")
		}
		if alerts == "-" && cf.manifests == "-" {
			return usagef("--alert - and --manifests - cannot both read standard input")
		}
		var rules []match.IgnoreRule
		if ignoreFile != "" {
			f, err := os.Open(ignoreFile)
			if err != nil {
				return usagef("--ignore: %v", err)
			}
			rules, err = match.ParseIgnores(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", ignoreFile, err)
			}
		}
		var als []assess.Alert
		var warnings []string
		if alerts != "" {
			r, name := io.Reader(cmd.InOrStdin()), "stdin"
			if alerts != "-" {
				f, err := os.Open(alerts)
				if err != nil {
					return usagef("--alert: %v", err)
				}
				defer f.Close()
				r, name = f, alerts
			}
			var problems []string
			var err error
			als, problems, err = assess.ReadAlerts(r, name)
			if err != nil {
				return err
			}
			warnings = append(warnings, problems...)
		}

		snap, err := cf.load(cmd.Context(), cmd)
		if err != nil {
			return err
		}
		run, err := sf.open(cmd.Context(), stderr, cf)
		if err != nil {
			return err
		}
		defer run.Close()
		warnings = append(warnings, run.warnings...)
		res, err := run.assess(cmd.Context(), stderr, snap,
			assess.WithIgnores(rules), assess.WithAlerts(als),
			assess.WithGraphOptions(graph.WithCriticalNamespaceSelector(criticalSel), graph.WithCriticalNamespaces(criticalNS...)),
			assess.WithQueryOptions(graph.WithMaxDepth(maxDepth), graph.WithMinLikelihood(minLikelihood)))
		if err != nil {
			return err
		}
		if from != "" {
			if err := narrow(res, from); err != nil {
				return err
			}
		}
		w := cmd.OutOrStdout()
		switch out.format {
		case "json":
			err = writeJSON(w, res)
		case "sarif":
			err = report.WriteAssessSARIF(w, res)
		case "html":
			err = report.WriteHTML(w, res, report.WithDatabase(dbLabel(sf.db.resolve(), run.status.Advisories)))
		default:
			err = printAssess(w, res, dbLabel(sf.db.resolve(), run.status.Advisories), top)
		}
		if err != nil {
			return err
		}
		for _, m := range warnings {
			fmt.Fprintf(stderr, "warning: %s\n", m)
		}
		return assessGate(res, threshold, failOn == "kev", allowUnknown)
	}
	return cmd
}

func homeKubeconfig() string {
	h, _ := os.UserHomeDir()
	return h + "/.kube/config"
}

func dbLabel(path string, n int) string {
	return fmt.Sprintf("%s (%s)", path, count(n, "advisory", "advisories"))
}

// narrow keeps the one workload --from names (NS/NAME: a workload or pod).
func narrow(res *assess.Assessment, from string) error {
	ns, name, ok := strings.Cut(from, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return usagef("--from %q: want NS/NAME", from)
	}
	var near []string
	for _, s := range res.Subjects {
		w := s.Workload
		if w.Namespace == ns && (w.Name == name || w.Pod == name) {
			res.Subjects = []assess.Subject{s}
			var kept []assess.ExposedKEV
			for _, k := range res.ExposedKEV {
				if k.Workload == w.Ref() {
					kept = append(kept, k)
				}
			}
			res.ExposedKEV = kept
			return nil
		}
		if w.Namespace == ns || strings.Contains(w.Name, name) {
			near = append(near, w.Ref())
		}
	}
	msg := fmt.Sprintf("--from %s: no such workload in %s", from, res.Source)
	if len(near) > 0 {
		if len(near) > 5 {
			near = near[:5]
		}
		msg += "; nearest: " + strings.Join(near, ", ")
	}
	return usagef("%s", msg)
}

// assessGate fails when a finding of an assessed image crosses the
// threshold, and when a workload could not be fully assessed (unless allowed).
func assessGate(res *assess.Assessment, threshold match.Level, kev, allowUnknown bool) error {
	if threshold == "" && !kev {
		return nil
	}
	byDigest := map[string]*assess.Image{}
	for _, img := range res.Images {
		byDigest[img.Digest] = img
	}
	var failing, unknown []string
	for _, s := range res.Subjects {
		n := 0
		for _, c := range s.Containers {
			img := byDigest[c.Image.Digest]
			if c.Image.Digest == "" || img == nil || img.Status != assess.Scanned {
				continue
			}
			for _, f := range img.Findings {
				if f.Suppressed != nil {
					continue
				}
				if (kev && f.KEV != nil) || (threshold != "" && f.Severity.Level.Rank() >= threshold.Rank()) {
					n++
				}
			}
		}
		if n > 0 {
			failing = append(failing, fmt.Sprintf("%s (%d)", s.Workload.Ref(), n))
		}
		if len(s.Unknowns) > 0 {
			unknown = append(unknown, s.Workload.Ref())
		}
	}
	var msgs []string
	what := "at or above " + string(threshold)
	if kev {
		what = "in the CISA KEV catalog"
	}
	if len(failing) > 0 {
		msgs = append(msgs, fmt.Sprintf("%s with findings %s (--fail-on): %s", count(len(failing), "workload", "workloads"), what, joinMax(failing, 10)))
	}
	if len(unknown) > 0 && !allowUnknown {
		msgs = append(msgs, fmt.Sprintf("%s could not be fully assessed (unknown is not clean; --allow-unknown to pass them): %s", count(len(unknown), "workload", "workloads"), joinMax(unknown, 10)))
	}
	if len(msgs) == 0 {
		return nil
	}
	return &policyFailure{strings.Join(msgs, "; ")}
}

func joinMax(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
}

// parseSize reads "10GiB", "500MB", "123" (bytes).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suf string
		mul int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mul := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suf) {
			s, mul = strings.TrimSpace(strings.TrimSuffix(s, u.suf)), u.mul
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("want a size such as 10GiB or 500MB")
	}
	return int64(f * float64(mul)), nil
}

// phaseProgress prints "scanning images: 3/10" on a terminal.
func phaseProgress(w io.Writer) assess.Progress {
	last := time.Time{}
	return func(phase string, done, total int) {
		if done < total && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		what := map[string]string{"resolve": "resolving images of pods", "scan": "reading images", "match": "matching", "verify": "verifying provenance"}[phase]
		fmt.Fprintf(w, "\r\033[K%s: %d/%d", what, done, total)
	}
}
