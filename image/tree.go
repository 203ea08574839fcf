package image

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// EntryType is the kind of a file system entry.
type EntryType uint8

// Entry types.
const (
	Regular EntryType = iota
	Dir
	Symlink
	Hardlink
	Other // devices, FIFOs
)

func (t EntryType) String() string {
	return [...]string{"file", "dir", "symlink", "hardlink", "other"}[t]
}

// Entry is one file system entry of one layer.
type Entry struct {
	Layer int
	// Path is clean, slash-separated and relative to the image root, with
	// no leading slash: "etc/os-release".
	Path string
	Type EntryType
	Mode fs.FileMode
	Size int64
	// Linkname is a symlink's target as written, or a hardlink's target as
	// a clean root-relative path.
	Linkname string
}

// ErrIndexTooLarge is returned when the file index of an image outgrows the
// limit set by WithMaxIndex.
var ErrIndexTooLarge = errors.New("file index too large")

// DefaultMaxIndex bounds the memory the file index of one image may take
// (every path of every layer, with its type, mode, size and link target):
// 256 MiB holds about two million entries with paths of typical length.
// The biggest real images hold a few hundred thousand files.
const DefaultMaxIndex = 256 << 20

// record is one entry of a layer's index. Paths and link targets point into
// the layer's arena.
type record struct {
	path string
	link string
	size int64
	mode fs.FileMode
	typ  EntryType
}

// recordSize is what one record costs in the index, for the budget.
const recordSize = int64(unsafe.Sizeof(record{}))

// whiteoutCost is what one whiteout or opaque marker costs beside its path
// (a map slot).
const whiteoutCost = 48

// layerIndex records what one layer holds and what it deletes below it.
// It is written by one goroutine while the layer is read, then sorted by
// path and only read.
type layerIndex struct {
	layer     int
	recs      []record        // sorted by path once the layer is read; one per path
	whiteouts map[string]bool // paths this layer deletes from the layers below
	opaque    map[string]bool // directories whose content below this layer is hidden
	arena     arena
}

func newLayerIndex(layer int) *layerIndex {
	return &layerIndex{layer: layer, whiteouts: map[string]bool{}, opaque: map[string]bool{}}
}

// add records an entry (the latest entry for a path wins when the layer is
// finished) and returns the bytes of memory the index newly took for it.
func (l *layerIndex) add(e *Entry) int64 {
	before := l.arena.size + int64(cap(l.recs))*recordSize
	r := record{path: l.arena.add(e.Path), size: e.Size, mode: e.Mode, typ: e.Type}
	if e.Linkname != "" {
		r.link = l.arena.add(e.Linkname)
	}
	l.recs = append(l.recs, r)
	return l.arena.size + int64(cap(l.recs))*recordSize - before
}

// addWhiteout records a whiteout or an opaque marker and returns its cost.
func (l *layerIndex) addWhiteout(m map[string]bool, p string) int64 {
	if m[p] {
		return 0
	}
	m[p] = true
	return whiteoutCost + int64(len(p))
}

// finish sorts the records by path, keeping the last record of each path
// (a tar may repeat a name; the later entry is the one extracted).
func (l *layerIndex) finish() {
	slices.SortStableFunc(l.recs, func(a, b record) int { return strings.Compare(a.path, b.path) })
	out := l.recs[:0]
	for i, r := range l.recs {
		if i+1 < len(l.recs) && l.recs[i+1].path == r.path {
			continue
		}
		out = append(out, r)
	}
	clear(l.recs[len(out):])
	l.recs = slices.Clip(out)
}

// find returns the record at p.
func (l *layerIndex) find(p string) (*record, bool) {
	i, ok := slices.BinarySearchFunc(l.recs, p, func(r record, p string) int { return strings.Compare(r.path, p) })
	if !ok {
		return nil, false
	}
	return &l.recs[i], true
}

// under returns the records strictly below directory p ("" is the root).
func (l *layerIndex) under(p string) []record {
	prefix := p + "/"
	if p == "" {
		prefix = ""
	}
	i, _ := slices.BinarySearchFunc(l.recs, prefix, func(r record, p string) int { return strings.Compare(r.path, p) })
	j := i
	for j < len(l.recs) && strings.HasPrefix(l.recs[j].path, prefix) {
		j++
	}
	return l.recs[i:j]
}

func (l *layerIndex) entry(r *record) *Entry {
	return &Entry{Layer: l.layer, Path: r.path, Type: r.typ, Mode: r.mode, Size: r.size, Linkname: r.link}
}

// hides reports whether this layer hides p in the layers below it: p or a
// parent is whited out, a parent is opaque, or a parent is no longer a
// directory here.
func (l *layerIndex) hides(p string) bool {
	if l.whiteouts[p] {
		return true
	}
	for a := parent(p); a != ""; a = parent(a) {
		if l.whiteouts[a] || l.opaque[a] {
			return true
		}
		if r, ok := l.find(a); ok && r.typ != Dir {
			return true
		}
	}
	return false
}

// arena holds the strings of one layer's index in large blocks, so that
// hundreds of thousands of paths are a few allocations, not one each (and
// few objects for the garbage collector to trace).
type arena struct {
	block []byte
	size  int64 // bytes allocated
}

const arenaBlock = 256 << 10

func (a *arena) add(s string) string {
	if len(s) > arenaBlock/4 {
		a.size += int64(len(s))
		return strings.Clone(s)
	}
	if len(a.block)+len(s) > cap(a.block) {
		a.block = make([]byte, 0, arenaBlock)
		a.size += arenaBlock
	}
	off := len(a.block)
	a.block = append(a.block, s...)
	if len(s) == 0 {
		return ""
	}
	// The block is only ever appended to, so the bytes behind the string
	// never change.
	return unsafe.String(&a.block[off], len(s))
}

func parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// Tree is the squashed view of an image: the file system the container
// sees, with OCI whiteouts and opaque directories applied, where every file
// knows the layer it comes from.
//
// Every entry of every layer is kept in a compact index (one record and the
// path's bytes each) whose total size is bounded by WithMaxIndex.
type Tree struct {
	layers []*layerIndex

	maxIndex  int64
	indexSize atomic.Int64
	entries   atomic.Int64

	mu       sync.Mutex
	warnings []string
}

func newTree(n int, maxIndex int64) *Tree {
	t := &Tree{layers: make([]*layerIndex, n), maxIndex: maxIndex}
	for i := range t.layers {
		t.layers[i] = newLayerIndex(i)
	}
	return t
}

// charge adds n bytes to the index's size and fails once it is over the limit.
func (t *Tree) charge(n int64) error {
	if size := t.indexSize.Add(n); t.maxIndex > 0 && size > t.maxIndex {
		return fmt.Errorf("%w: the paths of the image's %d entries so far take over %d MiB; raise --max-file-index if the image is genuine",
			ErrIndexTooLarge, t.entries.Load(), t.maxIndex>>20)
	}
	return nil
}

func (t *Tree) warnf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.warnings) < maxWarnings {
		t.warnings = append(t.warnings, fmt.Sprintf(format, args...))
	} else if len(t.warnings) == maxWarnings {
		t.warnings = append(t.warnings, "more warnings omitted")
	}
}

const maxWarnings = 200

// Warnings lists problems met while reading the layers (unsafe paths,
// dangling hardlinks); the affected entries were skipped.
func (t *Tree) Warnings() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.warnings...)
}

// Layers is the number of layers.
func (t *Tree) Layers() int { return len(t.layers) }

// Entries is the number of entries the index holds, over all layers.
func (t *Tree) Entries() int {
	n := 0
	for _, l := range t.layers {
		n += len(l.recs)
	}
	return n
}

// IndexSize is the memory the index takes, in bytes, as WithMaxIndex counts it.
func (t *Tree) IndexSize() int64 { return t.indexSize.Load() }

// Lookup returns the entry at p in the squashed view, without following
// symlinks.
func (t *Tree) Lookup(p string) (*Entry, bool) {
	for j := len(t.layers) - 1; j >= 0; j-- {
		l := t.layers[j]
		if r, ok := l.find(p); ok {
			return l.entry(r), true
		}
		if l.hides(p) {
			return nil, false
		}
	}
	return nil, false
}

// visibleLayer is Lookup's layer, or -1.
func (t *Tree) visibleLayer(p string) int {
	for j := len(t.layers) - 1; j >= 0; j-- {
		l := t.layers[j]
		if _, ok := l.find(p); ok {
			return j
		}
		if l.hides(p) {
			return -1
		}
	}
	return -1
}

// Visible reports whether the entry that layer holds at p is the one the
// container sees.
func (t *Tree) Visible(layer int, p string) bool {
	return layer >= 0 && t.visibleLayer(p) == layer
}

// Versions returns the entries at p from the visible one down through the
// layers below it, for as long as no layer in between deleted p: the history
// of the file the container sees, newest first. Empty if p is not visible.
func (t *Tree) Versions(p string) []*Entry {
	var out []*Entry
	for j := len(t.layers) - 1; j >= 0; j-- {
		l := t.layers[j]
		if r, ok := l.find(p); ok {
			out = append(out, l.entry(r))
		}
		if l.hides(p) {
			break
		}
	}
	return out
}

// Exists reports whether the container sees p: as an entry, or as a
// directory the tar left implicit that holds a visible entry.
func (t *Tree) Exists(p string) bool {
	if t.visibleLayer(p) >= 0 {
		return true
	}
	for i, l := range t.layers {
		for _, r := range l.under(p) {
			if t.visibleLayer(r.path) == i {
				return true
			}
		}
	}
	return false
}

// Existed reports whether any layer ever held p or something under it,
// visible or not.
func (t *Tree) Existed(p string) bool {
	for _, l := range t.layers {
		if _, ok := l.find(p); ok || len(l.under(p)) > 0 {
			return true
		}
	}
	return false
}

// ErrSymlinkLoop is returned when resolving a path meets too many symlinks.
var ErrSymlinkLoop = errors.New("too many levels of symbolic links")

// maxSymlinks is how many links Resolve follows, as Linux's MAXSYMLINKS.
const maxSymlinks = 40

// Resolve follows symlinks in every element of p, as the kernel would inside
// the container: absolute targets start at the image root and ".." stops at
// the root, so no link leads outside the image. It returns the clean path
// reached and its entry.
func (t *Tree) Resolve(p string) (string, *Entry, error) {
	links := 0
	var done []string // resolved elements so far
	todo := splitPath(p)
	for len(todo) > 0 {
		elem := todo[0]
		todo = todo[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := strings.Join(append(done, elem), "/")
		e, ok := t.Lookup(cur)
		if !ok || e.Type != Symlink {
			// Not a link (a missing parent is a directory tar left implicit;
			// whether the whole path exists is checked at the end).
			done = append(done, elem)
			continue
		}
		if links++; links > maxSymlinks {
			return cur, nil, fmt.Errorf("resolve %s: %w", p, ErrSymlinkLoop)
		}
		target := splitPath(e.Linkname)
		if strings.HasPrefix(e.Linkname, "/") {
			done = nil
		}
		todo = append(target, todo...)
	}
	cur := strings.Join(done, "/")
	if cur == "" {
		return "", &Entry{Type: Dir, Mode: fs.ModeDir | 0o755}, nil
	}
	e, ok := t.Lookup(cur)
	if !ok {
		return cur, nil, fs.ErrNotExist
	}
	return cur, e, nil
}

// checkHardlinks warns about hardlinks whose target is in neither their own
// layer nor a layer below.
func (t *Tree) checkHardlinks() {
	for i, l := range t.layers {
		for _, r := range l.recs {
			if r.typ != Hardlink {
				continue
			}
			found := false
			for j := i; j >= 0 && !found; j-- {
				_, found = t.layers[j].find(r.link)
			}
			if !found {
				t.warnf("layer %d: hardlink %s points to %s, which no layer holds", i, r.path, r.link)
			}
		}
	}
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// cleanEntryPath makes a tar entry name root-relative and clean. It refuses
// names that climb out of the root with "..".
func cleanEntryPath(name string) (p string, absolute bool, err error) {
	absolute = strings.HasPrefix(name, "/")
	if !absolute && isClean(name) {
		return name, false, nil // the common case: nothing to do, nothing to allocate
	}
	depth := 0
	for _, elem := range strings.Split(name, "/") {
		switch elem {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return "", absolute, fmt.Errorf("path %q climbs out of the image root", name)
			}
		default:
			depth++
		}
	}
	c := path.Clean("/" + name)
	return strings.TrimPrefix(c, "/"), absolute, nil
}

// isClean reports whether a relative name is already in the form
// cleanEntryPath returns: no empty, "." or ".." element, no leading or
// trailing slash.
func isClean(name string) bool {
	if name == "" {
		return false
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '/' {
			continue
		}
		switch name[start:i] {
		case "", ".", "..":
			return false
		}
		start = i + 1
	}
	return true
}
