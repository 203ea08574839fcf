package vulndb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Default download locations.
const (
	DefaultOSVBaseURL = "https://osv-vulnerabilities.storage.googleapis.com"
	DefaultKEVURL     = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
	// DefaultEPSSURL is FIRST's current EPSS scores; fetched only when asked.
	DefaultEPSSURL = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"
)

// DefaultEcosystems are the OSV ecosystems whose archives update fetches:
// every ecosystem the inventory produces.
var DefaultEcosystems = []string{"AlmaLinux", "Alpine", "Debian", "Ubuntu", "Go", "npm", "PyPI", "Maven", "crates.io"}

// UpdateConfig says what to download.
type UpdateConfig struct {
	OSVBaseURL string   // archives are OSVBaseURL/<ecosystem>/all.zip
	Ecosystems []string // default DefaultEcosystems
	KEVURL     string   // "" for DefaultKEVURL, "-" for none
	EPSSURL    string   // "" for none
	Client     *http.Client
	// Progress, when set, is called as bytes arrive (total -1 if unknown),
	// from the goroutines of concurrent downloads.
	Progress func(name string, done, total int64)
	// MaxBytes bounds one download (default 2 GiB).
	MaxBytes int64
	// Parallel is how many downloads run at once (default DefaultParallel).
	Parallel int
}

// UpdateReport says what an update fetched.
type UpdateReport struct {
	Fetched   []string      `json:"fetched"`
	Unchanged []string      `json:"unchanged"` // answered 304 Not Modified
	Import    *ImportReport `json:"import,omitempty"`
}

// URLs lists the URLs cfg names.
func (cfg UpdateConfig) URLs() []string {
	base := cfg.OSVBaseURL
	if base == "" {
		base = DefaultOSVBaseURL
	}
	ecos := cfg.Ecosystems
	if len(ecos) == 0 {
		ecos = DefaultEcosystems
	}
	var out []string
	for _, e := range ecos {
		out = append(out, strings.TrimSuffix(base, "/")+"/"+url.PathEscape(e)+"/all.zip")
	}
	switch cfg.KEVURL {
	case "-":
	case "":
		out = append(out, DefaultKEVURL)
	default:
		out = append(out, cfg.KEVURL)
	}
	if cfg.EPSSURL != "" {
		out = append(out, cfg.EPSSURL)
	}
	return out
}

// Update downloads the configured sources with conditional requests
// (If-None-Match / If-Modified-Since against what the database recorded),
// several at once, and imports those that changed, atomically: each is
// parsed while the ones after it still download. A failed download
// changes nothing.
func Update(ctx context.Context, path string, cfg UpdateConfig) (*UpdateReport, error) {
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Minute}
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 2 << 30
	}
	known := map[string]SourceStatus{}
	var importOpts []ImportOption
	if db, err := Open(path); err == nil {
		if st, err := db.Status(ctx); err == nil {
			for _, s := range st.Sources {
				known[s.Name] = s
			}
		}
		db.Close()
	} else if errors.Is(err, ErrSchema) {
		// Written by another credence: download everything and rebuild.
		importOpts = append(importOpts, Replace())
	} else if !errors.Is(err, ErrNoDatabase) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".download-")
	if err != nil {
		return nil, fmt.Errorf("create download directory: %w", err)
	}
	defer os.RemoveAll(dir)

	// Downloads run Parallel at a time; each archive is imported as soon
	// as it and those before it are in (the order decides which source
	// keeps a record two of them hold), while the next ones download.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	urls := cfg.URLs()
	downloads := make([]*download, len(urls))
	sem := make(chan struct{}, max(1, cfg.Parallel))
	if cfg.Parallel == 0 {
		sem = make(chan struct{}, DefaultParallel)
	}
	for i, u := range urls {
		d := &download{url: u, done: make(chan struct{})}
		downloads[i] = d
		go func() {
			defer close(d.done)
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				d.err = ctx.Err()
				return
			}
			prev, had := known[u]
			d.in, d.changed, d.err = fetch(ctx, client, cfg, u, filepath.Join(dir, fmt.Sprintf("%d-%s", i, urlFileName(u))), prev, had)
		}()
	}
	rep := &UpdateReport{Fetched: []string{}, Unchanged: []string{}}
	next := 0
	// wait returns the next download that changed, in order.
	wait := func() (*download, error) {
		for ; next < len(downloads); next++ {
			d := downloads[next]
			<-d.done
			if d.err != nil {
				return nil, d.err
			}
			if !d.changed {
				rep.Unchanged = append(rep.Unchanged, d.url)
				continue
			}
			rep.Fetched = append(rep.Fetched, d.url)
			next++
			return d, nil
		}
		return nil, nil
	}
	first, err := wait()
	if err != nil {
		return nil, err
	}
	if first == nil {
		return rep, nil // nothing changed: the database is not touched
	}
	imp, err := importSeq(ctx, path, func(yield func(Input, error) bool) {
		for d := first; d != nil; {
			if !yield(d.in, nil) {
				return
			}
			var err error
			if d, err = wait(); err != nil {
				yield(Input{}, err)
				return
			}
		}
	}, importOpts...)
	if err != nil {
		return nil, err
	}
	rep.Import = imp
	return rep, nil
}

// DefaultParallel is how many downloads Update runs at once.
const DefaultParallel = 4

// download is one source Update fetches.
type download struct {
	url     string
	in      Input
	changed bool
	err     error
	done    chan struct{} // closed when in, changed and err are set
}

func urlFileName(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "download"
	}
	b := filepath.Base(p.Path)
	if b == "." || b == "/" {
		return "download"
	}
	return b
}

// kindOfURL decides a download's kind from its name.
func kindOfURL(u string) Kind {
	l := strings.ToLower(u)
	switch {
	case strings.HasSuffix(l, ".zip"):
		return KindOSVZip
	case strings.HasSuffix(l, ".csv"), strings.HasSuffix(l, ".csv.gz"):
		return KindEPSS
	case strings.Contains(l, "known_exploited") || strings.Contains(l, "kev"):
		return KindKEV
	}
	return KindOSVJSON
}

func fetch(ctx context.Context, client *http.Client, cfg UpdateConfig, u, dst string, prev SourceStatus, had bool) (Input, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Input{}, false, fmt.Errorf("download %s: %w", u, err)
	}
	if had {
		if prev.ETag != "" {
			req.Header.Set("If-None-Match", prev.ETag)
		}
		if prev.LastModified != "" {
			req.Header.Set("If-Modified-Since", prev.LastModified)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Input{}, false, fmt.Errorf("download %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && had {
		return Input{}, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return Input{}, false, fmt.Errorf("download %s: %s", u, resp.Status)
	}
	f, err := os.Create(dst)
	if err != nil {
		return Input{}, false, err
	}
	defer f.Close()
	var w io.Writer = f
	if cfg.Progress != nil {
		w = &progressWriter{w: f, name: u, total: resp.ContentLength, fn: cfg.Progress}
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, cfg.MaxBytes+1))
	if err != nil {
		return Input{}, false, fmt.Errorf("download %s: %w", u, err)
	}
	if n > cfg.MaxBytes {
		return Input{}, false, fmt.Errorf("download %s: larger than %d bytes", u, cfg.MaxBytes)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return Input{}, false, fmt.Errorf("download %s: got %d of %d bytes", u, n, resp.ContentLength)
	}
	if err := f.Close(); err != nil {
		return Input{}, false, err
	}
	kind := kindOfURL(u)
	if kind == KindOSVJSON || kind == KindKEV {
		if k, _ := detectFile(dst); k != "" {
			kind = k
		}
	}
	return Input{Name: u, Path: dst, Kind: kind, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}, true, nil
}

// detectFile looks at the first bytes of a downloaded JSON file.
func detectFile(p string) (Kind, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	if strings.Contains(string(head[:n]), `"catalogVersion"`) {
		return KindKEV, nil
	}
	return KindOSVJSON, nil
}

type progressWriter struct {
	w     io.Writer
	name  string
	done  int64
	total int64
	fn    func(string, int64, int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	p.fn(p.name, p.done, p.total)
	return n, err
}
