package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// Sentinel errors, matched with errors.Is. Operational errors from the
// database are wrapped with one of the first four when their cause is known,
// so a caller can decide to retry (IsRetryable) without parsing messages.
var (
	// ErrUnavailable: the store cannot be reached or is shutting down
	// (connection refused or lost, SQLite file busy beyond the timeout or
	// unreadable). Retry with back-off.
	ErrUnavailable = errors.New("store unavailable")
	// ErrFull: the disk (or SQLite's max_page_count) is full. Nothing of the
	// failed transaction was written; retry after space is freed.
	ErrFull = errors.New("store full")
	// ErrConflict: a concurrent writer won (serialization failure, deadlock,
	// compare-and-swap mismatch). Retry the transaction.
	ErrConflict = errors.New("store conflict")
	// ErrCorrupt: the file is not a credence store or is damaged.
	ErrCorrupt = errors.New("not a credence store or damaged")

	// ErrNotFound: no such row (a workload never seen, a digest never
	// matched under a committed version, a key never set).
	ErrNotFound = errors.New("not found")
	// ErrLeaseLost: the job's lease passed to another worker (it expired
	// and the job was claimed again); the worker's results were not written.
	ErrLeaseLost = errors.New("job lease lost")
	// ErrStaleVersion: findings were matched against a database version that
	// is neither the current one nor the pending one.
	ErrStaleVersion = errors.New("stale database version")
	// ErrBadDSN: the DSN names no backend credence has.
	ErrBadDSN = errors.New("bad store DSN")
)

// IsRetryable reports whether err is an operational failure that may pass
// if the same work is tried again later (unavailable, full, conflict).
func IsRetryable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrFull) || errors.Is(err, ErrConflict)
}

// classify wraps a database error with the sentinel of its cause; errors
// with no known cause (a constraint, a bug) are returned as they are.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrFull) || errors.Is(err, ErrConflict) || errors.Is(err, ErrCorrupt) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if s := sentinelOf(err); s != nil {
		return fmt.Errorf("%w: %w", s, err)
	}
	return err
}

func sentinelOf(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // primary result code
		case 13: // SQLITE_FULL
			return ErrFull
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return ErrUnavailable
		case 10, 14, 8: // SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY
			return ErrUnavailable
		case 11, 26: // SQLITE_CORRUPT, SQLITE_NOTADB
			return ErrCorrupt
		}
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100": // disk_full
			return ErrFull
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "57P"):
			// connection exception, insufficient resources, operator intervention
			return ErrUnavailable
		case pe.Code == "40001", pe.Code == "40P01", pe.Code == "55P03", pe.Code == "23505":
			// serialization, deadlock, lock not available; a unique violation
			// (only a race between writers can cause one here)
			return ErrConflict
		}
		return nil
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &ce), errors.As(err, &oe), errors.As(err, &ne),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ErrUnavailable
	case errors.Is(err, syscall.ENOSPC):
		return ErrFull
	}
	if pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed") {
		return ErrUnavailable
	}
	return nil
}
