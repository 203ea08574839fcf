// Package apk extracts Alpine packages from the apk database
// (lib/apk/db/installed), with each package's origin (source package).
package apk

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/credence-dev/credence/inventory"
)

// Name of the extractor.
const Name = "apk"

// Extractor reads the apk installed database.
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
	return f.Path == "lib/apk/db/installed"
}

// Metadata is what apk records beyond name and version.
type Metadata struct {
	Checksum   string `json:"checksum,omitempty"`
	Maintainer string `json:"maintainer,omitempty"`
	Commit     string `json:"commit,omitempty"`
}

// Extract implements inventory.Extractor. The database is a list of
// "X:value" lines, one blank line between packages (apk's installed format);
// a record without name or version is skipped with a warning.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) (inventory.Result, error) {
	var res inventory.Result
	sc := bufio.NewScanner(in.Reader)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var cur *inventory.Package
	var md *Metadata
	lineNo, startLine := 0, 1
	flush := func() {
		if cur == nil {
			return
		}
		if cur.Name == "" || cur.Version == "" {
			res.Warnings = append(res.Warnings, fmt.Sprintf("record at line %d: no P: (name) or V: (version)", startLine))
		} else {
			if cur.SourceName == "" {
				cur.SourceName = cur.Name
			}
			cur.SourceVersion = cur.Version
			res.Packages = append(res.Packages, cur)
		}
		cur, md = nil, nil
	}
	for sc.Scan() {
		lineNo++
		if lineNo%8192 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			startLine = lineNo + 1
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			res.Warnings = append(res.Warnings, fmt.Sprintf("line %d: not a field: %.40q", lineNo, line))
			continue
		}
		if cur == nil {
			md = &Metadata{}
			cur = &inventory.Package{Type: inventory.TypeAPK, Metadata: md}
		}
		v := line[2:]
		switch line[0] {
		case 'P':
			cur.Name = v
		case 'V':
			cur.Version = v
		case 'A':
			cur.Arch = v
		case 'o':
			cur.SourceName = v
		case 'L':
			if v != "" {
				cur.Licenses = []string{v}
			}
		case 'C':
			md.Checksum = v
		case 'm':
			md.Maintainer = v
		case 'c':
			md.Commit = v
		}
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("read %s line %d: %w", in.Path, lineNo+1, err)
	}
	flush()
	return res, nil
}
