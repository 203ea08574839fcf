package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/credence-dev/credence/store"
	"github.com/credence-dev/credence/vulndb"
	sampledb "github.com/credence-dev/credence/vulndb/sample"
)

// keepDBCurrent keeps this replica's database file current: every replica
// imports the watched directory into its own file when its files change
// (replicas that share the file serialise on its lock; replicas with their
// own file import the same archives and agree on the version's ID); the
// leader runs the scheduled `db update` (a replica whose file is older than
// the store's version downloads at once). When the file changed, the leader
// turns the new version into a re-match. A failed import or download
// changes nothing (vulndb builds a new file and renames it in).
func (s *Server) keepDBCurrent(ctx context.Context) {
	if s.o.db == sampledb.Name {
		return
	}
	poll := time.NewTicker(s.o.dbPoll)
	defer poll.Stop()
	var update <-chan time.Time
	if s.o.dbUpdateInterval > 0 {
		t := time.NewTicker(s.o.dbUpdateInterval)
		defer t.Stop()
		update = t.C
	}
	last := ""
	check := func() {
		if s.o.dbImportDir == "" {
			return
		}
		fp, err := fingerprint(s.o.dbImportDir)
		if err != nil {
			s.o.log.Warn("cannot read the database import directory", "dir", s.o.dbImportDir, "error", err)
			return
		}
		if fp == last || fp == "" {
			return
		}
		last = fp // a failed import is not retried until the directory changes
		s.importDir(ctx)
	}
	check()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			check()
		case <-s.dbKick:
			check()
		case <-update:
			if s.leading.Load() {
				s.download(ctx)
			}
		case <-s.dlKick:
			if s.o.dbUpdateInterval > 0 {
				s.download(ctx)
			}
		}
		if s.leading.Load() {
			if err := s.ensureDBVersion(ctx, time.Time{}); err != nil && ctx.Err() == nil {
				s.o.log.Warn("cannot queue the re-match of the new database", "error", err)
			}
		}
	}
}

// importDir imports the watched directory into this replica's database.
func (s *Server) importDir(ctx context.Context) {
	t0 := s.o.clock()
	ins, err := vulndb.Inputs(s.o.dbImportDir)
	if err == nil && len(ins) == 0 {
		return
	}
	var rep *vulndb.ImportReport
	if err == nil {
		rep, err = vulndb.Import(ctx, s.o.db, ins)
	}
	if err != nil {
		s.m.dbUpdates.WithLabelValues("failed").Inc()
		s.o.log.Error("database import failed; the database is unchanged", "dir", s.o.dbImportDir, "error", err)
		return
	}
	s.m.dbUpdates.WithLabelValues("imported").Inc()
	s.o.log.Info("database imported", "dir", s.o.dbImportDir, "records", rep.Records, "took", s.o.clock().Sub(t0).Round(time.Millisecond))
	s.newDB(ctx, t0)
}

// download runs `db update` into this replica's database.
func (s *Server) download(ctx context.Context) {
	t0 := s.o.clock()
	rep, err := vulndb.Update(ctx, s.o.db, s.o.dbUpdate)
	if err != nil {
		s.m.dbUpdates.WithLabelValues("failed").Inc()
		s.o.log.Error("database update failed; the database is unchanged", "error", err)
		return
	}
	if len(rep.Fetched) == 0 {
		s.m.dbUpdates.WithLabelValues("unchanged").Inc()
		return
	}
	s.m.dbUpdates.WithLabelValues("imported").Inc()
	s.o.log.Info("database updated", "fetched", len(rep.Fetched), "took", s.o.clock().Sub(t0).Round(time.Millisecond))
	s.newDB(ctx, t0)
}

// newDB: this replica's database changed at since; the leader queues the
// re-match, recording since as the update's start.
func (s *Server) newDB(ctx context.Context, since time.Time) {
	if _, _, err := s.db.current(ctx); err != nil {
		s.o.log.Error("cannot open the new database", "error", err)
		return
	}
	if s.leading.Load() {
		if err := s.ensureDBVersion(ctx, since); err != nil {
			s.o.log.Warn("cannot queue the re-match of the new database", "error", err)
		}
	}
}

// ensureDBVersion queues a re-match when this replica's database is not
// the store's current version (idempotent: one "rematch" job).
func (s *Server) ensureDBVersion(ctx context.Context, since time.Time) error {
	_, info, err := s.db.current(ctx)
	if err != nil {
		return err
	}
	cur, err := s.st.CurrentDBVersion(ctx)
	switch {
	case err == nil && cur.ID == info.ID:
		return nil
	case err == nil && older(info, cur):
		// Never go back: this replica's file is behind the store's version
		// (a new leader that has not downloaded yet).
		s.kickDownload()
		return nil
	case errors.Is(err, store.ErrNotFound):
		since = time.Time{} // the first version: nothing was re-evaluated
	case err != nil:
		return err
	}
	// A re-match of this version already queued or running keeps its
	// payload (the update's start time).
	if j, err := s.st.GetJob(ctx, kindRematch); err == nil && (j.State == store.JobQueued || j.State == store.JobRunning) {
		var p rematchPayload
		if json.Unmarshal(j.Payload, &p) == nil && p.DB == info.ID {
			return nil
		}
	}
	b, _ := json.Marshal(rematchPayload{DB: info.ID, Since: since})
	if _, err := s.st.Enqueue(ctx, store.NewJob{Key: kindRematch, Kind: kindRematch, Payload: b, MaxAttempts: 20}); err != nil {
		return err
	}
	s.wakeUp()
	return nil
}

// older reports whether database info holds older data than version cur:
// committing it would make advisories disappear.
func older(info store.DBVersionInfo, cur store.DBVersion) bool {
	return !info.DataAsOf.IsZero() && info.DataAsOf.Before(cur.DataAsOf)
}

// kickDownload asks keepDBCurrent to run `db update` now.
func (s *Server) kickDownload() {
	select {
	case s.dlKick <- struct{}{}:
	default:
	}
}

// kickDB asks keepDBCurrent to look at the import directory now.
func (s *Server) kickDB() {
	select {
	case s.dbKick <- struct{}{}:
	default:
	}
}

// fingerprint names the content of a directory tree by its files' names,
// sizes and modification times.
func fingerprint(dir string) (string, error) {
	h := sha256.New()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", p, fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil || n == 0 {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
