package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// NonceDir is a NonceStore in a directory, shared by every verifier process
// that opens it and kept across runs, so a quote accepted by one run is
// recognised when another run sees it again (quote-replayed, nonce-reused).
//
// The state is one file, nonces.json, read and rewritten under an exclusive
// flock on nonces.lock: written to a temporary file, fsynced and renamed over
// the old one, so a crash leaves the old state or the new one, never half.
// Entries are forgotten as they expire (WithNonceTTL, WithNonceMemory); the
// store refuses to grow past MaxNonces rather than forget an answered nonce
// early.
type NonceDir struct {
	dir string
	o   nonceOptions
}

const (
	nonceFile     = "nonces.json"
	nonceLockFile = "nonces.lock"
	nonceVersion  = 1
	// maxNonceFileBytes bounds the state file read: MaxNonces entries of
	// about 100 bytes, with room.
	maxNonceFileBytes = 200 * MaxNonces
	// nonceLockWait bounds the wait for another verifier holding the lock.
	nonceLockWait = 30 * time.Second
)

// OpenNonceDir opens (creating it, mode 0700) the nonce store in dir and
// checks that its state can be read.
func OpenNonceDir(dir string, opts ...NonceOption) (*NonceDir, error) {
	if dir == "" {
		return nil, errors.New("open nonce store: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open nonce store: %w", err)
	}
	d := &NonceDir{dir: dir, o: newNonceOptions(opts)}
	if err := d.with(syscall.LOCK_SH, func(*nonceBook) error { return nil }); err != nil {
		return nil, err
	}
	return d, nil
}

// Dir is the store's directory.
func (d *NonceDir) Dir() string { return d.dir }

// Issue returns a fresh random nonce, remembered as issued until its TTL ends.
func (d *NonceDir) Issue() ([]byte, error) {
	var n []byte
	err := d.with(syscall.LOCK_EX, func(b *nonceBook) (err error) {
		n, err = b.issue(&d.o)
		return err
	})
	return n, err
}

// Consume marks nonce answered (see NonceStore).
func (d *NonceDir) Consume(nonce []byte) error {
	var verdict error
	err := d.with(syscall.LOCK_EX, func(b *nonceBook) error {
		verdict = b.consume(&d.o, nonce)
		if errors.Is(verdict, ErrNonceStoreFull) {
			return verdict
		}
		return nil // a refused answer still changes the book (an expired nonce is now answered)
	})
	if err != nil {
		return err
	}
	return verdict
}

// Used reports whether nonce answered an earlier challenge.
func (d *NonceDir) Used(nonce []byte) (bool, error) {
	var used bool
	err := d.with(syscall.LOCK_SH, func(b *nonceBook) error {
		used = b.used(&d.o, nonce)
		return nil
	})
	return used, err
}

// with runs f on the state under a lock of the given kind; under an
// exclusive lock the state is written back when f returns nil.
func (d *NonceDir) with(how int, f func(*nonceBook) error) error {
	lock, err := os.OpenFile(filepath.Join(d.dir, nonceLockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("nonce store %s: %w", d.dir, err)
	}
	defer lock.Close() // closing releases the flock
	if err := flockWait(lock, how, nonceLockWait); err != nil {
		return fmt.Errorf("nonce store %s: %w", d.dir, err)
	}
	b, err := d.read()
	if err != nil {
		return err
	}
	if err := f(b); err != nil {
		return err
	}
	if how != syscall.LOCK_EX {
		return nil
	}
	return d.write(b)
}

// flockWait takes the lock, waiting at most wait for another holder.
func flockWait(f *os.File, how int, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("locked by another process for more than %s", wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type nonceFileJSON struct {
	Version int `json:"version"`
	nonceBook
}

func (d *NonceDir) read() (*nonceBook, error) {
	path := filepath.Join(d.dir, nonceFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return newNonceBook(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("nonce store: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxNonceFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("nonce store: read %s: %w", path, err)
	}
	if len(raw) > maxNonceFileBytes {
		return nil, fmt.Errorf("nonce store: %s is larger than %d bytes", path, maxNonceFileBytes)
	}
	var s nonceFileJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil || s.Version != nonceVersion {
		// Never start afresh silently: the answered nonces in it are what
		// makes a replay visible.
		return nil, fmt.Errorf("nonce store: %s is not a version %d nonce store (%v): move it aside to start a new one, and know that replays of the quotes it remembered are then not named", path, nonceVersion, err)
	}
	if s.Issued == nil {
		s.Issued = map[string]time.Time{}
	}
	if s.Used == nil {
		s.Used = map[string]time.Time{}
	}
	return &s.nonceBook, nil
}

func (d *NonceDir) write(b *nonceBook) error {
	// Under the exclusive lock no other writer is running: a temporary
	// file left here is from a writer that crashed.
	if stale, _ := filepath.Glob(filepath.Join(d.dir, nonceFile+".*.tmp")); len(stale) > 0 {
		for _, p := range stale {
			os.Remove(p)
		}
	}
	out, err := json.Marshal(nonceFileJSON{Version: nonceVersion, nonceBook: *b})
	if err != nil {
		return fmt.Errorf("nonce store: %w", err)
	}
	tmp, err := os.CreateTemp(d.dir, nonceFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("nonce store: %w", err)
	}
	_, err = tmp.Write(append(out, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(d.dir, nonceFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("nonce store: write %s: %w", d.dir, err)
	}
	if dir, err := os.Open(d.dir); err == nil {
		err = dir.Sync()
		dir.Close()
		if err != nil {
			return fmt.Errorf("nonce store: sync %s: %w", d.dir, err)
		}
	}
	return nil
}

var _ NonceStore = (*NonceDir)(nil)
