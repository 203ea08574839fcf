// Package dpkg extracts Debian packages from the dpkg database
// (var/lib/dpkg/status, and the per-package status.d/ files of distroless images).
package dpkg

import (
	"bufio"
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/credence-dev/credence/inventory"
)

// Name of the extractor.
const Name = "dpkg"

// Extractor reads dpkg status files.
type Extractor struct{}

var _ inventory.Extractor = Extractor{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// Requirements implements inventory.Extractor.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: 256 << 20}
}

// FileRequired implements inventory.Extractor.
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	if f.Path == "var/lib/dpkg/status" {
		return true
	}
	dir, base := path.Split(f.Path)
	return dir == "var/lib/dpkg/status.d/" && base != "" && !strings.HasSuffix(base, ".md5sums")
}

// Metadata is what dpkg records beyond name and version.
type Metadata struct {
	Status     string `json:"status,omitempty"`
	Maintainer string `json:"maintainer,omitempty"`
}

// presentStates are the dpkg states in which a package's files are on disk;
// "config-files" and "not-installed" packages are not reported.
var presentStates = map[string]bool{
	"installed": true, "half-installed": true, "unpacked": true,
	"half-configured": true, "triggers-awaited": true, "triggers-pending": true,
}

// maxLine bounds one line of the status file.
const maxLine = 1 << 20

// Extract implements inventory.Extractor. It streams the file paragraph by
// paragraph; a paragraph without Package or Version is skipped with a warning.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) (inventory.Result, error) {
	var res inventory.Result
	sc := bufio.NewScanner(in.Reader)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	fields := map[string]string{}
	last := ""
	paragraph, lineNo, startLine := 0, 0, 1
	flush := func() {
		if len(fields) == 0 {
			return
		}
		paragraph++
		if p, warn := toPackage(fields); p != nil {
			res.Packages = append(res.Packages, p)
		} else if warn != "" {
			res.Warnings = append(res.Warnings, fmt.Sprintf("paragraph %d (line %d): %s", paragraph, startLine, warn))
		}
		clear(fields)
		last = ""
	}
	for sc.Scan() {
		lineNo++
		if lineNo%4096 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
			startLine = lineNo + 1
		case line[0] == ' ' || line[0] == '\t':
			// continuation of a multi-line field (Description, Conffiles): not needed
			if last == "" {
				res.Warnings = append(res.Warnings, fmt.Sprintf("line %d: continuation line without a field", lineNo))
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				res.Warnings = append(res.Warnings, fmt.Sprintf("line %d: not a field: %.40q", lineNo, line))
				continue
			}
			last = k
			switch k {
			case "Package", "Version", "Architecture", "Source", "Status", "Maintainer":
				fields[k] = strings.TrimSpace(v)
			default:
				fields[k] = ""
			}
		}
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("read %s line %d: %w", in.Path, lineNo+1, err)
	}
	flush()
	return res, nil
}

func toPackage(f map[string]string) (*inventory.Package, string) {
	name, version := f["Package"], f["Version"]
	if name == "" || version == "" {
		return nil, "no Package or no Version field"
	}
	status := f["Status"]
	if status != "" {
		words := strings.Fields(status)
		if !presentStates[words[len(words)-1]] {
			return nil, "" // removed, only its configuration files remain
		}
	}
	p := &inventory.Package{
		Name:          name,
		Version:       version,
		Type:          inventory.TypeDeb,
		Arch:          f["Architecture"],
		SourceName:    name,
		SourceVersion: version,
		Metadata:      &Metadata{Status: status, Maintainer: f["Maintainer"]},
	}
	if src := f["Source"]; src != "" {
		srcName, srcVersion, hasVersion := strings.Cut(src, " ")
		p.SourceName = srcName
		if hasVersion {
			p.SourceVersion = strings.Trim(strings.TrimSpace(srcVersion), "()")
		}
	}
	return p, ""
}
