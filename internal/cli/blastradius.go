//go:build !node && !scan

package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
)

// defaultMemoryLimit is the soft memory limit of blast-radius (GOMEMLIMIT
// overrides it): at the issue-5 size the live heap is about 0.35 GiB while
// cuts are scored; without a limit the peak doubles.
const defaultMemoryLimit = 640 << 20

func newBlastRadiusCmd() *cobra.Command {
	var (
		from, criticalSel string
		criticalNS        []string
		all               bool
		maxDepth, paths   int
		top, cuts, cands  int
		minLikelihood     float64
		wsGet             bool
	)
	cmd := &cobra.Command{
		Use:   "blast-radius (--from NS/POD[/CONTAINER] | --all)",
		Short: "If this container is compromised, what else falls, by which steps, and which change cuts the most",
		Long: `blast-radius builds one trust graph of the cluster (NetworkPolicy reach, RBAC
and its escalation primitives, escapes to the node weighed by isolation,
service account tokens, shared volumes and process namespaces, node
co-location) and queries it from one container: the critical assets it
reaches (cluster-admin equivalents, nodes, secrets, cloud credentials,
anything in critical namespaces), the most likely explained path to each,
how much it reaches, and the single changes that cut the most.

Risk is the sum, over the critical assets reached, of the likelihood of
the most likely path to each. A change is scored by applying it to the
snapshot (the changed pod spec, its recomputed posture, every edge that
depended on it), rebuilding the graph and searching again: its risk cut is
the drop in that sum. When no single change lowers it, the output says so.

--all ranks every container by what it exposes.

Unknown is never safe: steps the snapshot cannot settle (an unknown
NetworkPolicy verdict, unknown exploitability, unreadable objects) are kept
with a lower likelihood and marked unknown.`,
		Example: `  credence blast-radius --manifests deploy/ --from shop/web
  credence blast-radius --context prod --from shop/web-7d9f/nginx -o dot | dot -Tsvg > web.svg
  credence blast-radius --manifests deploy/ --all`,
	}
	cf := addClusterFlags(cmd)
	out := addOutputFlag(cmd, "table", "table", "json", "dot")
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "the compromised container: NS/POD[/CONTAINER]; NS/WORKLOAD picks one of the workload's pods")
	fl.BoolVar(&all, "all", false, "rank every container by what it exposes")
	fl.IntVar(&maxDepth, "max-depth", 10, "longest path, in steps")
	fl.Float64Var(&minLikelihood, "min-likelihood", 0.01, "drop paths less likely than this")
	fl.IntVar(&paths, "paths", 10, "explained paths to print")
	fl.IntVar(&cuts, "cuts", 5, "changes to suggest")
	fl.IntVar(&cands, "cut-candidates", 8, "changes to score by applying each to the snapshot and rebuilding the graph (the most frequent on the paths)")
	fl.IntVar(&top, "top", 50, "with --all: containers to print (0: all)")
	fl.StringVar(&criticalSel, "critical-namespace-selector", graph.DefaultCriticalNamespaceSelector, "label selector of critical namespaces")
	fl.StringSliceVar(&criticalNS, "critical-namespaces", []string{"kube-system"}, "critical namespaces by name")
	fl.BoolVar(&wsGet, "exec-by-get", false, "the cluster authorizes exec with get (before 1.35, or AuthorizePodWebsocketUpgradeCreatePermission off)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if (from == "") == !all {
			return usagef("give exactly one of --from NS/POD[/CONTAINER] and --all")
		}
		if all && out.format == "dot" {
			return usagef("-o dot draws the paths of one container: use it with --from")
		}
		if minLikelihood < 0 || minLikelihood > 1 || maxDepth < 1 {
			return usagef("--min-likelihood must be in [0, 1] and --max-depth at least 1")
		}
		if cuts < 0 || cands < 0 {
			return usagef("--cuts and --cut-candidates must not be negative")
		}
		if err := cf.validate(); err != nil {
			return err
		}
		// Scoring cuts rebuilds the graph once per change, two at a time:
		// a soft memory limit makes the collector keep the peak near the
		// live heap (GOMEMLIMIT overrides it).
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(defaultMemoryLimit)
		}
		snap, err := cf.load(cmd.Context(), cmd)
		if err != nil {
			return err
		}
		opts := []graph.Option{graph.WithCriticalNamespaceSelector(criticalSel), graph.WithCriticalNamespaces(criticalNS...)}
		if wsGet {
			opts = append(opts, graph.WithWebSocketExecByGet())
		}
		g, err := graph.Build(snap, opts...)
		if err != nil {
			return err
		}
		qopts := []graph.QueryOption{graph.WithMaxDepth(maxDepth), graph.WithMinLikelihood(minLikelihood), graph.WithMaxPaths(paths),
			graph.WithMaxCuts(cuts), graph.WithMaxCutCandidates(cands)}
		w := cmd.OutOrStdout()
		if all {
			ranked := g.RankAll(qopts...)
			if out.format == "json" {
				return writeJSON(w, map[string]any{"source": snap.Source, "unknowns": g.Unknowns, "assumptions": g.Assumptions, "containers": ranked})
			}
			return renderRanked(w, snap, g, ranked, top)
		}
		key, err := resolveFrom(snap, g, from)
		if err != nil {
			return err
		}
		res, err := g.Query(key, qopts...)
		if err != nil {
			return err
		}
		switch out.format {
		case "json":
			return writeJSON(w, struct {
				Source        string `json:"source"`
				RiskExplained string `json:"riskExplained"`
				*graph.Result
			}{snap.Source, graph.RiskExplained, res})
		case "dot":
			return graph.WriteDOT(w, res)
		}
		return renderBlast(w, snap, res)
	}
	return cmd
}

// resolveFrom turns NS/POD[/CONTAINER] into a container key, or explains
// what exists nearby.
func resolveFrom(snap *cluster.Snapshot, g *graph.Graph, from string) (string, error) {
	parts := strings.Split(from, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return "", usagef("--from %q: want NS/POD or NS/POD/CONTAINER", from)
	}
	if len(parts) == 3 {
		key := graph.ContainerKey(parts[0], parts[1], parts[2])
		if _, ok := g.Lookup(key); ok {
			return key, nil
		}
	} else {
		for _, p := range snap.Pods {
			if p.Namespace == parts[0] && p.Name == parts[1] && len(p.Spec.Containers) > 0 {
				return graph.ContainerKey(p.Namespace, p.Name, p.Spec.Containers[0].Name), nil
			}
		}
		// A workload name: the first of its pods (they are alike).
		for _, p := range snap.Pods {
			if p.Namespace != parts[0] || len(p.Spec.Containers) == 0 {
				continue
			}
			for _, w := range []string{p.Owner, p.Workload} {
				if _, name, ok := strings.Cut(w, "/"); ok && name == parts[1] {
					return graph.ContainerKey(p.Namespace, p.Name, p.Spec.Containers[0].Name), nil
				}
			}
		}
	}
	near := g.NearContainers(from, 5)
	msg := fmt.Sprintf("--from %s: no such container in %s", from, snap.Source)
	if len(near) > 0 {
		msg += "; nearest: " + strings.Join(near, ", ")
	}
	return "", usageErr(errors.New(msg))
}

func pct(p float64) string { return fmt.Sprintf("%.2f", p) }

func renderBlast(w io.Writer, snap *cluster.Snapshot, r *graph.Result) error {
	fmt.Fprintf(w, "Blast radius of %s (%s)\n", r.From, snap.Source)
	if r.Exposure != "" {
		fmt.Fprintf(w, "Exposed to: %s (%s)\n", r.Exposure, r.ExposureWhy)
	}
	fmt.Fprintln(w)
	yes := map[bool]string{true: "YES", false: "no"}
	c, a := r.Counts, r.Closure
	reach := func(c graph.Counts) string {
		return count(c.Containers, "container", "containers") + ", " + count(c.Identities, "identity", "identities") + ", " +
			count(c.Secrets, "secret", "secrets") + ", " + count(c.Nodes, "node", "nodes")
	}
	fmt.Fprintf(w, "Reaches %s; cluster-admin: %s\n", reach(c), yes[c.ClusterAdmin])
	if a != c {
		fmt.Fprintf(w, "  beyond the bounds (any depth, any likelihood): %s; cluster-admin: %s\n", reach(a), yes[a.ClusterAdmin])
	}
	fmt.Fprintln(w)
	if len(r.Assets) == 0 {
		fmt.Fprintln(w, "No critical asset reached within the bounds.")
	} else {
		fmt.Fprintf(w, "Critical assets reached: %d\n", len(r.Assets))
		t := newTable(w, "ASSET", "KIND", "LIKELIHOOD", "STEPS", "WHY CRITICAL")
		for i, as := range r.Assets {
			if i == 15 {
				t.row(fmt.Sprintf("... %d more (-o json lists all)", len(r.Assets)-15), "", "", "", "")
				break
			}
			l := pct(as.Likelihood)
			if as.Unknown {
				l += " (unknown step)"
			}
			t.row(as.Name, string(as.Kind), l, fmt.Sprint(as.Steps), as.Critical)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	for i, p := range r.Paths {
		fmt.Fprintf(w, "\nPath %d: to %s, likelihood %s\n", i+1, p.To, pct(p.Likelihood))
		for j, s := range p.Steps {
			u := ""
			if s.Unknown {
				u = ", unknown"
			}
			fmt.Fprintf(w, "  %d. %s -> %s  [%s %s p=%s%s]\n", j+1, s.From, s.To, s.Kind, s.Technique, pct(s.Likelihood), u)
			if s.Kind != graph.EdgeScopeMember {
				fmt.Fprintf(w, "     %s\n", s.Reason)
			}
			for _, e := range s.Evidence {
				fmt.Fprintf(w, "     evidence: %s\n", e)
			}
			for _, m := range s.Weakened {
				fmt.Fprintf(w, "     weakened: %s\n", m)
			}
		}
	}
	if len(r.Assets) > 0 {
		fmt.Fprintf(w, "\nRisk %s: the sum over the %s of the likelihood of the most likely path to each.\n", pct(r.Risk), count(len(r.Assets), "critical asset", "critical assets"))
	}
	if len(r.Cuts) > 0 {
		fmt.Fprintln(w, "\nChanges that cut the most (each applied on its own to the snapshot, the graph rebuilt and searched again):")
		t := newTable(w, "RANK", "CHANGE", "RISK CUT", "RISK AFTER", "ASSETS CUT", "PATHS WEAKENED")
		for i, c := range r.Cuts {
			t.row(fmt.Sprint(i+1), c.Fix.Summary, pct(c.RiskCut), pct(c.RiskAfter), fmt.Sprint(c.AssetsCut), fmt.Sprint(c.PathsCut))
		}
		if err := t.flush(); err != nil {
			return err
		}
		for i, c := range r.Cuts {
			line := fmt.Sprintf("  %d. applied: %s", i+1, strings.Join(c.Changes, "; "))
			if c.AssetsAdded > 0 {
				line += fmt.Sprintf(" (makes %s reachable)", count(c.AssetsAdded, "other critical asset", "other critical assets"))
			}
			fmt.Fprintln(w, line)
		}
	}
	if r.CutsNote != "" {
		fmt.Fprintf(w, "\nCuts: %s.\n", r.CutsNote)
	}
	if len(r.Blocked) > 0 {
		fmt.Fprintln(w, "\nEscapes removed by mitigations:")
		for _, b := range r.Blocked {
			fmt.Fprintf(w, "  - %s: %s\n", b.Reason, strings.Join(b.Weakened, "; "))
		}
	}
	if len(r.Unknowns) > 0 {
		fmt.Fprintln(w, "\nUnknown (not counted above, and not safe):")
		for _, u := range r.Unknowns {
			fmt.Fprintf(w, "  - %s\n", u)
		}
	}
	if len(r.Assumptions) > 0 {
		fmt.Fprintln(w, "\nAssumed (not in the input):")
		for _, u := range r.Assumptions {
			fmt.Fprintf(w, "  - %s\n", u)
		}
	}
	return nil
}

func renderRanked(w io.Writer, snap *cluster.Snapshot, g *graph.Graph, ranked []graph.Ranked, top int) error {
	fmt.Fprintf(w, "Every container by what it exposes (%s)\n", snap.Source)
	fmt.Fprintln(w, "EXPOSED: reachable before any compromise (internet, node, cluster); then the likelihood of the most likely")
	fmt.Fprintln(w, "path to cluster-admin / a node / any critical asset, and what it reaches at any depth")
	t := newTable(w, "RANK", "CONTAINER", "EXPOSED", "CLUSTER-ADMIN", "NODE", "CRITICAL", "CONTAINERS", "IDENTITIES", "SECRETS", "NODES", "CRITICAL ASSETS")
	for i, r := range ranked {
		if top > 0 && i == top {
			t.row("", fmt.Sprintf("... %d more (--top 0 lists all)", len(ranked)-top), "", "", "", "", "", "", "", "", "")
			break
		}
		c := r.Closure
		t.row(fmt.Sprint(i+1), r.Container, r.Exposure, pct(r.ClusterAdmin), pct(r.Node), pct(r.Critical),
			fmt.Sprint(c.Containers), fmt.Sprint(c.Identities), fmt.Sprint(c.Secrets), fmt.Sprint(c.Nodes), fmt.Sprint(c.CriticalAssets))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(g.Unknowns) > 0 {
		fmt.Fprintln(w, "\nUnknown (not counted above, and not safe):")
		for _, u := range g.Unknowns {
			fmt.Fprintf(w, "  - %s\n", u)
		}
	}
	if len(g.Assumptions) > 0 {
		fmt.Fprintln(w, "\nAssumed (not in the input):")
		for _, u := range g.Assumptions {
			fmt.Fprintf(w, "  - %s\n", u)
		}
	}
	return nil
}
