package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/store"
	"github.com/credence-dev/credence/vulndb"
	sampledb "github.com/credence-dev/credence/vulndb/sample"
)

// vulnSource is this replica's vulnerability database: the file at path
// (replaced atomically by db update and db import), reopened when it is
// replaced, or the embedded sample. Its ID names its content, so every
// replica reading the same file agrees on the store's database version.
type vulnSource struct {
	path string

	mu     sync.Mutex
	src    match.Source
	info   store.DBVersionInfo
	status *vulndb.Status
	closer func()
	stamp  fileStamp
}

type fileStamp struct {
	ino   uint64
	size  int64
	mtime time.Time
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st, nil
}

func newVulnSource(path string) *vulnSource { return &vulnSource{path: path} }

// current returns the database, reopening it when its file was replaced.
func (v *vulnSource) current(ctx context.Context) (match.Source, store.DBVersionInfo, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.path == sampledb.Name {
		if v.src == nil {
			m, err := sampledb.Open(ctx)
			if err != nil {
				return nil, store.DBVersionInfo{}, err
			}
			st, err := m.Status(ctx)
			if err != nil {
				return nil, store.DBVersionInfo{}, err
			}
			v.src, v.status, v.info = m, st, versionInfo(st)
		}
		return v.src, v.info, nil
	}
	stamp, err := stampOf(v.path)
	if err != nil {
		if v.src != nil {
			return v.src, v.info, nil // keep serving what is open
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, store.DBVersionInfo{}, fmt.Errorf("no vulnerability database at %s: run 'credence db update' or 'credence db import', or give --db-update-interval or --db-import-dir", v.path)
		}
		return nil, store.DBVersionInfo{}, err
	}
	if v.src != nil && stamp == v.stamp {
		return v.src, v.info, nil
	}
	db, err := vulndb.Open(v.path)
	if err != nil {
		if v.src != nil {
			return v.src, v.info, nil
		}
		return nil, store.DBVersionInfo{}, err
	}
	st, err := db.Status(ctx)
	if err != nil {
		db.Close()
		if v.src != nil {
			return v.src, v.info, nil
		}
		return nil, store.DBVersionInfo{}, err
	}
	if v.closer != nil {
		// Readers of the old file may still be matching: close it later.
		old := v.closer
		time.AfterFunc(5*time.Minute, old)
	}
	v.src, v.status, v.info, v.stamp = db, st, versionInfo(st), stamp
	v.closer = func() { db.Close() }
	return v.src, v.info, nil
}

// Status is the open database's status (nil before the first open).
func (v *vulnSource) Status() *vulndb.Status {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.status
}

func (v *vulnSource) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closer != nil {
		v.closer()
		v.closer = nil
	}
}

// versionInfo names a database by its content: each source's name,
// digest, validators, record count and data time. The same file read by two
// replicas, or the same archives imported by each, has the same ID.
func versionInfo(st *vulndb.Status) store.DBVersionInfo {
	// Not the build time: replicas that import the same archives into their
	// own files (or download the same versions) agree on the version.
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", st.Schema)
	for _, s := range st.Sources {
		fmt.Fprintf(h, "%s|%s|%s|%s|%s|%d|%d\n", s.Name, s.Kind, s.SHA256, s.ETag, s.LastModified, s.Records, s.DataAsOf.UnixNano())
	}
	detail, _ := json.Marshal(struct {
		Advisories int                     `json:"advisories"`
		KEV        int                     `json:"kev"`
		Sources    []vulndb.SourceStatus   `json:"sources"`
		Ecosystems []vulndb.EcosystemCount `json:"ecosystems,omitempty"`
	}{st.Advisories, st.KEV, st.Sources, nil})
	return store.DBVersionInfo{ID: "vulndb:" + hex.EncodeToString(h.Sum(nil))[:24], Built: st.Built, DataAsOf: newestData(st), Detail: detail}
}

func newestData(st *vulndb.Status) time.Time {
	var t time.Time
	for _, s := range st.Sources {
		if s.DataAsOf.After(t) {
			t = s.DataAsOf
		}
	}
	return t
}
