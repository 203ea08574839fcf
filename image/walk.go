package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"
)

// VisitFunc is called for every entry of every layer except whiteout
// markers. r streams a regular file's content and is nil for other entries;
// the visitor need not read it. e and r are valid only during the call (copy
// e to keep it). Walk calls visit concurrently for different layers, and in
// archive order within a layer; a visit must never wait for the visit of
// another layer.
type VisitFunc func(e *Entry, r io.Reader) error

// ErrDigestMismatch is returned when a layer's content does not match the
// digest the manifest or config gives for it, or is longer than the size
// the manifest gives.
var ErrDigestMismatch = errors.New("digest mismatch")

// ErrDecompressionBomb is returned when a layer expands beyond the limit set
// by WithMaxExpansion.
var ErrDecompressionBomb = errors.New("layer expands too much (decompression bomb?)")

// ErrZstdWindow is returned for a zstd layer whose frames need a bigger
// window (history buffer) than MaxZstdWindow.
var ErrZstdWindow = errors.New("zstd window too large")

// MaxZstdWindow is the largest window a zstd frame may ask for: each layer
// being decompressed holds one window in memory. It is the default limit of
// the reference zstd tool (window log 27), which refuses bigger windows
// unless told --long or --memory; image tools write 8 MiB windows.
const MaxZstdWindow = 128 << 20

// Walk reads every layer exactly once, decompressing several layers at once,
// verifies each layer's digest, calls visit for each entry and returns the
// squashed view. Entries with unsafe paths are skipped with a warning (see
// Tree.Warnings). Any error ends the walk: a truncated or tampered layer
// makes the whole view untrustworthy.
func (img *Image) Walk(ctx context.Context, visit VisitFunc) (*Tree, error) {
	if img.Transport == Directory {
		return walkDir(ctx, img.dir, img.opts, visit)
	}
	tree := newTree(len(img.Layers), img.opts.maxIndex)
	// Start big layers first so the slowest ones do not start last.
	order := make([]int, len(img.Layers))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(img.Layers[b].Size, img.Layers[a].Size) })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, img.opts.jobs))
	// With a processor per layer in flight or more, no decompressor has to
	// make room for the biggest layer's helpers: idle processors take them.
	var critical *criticalPath
	if procs := runtime.GOMAXPROCS(0); procs > 1 && min(len(order), max(1, img.opts.jobs)) >= procs {
		critical = new(criticalPath)
	}
	for k, i := range order {
		g.Go(func() error {
			l := img.Layers[i]
			if err := walkLayer(gctx, l, tree, img.opts, critical, k == 0, visit); err != nil {
				return fmt.Errorf("layer %d (%s): %w", l.Index, shortDigest(l), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	tree.checkHardlinks()
	return tree, nil
}

func shortDigest(l Layer) string {
	d := l.Digest
	if d == "" {
		d = l.DiffID
	}
	if len(d) > 19 {
		d = d[:19]
	}
	return d
}

// walkLayer reads one layer in three goroutines, so that the decompressor,
// the slowest stage, never waits for its input: the first reads the stored
// blob ahead, counting it (against the size the manifest declares) and
// hashing it; the second decompresses; this one parses the tar. A blob
// without a digest of its own (a docker-archive's layer, checked against
// its DiffID after decompression) has no first goroutine. The decompressed
// bytes are bounded relative to the stored bytes the decompressor has
// consumed. The first and third goroutines of the biggest layer are the
// helpers of the walk's critical path (nil: none); the other layers'
// decompressors step aside for them.
func walkLayer(ctx context.Context, l Layer, tree *Tree, o options, critical *criticalPath, biggest bool, visit VisitFunc) error {
	raw, err := l.open()
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer raw.Close()
	var src io.Reader = &storedReader{r: raw, declared: l.Size}
	if o.progress != nil {
		src = &progressReader{r: src, index: l.Index, p: o.progress}
	}
	blobDigest, err := newDigest(l.Digest)
	if err != nil {
		return err
	}
	if blobDigest != nil {
		// Hashed where it is read, ahead of the decompressor: SHA-256 runs
		// some twenty times faster than inflate, so this goroutine idles
		// most of the time and the decompressor finds its input ready.
		blobStages := readaheadStages{hash: blobDigest.h}
		if biggest {
			blobStages.producer = critical.helper()
		}
		blobAhead := newReadahead(src, blobStages)
		defer blobAhead.Close()
		src = blobAhead
	}
	consumed := &countingReader{r: src}
	br := bufioPool.Get().(*bufio.Reader)
	br.Reset(consumed)
	defer func() { br.Reset(nil); bufioPool.Put(br) }()
	content, closeDecompressor, err := decompress(br)
	if err != nil {
		return err
	}
	defer closeDecompressor()
	var diffDigest *digest
	if blobDigest == nil { // no blob digest (docker-archive): check the uncompressed tar
		if diffDigest, err = newDigest(l.DiffID); err != nil {
			return err
		}
		if diffDigest != nil {
			content = &hashingReader{r: content, h: diffDigest.h} // in the readahead goroutine
		}
	}
	stages := readaheadStages{yield: critical}
	if biggest {
		walker := critical.helper()
		defer walker.setBusy(false) // the walker ends
		stages = readaheadStages{consumer: walker}
	}
	ra := newReadahead(content, stages)
	defer ra.Close()
	bounded := &boundedReader{r: ra, stored: &consumed.n, ratio: o.maxExpansion}
	if err := readTar(ctx, tar.NewReader(bounded), l.Index, tree, visit); err != nil {
		return err
	}
	// Read to the end so every byte is covered by the digest.
	if err := bounded.skipToEnd(); err != nil {
		return fmt.Errorf("read past the end of the tar: %w", err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if blobDigest != nil {
		// The read-ahead goroutine has ended: br saw its end of stream.
		if err := blobDigest.verify("blob"); err != nil {
			return err
		}
	}
	if diffDigest != nil {
		// The readahead goroutine has ended: bounded saw its end of stream.
		if err := diffDigest.verify("uncompressed layer (DiffID)"); err != nil {
			return err
		}
	}
	return nil
}

var bufioPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 256<<10) }}

func readTar(ctx context.Context, tr *tar.Reader, layer int, tree *Tree, visit VisitFunc) error {
	idx := tree.layers[layer]
	defer idx.finish()
	absWarned := false
	var e Entry // handed to visit, reused
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("read tar: %w (truncated layer?)", err)
			}
			return fmt.Errorf("read tar: %w", err)
		}
		p, abs, err := cleanEntryPath(h.Name)
		if err != nil {
			tree.warnf("layer %d: skipped entry: %v", layer, err)
			continue
		}
		if abs && !absWarned {
			tree.warnf("layer %d: absolute entry names such as %q are read relative to the image root", layer, h.Name)
			absWarned = true
		}
		if p == "" {
			continue
		}
		base := path.Base(p)
		if strings.HasPrefix(base, ".wh.") {
			dir := parent(p)
			var cost int64
			switch {
			case base == ".wh..wh..opq":
				cost = idx.addWhiteout(idx.opaque, dir)
			case strings.HasPrefix(base, ".wh..wh."):
				// AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs), not part of the view.
			default:
				cost = idx.addWhiteout(idx.whiteouts, path.Join(dir, base[len(".wh."):]))
			}
			if err := tree.charge(cost); err != nil {
				return err
			}
			continue
		}
		e = Entry{Layer: layer, Path: p, Mode: h.FileInfo().Mode(), Size: h.Size}
		switch h.Typeflag {
		case tar.TypeReg, '\x00', tar.TypeGNUSparse, tar.TypeCont:
			e.Type = Regular
		case tar.TypeDir:
			e.Type = Dir
		case tar.TypeSymlink:
			e.Type, e.Linkname = Symlink, h.Linkname
		case tar.TypeLink:
			target, _, err := cleanEntryPath(h.Linkname)
			if err != nil || target == "" {
				tree.warnf("layer %d: skipped hardlink %s: target %q is outside the image", layer, p, h.Linkname)
				continue
			}
			e.Type, e.Linkname, e.Size = Hardlink, target, 0
		case tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
			continue
		default:
			e.Type = Other
		}
		tree.entries.Add(1)
		if err := tree.charge(idx.add(&e)); err != nil {
			return err
		}
		var r io.Reader
		if e.Type == Regular {
			r = tr
		}
		if err := visit(&e, r); err != nil {
			return err
		}
	}
}

// decompress returns the tar stream of a stored layer: gzip and zstd are
// recognised by their magic numbers, anything else is read as a plain tar.
func decompress(br *bufio.Reader) (io.Reader, func(), error) {
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(MaxZstdWindow), zstd.WithDecoderMaxMemory(MaxZstdWindow))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zstdErrors{zr}, zr.Close, nil
	}
	return br, func() {}, nil
}

// zstdErrors explains the decoder's refusal of a big window.
type zstdErrors struct{ *zstd.Decoder }

func (z zstdErrors) Read(p []byte) (int, error) {
	n, err := z.Decoder.Read(p)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		err = fmt.Errorf("%w: a frame needs a window over %d MiB, the most credence (like the zstd tool by default) allocates per layer", ErrZstdWindow, MaxZstdWindow>>20)
	}
	return n, err
}

// storedReader counts the bytes read from a stored blob and refuses to read
// past the size its descriptor declares (a blob that keeps coming cannot
// match its digest).
type storedReader struct {
	r        io.Reader
	declared int64 // 0: unknown
	n        int64
}

func (s *storedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	if s.declared > 0 && s.n > s.declared {
		return n, fmt.Errorf("%w: the blob is longer than the %d bytes its descriptor declares", ErrDigestMismatch, s.declared)
	}
	return n, err
}

// countingReader counts the stored bytes the decompressor has consumed, the
// measure of a decompression bomb (the read-ahead is further on).
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// digest is a hash being computed and the hex digest it must match.
type digest struct {
	h    hash.Hash
	want string
}

// newDigest parses "alg:hex"; nil for an empty digest.
func newDigest(d string) (*digest, error) {
	if d == "" {
		return nil, nil
	}
	alg, hexDigest, ok := strings.Cut(d, ":")
	if !ok {
		return nil, fmt.Errorf("malformed digest %q", d)
	}
	switch alg {
	case "sha256":
		return &digest{h: sha256.New(), want: hexDigest}, nil
	case "sha512":
		return &digest{h: sha512.New(), want: hexDigest}, nil
	}
	return nil, fmt.Errorf("unsupported digest algorithm in %q", d)
}

func (d *digest) verify(what string) error {
	got := hex.EncodeToString(d.h.Sum(nil))
	if got != d.want {
		return fmt.Errorf("%w: %s hashes to %s, expected %s", ErrDigestMismatch, what, got, d.want)
	}
	return nil
}

// hashingReader hashes what is read through it, in the reading goroutine.
type hashingReader struct {
	r io.Reader
	h hash.Hash
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

// boundedReader stops a decompression bomb: the uncompressed bytes may not
// exceed DefaultMaxExpansion (or WithMaxExpansion) times the stored bytes
// actually read so far, beyond a floor of 512 MiB. The stored count comes
// from the blob itself, never from what a manifest declares.
type boundedReader struct {
	r      *readahead
	stored *atomic.Int64
	ratio  int64
	read   int64 // uncompressed bytes passed (read or skipped)
}

func (b *boundedReader) left() (int64, error) {
	left := max(int64(expansionFloor), b.ratio*b.stored.Load()) - b.read
	if left <= 0 {
		return 0, fmt.Errorf("%w: over %d× the %d bytes read from the blob and over %d MiB; raise --max-expansion if it is genuine",
			ErrDecompressionBomb, b.ratio, b.stored.Load(), expansionFloor>>20)
	}
	return left, nil
}

func (b *boundedReader) Read(p []byte) (int, error) {
	left, err := b.left()
	if err != nil {
		return 0, err
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}

// Seek skips forward without copying: archive/tar seeks over the content of
// files nobody reads. Only SeekCurrent with offset >= 0 is supported.
func (b *boundedReader) Seek(offset int64, whence int) (int64, error) {
	if whence != io.SeekCurrent || offset < 0 {
		return b.read, errors.New("a layer stream only skips forward")
	}
	for offset > 0 {
		left, err := b.left()
		if err != nil {
			return b.read, err
		}
		n, err := b.r.skip(min(offset, left))
		b.read += n
		offset -= n
		if err != nil {
			if errors.Is(err, io.EOF) {
				break // the caller reads on and sees the end
			}
			return b.read, err
		}
	}
	return b.read, nil
}

// skipToEnd passes over the rest of the stream.
func (b *boundedReader) skipToEnd() error {
	for {
		left, err := b.left()
		if err != nil {
			return err
		}
		n, err := b.r.skip(left)
		b.read += n
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

type progressReader struct {
	r     io.Reader
	index int
	p     Progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if n > 0 {
		r.p.Read(r.index, int64(n))
	}
	return n, err
}

// openDir describes a directory as an image of one layer.
func openDir(dir string) (*Image, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReference, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrBadReference, dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return &Image{Transport: Directory, Name: abs, dir: abs,
		Layers: []Layer{{Index: 0, CreatedBy: "dir:" + abs}}}, nil
}

// skippedDirs are never walked in a directory scan: version control data,
// and the kernel's virtual file systems when scanning a live root.
var skippedDirs = map[string]bool{".git": true, ".hg": true, ".svn": true}
var virtualRootDirs = map[string]bool{"proc": true, "sys": true, "dev": true}

// walkDir offers the files of a directory as a single layer. Symlinks are
// recorded, never followed, so nothing outside the directory is read.
func walkDir(ctx context.Context, root string, o options, visit VisitFunc) (*Tree, error) {
	tree := newTree(1, o.maxIndex)
	idx := tree.layers[0]
	defer idx.finish()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		rel, rerr := filepath.Rel(root, p)
		if rerr != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if err != nil {
			tree.warnf("skipped %s: %v", rel, err)
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() && (skippedDirs[d.Name()] || (root == "/" && virtualRootDirs[rel])) {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			tree.warnf("skipped %s: %v", rel, err)
			return nil
		}
		e := &Entry{Path: rel, Mode: info.Mode(), Size: info.Size()}
		var r io.Reader
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			e.Type = Symlink
			e.Linkname, _ = os.Readlink(p)
		case d.IsDir():
			e.Type = Dir
		case info.Mode().IsRegular():
			e.Type = Regular
			lf := &lazyFile{path: p}
			defer lf.close()
			r = lf
		default:
			e.Type = Other
		}
		tree.entries.Add(1)
		if err := tree.charge(idx.add(e)); err != nil {
			return err
		}
		return visit(e, r)
	})
	if err != nil {
		return nil, err
	}
	return tree, nil
}

// lazyFile opens its file on the first Read or ReadAt, so files nobody
// wants are never opened; ReadAt gives extractors random access without a
// copy.
type lazyFile struct {
	path string
	f    *os.File
	err  error
}

func (l *lazyFile) open() error {
	if l.f == nil && l.err == nil {
		l.f, l.err = os.Open(l.path)
	}
	return l.err
}

func (l *lazyFile) Read(p []byte) (int, error) {
	if err := l.open(); err != nil {
		return 0, err
	}
	return l.f.Read(p)
}

func (l *lazyFile) ReadAt(p []byte, off int64) (int, error) {
	if err := l.open(); err != nil {
		return 0, err
	}
	return l.f.ReadAt(p, off)
}

func (l *lazyFile) close() {
	if l.f != nil {
		l.f.Close()
	}
}
