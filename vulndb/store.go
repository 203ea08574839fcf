package vulndb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver

	"github.com/credence-dev/credence/vulndb/epss"
	"github.com/credence-dev/credence/vulndb/kev"
	"github.com/credence-dev/credence/vulndb/osv"
)

const schema = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (name TEXT PRIMARY KEY, kind TEXT NOT NULL, imported_at TEXT NOT NULL, data_as_of TEXT,
  records INTEGER NOT NULL, warnings INTEGER NOT NULL, etag TEXT, last_modified TEXT);
CREATE TABLE advisories (id TEXT PRIMARY KEY, source TEXT NOT NULL, modified TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE raw (id TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE affected (id TEXT NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (id, ecosystem, name)) WITHOUT ROWID;
CREATE TABLE ecosystems (ecosystem TEXT PRIMARY KEY, records INTEGER NOT NULL);
CREATE TABLE cvss (cve TEXT NOT NULL, vector TEXT NOT NULL, type TEXT NOT NULL, advisory TEXT NOT NULL, PRIMARY KEY (cve, vector, advisory)) WITHOUT ROWID;
CREATE TABLE kev (cve TEXT PRIMARY KEY, source TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE epss (cve TEXT PRIMARY KEY, source TEXT NOT NULL, epss REAL NOT NULL, percentile REAL NOT NULL);
`

const indexes = `CREATE INDEX IF NOT EXISTS affected_pkg ON affected (ecosystem, name);`

// ImportOption configures Import.
type ImportOption func(*importOptions)

type importOptions struct {
	replace bool
	now     func() time.Time
}

// Replace builds the new database from the inputs alone instead of adding
// them to the existing one.
func Replace() ImportOption { return func(o *importOptions) { o.replace = true } }

// exists reports whether the database holds an advisory with this id.
func (w *writer) exists(id string) bool {
	var one int
	return w.hasAdv.QueryRow(id).Scan(&one) == nil
}

// Import builds a new database at path from the existing one (unless
// Replace) plus inputs, and swaps it in atomically: it is written to a
// temporary file beside path and renamed over it only when complete, so a
// crash or kill leaves the previous database intact. Re-importing a source
// (same Name) replaces its records. Malformed records are skipped and
// counted; an unreadable input fails the whole import and changes nothing.
func Import(ctx context.Context, path string, inputs []Input, opts ...ImportOption) (*ImportReport, error) {
	return importSeq(ctx, path, func(yield func(Input, error) bool) {
		for _, in := range inputs {
			if !yield(in, nil) {
				return
			}
		}
	}, opts...)
}

// importSeq is Import of inputs that arrive one by one (downloads): each is
// imported as soon as it is there, in the order given. An error from the
// sequence fails the import and changes nothing.
func importSeq(ctx context.Context, path string, inputs iter.Seq2[Input, error], opts ...ImportOption) (*ImportReport, error) {
	start := time.Now()
	o := importOptions{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	unlock, err := lock(path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Leftovers of imports that were killed: we hold the lock, so they are dead.
	if old, _ := filepath.Glob(path + ".tmp-*"); len(old) > 0 {
		for _, f := range old {
			os.Remove(f)
		}
	}
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	defer os.Remove(tmp)
	fresh := o.replace
	if !fresh {
		if err := copyFile(path, tmp); errors.Is(err, os.ErrNotExist) {
			fresh = true
		} else if err != nil {
			return nil, fmt.Errorf("copy database: %w", err)
		}
	}
	s, err := createStore(ctx, tmp, fresh)
	if err != nil {
		return nil, err
	}
	report := &ImportReport{}
	im := &importer{report: report}
	for in, err := range inputs {
		if err == nil {
			err = im.run(ctx, s, in)
		}
		if err != nil {
			s.abort()
			return nil, err
		}
	}
	if err := s.finish(ctx, o.now().UTC()); err != nil {
		return nil, err
	}
	if err := syncFile(tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("swap in the new database: %w", err)
	}
	syncFile(filepath.Dir(path))
	report.Duration = time.Since(start)
	return report, nil
}

func lock(path string) (func(), error) {
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock database: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock database: another import or update is running on %s", path)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return nil
}

// writer is the SQLite sink of an import.
type writer struct {
	db      *sql.DB
	tx      *sql.Tx
	fresh   bool
	source  string
	insAdv  *sql.Stmt
	insAff  [maxAffectedBatch + 1]*sql.Stmt // by number of rows
	insRaw  *sql.Stmt
	delAff  *sql.Stmt
	insCVSS *sql.Stmt
	delCVSS *sql.Stmt
	hasAdv  *sql.Stmt
	insEPSS *sql.Stmt
}

var (
	encOnce sync.Once
	encoder *zstd.Encoder
)

// compress zstd-compresses one record (EncodeAll is safe for concurrent use).
func compress(b []byte) []byte {
	encOnce.Do(func() {
		// The fastest level, with the smaller tables: records are a few KB,
		// where the default level spent a third more time for 4% less size.
		encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithLowerEncoderMem(true), zstd.WithEncoderConcurrency(1))
	})
	return encoder.EncodeAll(b, make([]byte, 0, len(b)/4))
}

func createStore(ctx context.Context, path string, fresh bool) (*writer, error) {
	if fresh {
		os.Remove(path)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return nil, fmt.Errorf("open new database: %w", err)
	}
	db.SetMaxOpenConns(1)
	// The file is private until renamed: no journal, no syncs until the end.
	// A 16 MiB page cache: the import writes the file once, in order, so a
	// bigger cache buys nothing and costs memory (64 MiB took 100 MB more
	// peak RSS for the same time). Temporary b-trees go to a file: an import
	// into an existing database deletes each source's rows with subqueries
	// whose temporary tables, in memory, took peak RSS from 150 to 480 MB.
	for _, p := range []string{"PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF", "PRAGMA locking_mode=EXCLUSIVE", "PRAGMA cache_size=-16384", "PRAGMA temp_store=FILE"} {
		if _, err := db.ExecContext(ctx, p); err != nil {
			db.Close()
			return nil, fmt.Errorf("set up new database: %w", err)
		}
	}
	w := &writer{db: db, fresh: fresh}
	if fresh {
		if _, err := db.ExecContext(ctx, schema); err != nil {
			db.Close()
			return nil, fmt.Errorf("create schema: %w", err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO meta VALUES ('schema', ?)`, SchemaVersion); err != nil {
			db.Close()
			return nil, err
		}
	} else if err := checkSchema(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	if w.tx, err = db.BeginTx(ctx, nil); err != nil {
		db.Close()
		return nil, err
	}
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = w.tx.PrepareContext(ctx, q)
		return s
	}
	w.insAdv = prep(`INSERT OR REPLACE INTO advisories (id, source, modified, data) VALUES (?, ?, ?, ?)`)
	w.insRaw = prep(`INSERT OR REPLACE INTO raw (id, data) VALUES (?, ?)`)
	w.delAff = prep(`DELETE FROM affected WHERE id = ?`)
	w.insCVSS = prep(`INSERT OR IGNORE INTO cvss (cve, vector, type, advisory) VALUES (?, ?, ?, ?)`)
	w.delCVSS = prep(`DELETE FROM cvss WHERE advisory = ?`)
	w.hasAdv = prep(`SELECT 1 FROM advisories WHERE id = ?`)
	w.insEPSS = prep(`INSERT OR REPLACE INTO epss (cve, source, epss, percentile) VALUES (?, ?, ?, ?)`)
	if err != nil {
		w.abort()
		return nil, fmt.Errorf("prepare statements: %w", err)
	}
	return w, nil
}

func checkSchema(ctx context.Context, db *sql.DB) error {
	var v string
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema'`).Scan(&v); err != nil {
		return fmt.Errorf("read database schema version (not a credence database?): %w", err)
	}
	if v != SchemaVersion {
		return fmt.Errorf("%w %s, this credence reads %s: rebuild it with credence db update or credence db import --replace", ErrSchema, v, SchemaVersion)
	}
	return nil
}

func (w *writer) abort() {
	if w.tx != nil {
		w.tx.Rollback()
	}
	w.db.Close()
}

func (w *writer) beginSource(in Input) error {
	w.source = in.Name
	if w.fresh {
		return nil
	}
	var err error
	switch in.Kind {
	case KindKEV:
		_, err = w.tx.Exec(`DELETE FROM kev WHERE source = ?`, in.Name)
	case KindEPSS:
		_, err = w.tx.Exec(`DELETE FROM epss WHERE source = ?`, in.Name)
	default:
		if _, err = w.tx.Exec(`DELETE FROM affected WHERE id IN (SELECT id FROM advisories WHERE source = ?)`, in.Name); err == nil {
			_, err = w.tx.Exec(`DELETE FROM cvss WHERE advisory IN (SELECT id FROM advisories WHERE source = ?)`, in.Name)
		}
		if err == nil {
			_, err = w.tx.Exec(`DELETE FROM raw WHERE id IN (SELECT id FROM advisories WHERE source = ?)`, in.Name)
		}
		if err == nil {
			_, err = w.tx.Exec(`DELETE FROM advisories WHERE source = ?`, in.Name)
		}
	}
	if err != nil {
		return fmt.Errorf("remove old records of %s: %w", in.Name, err)
	}
	return nil
}

func (w *writer) add(r *record) error {
	// A record already in the database from another source is replaced with
	// its rows (those of the source being imported went at beginSource).
	// Only then: deleting by advisory in cvss scans the whole table.
	if !w.fresh && w.exists(r.adv.ID) {
		if _, err := w.delAff.Exec(r.adv.ID); err != nil {
			return fmt.Errorf("store %s: %w", r.adv.ID, err)
		}
		if _, err := w.delCVSS.Exec(r.adv.ID); err != nil {
			return fmt.Errorf("store %s: %w", r.adv.ID, err)
		}
	}
	if _, err := w.insAdv.Exec(r.adv.ID, w.source, r.adv.Modified.UTC().Format(time.RFC3339), r.blob); err != nil {
		return fmt.Errorf("store %s: %w", r.adv.ID, err)
	}
	if _, err := w.insRaw.Exec(r.adv.ID, r.raw); err != nil {
		return fmt.Errorf("store %s: %w", r.adv.ID, err)
	}
	if err := w.insertAffected(r.adv.ID, r.keys); err != nil {
		return fmt.Errorf("store %s: %w", r.adv.ID, err)
	}
	for _, v := range r.adv.CVEVectors() {
		if _, err := w.insCVSS.Exec(v.CVE, v.Vector, v.Type, v.Advisory); err != nil {
			return fmt.Errorf("store %s: %w", r.adv.ID, err)
		}
	}
	return nil
}

// maxAffectedBatch is how many (ecosystem, name) keys of one record go into
// one INSERT: a record has five on average, and every statement costs a
// round trip through database/sql and the SQLite VM.
const maxAffectedBatch = 32

// insertAffected indexes a record under its keys, a batch per statement.
func (w *writer) insertAffected(id string, keys [][2]string) error {
	args := make([]any, 0, 3*min(len(keys), maxAffectedBatch))
	for len(keys) > 0 {
		n := min(len(keys), maxAffectedBatch)
		st, err := w.affectedStmt(n)
		if err != nil {
			return err
		}
		args = args[:0]
		for _, k := range keys[:n] {
			args = append(args, id, k[0], k[1])
		}
		if _, err := st.Exec(args...); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// affectedStmt is the prepared INSERT of n affected rows.
func (w *writer) affectedStmt(n int) (*sql.Stmt, error) {
	if w.insAff[n] != nil {
		return w.insAff[n], nil
	}
	st, err := w.tx.Prepare(`INSERT OR IGNORE INTO affected (id, ecosystem, name) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?),", n), ","))
	if err != nil {
		return nil, err
	}
	w.insAff[n] = st
	return st, nil
}

func (w *writer) kev(c *kev.Catalog) error {
	if w.fresh {
		// A later catalog replaces an earlier one entirely.
	}
	if _, err := w.tx.Exec(`DELETE FROM kev`); err != nil {
		return err
	}
	st, err := w.tx.Prepare(`INSERT OR REPLACE INTO kev (cve, source, data) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, e := range c.Vulnerabilities {
		b, _ := json.Marshal(e)
		if _, err := st.Exec(e.CVE, w.source, string(b)); err != nil {
			return fmt.Errorf("store KEV %s: %w", e.CVE, err)
		}
	}
	return nil
}

func (w *writer) epss(s epss.Score) error {
	_, err := w.insEPSS.Exec(s.CVE, w.source, s.EPSS, s.Percentile)
	return err
}

func (w *writer) endSource(st *SourceStatus) error {
	asOf := ""
	if !st.DataAsOf.IsZero() {
		asOf = st.DataAsOf.Format(time.RFC3339)
	}
	_, err := w.tx.Exec(`INSERT OR REPLACE INTO sources (name, kind, imported_at, data_as_of, records, warnings, etag, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		st.Name, string(st.Kind), st.ImportedAt.Format(time.RFC3339), asOf, st.Records, st.Warnings, st.ETag, st.LastModified)
	return err
}

func (w *writer) finish(ctx context.Context, now time.Time) error {
	defer w.db.Close()
	steps := []string{
		indexes,
		// Sources whose records were all taken over by a later source keep
		// their row with the count they have now (one pass over advisories,
		// not one per source).
		`CREATE TEMP TABLE counts AS SELECT source, COUNT(*) AS n FROM advisories GROUP BY source`,
		`UPDATE sources SET records = COALESCE((SELECT n FROM counts WHERE counts.source = sources.name), 0) WHERE kind IN ('osv-zip', 'osv-dir', 'osv-json')`,
		`DROP TABLE counts`,
		`DELETE FROM ecosystems`,
		`INSERT INTO ecosystems SELECT ecosystem, COUNT(DISTINCT id) FROM affected GROUP BY ecosystem`,
	}
	for _, q := range steps {
		if _, err := w.tx.ExecContext(ctx, q); err != nil {
			w.tx.Rollback()
			return fmt.Errorf("finish database: %w", err)
		}
	}
	if _, err := w.tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta VALUES ('built', ?)`, now.Format(time.RFC3339)); err != nil {
		w.tx.Rollback()
		return err
	}
	if err := w.tx.Commit(); err != nil {
		return fmt.Errorf("commit database: %w", err)
	}
	w.tx = nil
	if !w.fresh {
		// Deleted sources leave free pages; keep the file compact.
		if _, err := w.db.ExecContext(ctx, `VACUUM`); err != nil {
			return fmt.Errorf("compact database: %w", err)
		}
	}
	return nil
}

// DB is an open, read-only vulnerability database. It implements
// match.Source and match.ExploitSource. Safe for concurrent use.
type DB struct {
	path string
	db   *sql.DB
	mu   sync.Mutex
	dec  *zstd.Decoder
}

// Open opens the database at path read-only. It returns an error wrapping
// ErrNoDatabase when there is none.
func Open(path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s", ErrNoDatabase, path)
		}
		return nil, fmt.Errorf("open vulnerability database: %w", err)
	}
	// immutable: the file is never changed in place, only replaced.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		return nil, fmt.Errorf("open vulnerability database: %w", err)
	}
	if err := checkSchema(context.Background(), db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open vulnerability database %s: %w", path, err)
	}
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	return &DB{path: path, db: db, dec: dec}, nil
}

// Close releases the database.
func (d *DB) Close() error {
	d.dec.Close()
	return d.db.Close()
}

// Path is the file the database was opened from.
func (d *DB) Path() string { return d.path }

// Advisories returns the advisories with an affected entry for name (as
// normalised by osv.NormalizeName) in ecosystem, as digests (osv.Advisory.Digest:
// no details; Raw has the full record).
func (d *DB) Advisories(ctx context.Context, ecosystem, name string) ([]*osv.Advisory, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT a.id, a.data FROM affected f JOIN advisories a ON a.id = f.id WHERE f.ecosystem = ? AND f.name = ?`, ecosystem, name)
	if err != nil {
		return nil, fmt.Errorf("query advisories: %w", err)
	}
	defer rows.Close()
	var out []*osv.Advisory
	for rows.Next() {
		var id string
		var blob []byte
		if err := rows.Scan(&id, &blob); err != nil {
			return nil, err
		}
		d.mu.Lock()
		raw, err := d.dec.DecodeAll(blob, nil)
		d.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("read advisory %s: %w", id, err)
		}
		a, err := osv.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("read advisory %s: %w", id, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// EcosystemRecords implements match.EcosystemSource: the number of
// advisories with an affected entry in ecosystem (0 when none was imported).
func (d *DB) EcosystemRecords(ctx context.Context, ecosystem string) (int, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT records FROM ecosystems WHERE ecosystem = ?`, ecosystem).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// Raw returns the OSV JSON of one advisory as it was imported.
func (d *DB) Raw(ctx context.Context, id string) ([]byte, error) {
	var blob []byte
	if err := d.db.QueryRowContext(ctx, `SELECT data FROM raw WHERE id = ?`, id).Scan(&blob); err != nil {
		return nil, fmt.Errorf("read advisory %s: %w", id, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dec.DecodeAll(blob, nil)
}

func inClause(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func anyArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// KEV returns the KEV entries of the given CVEs that are in the catalog.
func (d *DB) KEV(ctx context.Context, cves []string) (map[string]kev.Entry, error) {
	out := map[string]kev.Entry{}
	for len(cves) > 0 {
		batch := cves[:min(len(cves), 500)]
		cves = cves[len(batch):]
		rows, err := d.db.QueryContext(ctx, `SELECT cve, data FROM kev WHERE cve IN (`+inClause(len(batch))+`)`, anyArgs(batch)...)
		if err != nil {
			return nil, fmt.Errorf("query KEV: %w", err)
		}
		for rows.Next() {
			var cve, data string
			var e kev.Entry
			if err := rows.Scan(&cve, &data); err != nil {
				rows.Close()
				return nil, err
			}
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read KEV %s: %w", cve, err)
			}
			out[cve] = e
		}
		rows.Close()
	}
	return out, nil
}

// EPSS returns the EPSS scores of the given CVEs that were loaded.
func (d *DB) EPSS(ctx context.Context, cves []string) (map[string]epss.Score, error) {
	out := map[string]epss.Score{}
	for len(cves) > 0 {
		batch := cves[:min(len(cves), 500)]
		cves = cves[len(batch):]
		rows, err := d.db.QueryContext(ctx, `SELECT cve, epss, percentile FROM epss WHERE cve IN (`+inClause(len(batch))+`)`, anyArgs(batch)...)
		if err != nil {
			return nil, fmt.Errorf("query EPSS: %w", err)
		}
		for rows.Next() {
			var s epss.Score
			if err := rows.Scan(&s.CVE, &s.EPSS, &s.Percentile); err != nil {
				rows.Close()
				return nil, err
			}
			out[s.CVE] = s
		}
		rows.Close()
	}
	return out, nil
}

// CVSS returns the CVSS vectors any advisory states for the given CVEs.
func (d *DB) CVSS(ctx context.Context, cves []string) (map[string][]osv.CVEVector, error) {
	out := map[string][]osv.CVEVector{}
	for len(cves) > 0 {
		batch := cves[:min(len(cves), 500)]
		cves = cves[len(batch):]
		rows, err := d.db.QueryContext(ctx, `SELECT cve, vector, type, advisory FROM cvss WHERE cve IN (`+inClause(len(batch))+`) ORDER BY cve, advisory`, anyArgs(batch)...)
		if err != nil {
			return nil, fmt.Errorf("query CVSS: %w", err)
		}
		for rows.Next() {
			var v osv.CVEVector
			if err := rows.Scan(&v.CVE, &v.Vector, &v.Type, &v.Advisory); err != nil {
				rows.Close()
				return nil, err
			}
			out[v.CVE] = append(out[v.CVE], v)
		}
		rows.Close()
	}
	return out, nil
}

// Status describes the database: sources, counts per ecosystem, ages.
func (d *DB) Status(ctx context.Context) (*Status, error) {
	st := &Status{Path: d.path, Schema: SchemaVersion, Sources: []SourceStatus{}, Ecosystems: []EcosystemCount{}}
	if fi, err := os.Stat(d.path); err == nil {
		st.SizeBytes = fi.Size()
	}
	var built string
	d.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'built'`).Scan(&built)
	st.Built, _ = time.Parse(time.RFC3339, built)
	rows, err := d.db.QueryContext(ctx, `SELECT name, kind, imported_at, COALESCE(data_as_of, ''), records, warnings, COALESCE(etag, ''), COALESCE(last_modified, '') FROM sources ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read sources: %w", err)
	}
	for rows.Next() {
		var s SourceStatus
		var kind, imported, asOf string
		if err := rows.Scan(&s.Name, &kind, &imported, &asOf, &s.Records, &s.Warnings, &s.ETag, &s.LastModified); err != nil {
			rows.Close()
			return nil, err
		}
		s.Kind = Kind(kind)
		s.ImportedAt, _ = time.Parse(time.RFC3339, imported)
		s.DataAsOf, _ = time.Parse(time.RFC3339, asOf)
		st.Sources = append(st.Sources, s)
	}
	rows.Close()
	rows, err = d.db.QueryContext(ctx, `SELECT ecosystem, records FROM ecosystems ORDER BY ecosystem`)
	if err != nil {
		return nil, fmt.Errorf("read ecosystems: %w", err)
	}
	for rows.Next() {
		var e EcosystemCount
		if err := rows.Scan(&e.Ecosystem, &e.Records); err != nil {
			rows.Close()
			return nil, err
		}
		st.Ecosystems = append(st.Ecosystems, e)
	}
	rows.Close()
	for q, dst := range map[string]*int{`SELECT COUNT(*) FROM advisories`: &st.Advisories, `SELECT COUNT(*) FROM kev`: &st.KEV, `SELECT COUNT(*) FROM epss`: &st.EPSS} {
		if err := d.db.QueryRowContext(ctx, q).Scan(dst); err != nil {
			return nil, err
		}
	}
	return st, nil
}
