package image

import (
	"archive/tar"
	"bufio"
	"bytes"
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
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"
)

// VisitFunc is called for every entry of every layer except whiteout
// markers. r streams a regular file's content and is nil for other entries;
// the visitor need not read it. Walk calls visit concurrently for different
// layers, and in archive order within a layer.
type VisitFunc func(e *Entry, r io.Reader) error

// ErrDigestMismatch is returned when a layer's content does not match the
// digest the manifest or config gives for it.
var ErrDigestMismatch = errors.New("digest mismatch")

// ErrDecompressionBomb is returned when a layer expands beyond the limit set
// by WithMaxExpansion.
var ErrDecompressionBomb = errors.New("layer expands too much (decompression bomb?)")

// Walk reads every layer exactly once, decompressing several layers at once,
// verifies each layer's digest, calls visit for each entry and returns the
// squashed view. Entries with unsafe paths are skipped with a warning (see
// Tree.Warnings). Any error ends the walk: a truncated or tampered layer
// makes the whole view untrustworthy.
func (img *Image) Walk(ctx context.Context, visit VisitFunc) (*Tree, error) {
	if img.Transport == Directory {
		return walkDir(ctx, img.dir, visit)
	}
	tree := newTree(len(img.Layers))
	// Start big layers first so the slowest ones do not start last.
	order := make([]int, len(img.Layers))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(img.Layers[b].Size - img.Layers[a].Size) })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, img.opts.jobs))
	for _, i := range order {
		g.Go(func() error {
			l := img.Layers[i]
			if err := walkLayer(gctx, l, tree, img.opts, visit); err != nil {
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

func walkLayer(ctx context.Context, l Layer, tree *Tree, o options, visit VisitFunc) error {
	raw, err := l.open()
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer raw.Close()
	var stored io.Reader = raw
	if o.progress != nil {
		stored = &progressReader{r: raw, index: l.Index, p: o.progress}
	}
	blobCheck, err := newDigestCheck(l.Digest)
	if err != nil {
		return err
	}
	if blobCheck != nil {
		stored = io.TeeReader(stored, blobCheck)
	}
	br := bufio.NewReaderSize(stored, 256<<10)
	content, closeDecompressor, err := decompress(br)
	if err != nil {
		return err
	}
	defer closeDecompressor()
	var diffCheck *digestCheck
	if blobCheck == nil { // no blob digest (docker-archive): check the uncompressed tar
		if diffCheck, err = newDigestCheck(l.DiffID); err != nil {
			return err
		}
		if diffCheck != nil {
			content = io.TeeReader(content, diffCheck)
		}
	}
	ra := newReadahead(content)
	defer ra.Close()
	limit := max(int64(expansionFloor), o.maxExpansion*l.Size)
	bounded := &boundedReader{r: ra, left: limit, ratio: o.maxExpansion}
	if err := readTar(ctx, tar.NewReader(bounded), l.Index, tree, visit); err != nil {
		return err
	}
	// Read to the end so every byte is covered by the digest.
	if _, err := io.Copy(io.Discard, bounded); err != nil {
		return fmt.Errorf("read past the end of the tar: %w", err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if blobCheck != nil {
		if err := blobCheck.verify("blob"); err != nil {
			return err
		}
	}
	if diffCheck != nil {
		if err := diffCheck.verify("uncompressed layer (DiffID)"); err != nil {
			return err
		}
	}
	return nil
}

func readTar(ctx context.Context, tr *tar.Reader, layer int, tree *Tree, visit VisitFunc) error {
	idx := tree.layers[layer]
	absWarned := false
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
			switch {
			case base == ".wh..wh..opq":
				idx.opaque[dir] = true
			case strings.HasPrefix(base, ".wh..wh."):
				// AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs), not part of the view.
			default:
				idx.whiteouts[path.Join(dir, base[len(".wh."):])] = true
			}
			continue
		}
		e := &Entry{Layer: layer, Path: p, Mode: h.FileInfo().Mode(), Size: h.Size}
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
		idx.entries[p] = e
		var r io.Reader
		if e.Type == Regular {
			r = tr
		}
		if err := visit(e, r); err != nil {
			return err
		}
	}
}

// checkHardlinks warns about hardlinks whose target is in neither their own
// layer nor a layer below.
func (t *Tree) checkHardlinks() {
	for i, l := range t.layers {
		for _, e := range l.entries {
			if e.Type != Hardlink {
				continue
			}
			found := false
			for j := i; j >= 0 && !found; j-- {
				_, found = t.layers[j].entries[e.Linkname]
			}
			if !found {
				t.warnf("layer %d: hardlink %s points to %s, which no layer holds", i, e.Path, e.Linkname)
			}
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
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// digestCheck hashes what passes through it and compares with a digest.
type digestCheck struct {
	hash.Hash
	want string
}

func newDigestCheck(digest string) (*digestCheck, error) {
	if digest == "" {
		return nil, nil
	}
	alg, hexDigest, ok := strings.Cut(digest, ":")
	if !ok {
		return nil, fmt.Errorf("malformed digest %q", digest)
	}
	switch alg {
	case "sha256":
		return &digestCheck{Hash: sha256.New(), want: hexDigest}, nil
	case "sha512":
		return &digestCheck{Hash: sha512.New(), want: hexDigest}, nil
	}
	return nil, fmt.Errorf("unsupported digest algorithm in %q", digest)
}

func (d *digestCheck) verify(what string) error {
	got := hex.EncodeToString(d.Sum(nil))
	if got != d.want {
		return fmt.Errorf("%w: %s hashes to %s, expected %s", ErrDigestMismatch, what, got, d.want)
	}
	return nil
}

// boundedReader stops a decompression bomb.
type boundedReader struct {
	r     io.Reader
	left  int64
	ratio int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("%w: over %d× its stored size and over %d MiB; raise --max-expansion if it is genuine",
			ErrDecompressionBomb, b.ratio, expansionFloor>>20)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
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
func walkDir(ctx context.Context, root string, visit VisitFunc) (*Tree, error) {
	tree := newTree(1)
	idx := tree.layers[0]
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
		idx.entries[rel] = e
		return visit(e, r)
	})
	if err != nil {
		return nil, err
	}
	return tree, nil
}

// lazyFile opens its file on the first Read, so files nobody wants are never opened.
type lazyFile struct {
	path string
	f    *os.File
	err  error
}

func (l *lazyFile) Read(p []byte) (int, error) {
	if l.f == nil && l.err == nil {
		l.f, l.err = os.Open(l.path)
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.f.Read(p)
}

func (l *lazyFile) close() {
	if l.f != nil {
		l.f.Close()
	}
}
