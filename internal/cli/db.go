//go:build !node

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/vulndb"
	sampledb "github.com/credence-dev/credence/vulndb/sample"
)

// dbFlag is the --db flag shared by db subcommands and scan.
type dbFlag struct{ path string }

func addDBFlag(cmd *cobra.Command) *dbFlag {
	f := &dbFlag{}
	cmd.Flags().StringVar(&f.path, "db", "", "vulnerability database file (default $"+vulndb.EnvDB+", else "+displayDefaultDB()+`); "sample" for the small embedded demo data`)
	return f
}

func displayDefaultDB() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "vuln.db in the user cache directory"
	}
	return filepath.Join(dir, "credence", "vuln.db")
}

func (f *dbFlag) resolve() string {
	if f.path != "" {
		return f.path
	}
	return vulndb.DefaultPath()
}

// open opens the database, or explains how to get one.
func (f *dbFlag) open(ctx context.Context) (match.Source, *vulndb.Status, func(), error) {
	p := f.resolve()
	if p == sampledb.Name {
		m, err := sampledb.Open(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		st, _ := m.Status(ctx)
		return m, st, func() {}, nil
	}
	db, err := vulndb.Open(p)
	if errors.Is(err, vulndb.ErrNoDatabase) {
		return nil, nil, nil, fmt.Errorf("no vulnerability database at %s: run 'credence db update' (downloads OSV and KEV) or 'credence db import PATH' (offline archives), or pass --db sample to try the small embedded demo data", p)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := db.Status(ctx)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return db, st, func() { db.Close() }, nil
}

func newDBCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the local vulnerability database (OSV advisories, CISA KEV, EPSS)",
		Long: `The vulnerability database is one SQLite file (--db, $` + vulndb.EnvDB + `, default
` + displayDefaultDB() + `). Every import or update builds a new file beside it
and renames it into place, so an interrupted import leaves the previous database intact.`,
	}
	cmd.AddCommand(newDBImportCmd(), newDBStatusCmd(), newDBUpdateCmd())
	return cmd
}

func newDBImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import PATH|URL ...",
		Short: "Import OSV archives or records, the KEV catalog, or an EPSS CSV",
		Long: `Import vulnerability data from files, directories or URLs:

  OSV all.zip archives (one per ecosystem, as osv.dev publishes them)
  directories of OSV JSON records (searched recursively; zips, KEV and EPSS files inside are found too)
  the CISA KEV catalog (known_exploited_vulnerabilities.json)
  an EPSS CSV (epss_scores-*.csv or .csv.gz)

Importing a source again replaces its records; --replace starts from an empty
database. Malformed records are skipped and counted; an unreadable input fails
the whole import and leaves the database as it was.`,
		Example: `  credence db import ../shared/data
  credence db import osv/Debian/all.zip kev/known_exploited_vulnerabilities.json
  credence db import https://osv-vulnerabilities.storage.googleapis.com/Go/all.zip`,
		Args: cobra.MinimumNArgs(1),
	}
	db := addDBFlag(cmd)
	out := addOutputFlag(cmd, "table", "table", "json")
	replace := cmd.Flags().Bool("replace", false, "build the database from these inputs only")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path := db.resolve()
		if path == sampledb.Name {
			return usagef("the sample database is embedded and read-only: give --db a file path")
		}
		var inputs []vulndb.Input
		var tmpDirs []string
		defer func() {
			for _, d := range tmpDirs {
				os.RemoveAll(d)
			}
		}()
		for _, a := range args {
			if strings.HasPrefix(a, "http://") || strings.HasPrefix(a, "https://") {
				dir, err := os.MkdirTemp("", "credence-download-")
				if err != nil {
					return err
				}
				tmpDirs = append(tmpDirs, dir)
				in, err := download(cmd.Context(), a, dir, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				inputs = append(inputs, in...)
				continue
			}
			ins, err := vulndb.Inputs(a)
			if err != nil {
				return err
			}
			inputs = append(inputs, ins...)
		}
		var opts []vulndb.ImportOption
		if *replace {
			opts = append(opts, vulndb.Replace())
		}
		rep, err := vulndb.Import(cmd.Context(), path, inputs, opts...)
		if err != nil {
			return err
		}
		if out.format == "json" {
			return writeJSON(cmd.OutOrStdout(), rep)
		}
		w := cmd.OutOrStdout()
		t := newTable(w, "SOURCE", "KIND", "RECORDS", "WARNINGS", "DATA AS OF")
		for _, s := range rep.Sources {
			t.row(s.Name, string(s.Kind), strconv.Itoa(s.Records), strconv.Itoa(s.Warnings), dateOf(s.DataAsOf))
		}
		t.flush()
		fmt.Fprintf(w, "\nImported %s into %s in %.1fs", count(rep.Records, "advisory", "advisories"), path, rep.Duration.Seconds())
		if rep.Skipped > 0 {
			fmt.Fprintf(w, "; %s skipped", count(rep.Skipped, "malformed record", "malformed records"))
		}
		fmt.Fprintln(w)
		for _, m := range rep.Warnings {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", m)
		}
		return nil
	}
	return cmd
}

// download fetches one URL given to db import into dir.
func download(ctx context.Context, u, dir string, stderr io.Writer) ([]vulndb.Input, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, usagef("bad URL %s: %v", u, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download %s: %s", u, resp.Status)
	}
	name := filepath.Base(req.URL.Path)
	if name == "." || name == "/" || name == "" {
		name = "download.json"
	}
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	bar := newBar(stderr)
	var w io.Writer = f
	if bar != nil {
		w = io.MultiWriter(f, writerFunc(func(b []byte) { bar.add(u, int64(len(b)), resp.ContentLength) }))
	}
	_, err = io.Copy(w, resp.Body)
	if bar != nil {
		bar.done()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", u, err)
	}
	ins, err := vulndb.Inputs(p)
	if err != nil {
		return nil, err
	}
	for i := range ins {
		ins[i].Name = u
	}
	return ins, nil
}

type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) { f(b); return len(b), nil }

// bar is a one-line download progress bar, drawn only on a terminal.
type bar struct {
	w     io.Writer
	mu    sync.Mutex
	name  string
	done_ int64
	shown time.Time
}

func newBar(w io.Writer) *bar {
	if !isTerminal(w) {
		return nil
	}
	return &bar{w: w}
}

func (b *bar) set(name string, done, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.name, b.done_ = name, done
	if time.Since(b.shown) < 100*time.Millisecond && (total < 0 || done < total) {
		return
	}
	b.shown = time.Now()
	short := name
	if len(short) > 50 {
		short = "…" + short[len(short)-49:]
	}
	if total > 0 {
		const width = 30
		n := int(float64(width) * float64(done) / float64(total))
		n = min(max(n, 0), width)
		fmt.Fprintf(b.w, "\r\033[K%s [%s%s] %.1f/%.1f MiB", short, strings.Repeat("=", n), strings.Repeat(" ", width-n), float64(done)/(1<<20), float64(total)/(1<<20))
	} else {
		fmt.Fprintf(b.w, "\r\033[K%s %.1f MiB", short, float64(done)/(1<<20))
	}
}

func (b *bar) add(name string, n, total int64) {
	b.mu.Lock()
	d := b.done_ + n
	if b.name != name {
		d = n
	}
	b.mu.Unlock()
	b.set(name, d, total)
}

func (b *bar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.shown.IsZero() {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

func newDBUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Download the OSV archives and the KEV catalog and import what changed",
		Long: `Download the official OSV per-ecosystem archives (` + vulndb.DefaultOSVBaseURL + `/<ecosystem>/all.zip)
and the CISA KEV catalog, with conditional requests (If-None-Match, If-Modified-Since)
so unchanged sources are not downloaded again, and import what changed atomically.`,
		Example: `  credence db update
  credence db update --ecosystems Debian,npm --epss-url ` + vulndb.DefaultEPSSURL + `
  credence db update --osv-url http://mirror.internal/osv --kev-url http://mirror.internal/kev.json`,
	}
	db := addDBFlag(cmd)
	out := addOutputFlag(cmd, "table", "table", "json")
	var cfg vulndb.UpdateConfig
	cmd.Flags().StringVar(&cfg.OSVBaseURL, "osv-url", vulndb.DefaultOSVBaseURL, "base URL of the OSV archives (<url>/<ecosystem>/all.zip)")
	cmd.Flags().StringSliceVar(&cfg.Ecosystems, "ecosystems", vulndb.DefaultEcosystems, "OSV ecosystems to download")
	cmd.Flags().StringVar(&cfg.KEVURL, "kev-url", vulndb.DefaultKEVURL, `URL of the CISA KEV catalog ("-" for none)`)
	cmd.Flags().StringVar(&cfg.EPSSURL, "epss-url", "", "URL of an EPSS CSV to load (none by default)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path := db.resolve()
		if path == sampledb.Name {
			return usagef("the sample database is embedded and read-only: give --db a file path")
		}
		if b := newBar(cmd.ErrOrStderr()); b != nil {
			cfg.Progress = b.set
			defer b.done()
		}
		rep, err := vulndb.Update(cmd.Context(), path, cfg)
		if err != nil {
			return err
		}
		if out.format == "json" {
			return writeJSON(cmd.OutOrStdout(), rep)
		}
		w := cmd.OutOrStdout()
		for _, u := range rep.Unchanged {
			fmt.Fprintf(w, "unchanged  %s\n", u)
		}
		for _, u := range rep.Fetched {
			fmt.Fprintf(w, "fetched    %s\n", u)
		}
		if rep.Import == nil {
			fmt.Fprintf(w, "%s is up to date\n", path)
			return nil
		}
		fmt.Fprintf(w, "Imported %s into %s in %.1fs\n", count(rep.Import.Records, "advisory", "advisories"), path, rep.Import.Duration.Seconds())
		for _, m := range rep.Import.Warnings {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", m)
		}
		return nil
	}
	return cmd
}

func newDBStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the database's sources, record counts per ecosystem and data age",
	}
	db := addDBFlag(cmd)
	out := addOutputFlag(cmd, "table", "table", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		_, st, closeDB, err := db.open(cmd.Context())
		if err != nil {
			return err
		}
		defer closeDB()
		if out.format == "json" {
			return writeJSON(cmd.OutOrStdout(), st)
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "Database:   %s (%.1f MiB, schema %s", st.Path, float64(st.SizeBytes)/(1<<20), st.Schema)
		if !st.Built.IsZero() {
			fmt.Fprintf(w, ", built %s", st.Built.Format(time.RFC3339))
		}
		fmt.Fprintf(w, ")\nAdvisories: %d   KEV: %d   EPSS: %d\n", st.Advisories, st.KEV, st.EPSS)
		if t := st.OldestData(); !t.IsZero() {
			fmt.Fprintf(w, "Oldest data: %s (%s old)\n", dateOf(t), age(time.Since(t)))
		}
		fmt.Fprintln(w)
		t := newTable(w, "SOURCE", "KIND", "RECORDS", "WARNINGS", "DATA AS OF", "AGE", "IMPORTED")
		for _, s := range st.Sources {
			a := ""
			if !s.DataAsOf.IsZero() {
				a = age(time.Since(s.DataAsOf))
			}
			t.row(s.Name, string(s.Kind), strconv.Itoa(s.Records), strconv.Itoa(s.Warnings), dateOf(s.DataAsOf), a, dateOf(s.ImportedAt))
		}
		t.flush()
		fmt.Fprintln(w)
		t = newTable(w, "ECOSYSTEM", "ADVISORIES")
		for _, e := range st.Ecosystems {
			t.row(e.Ecosystem, strconv.Itoa(e.Records))
		}
		return t.flush()
	}
	return cmd
}

func dateOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0d"
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
