package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/internal/version"
)

// Service measures container starts into the log and answers quotes.
type Service struct {
	log   *attest.Log
	tpm   attest.TPM
	ak    *attest.AK
	o     options
	start attest.AgentStart
	mu    sync.Mutex // serialises event building with its append (times stay ordered)
}

// EventOptions say how events are written.
type EventOptions struct {
	// EnvInClear records environment values; by default only their hashes.
	EnvInClear bool
	// Clock stamps events (default time.Now).
	Clock  func() time.Time
	hostNS func(typ, path string) bool
}

func (o EventOptions) now() string {
	c := o.Clock
	if c == nil {
		c = time.Now
	}
	return c().UTC().Format(time.RFC3339Nano)
}

type options struct {
	pcr      int
	events   EventOptions
	bootID   string
	hostname string
	version  string
	binary   string
}

// Option configures a Service.
type Option func(*options) error

// WithPCR sets the PCR to extend (default 13; tests use 23).
func WithPCR(pcr int) Option {
	return func(o *options) error {
		if pcr < 0 || pcr > 23 {
			return fmt.Errorf("pcr %d out of range 0-23", pcr)
		}
		o.pcr = pcr
		return nil
	}
}

// WithEnvInClear records environment values in clear instead of their hashes.
func WithEnvInClear() Option {
	return func(o *options) error { o.events.EnvInClear = true; return nil }
}

// WithBootID overrides the kernel boot id (tests).
func WithBootID(id string) Option {
	return func(o *options) error { o.bootID = id; return nil }
}

// Receipt says where a measurement went.
type Receipt struct {
	RecNum uint64 `json:"recnum"`
	Digest string `json:"digest"`
}

// New opens the log at logPath on tpm and records the agent's start: the
// agent.start event (with the TPM's reset and restart counts, read from a
// quote by the AK) and a separator. A log left by an earlier boot is moved
// aside to logPath.<boot id>.
func New(tpm attest.TPM, logPath string, opts ...Option) (*Service, error) {
	o := options{pcr: attest.DefaultPCR, version: version.Get().Version, events: EventOptions{hostNS: sameAsHost}}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("start agent: %w", err)
		}
	}
	if o.bootID == "" {
		b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
		if err != nil {
			return nil, fmt.Errorf("start agent: read boot id: %w", err)
		}
		o.bootID = strings.TrimSpace(string(b))
	}
	o.hostname, _ = os.Hostname()
	ak, err := attest.ParseAK(tpm.AKPublic())
	if err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	epoch, err := rotate(logPath, o.bootID)
	if err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	l, err := attest.OpenLog(logPath, tpm, o.pcr)
	if errors.Is(err, attest.ErrLogDiverged) {
		// The PCR at zero in the same kernel boot: the TPM itself was reset
		// (a restarted swtpm, a resettable PCR). Keep the old log aside.
		if cur, rerr := tpm.ReadPCR(o.pcr, attest.SHA256); rerr == nil && bytes.Equal(cur, make([]byte, len(cur))) {
			aside := fmt.Sprintf("%s.diverged-%d", logPath, time.Now().Unix())
			if rerr := os.Rename(logPath, aside); rerr == nil {
				epoch = 1
				l, err = attest.OpenLog(logPath, tpm, o.pcr)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	s := &Service{log: l, tpm: tpm, ak: ak, o: o}
	if err := s.recordStart(epoch); err != nil {
		l.Close()
		return nil, fmt.Errorf("start agent: %w", err)
	}
	return s, nil
}

// rotate moves a log of another boot aside and returns the epoch of this
// agent start: one more than the agent.start events already in the log.
func rotate(path, bootID string) (uint64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	d := attest.NewDecoder(f)
	var epoch uint64 = 1
	var logBoot string
	for {
		rec, err := d.Next()
		if err != nil {
			break // the log writer decides what to do with the rest
		}
		ev, err := attest.DecodeEvent(rec.Content)
		if err == nil && ev.AgentStart != nil {
			if logBoot == "" {
				logBoot = ev.AgentStart.BootID
			}
			epoch++
		}
	}
	f.Close()
	if logBoot == "" || logBoot == bootID {
		return epoch, nil
	}
	aside := path + "." + filepath.Base(logBoot)
	if err := os.Rename(path, aside); err != nil {
		return 0, fmt.Errorf("move the log of boot %s aside: %w", logBoot, err)
	}
	return 1, nil
}

func (s *Service) recordStart(epoch uint64) error {
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	q, err := s.tpm.Quote(nonce, s.o.pcr, attest.SHA256)
	if err != nil {
		return fmt.Errorf("read the TPM's counters: %w", err)
	}
	info, err := attest.ParseQuote(q.Attest)
	if err != nil {
		return err
	}
	s.start = attest.AgentStart{
		Time: s.o.events.now(), AgentVersion: s.o.version, BinaryDigest: binaryDigest(),
		BootID: s.o.bootID, Hostname: s.o.hostname, PCR: s.o.pcr, AKName: s.ak.NameHex(),
		ResetCount: info.Clock.ResetCount, RestartCount: info.Clock.RestartCount, Epoch: epoch,
	}
	if _, err := s.append(&s.start); err != nil {
		return err
	}
	_, err = s.append(&attest.Separator{Epoch: epoch})
	return err
}

func binaryDigest() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := os.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return attest.HexDigest(h.Sum(nil))
}

func (s *Service) append(ev any) (Receipt, error) {
	b, err := attest.EncodeEvent(ev)
	if err != nil {
		return Receipt{}, err
	}
	rec, err := s.log.Append(b)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{RecNum: rec.RecNum, Digest: attest.HexDigest(rec.Digest(attest.SHA256))}, nil
}

// MeasureOCI measures a start reported by the createRuntime hook.
func (s *Service) MeasureOCI(_ context.Context, req *OCIRequest) (Receipt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, err := BuildOCI(req, s.o.events)
	if err != nil {
		return Receipt{}, err
	}
	return s.append(ev)
}

// MeasureNRI measures a start reported by the NRI plugin.
func (s *Service) MeasureNRI(_ context.Context, req *NRIRequest) (Receipt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, err := BuildNRI(req, s.o.events)
	if err != nil {
		return Receipt{}, err
	}
	return s.append(ev)
}

// Attest answers a verifier's challenge with a quote and the log.
func (s *Service) Attest(_ context.Context, nonce []byte) (*attest.Evidence, error) {
	if len(nonce) < 16 || len(nonce) > 64 {
		return nil, fmt.Errorf("attest: a nonce of %d bytes (want 16 to 64)", len(nonce))
	}
	return s.log.Attest(s.tpm, nonce)
}

// AK returns the attestation key for enrollment.
func (s *Service) AK() (*attest.EnrolledAK, error) {
	return attest.NewEnrolledAK(s.tpm.AKPublic(), s.o.hostname)
}

// Start is the agent.start event this agent wrote.
func (s *Service) Start() attest.AgentStart { return s.start }

// LogPath is the measurement log's path.
func (s *Service) LogPath() string { return s.log.Path() }

// Close closes the log (the TPM belongs to the caller).
func (s *Service) Close() error { return s.log.Close() }

var _ Measurer = (*Service)(nil)
