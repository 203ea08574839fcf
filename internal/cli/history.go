//go:build !node && !scan

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/assess/invcache"
	"github.com/credence-dev/credence/store"
)

func newHistoryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history IMAGE|NS/POD|NS/KIND/NAME",
		Short: "When an image or workload became what it is: first seen, advisories, KEV, fixes, changes",
		Long: `history prints the timeline the store keeps (credence serve, or assess with a
store as --cache) of an image digest or a workload, oldest first:

  an image: first seen, each advisory's publication, when credence matched it,
            when it entered CISA KEV, when a fix appeared, when it went away,
            which workloads started and stopped running it;
  a workload: first seen, image and spec changes, risk and decision changes,
            its images' findings while it ran them, runtime alerts, removal.

Times marked "advisory" and "kev" are the records' own dates; the others are
when credence observed it. IMAGE is a digest (sha256:…) or REPOSITORY@DIGEST: a
tag moves, a digest does not. A pod (NS/POD) stands for its workload.`,
		Example: `  credence history sha256:5872df9159cccd95624b4f624969d9abbbc5cb0b5123c06bfcb01e4cf5a9bb6a
  credence history shop/web-5d8f9c7b6-abcde --store postgres://credence@db/credence
  credence history shop/Deployment/web -o json`,
		Args: cobra.ExactArgs(1),
	}
	var storeDSN string
	var since time.Duration
	cmd.Flags().StringVar(&storeDSN, "store", "", "the store (default $"+envStore+", else $"+invcache.EnvPath+" or ~/.cache/credence/inventory.db)")
	cmd.Flags().DurationVar(&since, "since", 0, "only events of the last DURATION (e.g. 720h)")
	out := addOutputFlag(cmd, "table", "table", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ref := args[0]
		if storeDSN == "" {
			storeDSN = os.Getenv(envStore)
		}
		if storeDSN == "" {
			p, err := invcache.DefaultPath()
			if err != nil {
				return err
			}
			storeDSN = p
		}
		if err := checkHistoryRef(ref); err != nil {
			return err
		}
		if p, ok := sqlitePath(storeDSN); ok {
			if _, err := os.Stat(p); err != nil {
				return fmt.Errorf("no store at %s: run credence serve (or give --store)", p)
			}
		}
		ctx := cmd.Context()
		st, err := store.Open(ctx, storeDSN)
		if err != nil {
			return fmt.Errorf("open the store: %w", err)
		}
		defer st.Close()
		key, err := historyKey(ctx, st, ref)
		if err != nil {
			return err
		}
		ev, err := st.Timeline(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s: the store %s has no history of it", ref, st)
		}
		if err != nil {
			return err
		}
		if since > 0 {
			cut := time.Now().Add(-since)
			kept := ev[:0]
			for _, e := range ev {
				if !e.At.Before(cut) {
					kept = append(kept, e)
				}
			}
			ev = kept
		}
		if out.format == "json" {
			return writeJSON(cmd.OutOrStdout(), map[string]any{"ref": key, "events": ev})
		}
		printHistory(cmd.OutOrStdout(), key, ev)
		return nil
	}
	return cmd
}

// checkHistoryRef refuses what names no history before the store is
// opened.
func checkHistoryRef(ref string) error {
	if _, d := assess.DigestOf(ref); d != "" {
		return nil
	}
	parts := strings.Split(ref, "/")
	for _, p := range parts {
		if p == "" {
			parts = nil
		}
	}
	if len(parts) == 2 || len(parts) == 3 {
		return nil
	}
	return usagef("%q: give an image digest (sha256:… or REPOSITORY@sha256:…), NS/POD or NS/KIND/NAME; a tag moves, so it names no history", ref)
}

// sqlitePath is the file of an SQLite store DSN.
func sqlitePath(dsn string) (string, bool) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "", false
	case strings.HasPrefix(dsn, "sqlite://"):
		return strings.TrimPrefix(dsn, "sqlite://"), true
	case strings.HasPrefix(dsn, "sqlite:"):
		return strings.TrimPrefix(dsn, "sqlite:"), true
	}
	return dsn, true
}

// historyKey turns the argument into a store timeline key: a digest, or a
// workload "namespace/Kind/name" (a pod name stands for its workload).
func historyKey(ctx context.Context, st *store.Store, ref string) (string, error) {
	if _, d := assess.DigestOf(ref); d != "" {
		return d, nil
	}
	parts := strings.Split(ref, "/")
	switch {
	case len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] != "":
		return ref, nil
	case len(parts) != 2 || parts[0] == "" || parts[1] == "":
		return "", usagef("%q: give an image digest (sha256:… or REPOSITORY@sha256:…), NS/POD or NS/KIND/NAME; a tag moves, so it names no history", ref)
	}
	ns, name := parts[0], parts[1]
	var exact, byPod []string
	lo := store.ListOptions{Namespace: ns, Limit: 10000}
	for {
		page, err := st.ListWorkloads(ctx, lo)
		if err != nil {
			return "", err
		}
		for _, w := range page {
			switch {
			case w.Name == name:
				exact = append(exact, w.Key)
			case strings.HasPrefix(name, w.Name+"-") && generatedName(name, w.Name):
				byPod = append(byPod, w.Key)
			}
		}
		if len(page) < lo.Limit {
			break
		}
		last := page[len(page)-1]
		lo.AfterScore, lo.AfterKey = last.Score, last.Key
	}
	for _, c := range [][]string{exact, byPod} {
		switch len(c) {
		case 0:
			continue
		case 1:
			return c[0], nil
		default:
			sort.Strings(c)
			return "", usagef("%s names %s: give one of %s", ref, count(len(c), "workload", "workloads"), strings.Join(c, ", "))
		}
	}
	return "", fmt.Errorf("%s: no current workload in namespace %s has that name or makes pods so named (a workload gone away: give NS/KIND/NAME)", ref, ns)
}

// generatedName reports whether a controller of workload w could have
// named a pod pod: "w-<hash>-<5>", "w-<5>", "w-<n>".
func generatedName(pod, w string) bool {
	rest := strings.TrimPrefix(pod, w+"-")
	parts := strings.Split(rest, "-")
	if rest == "" || len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 10 || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			return false
		}
	}
	return true
}

func printHistory(w io.Writer, key string, ev []store.Event) {
	fmt.Fprintf(w, "History of %s (%s)\n\n", key, count(len(ev), "event", "events"))
	t := newTable(w, "WHEN", "BASIS", "EVENT", "WHAT", "DETAIL")
	for _, e := range ev {
		whatParts := []string{}
		for _, s := range []string{e.Finding, e.Package, e.Severity} {
			if s != "" {
				whatParts = append(whatParts, s)
			}
		}
		if e.Workload != "" && e.Workload != key {
			whatParts = append(whatParts, e.Workload)
		}
		if e.Digest != "" && e.Digest != key && len(whatParts) == 0 {
			whatParts = append(whatParts, shortDigest(e.Digest))
		}
		when := e.At.UTC().Format("2006-01-02 15:04:05")
		if e.Basis != store.Observed {
			when = e.At.UTC().Format("2006-01-02")
		}
		t.row(when, string(e.Basis), string(e.Kind), strings.Join(whatParts, " "), oneLine(e.Detail))
	}
	t.flush()
}
