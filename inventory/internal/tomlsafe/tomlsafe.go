// Package tomlsafe decodes TOML from untrusted files (lockfiles in images)
// with github.com/BurntSushi/toml, refusing the inputs that make it slow.
package tomlsafe

import (
	"errors"
	"fmt"

	"github.com/BurntSushi/toml"
)

// MaxDepth bounds the nesting of arrays and tables. Lockfiles nest a few
// levels; BurntSushi/toml takes time quadratic in the depth (20,000 nested
// inline tables take minutes).
const MaxDepth = 64

// ErrTooDeep is returned for a document nested deeper than MaxDepth.
var ErrTooDeep = errors.New("TOML nested too deeply")

// Decode checks the nesting of b and decodes it into v.
func Decode(b []byte, v any) error {
	if err := checkDepth(b, MaxDepth); err != nil {
		return err
	}
	if _, err := toml.Decode(string(b), v); err != nil {
		return fmt.Errorf("parse TOML: %w", err)
	}
	return nil
}

// SplitArrayTables splits a document at the headers of an array of tables
// ("[[package]]" for name "package") that start a line outside strings, so
// that each table can be decoded (with Decode) on its own and memory follows
// one table, not the document: head is what precedes the first header, and
// each of tables starts with a header and runs to the next one (the last
// also holds any tables after it, such as [metadata]). The pieces share b's
// memory. A document nested deeper than MaxDepth gives ErrTooDeep.
func SplitArrayTables(b []byte, name string) (head []byte, tables [][]byte, err error) {
	header := "[[" + name + "]]"
	start := -1
	err = scan(b, MaxDepth, func(lineStart int) {
		if !hasHeader(b[lineStart:], header) {
			return
		}
		if start < 0 {
			head = b[:lineStart]
		} else {
			tables = append(tables, b[start:lineStart])
		}
		start = lineStart
	})
	if err != nil {
		return nil, nil, err
	}
	if start < 0 {
		return b, nil, nil
	}
	return head, append(tables, b[start:]), nil
}

// hasHeader reports whether line starts with header, allowing leading
// blanks and a comment or blanks after it.
func hasHeader(line []byte, header string) bool {
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	if len(line)-i < len(header) || string(line[i:i+len(header)]) != header {
		return false
	}
	for _, c := range line[i+len(header):] {
		switch c {
		case ' ', '\t', '\r':
		case '\n', '#':
			return true
		default:
			return false
		}
	}
	return true
}

func checkDepth(b []byte, limit int) error {
	return scan(b, limit, func(int) {})
}

// scan counts the brackets and braces outside strings and comments, and
// calls line with the offset of every line that starts outside a string.
// It does not validate: an unterminated string or a stray bracket is left
// to the parser.
func scan(b []byte, limit int, line func(start int)) error {
	depth := 0
	if len(b) > 0 {
		line(0)
	}
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\n':
			if i+1 < len(b) {
				line(i + 1)
			}
		case '#':
			for i+1 < len(b) && b[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			i = skipString(b, i)
		case '[', '{':
			if depth++; depth > limit {
				return fmt.Errorf("%w: over %d levels at byte %d", ErrTooDeep, limit, i)
			}
		case ']', '}':
			depth = max(0, depth-1)
		}
	}
	return nil
}

// skipString returns the index of the last byte of the string starting at
// b[i] (a quote): basic "..." (with escapes), literal '...', and their
// multi-line forms delimited by three quotes.
func skipString(b []byte, i int) int {
	q := b[i]
	multi := i+2 < len(b) && b[i+1] == q && b[i+2] == q
	if multi {
		i += 3
		for ; i < len(b); i++ {
			if q == '"' && b[i] == '\\' {
				i++
				continue
			}
			if i+2 < len(b) && b[i] == q && b[i+1] == q && b[i+2] == q {
				// up to two more quotes may belong to the string ("""a"""")
				i += 2
				for i+1 < len(b) && b[i+1] == q {
					i++
				}
				return i
			}
		}
		return len(b)
	}
	for i++; i < len(b); i++ {
		switch {
		case q == '"' && b[i] == '\\':
			i++
		case b[i] == q:
			return i
		case b[i] == '\n': // unterminated: the newline starts a line
			return i - 1
		}
	}
	return len(b)
}
