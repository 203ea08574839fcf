package attest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// Log is the writer of a measurement log: the only process that appends to
// it and extends its PCR. Every change happens under one lock, in this order:
//
//  1. read the PCR and check it still equals the log's replay (nothing else
//     extended or reset it; settle a record whose extend had an unknown outcome);
//  2. append the record and fsync;
//  3. extend the PCR; if the extend fails, read the PCR again: if it moved,
//     the extend happened and the record stays; if not, the record is cut
//     off again (truncate and fsync); if the TPM cannot be read, the record is
//     cut off and kept aside until the next call can settle it.
//
// So the log on disk always replays to the PCR or is at most one record
// ahead of it, which a verifier accepts (longest matching prefix).
type Log struct {
	mu       sync.Mutex
	f        *os.File
	path     string
	pcr      int
	tpm      Extender
	next     uint64 // recnum of the next record
	size     int64  // bytes of complete, extended records
	pcrValue []byte // sha256 bank value the log replays to
	pending  *pendingRecord
	broken   error
}

// pendingRecord is a record whose extend had an unknown outcome.
type pendingRecord struct {
	line  []byte
	after []byte // the PCR value if the extend happened
}

// OpenLog opens (or creates) the log at path for writing into pcr through
// tpm, taking an exclusive lock on the file. An existing log must replay to
// the PCR; records after the longest matching prefix (appended, never
// extended: the writer stopped between the two) are cut off.
func OpenLog(path string, tpm Extender, pcr int) (*Log, error) {
	if pcr < 0 || pcr > maxPCR {
		return nil, fmt.Errorf("open log: pcr %d out of range", pcr)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("open log %s: %w", path, ErrLogLocked)
		}
		return nil, fmt.Errorf("open log %s: lock: %w", path, err)
	}
	l := &Log{f: f, path: path, pcr: pcr, tpm: tpm}
	if err := l.recover(); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// recover reads the log and matches it to the PCR.
func (l *Log) recover() error {
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	d := NewDecoder(l.f)
	var recs []Record
	var ends []int64 // byte offset after each record
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) || errors.Is(err, ErrTornLine) {
			break // a torn last line was never extended
		}
		if err != nil {
			return fmt.Errorf("open log %s: %w", l.path, err)
		}
		if rec.PCR != l.pcr {
			return fmt.Errorf("open log %s: record %d is for PCR %d, this log writes PCR %d", l.path, rec.RecNum, rec.PCR, l.pcr)
		}
		recs = append(recs, rec)
		ends = append(ends, d.Offset())
	}
	cur, err := l.tpm.ReadPCR(l.pcr, SHA256)
	if err != nil {
		return fmt.Errorf("open log: read pcr %d: %w", l.pcr, err)
	}
	// Longest prefix whose replay equals the PCR.
	match, matchValue, last := replay(recs, l.pcr, func(v []byte) bool { return bytes.Equal(v, cur) })
	if match < 0 {
		return fmt.Errorf("open log %s: %w: %d records replay to %x, PCR %d holds %x (another writer uses this PCR, or the log was edited or belongs to another boot)",
			l.path, ErrLogDiverged, len(recs), last, l.pcr, cur)
	}
	if cut := len(recs) - match; cut > 1 {
		// A writer that stops between append and extend leaves one record;
		// more means the PCR was reset or the log belongs elsewhere. Never
		// destroy evidence: refuse.
		return fmt.Errorf("open log %s: %w: only the first %d of %d records replay to PCR %d (a writer leaves at most one unextended record): the PCR was reset or the log belongs to another TPM boot",
			l.path, ErrLogDiverged, match, len(recs), l.pcr)
	}
	l.size = 0
	if match > 0 {
		l.size = ends[match-1]
		l.next = recs[match-1].RecNum + 1
	}
	l.pcrValue = matchValue
	if err := l.truncate(l.size); err != nil {
		return fmt.Errorf("open log %s: cut off %d unextended records: %w", l.path, len(recs)-match, err)
	}
	return nil
}

func (l *Log) truncate(size int64) error {
	if err := l.f.Truncate(size); err != nil {
		return err
	}
	return l.f.Sync()
}

// Path is the log file's path.
func (l *Log) Path() string { return l.path }

// PCR is the PCR the log extends.
func (l *Log) PCR() int { return l.pcr }

// Records is the number of records next to be numbered (the log's length).
func (l *Log) Records() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// settle checks that the PCR still equals the log's replay, first settling
// a pending record. Call with l.mu held.
func (l *Log) settle() error {
	if l.broken != nil {
		return l.broken
	}
	cur, err := l.tpm.ReadPCR(l.pcr, SHA256)
	if err != nil {
		return err // the TPM names the pcr
	}
	if p := l.pending; p != nil {
		switch {
		case bytes.Equal(cur, l.pcrValue):
			l.pending = nil // the extend never happened
		case bytes.Equal(cur, p.after):
			// The extend happened: the record belongs in the log after all.
			if err := l.write(p.line); err != nil {
				return fmt.Errorf("restore record %d: %w", l.next, err)
			}
			l.size += int64(len(p.line))
			l.next++
			l.pcrValue = p.after
			l.pending = nil
		}
	}
	if !bytes.Equal(cur, l.pcrValue) {
		l.broken = fmt.Errorf("%w: PCR %d holds %x, the log replays to %x: something else extended or reset it", ErrLogDiverged, l.pcr, cur, l.pcrValue)
		return l.broken
	}
	return nil
}

func (l *Log) write(line []byte) error {
	if _, err := l.f.WriteAt(line, l.size); err != nil {
		_ = l.truncate(l.size)
		return fmt.Errorf("append: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		_ = l.truncate(l.size)
		return fmt.Errorf("fsync: %w", err)
	}
	return nil
}

// Append measures content (one compact JSON event, see EncodeEvent): it
// appends a record, fsyncs, and extends the PCR. On error nothing was
// measured and the log still replays to the PCR.
func (l *Log) Append(content []byte) (Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.settle(); err != nil {
		return Record{}, fmt.Errorf("measure: %w", err)
	}
	rec, err := NewRecord(l.next, l.pcr, content, SHA256)
	if err != nil {
		return Record{}, fmt.Errorf("measure: %w", err)
	}
	line, err := rec.MarshalLine()
	if err != nil {
		return Record{}, fmt.Errorf("measure: %w", err)
	}
	if err := l.write(line); err != nil {
		return Record{}, fmt.Errorf("measure: %w", err)
	}
	after := extendSHA256(l.pcrValue, rec.Digest(SHA256))
	if err := l.tpm.Extend(l.pcr, rec.Digests); err != nil {
		if uerr := l.undo(rec.RecNum, line, after); uerr != nil {
			return Record{}, fmt.Errorf("measure: extend pcr %d: %w", l.pcr, err)
		}
		// The command reached the TPM; only its answer was lost.
	}
	l.size += int64(len(line))
	l.next++
	l.pcrValue = after
	return rec, nil
}

// undo handles a failed extend of the record just written: nil means the
// extend happened after all and the record stays.
func (l *Log) undo(recnum uint64, line, after []byte) error {
	cur, rerr := l.tpm.ReadPCR(l.pcr, SHA256)
	if rerr == nil && bytes.Equal(cur, after) {
		return nil
	}
	if terr := l.truncate(l.size); terr != nil {
		l.broken = fmt.Errorf("%w: cannot cut off record %d after a failed extend: %v", ErrLogDiverged, recnum, terr)
		return l.broken
	}
	switch {
	case rerr != nil:
		l.pending = &pendingRecord{line: line, after: after}
		return rerr
	case !bytes.Equal(cur, l.pcrValue):
		l.broken = fmt.Errorf("%w: PCR %d holds %x after a failed extend", ErrLogDiverged, l.pcr, cur)
		return l.broken
	}
	return errors.New("not extended")
}

// Attest quotes the PCR with nonce and returns it with the whole log, both
// taken under the lock so the quote covers exactly the log.
func (l *Log) Attest(q Quoter, nonce []byte) (*Evidence, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.settle(); err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	quote, err := q.Quote(nonce, l.pcr, SHA256)
	if err != nil {
		return nil, fmt.Errorf("attest: quote: %w", err)
	}
	buf := make([]byte, l.size)
	if _, err := l.f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("attest: read log: %w", err)
	}
	return &Evidence{AKPublic: q.AKPublic(), Quote: quote, PCR: l.pcr, Bank: SHA256,
		PCRValue: bytes.Clone(l.pcrValue), Log: buf}, nil
}

// Close releases the lock and closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
