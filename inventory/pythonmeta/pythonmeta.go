// Package pythonmeta extracts installed Python distributions from their core
// metadata: *.dist-info/METADATA, *.egg-info/PKG-INFO and *.egg-info files.
package pythonmeta

import (
	"bufio"
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/credence-dev/credence/inventory"
)

// Name of the extractor.
const Name = "python/metadata"

// Extractor reads Python core metadata files.
type Extractor struct{}

var _ inventory.Extractor = Extractor{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// Requirements implements inventory.Extractor. Only the header is read, but
// the description after it can be long.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: 32 << 20}
}

// FileRequired implements inventory.Extractor: the metadata of a wheel
// install (x.dist-info/METADATA), of a setuptools install
// (x.egg-info/PKG-INFO, or x.egg-info as a single file, as Debian's
// python3-* packages ship some) and of an egg (x.egg/EGG-INFO/PKG-INFO).
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	dir, base := path.Split(f.Path)
	switch base {
	case "METADATA":
		return strings.HasSuffix(dir, ".dist-info/")
	case "PKG-INFO":
		return strings.HasSuffix(dir, ".egg-info/") || strings.HasSuffix(dir, ".egg/EGG-INFO/")
	}
	return strings.HasSuffix(base, ".egg-info") && len(base) > len(".egg-info")
}

// Metadata is what core metadata records beyond name and version.
type Metadata struct {
	MetadataVersion string `json:"metadataVersion,omitempty"`
	Summary         string `json:"summary,omitempty"`
	Author          string `json:"author,omitempty"`
}

// Limits on hostile metadata files.
const (
	maxLine   = 1 << 20 // one header line
	maxFields = 10_000  // header fields
	maxValue  = 64 << 10
)

// Extract implements inventory.Extractor. The header (RFC 822 style, core
// metadata spec) is read up to the first blank line; the description body
// after it is not. A header without Name or Version gives a warning and no
// package.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) (inventory.Result, error) {
	h, warnings, err := readHeader(ctx, in)
	if err != nil {
		return inventory.Result{}, fmt.Errorf("read %s: %w", in.Path, err)
	}
	res := inventory.Result{Warnings: warnings}
	name, version := first(h, "name"), first(h, "version")
	if name == "" || version == "" {
		res.Warnings = append(res.Warnings, "no Name or no Version field")
		return res, nil
	}
	if strings.ContainsAny(name, "/\\\n\x00") || strings.ContainsAny(version, " \t\n\x00") {
		res.Warnings = append(res.Warnings, fmt.Sprintf("Name %.100q or Version %.100q is malformed", name, version))
		return res, nil
	}
	res.Packages = []*inventory.Package{{
		Name:      name,
		Version:   version,
		Type:      inventory.TypePyPI,
		Licenses:  licenses(h),
		Locations: []string{in.Path},
		Metadata: &Metadata{
			MetadataVersion: first(h, "metadata-version"),
			Summary:         first(h, "summary"),
			Author:          first(h, "author"),
		},
	}}
	return res, nil
}

// header maps lower-cased field names to their values, in order.
type header map[string][]string

func first(h header, k string) string {
	if v := h[k]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// readHeader reads "Field: value" lines up to the first blank line;
// continuation lines begin with whitespace.
func readHeader(ctx context.Context, in *inventory.Input) (header, []string, error) {
	h := header{}
	var warnings []string
	sc := bufio.NewScanner(in.Reader)
	sc.Buffer(make([]byte, 4096), maxLine)
	var last string // field the next continuation line belongs to
	fields, lineNo := 0, 0
	for sc.Scan() {
		lineNo++
		if lineNo%4096 == 0 && ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			break // the description body follows
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != "" {
				vs := h[last]
				if v := &vs[len(vs)-1]; len(*v) < maxValue {
					*v += "\n" + strings.TrimSpace(line)
				}
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(k, " \t") {
			if len(warnings) < 10 {
				warnings = append(warnings, fmt.Sprintf("line %d: not a field: %.40q", lineNo, line))
			}
			last = ""
			continue
		}
		if fields++; fields > maxFields {
			return nil, nil, fmt.Errorf("more than %d header fields", maxFields)
		}
		last = strings.ToLower(k)
		h[last] = append(h[last], strings.TrimSpace(v))
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("line %d: %w", lineNo+1, err)
	}
	return h, warnings, nil
}

// licenses reads, in order of precedence, License-Expression (an SPDX
// expression, metadata 2.4), a one-line License field, and the
// "License :: ..." classifiers. A License field holding a whole licence
// text is not a name and is left out.
func licenses(h header) []string {
	if v := first(h, "license-expression"); v != "" {
		return []string{v}
	}
	if v := first(h, "license"); v != "" && v != "UNKNOWN" && !strings.Contains(v, "\n") && len(v) <= 200 {
		return []string{v}
	}
	var out []string
	for _, c := range h["classifier"] {
		parts := strings.Split(c, "::")
		if len(parts) < 2 || strings.TrimSpace(parts[0]) != "License" {
			continue
		}
		l := strings.TrimSpace(parts[len(parts)-1])
		if l == "" || l == "OSI Approved" {
			continue // "License :: OSI Approved" names no licence
		}
		if len(out) < 16 {
			out = append(out, l)
		}
	}
	return out
}
