package vulndb

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	kflate "github.com/klauspost/compress/flate"

	"github.com/credence-dev/credence/versions"
	"github.com/credence-dev/credence/vulndb/epss"
	"github.com/credence-dev/credence/vulndb/kev"
	"github.com/credence-dev/credence/vulndb/osv"
)

// Input is one source to import: a local file or directory and its kind.
type Input struct {
	// Name identifies the source in the database: its URL, or its absolute
	// path. Importing a source again replaces its records.
	Name string
	Path string
	Kind Kind
	// FS, when set, is read instead of the local file system (Path is then
	// a path inside FS); used for the embedded sample data.
	FS           fs.FS
	ETag         string
	LastModified string
}

// Inputs finds what to import at path: an OSV zip, an OSV JSON record, a
// KEV catalog, an EPSS CSV (.csv or .csv.gz), or a directory, searched
// recursively for all of these (its loose OSV JSON files form one source).
func Inputs(path string) ([]Input, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", path, err)
	}
	return inputsFS(osFS{}, abs, abs)
}

// InputsFS is Inputs over a file system (for embedded data); names are
// prefixed with prefix.
func InputsFS(fsys fs.FS, root, prefix string) ([]Input, error) {
	ins, err := inputsFS(fsys, root, prefix)
	for i := range ins {
		ins[i].FS = fsys
	}
	return ins, err
}

type osFS struct{}

func (osFS) Open(name string) (fs.File, error) { return os.Open(name) }

func inputsFS(fsys fs.FS, root, name string) ([]Input, error) {
	fi, err := fs.Stat(fsys, root)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if !fi.IsDir() {
		k, err := detect(fsys, root)
		if err != nil {
			return nil, err
		}
		if k == "" {
			return nil, fmt.Errorf("import %s: not an OSV zip or record, KEV catalog or EPSS CSV", name)
		}
		return []Input{{Name: name, Path: root, Kind: k}}, nil
	}
	var out []Input
	looseJSON := false
	err = fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		k, err := detect(fsys, p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		switch k {
		case KindOSVJSON:
			looseJSON = true
		case "":
		default:
			out = append(out, Input{Name: name + "/" + rel, Path: p, Kind: k})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if looseJSON {
		out = append(out, Input{Name: name, Path: root, Kind: KindOSVDir})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("import %s: no OSV, KEV or EPSS data in this directory", name)
	}
	return out, nil
}

// detect looks at a file's name and first bytes.
func detect(fsys fs.FS, p string) (Kind, error) {
	lower := strings.ToLower(p)
	switch {
	case strings.HasSuffix(lower, ".zip"):
		return KindOSVZip, nil
	case strings.HasSuffix(lower, ".csv"), strings.HasSuffix(lower, ".csv.gz"):
		return KindEPSS, nil
	case !strings.HasSuffix(lower, ".json"):
		return "", nil
	}
	f, err := fsys.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if bytes.Contains(head, []byte(`"catalogVersion"`)) || strings.Contains(lower, "known_exploited_vulnerabilities") {
		return KindKEV, nil
	}
	return KindOSVJSON, nil
}

// ImportReport says what an import did.
type ImportReport struct {
	Sources  []SourceStatus `json:"sources"`
	Records  int            `json:"records"`
	Warnings []string       `json:"warnings,omitempty"` // the first few, one line each
	Skipped  int            `json:"skipped"`            // records not imported (malformed)
	Duration time.Duration  `json:"durationNs"`
}

// maxWarnings bounds the warning lines kept in a report.
const maxWarnings = 20

// record is one parsed advisory ready to store.
type record struct {
	adv  *osv.Advisory
	blob []byte // the record's digest (osv.Advisory.Digest) as JSON, zstd-compressed
	raw  []byte // the record's JSON as given, zstd-compressed
	keys [][2]string
	warn []string
}

// sink receives parsed data; the SQLite store and the in-memory store
// implement it.
type sink interface {
	beginSource(in Input) error
	add(r *record) error
	kev(c *kev.Catalog) error
	epss(s epss.Score) error
	endSource(st *SourceStatus) error
}

// importer runs inputs into a sink, counting warnings.
type importer struct {
	report *ImportReport
}

func (im *importer) warnf(format string, args ...any) {
	if len(im.report.Warnings) < maxWarnings {
		im.report.Warnings = append(im.report.Warnings, fmt.Sprintf(format, args...))
	}
}

func (im *importer) run(ctx context.Context, s sink, in Input) error {
	st := SourceStatus{Name: in.Name, Kind: in.Kind, ImportedAt: time.Now().UTC().Truncate(time.Second), ETag: in.ETag, LastModified: in.LastModified}
	if err := s.beginSource(in); err != nil {
		return err
	}
	var err error
	switch in.Kind {
	case KindOSVZip, KindOSVDir, KindOSVJSON:
		err = im.osv(ctx, s, in, &st)
	case KindKEV:
		err = im.kevFile(s, in, &st)
	case KindEPSS:
		err = im.epssFile(s, in, &st)
	default:
		err = fmt.Errorf("unknown source kind %q", in.Kind)
	}
	if err != nil {
		return fmt.Errorf("import %s: %w", in.Name, err)
	}
	if err := s.endSource(&st); err != nil {
		return err
	}
	im.report.Sources = append(im.report.Sources, st)
	return nil
}

func (in Input) open(p string) (io.ReadCloser, error) {
	if in.FS != nil {
		return in.FS.Open(p)
	}
	return os.Open(p)
}

// entry is one OSV JSON document to parse.
type entry struct {
	name string
	read func() ([]byte, error)
}

func (im *importer) osv(ctx context.Context, s sink, in Input, st *SourceStatus) error {
	var entries []entry
	switch in.Kind {
	case KindOSVZip:
		zr, closer, err := openZip(in)
		if err != nil {
			return err
		}
		defer closer()
		for _, f := range zr.File {
			if f.FileInfo().IsDir() || !strings.HasSuffix(f.Name, ".json") {
				continue
			}
			if f.UncompressedSize64 > osv.MaxRecordSize {
				return fmt.Errorf("zip entry %s: %d bytes is over the %d limit", f.Name, f.UncompressedSize64, osv.MaxRecordSize)
			}
			entries = append(entries, entry{name: f.Name, read: func() ([]byte, error) {
				rc, err := f.Open()
				if err != nil {
					return nil, err
				}
				defer rc.Close()
				return io.ReadAll(io.LimitReader(rc, osv.MaxRecordSize+1))
			}})
		}
	case KindOSVJSON:
		entries = append(entries, entry{name: filepath.Base(in.Path), read: func() ([]byte, error) { return in.readFile(in.Path) }})
	case KindOSVDir:
		fsys := in.FS
		if fsys == nil {
			fsys = osFS{}
		}
		err := fs.WalkDir(fsys, in.Path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != in.Path && strings.HasPrefix(d.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() && strings.HasSuffix(strings.ToLower(p), ".json") {
				if k, err := detect(fsys, p); err != nil || k != KindOSVJSON {
					return err
				}
				entries = append(entries, entry{name: strings.TrimPrefix(p, in.Path+"/"), read: func() ([]byte, error) { return in.readFile(p) }})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}

	type result struct {
		rec  *record
		name string
		err  error // a malformed record: a warning
		fail error // the input cannot be read: the import fails
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan entry)
	results := make(chan result, 64)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range jobs {
				b, err := e.read()
				if err != nil {
					results <- result{name: e.name, fail: fmt.Errorf("read %s: %w", e.name, err)}
					continue
				}
				if len(b) > osv.MaxRecordSize {
					results <- result{name: e.name, err: fmt.Errorf("over %d bytes", osv.MaxRecordSize)}
					continue
				}
				rec, err := prepare(b)
				results <- result{rec: rec, name: e.name, err: err}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, e := range entries {
			select {
			case jobs <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	var failure error
	for r := range results {
		if failure != nil {
			continue // drain
		}
		switch {
		case r.fail != nil:
			failure = r.fail
			cancel()
			continue
		case r.err != nil:
			st.Warnings++
			im.report.Skipped++
			im.warnf("%s: %s: skipped: %v", in.Name, r.name, r.err)
			continue
		}
		for _, w := range r.rec.warn {
			st.Warnings++
			im.warnf("%s: %s", in.Name, w)
		}
		if err := s.add(r.rec); err != nil {
			failure = err
			cancel()
			continue
		}
		st.Records++
		im.report.Records++
		if r.rec.adv.Modified.After(st.DataAsOf) {
			st.DataAsOf = r.rec.adv.Modified.UTC()
		}
	}
	if failure != nil {
		return failure
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}

func (in Input) readFile(p string) ([]byte, error) {
	f, err := in.open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, osv.MaxRecordSize+1))
}

func openZip(in Input) (*zip.Reader, func(), error) {
	if in.FS != nil {
		b, err := fs.ReadFile(in.FS, in.Path)
		if err != nil {
			return nil, nil, err
		}
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return nil, nil, fmt.Errorf("open zip (truncated or not a zip?): %w", err)
		}
		zr.RegisterDecompressor(zip.Deflate, inflater)
		return zr, func() {}, nil
	}
	zr, err := zip.OpenReader(in.Path)
	if err != nil {
		return nil, nil, fmt.Errorf("open zip (truncated or not a zip?): %w", err)
	}
	zr.RegisterDecompressor(zip.Deflate, inflater)
	return &zr.Reader, func() { zr.Close() }, nil
}

// inflater decompresses a zip entry with klauspost/compress's flate, about
// twice as fast as the standard library's, from a pool: an archive holds
// tens of thousands of small entries.
func inflater(r io.Reader) io.ReadCloser {
	if fr, ok := inflaters.Get().(io.ReadCloser); ok {
		if err := fr.(kflate.Resetter).Reset(r, nil); err == nil {
			return &pooledInflater{fr}
		}
	}
	return &pooledInflater{kflate.NewReader(r)}
}

var inflaters sync.Pool

type pooledInflater struct{ io.ReadCloser }

func (p *pooledInflater) Close() error {
	if p.ReadCloser == nil {
		return nil
	}
	err := p.ReadCloser.Close()
	inflaters.Put(p.ReadCloser)
	p.ReadCloser = nil
	return err
}

// prepare parses and checks one record and computes its index keys. A
// record that breaks the schema is an error (skipped with a warning);
// entries with an unknown ecosystem or versions that do not parse are kept
// (matching reports them as undecided) and give warnings.
func prepare(b []byte) (*record, error) {
	a, err := osv.Parse(b)
	if err != nil {
		return nil, err
	}
	digest, err := json.Marshal(a.Digest())
	if err != nil {
		return nil, err
	}
	r := &record{adv: a, blob: compress(digest), raw: compress(b)}
	for _, af := range a.Affected {
		k := [2]string{af.Package.Ecosystem, osv.NormalizeName(af.Package.Ecosystem, af.Package.Name)}
		if !slices.Contains(r.keys, k) {
			r.keys = append(r.keys, k)
		}
		if !versions.Supported(af.Package.Ecosystem) {
			r.warn = append(r.warn, fmt.Sprintf("%s: unknown ecosystem %q (kept; its packages cannot be matched)", a.ID, af.Package.Ecosystem))
			continue
		}
		for _, rg := range af.Ranges {
			if rg.Type == osv.RangeGit {
				continue
			}
			for _, e := range rg.Events {
				v := e.Value()
				if e.Introduced == "0" {
					continue
				}
				if _, err := versions.Parse(af.Package.Ecosystem, v); err != nil {
					r.warn = append(r.warn, fmt.Sprintf("%s: %s %s: %s event: %v (kept; matching reports it as undecided)", a.ID, af.Package.Ecosystem, af.Package.Name, e.Kind(), err))
				}
			}
		}
	}
	return r, nil
}

func (im *importer) kevFile(s sink, in Input, st *SourceStatus) error {
	f, err := in.open(in.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := kev.Parse(f)
	if err != nil {
		return err
	}
	if err := s.kev(c); err != nil {
		return err
	}
	st.Records = len(c.Vulnerabilities)
	st.DataAsOf = c.Released().UTC()
	return nil
}

func (im *importer) epssFile(s sink, in Input, st *SourceStatus) error {
	f, err := in.open(in.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(strings.ToLower(in.Path), ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%w: %v", epss.ErrShape, err)
		}
		defer gz.Close()
		r = gz
	}
	h, err := epss.Parse(r, func(sc epss.Score) error {
		st.Records++
		return s.epss(sc)
	})
	if err != nil {
		return err
	}
	for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, h.ScoreDate); err == nil {
			st.DataAsOf = t.UTC()
			break
		}
	}
	return nil
}

var errStop = errors.New("stop")
