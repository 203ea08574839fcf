package image

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
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

// layerIndex records what one layer holds and what it deletes below it.
type layerIndex struct {
	entries   map[string]*Entry
	whiteouts map[string]bool // paths this layer deletes from the layers below
	opaque    map[string]bool // directories whose content below this layer is hidden
}

func newLayerIndex() *layerIndex {
	return &layerIndex{entries: map[string]*Entry{}, whiteouts: map[string]bool{}, opaque: map[string]bool{}}
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
		if e, ok := l.entries[a]; ok && e.Type != Dir {
			return true
		}
	}
	return false
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
type Tree struct {
	layers []*layerIndex

	mu       sync.Mutex
	warnings []string

	sortOnce sync.Once
	sorted   []string // every path any layer holds, for prefix queries
}

func newTree(n int) *Tree {
	t := &Tree{layers: make([]*layerIndex, n)}
	for i := range t.layers {
		t.layers[i] = newLayerIndex()
	}
	return t
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

// Lookup returns the entry at p in the squashed view, without following
// symlinks.
func (t *Tree) Lookup(p string) (*Entry, bool) {
	for j := len(t.layers) - 1; j >= 0; j-- {
		l := t.layers[j]
		if e, ok := l.entries[p]; ok {
			return e, true
		}
		if l.hides(p) {
			return nil, false
		}
	}
	return nil, false
}

// Visible reports whether the entry that layer holds at p is the one the
// container sees.
func (t *Tree) Visible(layer int, p string) bool {
	e, ok := t.Lookup(p)
	return ok && e.Layer == layer
}

// Versions returns the entries at p from the visible one down through the
// layers below it, for as long as no layer in between deleted p: the history
// of the file the container sees, newest first. Empty if p is not visible.
func (t *Tree) Versions(p string) []*Entry {
	var out []*Entry
	started := false
	for j := len(t.layers) - 1; j >= 0; j-- {
		l := t.layers[j]
		if e, ok := l.entries[p]; ok {
			out = append(out, e)
			started = true
		}
		if l.hides(p) {
			break
		}
	}
	if !started {
		return nil
	}
	return out
}

// Exists reports whether the container sees p: as an entry, or as a
// directory the tar left implicit that holds a visible entry.
func (t *Tree) Exists(p string) bool {
	if _, ok := t.Lookup(p); ok {
		return true
	}
	for _, d := range t.under(p) {
		if _, ok := t.Lookup(d); ok {
			return true
		}
	}
	return false
}

// Existed reports whether any layer ever held p or something under it,
// visible or not.
func (t *Tree) Existed(p string) bool {
	for _, l := range t.layers {
		if _, ok := l.entries[p]; ok {
			return true
		}
	}
	return len(t.under(p)) > 0
}

// under returns the paths below p that any layer holds.
func (t *Tree) under(p string) []string {
	t.sortOnce.Do(func() {
		seen := map[string]bool{}
		for _, l := range t.layers {
			for q := range l.entries {
				if !seen[q] {
					seen[q] = true
					t.sorted = append(t.sorted, q)
				}
			}
		}
		slices.Sort(t.sorted)
	})
	prefix := p + "/"
	i, _ := slices.BinarySearch(t.sorted, prefix)
	j := i
	for j < len(t.sorted) && strings.HasPrefix(t.sorted[j], prefix) {
		j++
	}
	return t.sorted[i:j]
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

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// cleanEntryPath makes a tar entry name root-relative and clean. It refuses
// names that climb out of the root with "..".
func cleanEntryPath(name string) (p string, absolute bool, err error) {
	absolute = strings.HasPrefix(name, "/")
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
