//go:build !node && !scan

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/policy"
	"github.com/credence-dev/credence/provenance"
	"github.com/credence-dev/credence/report/sarif"
)

// CheckVersion is the version of check's JSON output.
const CheckVersion = "credence.dev/check/v1"

func newCheckCmd() *cobra.Command {
	var (
		manifests, baseline  string
		policies, registries []string
		list                 bool
		show                 string
		verifyTime           time.Duration
		f                    trustFlags
	)
	cmd := &cobra.Command{
		Use:   "check -f MANIFESTS [--policy FILE]... [--images DIR]... [--key FILE | --certificate-identity ...]",
		Short: "The CI gate: decide allow, warn or deny for every workload in manifests, from policies in CEL",
		Long: `check decides whether the workloads in a set of manifests may be deployed.
It assesses them as 'credence assess' does (images resolved and scanned once,
findings, posture, blast radius; provenance verified when you say whom to
trust), then evaluates policies over each workload's Subject and prints one
decision per workload: allow, warn or deny, with every failing rule and its
evidence (the findings, Pod Security checks, signatures or attack paths that
made it fail).

Exit codes: 0 when nothing is denied (warnings do not fail; audit is only
recorded), 1 when a workload is denied, 2 on bad input (a policy that does
not load, manifests that do not parse).

Without --policy, the default policy enforces two built-in packs:
credence-pss-baseline@v1 and credence-no-kev@v1.

POLICY FILES (YAML, apiVersion policy.credence.dev/v1, kind Policy):

  apiVersion: policy.credence.dev/v1
  kind: Policy
  metadata: {name: shop-production}
  spec:
    failureMode: fail-closed      # or fail-open: an evaluation error warns instead of denying
    costLimit: 1000000            # CEL cost units per expression
    match:                        # which workloads and containers (all given must match)
      namespaces: [shop, "shop-*"]          # globs
      excludeNamespaces: ["shop-test-*"]
      labelSelector: {matchLabels: {tier: web}}   # or matchExpressions
      images: ["registry.example.com/**"]   # globs: * within a path segment, ** across
      imageRegexps: ["^ghcr\\.io/org/"]
    packs:                        # versioned built-in packs (--list-packs)
      - name: credence-no-kev@v1
      - name: credence-slsa@v1
        mode: warn                # enforce (deny), warn, audit (record only)
        parameters: {builders: ["https://github.com/actions/runner/"], repositories: ["https://github.com/org/"]}
    parameters: {maxRisk: 50}     # read by custom rules as params
    rules:
      - id: risk-budget
        scope: workload           # or container: evaluated per container, with 'container'
        expression: subject.risk.score <= double(params.maxRisk)    # CEL, true = passes
        messageExpression: "'risk ' + string(subject.risk.score)"  # or message: static text
        evidence: "[subject.risk.why]"   # optional CEL list of strings
        mode: enforce
        unknown: fail             # fail (default) | pass | evaluate
    exemptions:
      - name: vendor-worker
        reason: the vendor ships it unsigned (SEC-1234)
        expires: 2026-12-31
        rules: [credence-signed@v1]        # packs or rule ids; none = every rule
        workloads: ["shop/worker"]          # and/or namespaces, labelSelector, images

Rules see 'subject' (workload: namespace, kind, name, labels, podSecurity;
containers; risk) and, in container scope, 'container' (image: reference,
registry, repository, tag, digest, pinned, scanned; findings: id, aliases,
package, version, severity, severityRank, kev, ransomware, fixable, epss;
counts; exploit; exposure; posture; provenance: status, step, authority,
signer, attestations, slsa, vulnScans, testResults, sarif; blastRadius:
assets and paths, each new or not against the baseline). The README's
"Policy" section lists every field.

UNKNOWN NEVER PASSES: a rule that reads findings of an image that was not
scanned, or a provenance verdict that was never made, fails (deny when
enforced) unless the rule says unknown: pass or evaluate. A provenance check
that could not complete (registry down) is an evaluation error and follows
failureMode, as do rules over their cost limit.

PROVENANCE: give whom to trust (--key, or --certificate-identity and
--certificate-oidc-issuer, with --trusted-root) and every distinct image is
verified once in its registry (the authorities are named "key" and
"identity"). Without them, provenance is "not-checked". --offline touches no
registry, so it cannot verify.

NEW PATHS: credence-no-new-critical-path@v1 compares each container's paths
to critical assets with --baseline (a previous 'credence assess -o json'),
or, without it, with no path at all.`,
		Example: `  credence check -f deploy/ --images ./images --db sample --offline
  credence check -f deploy/ --policy policy.yaml --key cosign.pub --trusted-root trusted_root.json
  credence check -f deploy/ --policy policy.yaml --baseline main-assessment.json -o sarif > check.sarif
  credence check --list-packs`,
	}
	fl := cmd.Flags()
	fl.StringVarP(&manifests, "manifests", "f", "", "the manifests to check: a directory, a file, or - for standard input")
	fl.StringArrayVar(&policies, "policy", nil, "policy file (YAML); repeatable; default: credence-pss-baseline@v1 and credence-no-kev@v1 enforced")
	fl.StringVar(&baseline, "baseline", "", "previous assessment (credence assess -o json) the new paths to critical assets are compared with (default: no path at all)")
	sf := addSubjectFlags(cmd, "never contact a registry: images not in --images are unknown, and provenance cannot be verified")
	fl.DurationVar(&verifyTime, "verify-timeout", assess.DefaultVerifyTimeout, "give up verifying one image's provenance after this long (a transient error)")
	fl.StringArrayVar(&f.keys, "key", nil, "verify provenance: trust signatures by this PEM public key (authority \"key\"); repeatable")
	f.addIdentity(cmd)
	fl.StringArrayVar(&f.trustedRoots, "trusted-root", nil, "sigstore trusted_root.json to trust (repeatable); no network is used for it")
	fl.BoolVar(&f.ignoreTlog, "insecure-ignore-tlog", false, "accept signatures with no transparency-log entry (air-gapped keys only)")
	fl.StringArrayVar(&registries, "trusted-registry", nil, "provenance: accept only images under this registry or registry/path prefix (repeatable)")
	fl.BoolVar(&list, "list-packs", false, "list the built-in packs and their parameters, and exit")
	fl.StringVar(&show, "show-pack", "", "print a built-in pack's source (NAME@VERSION), and exit")
	out := addOutputFlag(cmd, "table", "table", "json", "sarif")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		w, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
		if list {
			return printPacks(w)
		}
		if show != "" {
			b, ok := policy.PackSource(show)
			if !ok {
				return usagef("--show-pack %q: no such built-in pack (%s)", show, strings.Join(policy.PackNames(), ", "))
			}
			_, err := w.Write(b)
			return err
		}
		if manifests == "" {
			return usagef("say what to check: -f MANIFESTS (a directory, a file, or -)")
		}
		engine, err := loadPolicies(policies)
		if err != nil {
			return err
		}
		var base policy.Baseline
		if baseline != "" {
			if base, err = loadBaseline(baseline); err != nil {
				return err
			}
		}
		var opts []assess.Option
		wantsProvenance := len(f.keys) > 0 || f.identity != "" || f.identityRegexp != "" || f.issuer != "" || f.issuerRegexp != ""
		if wantsProvenance {
			if sf.offline {
				return usagef("--offline cannot verify provenance (signatures live in the registry): drop --offline, or the --key/--certificate-* flags")
			}
			v, p, err := provenanceVerifier(&f, registries)
			if err != nil {
				return err
			}
			opts = append(opts, assess.WithProvenance(v, p), assess.WithVerifyTimeout(verifyTime))
		} else if len(registries) > 0 || len(f.trustedRoots) > 0 {
			return usagef("--trusted-registry and --trusted-root need whom to trust: --key, or --certificate-identity and --certificate-oidc-issuer")
		}
		snap, err := cluster.FromManifests(cmd.Context(), manifests, cluster.WithStdin(cmd.InOrStdin()))
		if err != nil {
			return usageErr(fmt.Errorf("load manifests: %w", err))
		}
		run, err := sf.open(cmd.Context(), stderr, nil)
		if err != nil {
			return err
		}
		defer run.Close()
		warnings := run.warnings
		a, err := run.assess(cmd.Context(), stderr, snap, opts...)
		if err != nil {
			return err
		}
		res := runChecks(engine, a, base)
		switch out.format {
		case "json":
			err = writeJSON(w, res)
		case "sarif":
			err = writeCheckSARIF(w, res, engine)
		default:
			err = printCheck(w, res)
		}
		if err != nil {
			return err
		}
		for _, m := range append(warnings, a.Unknowns...) {
			fmt.Fprintf(stderr, "warning: %s\n", m)
		}
		if res.Summary.Deny > 0 {
			var denied []string
			for _, d := range res.Decisions {
				if d.Outcome == policy.Deny {
					denied = append(denied, d.Workload)
				}
			}
			return &policyFailure{fmt.Sprintf("%d of %s denied: %s", len(denied), count(len(res.Decisions), "workload", "workloads"), joinMax(denied, 10))}
		}
		return nil
	}
	return cmd
}

// loadPolicies reads and compiles the policy files (or the default policy).
func loadPolicies(paths []string) (*policy.Engine, error) {
	var docs []*policy.Document
	if len(paths) == 0 {
		docs = policy.DefaultPolicy()
	}
	for _, p := range paths {
		b, err := readBounded(p, policy.MaxFileSize)
		if err != nil {
			return nil, usagef("--policy: %v", err)
		}
		ds, err := policy.Parse(p, b)
		if err != nil {
			return nil, usageErr(err)
		}
		docs = append(docs, ds...)
	}
	e, err := policy.Compile(docs)
	if err != nil {
		return nil, usageErr(err)
	}
	return e, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes", path, limit)
	}
	return b, nil
}

// loadBaseline reads a previous assessment.
func loadBaseline(path string) (policy.Baseline, error) {
	b, err := readBounded(path, 512<<20)
	if err != nil {
		return nil, usagef("--baseline: %v", err)
	}
	var a assess.Assessment
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, usagef("--baseline %s: not an assessment (credence assess -o json): %v", path, err)
	}
	if a.Version != assess.SchemaVersion {
		return nil, usagef("--baseline %s: version %q, want %s (credence assess -o json)", path, a.Version, assess.SchemaVersion)
	}
	return policy.BaselineFromAssessment(&a, "the assessment in "+path), nil
}

func provenanceVerifier(f *trustFlags, registries []string) (*provenance.Verifier, *provenance.Policy, error) {
	auths, err := f.authorities()
	if err != nil {
		return nil, nil, err
	}
	trust, err := f.trust()
	if err != nil {
		return nil, nil, err
	}
	var opts []provenance.PolicyOption
	for _, a := range auths {
		opts = append(opts, provenance.WithAuthority(a))
	}
	if len(registries) > 0 {
		opts = append(opts, provenance.WithTrustedRegistries(registries...))
	}
	p, err := provenance.NewPolicy(opts...)
	if err != nil {
		return nil, nil, usageErr(err)
	}
	v, err := provenance.NewVerifier(trust, provenance.WithRemoteOptions(remote.WithAuthFromKeychain(authn.DefaultKeychain)))
	if err != nil {
		return nil, nil, usageErr(err)
	}
	return v, p, nil
}

// checkResult is check's output: one decision per workload.
type checkResult struct {
	Version      string            `json:"version"`
	Source       string            `json:"source"`
	PolicyDigest string            `json:"policyDigest"`
	Baseline     string            `json:"baseline"`
	Decisions    []policy.Decision `json:"decisions"`
	Summary      checkSummary      `json:"summary"`
	// Unknowns are what the assessment could not establish.
	Unknowns []string `json:"unknowns,omitempty"`
}

type checkSummary struct {
	Workloads int `json:"workloads"`
	Allow     int `json:"allow"`
	Warn      int `json:"warn"`
	Deny      int `json:"deny"`
}

func runChecks(e *policy.Engine, a *assess.Assessment, base policy.Baseline) *checkResult {
	images := policy.NewImageIndex(a.Images...)
	res := &checkResult{Version: CheckVersion, Source: a.Source, PolicyDigest: e.Digest(), Baseline: "no path at all",
		Decisions: []policy.Decision{}, Unknowns: a.Unknowns}
	if base != nil {
		res.Baseline = base.Describe()
	}
	for i := range a.Subjects {
		d := e.Evaluate(policy.Input{Subject: &a.Subjects[i], Images: images, Baseline: base, Now: a.Generated})
		res.Decisions = append(res.Decisions, d)
		switch d.Outcome {
		case policy.Deny:
			res.Summary.Deny++
		case policy.WarnOutcome:
			res.Summary.Warn++
		default:
			res.Summary.Allow++
		}
	}
	sort.SliceStable(res.Decisions, func(i, j int) bool { return res.Decisions[i].Workload < res.Decisions[j].Workload })
	res.Summary.Workloads = len(res.Decisions)
	return res
}

func printCheck(w io.Writer, res *checkResult) error {
	fmt.Fprintf(w, "Checked:  %s (%s)\n", res.Source, count(res.Summary.Workloads, "workload", "workloads"))
	fmt.Fprintf(w, "Policy:   %s\n", res.PolicyDigest)
	fmt.Fprintf(w, "Result:   %d denied, %d warned, %d allowed\n\n", res.Summary.Deny, res.Summary.Warn, res.Summary.Allow)
	t := newTable(w, "DECISION", "WORKLOAD", "RULES NOT PASSED")
	for _, d := range res.Decisions {
		var rules []string
		for _, f := range d.Failures {
			rules = append(rules, f.Rule+" ("+string(f.Effect)+")")
		}
		t.row(strings.ToUpper(string(d.Outcome)), d.Workload, strings.Join(rules, ", "))
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, d := range res.Decisions {
		if len(d.Failures) == 0 && len(d.Exempted) == 0 && len(d.Notes) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s %s\n", strings.ToUpper(string(d.Outcome)), d.Workload)
		for _, f := range d.Failures {
			fmt.Fprintf(w, "  %-5s %s [%s]: %s\n", f.Effect, f.Rule, f.Result, oneLine(f.Message))
			for _, ev := range f.Evidence {
				who := ""
				if ev.Container != "" {
					who = "container " + ev.Container + ": "
				}
				for _, it := range ev.Items {
					fmt.Fprintf(w, "          - %s%s\n", who, oneLine(it))
				}
				if ev.Result != policy.Fail && len(f.Evidence) > 1 {
					fmt.Fprintf(w, "          - %s%s\n", who, oneLine(ev.Message))
				}
			}
		}
		for _, x := range d.Exempted {
			what := ""
			if len(x.Containers) > 0 {
				what = " (containers " + strings.Join(x.Containers, ", ") + ")"
			}
			fmt.Fprintf(w, "  exempt %s%s by %s: %s\n", x.Rule, what, x.Exemption, x.Reason)
		}
		for _, n := range d.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	return nil
}

func printPacks(w io.Writer) error {
	for i, p := range policy.Packs() {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\n  %s\n  rules: %s\n", p.ID, p.Description, strings.Join(p.Rules, ", "))
		for _, prm := range p.Parameters {
			fmt.Fprintf(w, "  parameter %s\n", prm)
		}
	}
	return nil
}

// writeCheckSARIF writes SARIF 2.1.0: one rule per policy rule, one result
// per rule that did not pass, per workload.
func writeCheckSARIF(w io.Writer, res *checkResult, e *policy.Engine) error {
	run := sarif.Run{Results: []sarif.Result{}, Properties: map[string]any{"source": res.Source, "policyDigest": res.PolicyDigest, "baseline": res.Baseline}}
	run.Tool = sarif.Credence("", []sarif.Rule{})
	index := map[string]int{}
	for _, r := range e.Rules() {
		if _, ok := index[r.ID]; ok {
			continue
		}
		index[r.ID] = len(run.Tool.Driver.Rules)
		desc := r.Description
		if desc == "" {
			desc = "Policy rule " + r.ID
		}
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarif.Rule{ID: r.ID, ShortDescription: sarif.Message{Text: desc},
			FullDescription: &sarif.Message{Text: "CEL: " + r.Expression},
			Properties:      map[string]any{"policy": r.Policy, "mode": r.Mode, "scope": r.Scope, "tags": []string{"security", "policy"}}})
	}
	level := map[policy.Effect]string{policy.EffectDeny: "error", policy.EffectWarn: "warning", policy.EffectAudit: "note", policy.EffectPass: "none"}
	for _, d := range res.Decisions {
		for _, f := range d.Failures {
			var items []string
			for _, ev := range f.Evidence {
				for _, it := range ev.Items {
					if ev.Container != "" {
						it = ev.Container + ": " + it
					}
					items = append(items, it)
				}
			}
			msg := fmt.Sprintf("%s %s: %s", strings.ToUpper(string(f.Effect)), d.Workload, f.Message)
			if len(items) > 0 {
				msg += " (" + strings.Join(items, "; ") + ")"
			}
			locs := []sarif.LogicalLocation{{Name: d.Workload[strings.LastIndex(d.Workload, "/")+1:], FullyQualifiedName: d.Workload, Kind: "module"}}
			for _, ev := range f.Evidence {
				if ev.Container != "" {
					locs = append(locs, sarif.LogicalLocation{Name: ev.Container, FullyQualifiedName: d.Workload + "/" + ev.Container, Kind: "object"})
				}
			}
			run.Results = append(run.Results, sarif.Result{RuleID: f.Rule, RuleIndex: index[f.Rule], Level: level[f.Effect],
				Message: sarif.Message{Text: msg}, Locations: []sarif.Location{{LogicalLocations: locs}},
				PartialFingerprints: map[string]string{"credence/v1": "check|" + d.Workload + "|" + f.Rule},
				Properties:          map[string]any{"decision": d.Outcome, "effect": f.Effect, "result": f.Result, "mode": f.Mode}})
		}
	}
	return sarif.Write(w, run)
}
