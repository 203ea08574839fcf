package inventory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// Extractor finds packages in the files of an image. The runner walks the
// image once and offers each file to every extractor; extractors never walk.
// Implementations must be safe for concurrent use: files of different layers
// are extracted in parallel.
type Extractor interface {
	// Name is unique among extractors ("dpkg", "npm/lockfile").
	Name() string
	// Version is bumped on every change of behaviour; it is written into
	// every package the extractor reports.
	Version() int
	// Requirements states what the extractor needs from the runner.
	Requirements() Requirements
	// FileRequired reports whether the extractor wants to read f. It sees
	// only the path, mode and size; it must be cheap.
	FileRequired(f FileInfo) bool
	// Extract reads one file. An error marks the file as failed (the scan
	// goes on); a malformed entry inside a file is skipped, not an error.
	Extract(ctx context.Context, in *Input) (Result, error)
}

// Requirements states what an extractor needs.
type Requirements struct {
	// MaxFileSize bounds the files offered: bigger ones are skipped with a
	// warning. Zero means DefaultMaxFileSize.
	MaxFileSize int64
}

// DefaultMaxFileSize bounds the files offered to an extractor that sets no
// limit of its own.
const DefaultMaxFileSize = 64 << 20

// FileInfo describes a file offered to extractors.
type FileInfo struct {
	// Path is slash-separated and relative to the image root, with no
	// leading slash: "var/lib/dpkg/status".
	Path string
	Mode fs.FileMode
	Size int64
}

// Base is the last element of the path.
func (f FileInfo) Base() string { return path.Base(f.Path) }

// Executable reports whether f is a regular file with an execute bit.
func (f FileInfo) Executable() bool { return f.Mode.IsRegular() && f.Mode.Perm()&0o111 != 0 }

// Result is what an extractor found in one file.
type Result struct {
	Packages []*Package
	// Distro is set by the os-release extractor.
	Distro *Distro
	// Warnings describe malformed entries the extractor skipped.
	Warnings []string
}

// Input is one file handed to an extractor.
type Input struct {
	FileInfo
	// Reader streams the file's content once.
	Reader io.Reader

	tmpDir  string
	spooled []byte
	tmpPath string
	tmpFile *os.File
	used    bool
}

// NewInput returns an Input reading r; tmpDir is where LocalPath and large
// ReaderAt calls spool the file ("" means os.TempDir()). Call Close after
// Extract to remove any spooled copy.
func NewInput(info FileInfo, r io.Reader, tmpDir string) *Input {
	return &Input{FileInfo: info, Reader: r, tmpDir: tmpDir}
}

// memorySpoolLimit is the largest file ReaderAt keeps in memory.
const memorySpoolLimit = 8 << 20

// ErrFileTooLarge is returned when a file exceeds the size an extractor can read.
var ErrFileTooLarge = errors.New("file too large")

// ReadAll reads the whole file, refusing files larger than max bytes.
func (in *Input) ReadAll(max int64) ([]byte, error) {
	if in.spooled != nil {
		return in.spooled, nil
	}
	if in.Size > max {
		return nil, fmt.Errorf("%s is %d bytes, over the %d byte limit: %w", in.Path, in.Size, max, ErrFileTooLarge)
	}
	if in.used {
		return nil, errors.New("input already consumed")
	}
	in.used = true
	// The size is known from the tar header: read into one buffer of that
	// size rather than growing one (which allocates about twice the file).
	b := make([]byte, in.Size, in.Size+1)
	n, err := io.ReadFull(in.Reader, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	b = b[:n]
	if n == len(b) { // more than the header said? read on, within max
		rest, err := io.ReadAll(io.LimitReader(in.Reader, max-int64(n)+1))
		if err != nil {
			return nil, err
		}
		b = append(b, rest...)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is over the %d byte limit: %w", in.Path, max, ErrFileTooLarge)
	}
	in.spooled = b
	return b, nil
}

// ReaderAt gives random access to the file (zip archives, ELF binaries):
// the reader's own when it has one (a file of a directory scan), else files
// up to 8 MiB are held in memory and larger ones are spooled to a temporary
// file that Close removes.
func (in *Input) ReaderAt() (io.ReaderAt, error) {
	if in.spooled != nil {
		return bytes.NewReader(in.spooled), nil
	}
	if ra, ok := in.Reader.(io.ReaderAt); ok {
		return ra, nil
	}
	if in.Size <= memorySpoolLimit {
		b, err := in.ReadAll(memorySpoolLimit)
		if err != nil {
			return nil, err
		}
		return bytes.NewReader(b), nil
	}
	p, err := in.LocalPath()
	if err != nil {
		return nil, err
	}
	if in.tmpFile == nil {
		if in.tmpFile, err = os.Open(p); err != nil {
			return nil, err
		}
	}
	return in.tmpFile, nil
}

// LocalPath returns the path of a temporary copy of the file, for libraries
// that open files by name (rpm databases). Close removes it.
func (in *Input) LocalPath() (string, error) {
	if in.tmpPath != "" {
		return in.tmpPath, nil
	}
	f, err := os.CreateTemp(in.tmpDir, "credence-*-"+sanitize(in.Base()))
	if err != nil {
		return "", fmt.Errorf("spool %s: %w", in.Path, err)
	}
	in.tmpPath = f.Name()
	var src io.Reader = in.Reader
	if in.spooled != nil {
		src = bytes.NewReader(in.spooled)
	} else if in.used {
		f.Close()
		return "", errors.New("input already consumed")
	}
	in.used = true
	_, err = io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("spool %s: %w", in.Path, err)
	}
	return in.tmpPath, nil
}

// Close removes any temporary copy of the file.
func (in *Input) Close() error {
	if in.tmpFile != nil {
		in.tmpFile.Close()
		in.tmpFile = nil
	}
	if in.tmpPath != "" {
		err := os.Remove(in.tmpPath)
		in.tmpPath = ""
		return err
	}
	return nil
}

func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '*' || r < ' ' {
			return '_'
		}
		return r
	}, name)
}

// ID is "name@version" for an extractor.
func ID(e Extractor) string { return fmt.Sprintf("%s@%d", e.Name(), e.Version()) }

// SetVersion names a set of extractors and their versions with one short
// string ("x1:3f2a…"): an inventory made by another set (an extractor added,
// removed or changed behaviour) is not the same inventory, so caches key on it.
func SetVersion(exts []Extractor) string {
	ids := make([]string, len(exts))
	for i, e := range exts {
		ids[i] = ID(e)
	}
	sort.Strings(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	return "x1:" + hex.EncodeToString(sum[:8])
}
