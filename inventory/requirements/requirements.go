// Package requirements extracts the pinned Python packages of pip
// requirements files (requirements*.txt, requirements/*.txt).
package requirements

import (
	"bufio"
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/credence-dev/credence/inventory"
)

// Name of the extractor.
const Name = "python/requirements"

// Extractor reads pip requirements files.
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
	return inventory.Requirements{MaxFileSize: 16 << 20}
}

// FileRequired implements inventory.Extractor: requirements*.txt and
// requirements/*.txt, except those that installed packages ship in
// site-packages (their own development requirements).
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	dir, base := path.Split(f.Path)
	if !strings.HasSuffix(base, ".txt") {
		return false
	}
	if !strings.HasPrefix(base, "requirements") && !strings.HasSuffix(dir, "/requirements/") && dir != "requirements/" {
		return false
	}
	return !strings.Contains(dir, "/site-packages/") && !strings.Contains(dir, "/dist-packages/") && !strings.Contains(dir, "/node_modules/")
}

// Metadata is what a requirement line says beyond name and version.
type Metadata struct {
	Extras []string `json:"extras,omitempty"`
	// Marker is the environment marker ("python_version < \"3.8\""): the
	// package is installed only where it holds.
	Marker string `json:"marker,omitempty"`
	// Line is the line number the requirement starts at.
	Line int `json:"line"`
}

// Limits on hostile files.
const (
	maxLine     = 1 << 20 // one logical line, continuations joined
	maxWarnings = 100
)

// Extract implements inventory.Extractor, following pip's requirements file
// format: "\" continues a line, "#" at the start of a line or after
// whitespace starts a comment, lines starting with "-" are options (-r and
// -c files are not followed, -e installs are local), and only exact pins
// (== or === without a wildcard) name an installed version. Other
// requirements are not reported; a malformed one gives a warning.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) (inventory.Result, error) {
	var res inventory.Result
	warnf := func(format string, args ...any) {
		if len(res.Warnings) < maxWarnings {
			res.Warnings = append(res.Warnings, fmt.Sprintf(format, args...))
		}
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(in.Reader)
	sc.Buffer(make([]byte, 4096), maxLine)
	lineNo, start := 0, 0
	var logical strings.Builder
	for sc.Scan() {
		lineNo++
		if lineNo%4096 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		line := strings.TrimSuffix(sc.Text(), "\r")
		if logical.Len() == 0 {
			start = lineNo
		}
		// pip joins a line ending in "\" with the next, unless the line is a
		// comment; a comment later on the joined line still ends it.
		if !strings.HasPrefix(strings.TrimLeft(line, " \t"), "#") && strings.HasSuffix(line, `\`) {
			if logical.Len()+len(line) > maxLine {
				return res, fmt.Errorf("read %s: line %d: continued line longer than %d bytes", in.Path, start, maxLine)
			}
			logical.WriteString(strings.TrimSuffix(line, `\`))
			continue
		}
		logical.WriteString(line)
		text := logical.String()
		logical.Reset()
		if len(text) > maxLine {
			return res, fmt.Errorf("read %s: line %d: continued line longer than %d bytes", in.Path, start, maxLine)
		}
		req, warn := parseLine(text)
		if warn != "" {
			warnf("line %d: %s", start, warn)
		}
		if req == nil {
			continue
		}
		key := normalize(req.name) + "\x00" + req.version
		if seen[key] {
			continue
		}
		seen[key] = true
		res.Packages = append(res.Packages, &inventory.Package{
			Name:      req.name,
			Version:   req.version,
			Type:      inventory.TypePyPI,
			Locations: []string{in.Path},
			Metadata:  &Metadata{Extras: req.extras, Marker: req.marker, Line: start},
		})
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("read %s: line %d: %w", in.Path, lineNo+1, err)
	}
	return res, nil
}

// commentStart is the index of a comment ("#" at the start or after
// whitespace), or -1.
func commentStart(line string) int {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return i
		}
	}
	return -1
}

type requirement struct {
	name, version, marker string
	extras                []string
}

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9._+!-]+$`)
)

// operators of PEP 440 version specifiers, longest first.
var operators = []string{"===", "==", "!=", "~=", "<=", ">=", "<", ">"}

// parseLine returns the pinned requirement on a logical line, if any, and a
// warning when the line is malformed.
func parseLine(line string) (*requirement, string) {
	if i := commentStart(line); i >= 0 {
		line = line[:i]
	}
	line = strings.TrimSpace(strings.ReplaceAll(line, "\t", " "))
	// pip's break_args_options: options start at the first token beginning
	// with "-" (--hash=..., or a whole option line such as -r other.txt).
	var args []string
	for _, tok := range strings.Split(line, " ") {
		if strings.HasPrefix(tok, "-") {
			break
		}
		args = append(args, tok)
	}
	s := strings.TrimSpace(strings.Join(args, " "))
	if s == "" {
		return nil, ""
	}
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "~") || strings.Contains(s, "://") && !strings.Contains(s, "@") {
		return nil, "" // a local path or a URL: no pinned version
	}
	r := &requirement{}
	if i := strings.IndexByte(s, ';'); i >= 0 {
		r.marker = strings.TrimSpace(s[i+1:])
		s = strings.TrimSpace(s[:i])
	}
	r.name = nameRE.FindString(s)
	if r.name == "" {
		return nil, fmt.Sprintf("not a requirement: %.80q", s)
	}
	rest := strings.TrimSpace(s[len(r.name):])
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, fmt.Sprintf("%s: unclosed extras", r.name)
		}
		for e := range strings.SplitSeq(rest[1:end], ",") {
			if e = strings.TrimSpace(e); e != "" {
				r.extras = append(r.extras, e)
			}
		}
		rest = strings.TrimSpace(rest[end+1:])
	}
	if strings.HasPrefix(rest, "@") {
		return nil, "" // a direct URL reference: no pinned version
	}
	if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
		rest = strings.TrimSpace(rest[1 : len(rest)-1])
	}
	if rest == "" {
		return nil, "" // any version
	}
	var pins []string
	for spec := range strings.SplitSeq(rest, ",") {
		spec = strings.TrimSpace(spec)
		op := ""
		for _, o := range operators {
			if strings.HasPrefix(spec, o) {
				op = o
				break
			}
		}
		v := strings.TrimSpace(strings.TrimPrefix(spec, op))
		if op == "" || v == "" || strings.Contains(v, " ") {
			return nil, fmt.Sprintf("%s: malformed version specifier %.80q", r.name, spec)
		}
		if op != "==" && op != "===" || strings.HasSuffix(v, ".*") {
			continue
		}
		if !versionRE.MatchString(v) {
			return nil, fmt.Sprintf("%s: malformed version %.80q", r.name, v)
		}
		if len(pins) == 0 || pins[0] != v {
			pins = append(pins, v)
		}
	}
	switch len(pins) {
	case 0:
		return nil, "" // a range, not a pin
	case 1:
		r.version = pins[0]
		return r, ""
	}
	return nil, fmt.Sprintf("%s: conflicting pins %q", r.name, pins)
}

var separators = regexp.MustCompile(`[-_.]+`)

// normalize is the PEP 503 normalised project name.
func normalize(name string) string {
	return strings.ToLower(separators.ReplaceAllString(name, "-"))
}
