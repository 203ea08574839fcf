// Package cargoauditable extracts the Rust crates compiled into executables
// built with cargo auditable: the zlib-compressed JSON of their .dep-v0 section.
package cargoauditable

import (
	"bytes"
	"compress/zlib"
	"context"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/internal/elfhead"
)

// Name of the extractor.
const Name = "rust/auditable"

// Extractor reads the dependency list cargo auditable embeds in executables.
type Extractor struct{}

var _ inventory.Extractor = Extractor{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 2 }

const (
	maxBinarySize = 512 << 20
	// sectionName is where cargo auditable puts the data, in ELF, PE and
	// Mach-O alike (version 0 of its format).
	sectionName = ".dep-v0"
	// Bounds on the section and on what it inflates to; real ones are a
	// few KB compressed for hundreds of crates.
	maxCompressed = 8 << 20
	maxJSON       = 64 << 20
)

// Requirements implements inventory.Extractor.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: maxBinarySize}
}

// FileRequired implements inventory.Extractor: every executable regular
// file big enough to hold an executable header.
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	return f.Executable() && f.Size >= 64 && f.Size <= maxBinarySize
}

// Metadata is what cargo auditable records about a crate.
type Metadata struct {
	// Kind is "runtime", or "build" for crates used only to build the
	// binary (build scripts, proc macros), whose code is not in it.
	Kind string `json:"kind"`
	// Root marks the crate the binary was built from.
	Root bool `json:"root,omitempty"`
}

// versionInfo is the JSON cargo auditable embeds (auditable-serde's
// VersionInfo): packages refer to their dependencies by index.
type versionInfo struct {
	Packages []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Source  string `json:"source"`
		Kind    string `json:"kind"`
		Root    bool   `json:"root"`
	} `json:"packages"`
}

// Extract implements inventory.Extractor. Files that do not start like an
// ELF, PE or Mach-O file are left after their first bytes. A streamed ELF
// file is read once, keeping only what may be the section (stream.go); with
// random access the section table is read where it is. A streamed PE or
// Mach-O file (rare in Linux images) is spooled for random access. A file
// without a .dep-v0 section gives nothing; one whose section is broken, or
// could not be read from the stream, is an error.
//
// Only crates.io crates are reported (type cargo, ecosystem crates.io);
// local crates (the binary's own workspace) are not, and crates from git
// or other registries are named in a warning.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) (inventory.Result, error) {
	head := make([]byte, min(in.Size, headSize))
	n, err := io.ReadFull(in.Reader, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return inventory.Result{}, fmt.Errorf("read %s: %w", in.Path, err)
	}
	head = head[:n]
	kind := format(head)
	if kind == "" {
		return inventory.Result{}, nil
	}
	ra, ok := in.Reader.(io.ReaderAt)
	if !ok && kind == "elf" {
		f, err := elfhead.Parse(head)
		if err != nil {
			return inventory.Result{}, nil
		}
		data, err := streamELF(ctx, f, io.MultiReader(bytes.NewReader(head), in.Reader), in.Size)
		if err != nil {
			return inventory.Result{}, fmt.Errorf("%s: %w", in.Path, err)
		}
		return parseSection(in.Path, data)
	}
	if !ok {
		in.Reader = io.MultiReader(bytes.NewReader(head), in.Reader)
		if ra, err = in.ReaderAt(); err != nil {
			return inventory.Result{}, err
		}
	}
	sec, err := section(kind, io.NewSectionReader(ra, 0, in.Size))
	if err != nil || sec == nil {
		return inventory.Result{}, err
	}
	data, err := io.ReadAll(io.LimitReader(sec, maxCompressed+1))
	if err != nil {
		return inventory.Result{}, fmt.Errorf("read %s section of %s: %w", sectionName, in.Path, err)
	}
	if len(data) > maxCompressed {
		return inventory.Result{}, fmt.Errorf("%s section of %s is over %d bytes", sectionName, in.Path, maxCompressed)
	}
	return parseSection(in.Path, data)
}

// headSize is how much is read first: the ELF header and program headers.
const headSize = 4 << 10

// parseSection parses the content of a .dep-v0 section (none: no crates).
func parseSection(path string, data []byte) (inventory.Result, error) {
	if data == nil {
		return inventory.Result{}, nil
	}
	res, err := parse(data)
	if err != nil {
		return inventory.Result{}, fmt.Errorf("%s section of %s: %w", sectionName, path, err)
	}
	return res, nil
}

// format names the executable format head starts with, or "".
func format(head []byte) string {
	if len(head) < 4 {
		return ""
	}
	switch binary.BigEndian.Uint32(head) {
	case 0x7f454c46:
		return "elf"
	case 0xfeedface, 0xcefaedfe, 0xfeedfacf, 0xcffaedfe:
		return "macho"
	case 0xcafebabe:
		return "fat"
	}
	if head[0] == 'M' && head[1] == 'Z' {
		return "pe"
	}
	return ""
}

// section returns the content of the .dep-v0 section, nil when there is
// none or the file is not a well-formed executable of its kind (then it
// is no business of this extractor).
func section(kind string, r io.ReaderAt) (io.Reader, error) {
	switch kind {
	case "elf":
		f, err := elf.NewFile(r)
		if err != nil {
			return nil, nil
		}
		s := f.Section(sectionName)
		if s == nil || s.Type == elf.SHT_NOBITS {
			return nil, nil
		}
		return s.Open(), nil
	case "pe":
		f, err := pe.NewFile(r)
		if err != nil {
			return nil, nil
		}
		if s := f.Section(sectionName); s != nil {
			return s.Open(), nil
		}
	case "macho":
		f, err := macho.NewFile(r)
		if err != nil {
			return nil, nil
		}
		if s := f.Section(sectionName); s != nil {
			return s.Open(), nil
		}
	case "fat":
		f, err := macho.NewFatFile(r)
		if err != nil {
			return nil, nil
		}
		for _, a := range f.Arches {
			if s := a.Section(sectionName); s != nil {
				return s.Open(), nil
			}
		}
	}
	return nil, nil
}

// parse inflates and decodes the section.
func parse(data []byte) (inventory.Result, error) {
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return inventory.Result{}, fmt.Errorf("inflate: %w", err)
	}
	js, err := io.ReadAll(io.LimitReader(zr, maxJSON+1))
	if err != nil {
		return inventory.Result{}, fmt.Errorf("inflate: %w", err)
	}
	if len(js) > maxJSON {
		return inventory.Result{}, fmt.Errorf("inflates to over %d bytes", maxJSON)
	}
	var vi versionInfo
	if err := json.Unmarshal(js, &vi); err != nil {
		return inventory.Result{}, fmt.Errorf("decode: %w", err)
	}
	var res inventory.Result
	var other []string
	for i, p := range vi.Packages {
		if p.Name == "" || p.Version == "" {
			res.Warnings = append(res.Warnings, fmt.Sprintf("package %d: no name or no version", i))
			continue
		}
		switch p.Source {
		case "crates.io":
		case "local":
			continue // the binary's own workspace
		default:
			other = append(other, p.Name+" "+p.Version+" ("+p.Source+")")
			continue
		}
		kind := p.Kind
		if kind == "" {
			kind = "runtime" // auditable-serde omits the default
		}
		res.Packages = append(res.Packages, &inventory.Package{
			Name: p.Name, Version: p.Version, Type: inventory.TypeCargo,
			Metadata: &Metadata{Kind: kind, Root: p.Root},
		})
	}
	if len(other) > 0 {
		sort.Strings(other)
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d crates from git or registries other than crates.io are not reported (no OSV ecosystem for them): %s", len(other), strings.Join(other, ", ")))
	}
	return res, nil
}
