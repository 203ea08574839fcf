package store

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Backend is a store's database engine.
type Backend string

// Backends.
const (
	SQLite   Backend = "sqlite"
	Postgres Backend = "postgres"
)

// target is a parsed DSN.
type target struct {
	backend Backend
	path    string // SQLite: the file
	url     string // PostgreSQL: the connection URL
	display string // safe to print: no password
}

// parseDSN picks the backend: "postgres://…" or "postgresql://…" is
// PostgreSQL; "sqlite:///abs/path", "sqlite://rel/path", "sqlite:path" and a
// plain path are an SQLite file. Any other scheme is refused.
func parseDSN(dsn string) (target, error) {
	switch {
	case dsn == "":
		return target{}, fmt.Errorf("%w: empty", ErrBadDSN)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return target{}, fmt.Errorf("%w: %s", ErrBadDSN, redactURLString(dsn))
		}
		return target{backend: Postgres, url: dsn, display: u.Redacted()}, nil
	case strings.HasPrefix(dsn, "sqlite://"):
		return sqliteTarget(strings.TrimPrefix(dsn, "sqlite://"))
	case strings.HasPrefix(dsn, "sqlite:"):
		return sqliteTarget(strings.TrimPrefix(dsn, "sqlite:"))
	}
	if i := strings.Index(dsn, "://"); i > 0 && !strings.ContainsAny(dsn[:i], `/\.`) {
		return target{}, fmt.Errorf("%w: %q is not a backend credence has (sqlite:///PATH, a plain path, or postgres://…)", ErrBadDSN, dsn[:i])
	}
	return sqliteTarget(dsn)
}

func sqliteTarget(p string) (target, error) {
	if p == "" || p == ":memory:" || strings.HasPrefix(p, "file:") || strings.ContainsAny(p, "?#") {
		return target{}, fmt.Errorf("%w: %q: an SQLite store is a file path (no query, not in memory)", ErrBadDSN, p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return target{}, fmt.Errorf("%w: %v", ErrBadDSN, err)
	}
	return target{backend: SQLite, path: abs, display: "sqlite://" + abs}, nil
}

// redactURLString hides what follows "://user:" up to "@" in a string that
// did not parse as a URL.
func redactURLString(s string) string {
	i := strings.Index(s, "://")
	at := strings.LastIndex(s, "@")
	if i < 0 || at < i {
		return s
	}
	cred := s[i+3 : at]
	if c := strings.Index(cred, ":"); c >= 0 {
		return s[:i+3] + cred[:c] + ":xxxxx" + s[at:]
	}
	return s
}
