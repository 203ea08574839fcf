package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/klauspost/compress/zstd"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, no cgo
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// ErrSchema: the store was migrated by a newer credence.
var ErrSchema = errors.New("store schema")

// Store is an open store. It is safe for concurrent use; on SQLite writes
// are serialised through one connection (one writer), reads use a few more.
type Store struct {
	t       target
	w       *sql.DB // writes (SQLite: one connection, BEGIN IMMEDIATE)
	r       *sql.DB // reads (SQLite: query-only connections; PostgreSQL: w)
	o       options
	enc     *zstd.Encoder
	dec     *zstd.Decoder
	rebound sync.Map // query → PostgreSQL form
}

// Option configures Open.
type Option func(*options) error

type options struct {
	clock       func() time.Time
	busyTimeout time.Duration
	maxConns    int
	readers     int
}

// WithClock sets the clock that stamps rows, leases and timelines (default
// time.Now). Replicas compare lease times written by each other's clocks:
// keep their clocks in sync (NTP), as Kubernetes nodes are.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("store: nil clock")
		}
		o.clock = now
		return nil
	}
}

// WithBusyTimeout sets how long an SQLite writer waits for another process's
// write to end before failing with ErrUnavailable (default 10 s).
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return errors.New("store: negative busy timeout")
		}
		o.busyTimeout = d
		return nil
	}
}

// WithMaxConns bounds the PostgreSQL connections of this process (default
// 10), or the SQLite reader connections (default 4).
func WithMaxConns(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return errors.New("store: max connections must be at least 1")
		}
		o.maxConns = n
		o.readers = n
		return nil
	}
}

// Open opens the store named by dsn, creating it and applying the schema's
// migrations when needed (under a lock, so replicas may open at once):
// "postgres://user@host/db" for PostgreSQL; "sqlite:///path/credence.db",
// "sqlite:relative.db" or a plain path for an SQLite file.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{clock: time.Now, busyTimeout: 10 * time.Second, maxConns: 10, readers: 4}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	t, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{t: t, o: o}
	switch t.backend {
	case SQLite:
		err = s.openSQLite(ctx)
	case Postgres:
		err = s.openPostgres(ctx)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store %s: %w", t.display, err)
	}
	s.enc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(4))
	s.dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(4), zstd.WithDecoderMaxMemory(maxInventory*8))
	return s, nil
}

// Backend is the store's engine.
func (s *Store) Backend() Backend { return s.t.backend }

// String names the store without credentials: "sqlite:///var/lib/credence.db",
// "postgres://credence:xxxxx@db:5432/credence".
func (s *Store) String() string { return s.t.display }

// Close closes the store's connections.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil && s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if s.enc != nil {
		s.enc.Close()
	}
	if s.dec != nil {
		s.dec.Close()
	}
	return errors.Join(errs...)
}

func (s *Store) now() time.Time { return s.o.clock().UTC() }

func (s *Store) sqliteDSN(extra string) string {
	// busy_timeout first: a second process waits for the lock instead of
	// failing, and setting journal_mode itself needs the lock.
	return "file:" + s.t.path + "?_pragma=busy_timeout(" + strconv.FormatInt(s.o.busyTimeout.Milliseconds(), 10) + ")" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)" + extra
}

func (s *Store) openSQLite(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(s.t.path), 0o755); err != nil {
		return classify(err)
	}
	// Migrations run on their own short-lived pool, under a file lock that
	// serialises processes opening the same file at once.
	unlock, err := flock(s.t.path + "-migrate.lock")
	if err != nil {
		return err
	}
	err = func() error {
		defer unlock()
		db, err := sql.Open("sqlite", s.sqliteDSN("&_txlock=immediate"))
		if err != nil {
			return err
		}
		defer db.Close()
		if err := adoptSQLite(ctx, db); err != nil {
			return err
		}
		return migrate(ctx, db, goose.DialectSQLite3, "migrations/sqlite", nil)
	}()
	if err != nil {
		return err
	}
	// One writer: every write transaction takes the write lock at BEGIN
	// (IMMEDIATE), so it never fails half-way on a lock upgrade.
	s.w, err = sql.Open("sqlite", s.sqliteDSN("&_txlock=immediate"))
	if err != nil {
		return err
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxIdleTime(0)
	s.r, err = sql.Open("sqlite", s.sqliteDSN("&_pragma=query_only(1)"))
	if err != nil {
		return err
	}
	s.r.SetMaxOpenConns(s.o.readers)
	s.r.SetMaxIdleConns(s.o.readers)
	if err := s.w.PingContext(ctx); err != nil {
		return classify(err)
	}
	return nil
}

// adoptSQLite checks that the file is empty, a credence store, or the
// inventory cache of credence before the store (whose content can always be
// rebuilt: its tables are dropped); anything else is refused, never changed.
func adoptSQLite(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return classify(err)
	}
	tables := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return classify(err)
		}
		tables[n] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return classify(err)
	}
	switch {
	case len(tables) == 0, tables["goose_db_version"]:
		return nil
	case len(tables) == 2 && tables["meta"] && tables["inventories"]:
		var v string
		if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema'`).Scan(&v); err != nil {
			return fmt.Errorf("%w: has tables meta and inventories but no schema version", ErrCorrupt)
		}
		_, err := db.ExecContext(ctx, `DROP TABLE inventories; DROP TABLE meta`)
		return classify(err)
	}
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	return fmt.Errorf("%w: the file holds other tables (%s)", ErrCorrupt, strings.Join(names, ", "))
}

func (s *Store) openPostgres(ctx context.Context) error {
	u := s.t.url
	if !strings.Contains(u, "connect_timeout=") {
		if strings.Contains(u, "?") {
			u += "&connect_timeout=10"
		} else {
			u += "?connect_timeout=10"
		}
	}
	db, err := sql.Open("pgx", u)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadDSN, err)
	}
	s.w, s.r = db, db
	db.SetMaxOpenConns(s.o.maxConns)
	db.SetMaxIdleConns(s.o.maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		return classify(err)
	}
	// A session-level advisory lock held while migrating: replicas that
	// open at once wait for the first one, then find nothing to do.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	return migrate(ctx, db, goose.DialectPostgres, "migrations/postgres", locker)
}

func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, dir string, locker lock.SessionLocker) error {
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if locker != nil {
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db, sub, opts...)
	if err != nil {
		return err
	}
	cur, target, err := p.GetVersions(ctx)
	if err != nil {
		return classify(err)
	}
	if cur > target {
		return fmt.Errorf("%w: version %d is newer than this credence's %d: use a newer credence", ErrSchema, cur, target)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", classify(err))
	}
	return nil
}

// SchemaVersion is the version of the store's schema (its last migration).
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.r.QueryRowContext(ctx, `SELECT max(version_id) FROM goose_db_version WHERE is_applied = `+s.bool(true)).Scan(&v)
	return v, classify(err)
}

func (s *Store) bool(b bool) string {
	if s.t.backend == Postgres {
		return strconv.FormatBool(b)
	}
	if b {
		return "1"
	}
	return "0"
}

func flock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, classify(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// q returns the query in the backend's placeholder form: SQLite takes "?",
// PostgreSQL "$1", "$2", … (queries here never hold "?" in a literal).
func (s *Store) q(query string) string {
	if s.t.backend != Postgres {
		return query
	}
	if v, ok := s.rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	s.rebound.Store(query, out)
	return out
}

// Tx is one write transaction (Update). Its methods write; what they write
// becomes visible at once, together, when the transaction commits, or not
// at all.
type Tx struct {
	s   *Store
	tx  *sql.Tx
	now time.Time
}

// Update runs fn in one write transaction and commits it when fn returns
// nil; an error from fn (or a crash) rolls everything back. On SQLite the
// write lock is taken at the start (BEGIN IMMEDIATE).
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	t := &Tx{s: s, tx: tx, now: s.now()}
	if err := fn(t); err != nil {
		_ = tx.Rollback()
		return classify(err)
	}
	return classify(tx.Commit())
}

// Now is the transaction's time: every row it stamps gets this time.
func (t *Tx) Now() time.Time { return t.now }

func (t *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := t.tx.ExecContext(ctx, t.s.q(query), args...)
	return r, classify(err)
}

func (t *Tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	r, err := t.tx.QueryContext(ctx, t.s.q(query), args...)
	return r, classify(err)
}

func (t *Tx) row(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.s.q(query), args...)
}

// reader is what read functions run on: the store's read pool, or a
// transaction (to read its own writes).
type reader interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) query(ctx context.Context, db reader, query string, args ...any) (*sql.Rows, error) {
	r, err := db.QueryContext(ctx, s.q(query), args...)
	return r, classify(err)
}

func (s *Store) row(ctx context.Context, db reader, query string, args ...any) *sql.Row {
	return db.QueryRowContext(ctx, s.q(query), args...)
}

// us is a time as stored: Unix microseconds.
func us(t time.Time) int64 { return t.UnixMicro() }

func fromUS(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullUS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromUS(v.Int64)
}

func nullUS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: us(t), Valid: true}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// migrationLockID is the PostgreSQL advisory lock held while migrating
// (a constant of credence's own, so another goose user of the same database
// does not share it): the first 8 bytes of sha256("credence store"), top
// bit cleared.
const migrationLockID = 0x276b9ccfaf1117c3
