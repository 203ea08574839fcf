package attest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// NonceSize is the size of a challenge nonce.
const NonceSize = 32

// Nonce errors, each a specific reason a challenge is refused.
var (
	ErrNonceUnknown = errors.New("nonce was not issued by this verifier")
	ErrNonceExpired = errors.New("nonce expired")
	ErrNonceReused  = errors.New("nonce was already used")
	// ErrNonceStoreFull means the store holds MaxNonces entries that have not
	// expired: it refuses to forget one, since a forgotten answered nonce
	// could be accepted again.
	ErrNonceStoreFull = errors.New("nonce store is full")
)

// Defaults of a nonce store.
const (
	// DefaultNonceTTL is how long an issued challenge may be answered.
	DefaultNonceTTL = 2 * time.Minute
	// DefaultNonceMemory is how long an answered challenge is remembered:
	// within it a second answer is nonce-reused and an old quote answering it
	// is quote-replayed.
	DefaultNonceMemory = 24 * time.Hour
	// MaxNonces bounds the entries a store keeps (issued and answered):
	// about 100 bytes each on disk.
	MaxNonces = 100_000
)

// NonceStore is where a verifier keeps its challenges. [Nonces] keeps them
// in memory (one process); [NonceDir] in a directory, shared by every
// verifier process that uses it, across runs.
type NonceStore interface {
	// Issue returns a fresh random nonce, remembered as issued.
	Issue() ([]byte, error)
	// Consume marks nonce answered. ErrNonceUnknown, ErrNonceExpired and
	// ErrNonceReused say the answer must be refused; any other error means
	// the store could not be read or written.
	Consume(nonce []byte) error
	// Used reports whether nonce answered an earlier challenge.
	Used(nonce []byte) (bool, error)
}

// NonceOption configures a nonce store.
type NonceOption func(*nonceOptions)

type nonceOptions struct {
	ttl, memory time.Duration
	callers     bool
	now         func() time.Time
	max         int
}

func newNonceOptions(opts []NonceOption) nonceOptions {
	o := nonceOptions{ttl: DefaultNonceTTL, memory: DefaultNonceMemory, now: time.Now, max: MaxNonces}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithNonceTTL sets how long an issued nonce may be answered (default 2 minutes).
func WithNonceTTL(d time.Duration) NonceOption {
	return func(o *nonceOptions) {
		if d > 0 {
			o.ttl = d
		}
	}
}

// WithNonceMemory sets how long an answered nonce is remembered (default 24
// hours). Keep it longer than any TTL: an issued nonce expires, but a nonce
// of the caller's own (WithCallerNonces) is refused only while remembered.
func WithNonceMemory(d time.Duration) NonceOption {
	return func(o *nonceOptions) {
		if d > 0 {
			o.memory = d
		}
	}
}

// WithCallerNonces makes Consume accept a nonce this store did not issue as
// one the caller issued itself (evidence a node produced for the caller's
// challenge), once: its freshness is the caller's to vouch for, its single
// use the store's. A nonce the store did issue is still checked for expiry.
func WithCallerNonces() NonceOption { return func(o *nonceOptions) { o.callers = true } }

// nonceBook is the state of a store: what was issued and until when, what
// was answered and until when it is remembered. Both stores share it; the
// keys are hex nonces.
type nonceBook struct {
	Issued map[string]time.Time `json:"issued"` // nonce -> expiry
	Used   map[string]time.Time `json:"used"`   // nonce -> forget after
}

func newNonceBook() *nonceBook {
	return &nonceBook{Issued: map[string]time.Time{}, Used: map[string]time.Time{}}
}

// prune forgets answered nonces past their memory, and issued ones that
// expired that long ago (until then a late answer is named nonce-expired).
func (b *nonceBook) prune(now time.Time, memory time.Duration) {
	for k, exp := range b.Issued {
		if now.After(exp.Add(memory)) {
			delete(b.Issued, k)
		}
	}
	for k, t := range b.Used {
		if now.After(t) {
			delete(b.Used, k)
		}
	}
}

func (b *nonceBook) full(max int) error {
	if n := len(b.Issued) + len(b.Used); n >= max {
		return fmt.Errorf("%w: %d issued and answered nonces are remembered (limit %d); they are forgotten as they expire", ErrNonceStoreFull, n, max)
	}
	return nil
}

func (b *nonceBook) issue(o *nonceOptions) ([]byte, error) {
	b.prune(o.now(), o.memory)
	if err := b.full(o.max); err != nil {
		return nil, fmt.Errorf("issue nonce: %w", err)
	}
	n := make([]byte, NonceSize)
	if _, err := rand.Read(n); err != nil {
		return nil, fmt.Errorf("issue nonce: %w", err)
	}
	b.Issued[hex.EncodeToString(n)] = o.now().Add(o.ttl)
	return n, nil
}

func (b *nonceBook) consume(o *nonceOptions, nonce []byte) error {
	now := o.now()
	b.prune(now, o.memory)
	k := hex.EncodeToString(nonce)
	if _, ok := b.Used[k]; ok {
		return ErrNonceReused
	}
	exp, issued := b.Issued[k]
	if !issued && !o.callers {
		return ErrNonceUnknown
	}
	if !issued {
		if err := b.full(o.max); err != nil {
			return fmt.Errorf("accept nonce: %w", err)
		}
	}
	delete(b.Issued, k)
	b.Used[k] = now.Add(o.memory)
	if issued && now.After(exp) {
		return ErrNonceExpired
	}
	return nil
}

func (b *nonceBook) used(o *nonceOptions, nonce []byte) bool {
	forget, ok := b.Used[hex.EncodeToString(nonce)]
	return ok && !o.now().After(forget)
}

// Nonces is a NonceStore in memory: single-use challenge nonces with a time
// to live; answered ones are remembered for a while, so a replayed quote is
// recognised within this process.
type Nonces struct {
	mu   sync.Mutex
	o    nonceOptions
	book *nonceBook
}

// NewNonces returns a store whose nonces live for ttl.
func NewNonces(ttl time.Duration, opts ...NonceOption) *Nonces {
	return &Nonces{o: newNonceOptions(append([]NonceOption{WithNonceTTL(ttl)}, opts...)), book: newNonceBook()}
}

// Issue returns a fresh random nonce.
func (n *Nonces) Issue() ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.book.issue(&n.o)
}

// Consume marks nonce used; it fails when the nonce was never issued,
// expired or was used before.
func (n *Nonces) Consume(nonce []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.book.consume(&n.o, nonce)
}

// Used reports whether nonce answered an earlier challenge.
func (n *Nonces) Used(nonce []byte) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.book.used(&n.o, nonce), nil
}

var _ NonceStore = (*Nonces)(nil)
