package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/credence-dev/credence/image"
)

// Option configures Run.
type Option func(*runOptions)

type runOptions struct {
	tmpDir string
}

// WithTempDir sets where files are spooled for extractors that need random
// access or a path on disk (default os.TempDir()). Nothing is written
// anywhere else.
func WithTempDir(dir string) Option { return func(o *runOptions) { o.tmpDir = dir } }

// fileKey names one version of one file as one extractor read it.
type fileKey struct {
	extractor int
	layer     int
	path      string
}

// pathKey names a file as one extractor reads it, across layers.
type pathKey struct {
	extractor int
	path      string
}

// Run walks img once, offers every file to the extractors, and assembles the
// inventory of the squashed image: packages in files hidden by whiteouts are
// dropped, and each package is attributed to the layer that added it.
func Run(ctx context.Context, img *image.Image, extractors []Extractor, opts ...Option) (*Inventory, error) {
	if err := validate(extractors); err != nil {
		return nil, err
	}
	var o runOptions
	for _, opt := range opts {
		opt(&o)
	}
	start := time.Now()
	c := &collector{extractors: extractors, tmpDir: o.tmpDir, results: map[fileKey]Result{}}
	tree, err := img.Walk(ctx, func(e *image.Entry, r io.Reader) error { return c.visit(ctx, e, r) })
	if err != nil {
		return nil, err
	}
	c.resolveHardlinks(tree)

	inv := &Inventory{Status: Status{State: Succeeded}}
	for _, l := range img.Layers {
		inv.Layers = append(inv.Layers, Layer{Index: l.Index, Digest: l.Digest, DiffID: l.DiffID, CreatedBy: l.CreatedBy})
	}
	attribute := img.Transport != image.Directory
	inv.Distro = c.distro(tree)
	inv.Packages = c.packages(tree, inv.Layers, attribute)
	finish(inv)

	inv.Status.Warnings = append(append(tree.Warnings(), c.warnings...), inv.Status.Warnings...)
	inv.Status.FileErrors = c.fileErrors
	if len(c.fileErrors) > 0 {
		inv.Status.State = Partial
	}
	for _, e := range extractors {
		inv.Status.Extractors = append(inv.Status.Extractors, ID(e))
	}
	inv.Status.Duration = time.Since(start)
	return inv, nil
}

// ErrInvalidExtractors is returned when the extractor list is malformed.
var ErrInvalidExtractors = errors.New("invalid extractor list")

func validate(extractors []Extractor) error {
	seen := map[string]bool{}
	for _, e := range extractors {
		if e.Name() == "" || seen[e.Name()] {
			return fmt.Errorf("%w: empty or repeated name %q", ErrInvalidExtractors, e.Name())
		}
		seen[e.Name()] = true
	}
	return nil
}

type hardlink struct {
	entry  *image.Entry
	wanted []int
}

// collector gathers extraction results from concurrent layer walks.
type collector struct {
	extractors []Extractor
	tmpDir     string

	mu         sync.Mutex
	results    map[fileKey]Result
	hardlinks  []hardlink
	fileErrors []FileError
	warnings   []string
}

func (c *collector) visit(ctx context.Context, e *image.Entry, r io.Reader) error {
	if e.Type != image.Regular && e.Type != image.Hardlink {
		return nil
	}
	info := FileInfo{Path: e.Path, Mode: e.Mode, Size: e.Size}
	var wanted []int
	for i, ex := range c.extractors {
		if c.required(ex, e, info) {
			wanted = append(wanted, i)
		}
	}
	if len(wanted) == 0 {
		return nil
	}
	if e.Type == image.Hardlink {
		cp := *e // e is only valid during the visit
		c.mu.Lock()
		c.hardlinks = append(c.hardlinks, hardlink{entry: &cp, wanted: wanted})
		c.mu.Unlock()
		return nil
	}
	var fit []int // the extractors whose size limit the file is within
	for _, i := range wanted {
		ex := c.extractors[i]
		if limit := maxSize(ex); e.Size > limit {
			c.warnf("%s skipped %s in layer %d: %s is over its %s limit", ex.Name(), e.Path, e.Layer, humanBytes(e.Size), humanBytes(limit))
			continue
		}
		fit = append(fit, i)
	}
	switch len(fit) {
	case 0:
		return nil
	case 1:
		c.extract(ctx, fit[0], e, info, r)
	default:
		c.extractShared(ctx, fit, e, info, r)
	}
	return ctx.Err()
}

// required asks ex whether it wants a file; a panic is the extractor's
// failure on that file, not the scan's.
func (c *collector) required(ex Extractor, e *image.Entry, info FileInfo) (want bool) {
	defer func() {
		if v := recover(); v != nil {
			c.fail(e, ex, panicError("FileRequired", v))
			want = false
		}
	}()
	return ex.FileRequired(info)
}

// ErrExtractorPanic marks the file error of an extractor that panicked on
// a file: a bug in credence brought out by that file, which is reported
// like any file it could not read (the scan is partial), never a crash.
var ErrExtractorPanic = errors.New("extractor panicked")

// panicError describes a recovered panic with the function and line that
// raised it. Call it from the deferred function that recovered.
func panicError(where string, v any) error {
	return fmt.Errorf("%w in %s: %v (at %s)", ErrExtractorPanic, where, v, panicSite())
}

// panicSite is the first frame below the runtime's panic machinery.
func panicSite() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	panicking := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			panicking = true
		case panicking && !strings.HasPrefix(f.Function, "runtime."):
			return fmt.Sprintf("%s, %s:%d", f.Function, path.Base(f.File), f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

// extract runs extractor i on one file and records the outcome. A panic in
// the extractor becomes a file error; the scan goes on.
func (c *collector) extract(ctx context.Context, i int, e *image.Entry, info FileInfo, r io.Reader) {
	ex := c.extractors[i]
	in := NewInput(info, r, c.tmpDir)
	res, err := func() (res Result, err error) {
		defer func() {
			if v := recover(); v != nil {
				err = panicError("Extract", v)
			}
		}()
		return ex.Extract(ctx, in)
	}()
	in.Close()
	if err != nil {
		if ctx.Err() == nil {
			c.fail(e, ex, err)
		}
		return
	}
	c.mu.Lock()
	c.results[fileKey{i, e.Layer, e.Path}] = res
	c.mu.Unlock()
}

// extractShared streams one file to several extractors at once, each
// reading its own pipe, so the file is never held in memory whole. An
// extractor that stops reading early (not its format) drops out; the others
// go on.
func (c *collector) extractShared(ctx context.Context, wanted []int, e *image.Entry, info FileInfo, r io.Reader) {
	var wg sync.WaitGroup
	writers := make([]*io.PipeWriter, len(wanted))
	for k, i := range wanted {
		pr, pw := io.Pipe()
		writers[k] = pw
		wg.Go(func() {
			c.extract(ctx, i, e, info, pr)
			pr.CloseWithError(errStoppedReading)
		})
	}
	bufp := sharedBuffers.Get().(*[]byte)
	defer sharedBuffers.Put(bufp)
	buf := *bufp
	var readErr error
	for active := len(writers); active > 0; {
		n, err := r.Read(buf)
		for k, pw := range writers {
			if pw != nil && n > 0 {
				if _, werr := pw.Write(buf[:n]); werr != nil {
					writers[k] = nil // this extractor has what it needs
					active--
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	for _, pw := range writers {
		if pw != nil {
			pw.CloseWithError(readErr) // nil: EOF
		}
	}
	wg.Wait()
}

// sharedBuffers hold the chunks extractShared copies to its pipes.
var sharedBuffers = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// errStoppedReading closes a pipe whose extractor returned.
var errStoppedReading = errors.New("extractor stopped reading")

func maxSize(e Extractor) int64 {
	if m := e.Requirements().MaxFileSize; m > 0 {
		return m
	}
	return DefaultMaxFileSize
}

func (c *collector) fail(e *image.Entry, ex Extractor, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fileErrors = append(c.fileErrors, FileError{Path: e.Path, Layer: e.Layer, Extractor: ID(ex), Error: oneLine(err.Error(), maxErrorLen)})
}

// maxErrorLen bounds the message of one file error: a parser that lists
// every bad line of a hostile file must not fill the report.
const maxErrorLen = 1000

// oneLine joins the lines of s and cuts it to at most max bytes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = fmt.Sprintf("%s... (%d more bytes)", s[:cut], len(s)-cut)
	}
	return s
}

func (c *collector) warnf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

// resolveHardlinks gives a hardlink the results of the file it links to,
// when an extractor read that file.
func (c *collector) resolveHardlinks(tree *image.Tree) {
	for _, h := range c.hardlinks {
		for _, i := range h.wanted {
			res, ok := c.findResult(i, h.entry.Linkname, h.entry.Layer)
			if !ok {
				c.warnf("%s could not read %s in layer %d: it is a hardlink to %s, which was not read", c.extractors[i].Name(), h.entry.Path, h.entry.Layer, h.entry.Linkname)
				continue
			}
			c.results[fileKey{i, h.entry.Layer, h.entry.Path}] = relocate(res, h.entry.Linkname, h.entry.Path)
		}
	}
}

// findResult returns extractor i's result for path in layer or the nearest layer below.
func (c *collector) findResult(i int, path string, layer int) (Result, bool) {
	for l := layer; l >= 0; l-- {
		if r, ok := c.results[fileKey{i, l, path}]; ok {
			return r, true
		}
	}
	return Result{}, false
}

// relocate copies a result read at one path for a hardlink at another.
func relocate(r Result, from, to string) Result {
	out := Result{Distro: r.Distro}
	for _, p := range r.Packages {
		cp := *p
		cp.Locations = nil
		for _, loc := range p.Locations {
			if loc == from || strings.HasPrefix(loc, from+"!/") { // a jar inside the linked file: "a.jar!/b.jar"
				loc = to + strings.TrimPrefix(loc, from)
			}
			cp.Locations = append(cp.Locations, loc)
		}
		out.Packages = append(out.Packages, &cp)
	}
	return out
}

// distroPaths is where os-release(5) says to look, in order.
var distroPaths = []string{"etc/os-release", "usr/lib/os-release"}

// distro picks the distribution from the visible os-release files: the one
// etc/os-release resolves to, else usr/lib/os-release, else any other.
func (c *collector) distro(tree *image.Tree) *Distro {
	visible := map[string]*Distro{}
	var others []*Distro
	for k, r := range c.results {
		if r.Distro != nil && tree.Visible(k.layer, k.path) {
			d := *r.Distro
			d.Path = k.path
			visible[k.path] = &d
			others = append(others, &d)
		}
	}
	for _, p := range distroPaths {
		if real, _, err := tree.Resolve(p); err == nil {
			if d, ok := visible[real]; ok {
				return d
			}
		}
	}
	slices.SortFunc(others, func(a, b *Distro) int { return cmp.Compare(a.Path, b.Path) })
	if len(others) > 0 {
		return others[0]
	}
	return nil
}

// packages assembles the packages of the files the container sees, each
// attributed to the layer that added it.
func (c *collector) packages(tree *image.Tree, layers []Layer, attribute bool) []*Package {
	paths := map[pathKey]bool{}
	for k := range c.results {
		paths[pathKey{k.extractor, k.path}] = true
	}
	var out []*Package
	for pk := range paths {
		versions := tree.Versions(pk.path)
		if len(versions) == 0 {
			continue // deleted by a whiteout or an opaque directory
		}
		top, ok := c.results[fileKey{pk.extractor, versions[0].Layer, pk.path}]
		if !ok {
			continue // the visible version failed to parse; recorded in FileErrors
		}
		ex := c.extractors[pk.extractor]
		for _, w := range top.Warnings {
			c.warnings = append(c.warnings, fmt.Sprintf("%s: %s: %s", ex.Name(), pk.path, w))
		}
		for _, p := range top.Packages {
			if attribute && deleted(tree, p) {
				c.warnf("%s: %s lists %s, but a later layer deleted it from %s: not reported", ex.Name(), pk.path, p, strings.Join(p.Metadata.(Installed).InstalledAt(), ", "))
				continue
			}
			p.Extractor = ID(ex)
			if len(p.Locations) == 0 {
				p.Locations = []string{pk.path}
			}
			if attribute {
				l := c.addedIn(pk, p, versions)
				if l >= 0 && l < len(layers) {
					layer := layers[l]
					p.Layer = &layer
				}
			}
			out = append(out, p)
		}
	}
	return out
}

// deleted reports whether every install path of p existed in some layer
// and is gone from the view the container sees.
func deleted(tree *image.Tree, p *Package) bool {
	md, ok := p.Metadata.(Installed)
	if !ok || len(md.InstalledAt()) == 0 {
		return false
	}
	for _, path := range md.InstalledAt() {
		if tree.Exists(path) || !tree.Existed(path) {
			return false
		}
	}
	return true
}

// addedIn walks down the versions of a file (newest first) for as long as
// each still holds the package: the last one holding it is the layer that
// added it.
func (c *collector) addedIn(pk pathKey, p *Package, versions []*image.Entry) int {
	layer := versions[0].Layer
	key := p.Key()
	for _, v := range versions[1:] {
		r, ok := c.results[fileKey{pk.extractor, v.Layer, pk.path}]
		if !ok || !slices.ContainsFunc(r.Packages, func(q *Package) bool { return q.Key() == key }) {
			break
		}
		layer = v.Layer
	}
	return layer
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
