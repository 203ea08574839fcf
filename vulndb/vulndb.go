// Package vulndb is the local vulnerability database: OSV advisories, CISA
// KEV and EPSS imported into one indexed SQLite file that is swapped atomically.
package vulndb

import (
	"errors"
	"os"
	"path/filepath"
	"time"
)

// SchemaVersion is written into every database; Open refuses others.
// 3: the digests keep the Go records' vulnerable packages and symbols
// (ecosystem_specific.imports), which matching reads.
const SchemaVersion = "3"

// EnvDB names the environment variable that overrides the default path.
const EnvDB = "CREDENCE_DB"

// ErrNoDatabase is returned by Open when no database exists at the path.
var ErrNoDatabase = errors.New("no vulnerability database")

// ErrSchema is returned for a database written by a credence with another
// schema; db update rebuilds it, db import --replace too.
var ErrSchema = errors.New("database schema")

// DefaultPath is $CREDENCE_DB, else vuln.db in the user's cache directory
// (~/.cache/credence/vuln.db on Linux).
func DefaultPath() string {
	if p := os.Getenv(EnvDB); p != "" {
		return p
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "credence", "vuln.db")
}

// Kind is the kind of an imported source.
type Kind string

// Source kinds.
const (
	KindOSVZip  Kind = "osv-zip"  // an OSV all.zip: one record per entry
	KindOSVDir  Kind = "osv-dir"  // a directory of OSV JSON files
	KindOSVJSON Kind = "osv-json" // one OSV JSON file
	KindKEV     Kind = "kev"      // the CISA KEV catalog
	KindEPSS    Kind = "epss"     // an EPSS CSV (optionally gzip-compressed)
)

// SourceStatus describes one imported source.
type SourceStatus struct {
	Name       string    `json:"name"` // the URL or absolute path it came from
	Kind       Kind      `json:"kind"`
	ImportedAt time.Time `json:"importedAt"`
	// DataAsOf is the newest time the data states: the latest modified
	// time of its OSV records, KEV's dateReleased, EPSS's score date.
	DataAsOf     time.Time `json:"dataAsOf,omitzero"`
	Records      int       `json:"records"`
	Warnings     int       `json:"warnings"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"lastModified,omitempty"`
	SHA256       string    `json:"sha256,omitempty"`
}

// EcosystemCount is the number of advisories with an affected entry in one
// ecosystem ("Debian:12").
type EcosystemCount struct {
	Ecosystem string `json:"ecosystem"`
	Records   int    `json:"records"`
}

// Status summarises a database.
type Status struct {
	Path       string           `json:"path"`
	Schema     string           `json:"schema"`
	Built      time.Time        `json:"built"`
	SizeBytes  int64            `json:"sizeBytes"`
	Sources    []SourceStatus   `json:"sources"`
	Ecosystems []EcosystemCount `json:"ecosystems"`
	Advisories int              `json:"advisories"`
	KEV        int              `json:"kev"`
	EPSS       int              `json:"epss"`
}

// OldestData is the oldest DataAsOf among the sources (the age a scan
// warns about); zero when no source states one.
func (s *Status) OldestData() time.Time {
	var t time.Time
	for _, src := range s.Sources {
		if !src.DataAsOf.IsZero() && (t.IsZero() || src.DataAsOf.Before(t)) {
			t = src.DataAsOf
		}
	}
	return t
}
