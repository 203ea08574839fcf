// Package tpm is credence's TPM: go-tpm's tpm2 direct API over a raw
// transport to /dev/tpmrm0 or a socket to swtpm, with a persistent attestation key.
package tpm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/credence-dev/credence/attest"
)

// DefaultAKHandle is the persistent handle of credence's attestation key,
// in the endorsement range of the TCG handle guidance (0x81010000-0x8101FFFF).
const DefaultAKHandle = 0x81010013

// DefaultTimeout bounds one TPM command; a container start waits at most this long.
const DefaultTimeout = 10 * time.Second

// TPM is a connection to a TPM with credence's attestation key loaded.
type TPM struct {
	t        *conn
	akHandle tpm2.TPMHandle
	akPub    []byte
	akName   tpm2.TPM2BName
}

var _ attest.TPM = (*TPM)(nil)

type options struct {
	akHandle uint32
	timeout  time.Duration
}

// Option configures Open.
type Option func(*options) error

// WithAKHandle sets the persistent handle of the attestation key.
func WithAKHandle(h uint32) Option {
	return func(o *options) error {
		if h>>24 != 0x81 {
			return fmt.Errorf("handle 0x%08x is not a persistent handle (0x81xxxxxx)", h)
		}
		o.akHandle = h
		return nil
	}
}

// WithTimeout bounds each TPM command on a socket.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("timeout %v must be positive", d)
		}
		o.timeout = d
		return nil
	}
}

// Open connects to the TPM at addr and loads the attestation key, creating
// and persisting it the first time. addr is a device path (/dev/tpmrm0),
// "unix:PATH" or "tcp:HOST:PORT" (swtpm's server socket; a "swtpm:" prefix is allowed).
func Open(addr string, opts ...Option) (*TPM, error) {
	o := options{akHandle: DefaultAKHandle, timeout: DefaultTimeout}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("open tpm: %w", err)
		}
	}
	c, err := newConn(addr, o.timeout)
	if err != nil {
		return nil, err
	}
	t := &TPM{t: c, akHandle: tpm2.TPMHandle(o.akHandle)}
	if err := t.loadAK(); err != nil {
		c.Close()
		return nil, err
	}
	return t, nil
}

// akTemplate is a restricted ECDSA P-256 signing key generated in the TPM:
// what a verifier accepts as an attestation key.
var akTemplate = tpm2.TPMTPublic{
	Type:    tpm2.TPMAlgECC,
	NameAlg: tpm2.TPMAlgSHA256,
	ObjectAttributes: tpm2.TPMAObject{
		FixedTPM:            true,
		FixedParent:         true,
		SensitiveDataOrigin: true,
		UserWithAuth:        true,
		NoDA:                true,
		Restricted:          true,
		SignEncrypt:         true,
	},
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
		Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
		Scheme: tpm2.TPMTECCScheme{
			Scheme:  tpm2.TPMAlgECDSA,
			Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256}),
		},
		CurveID: tpm2.TPMECCNistP256,
		KDF:     tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
	}),
	Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
		X: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
		Y: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
	}),
}

// loadAK reads the AK at its persistent handle, or creates it as a primary
// key in the endorsement hierarchy and persists it.
func (t *TPM) loadAK() error {
	rp, err := tpm2.ReadPublic{ObjectHandle: t.akHandle}.Execute(t.t)
	if err == nil {
		pub := rp.OutPublic.Bytes()
		ak, perr := attest.ParseAK(pub)
		if perr != nil {
			return fmt.Errorf("load attestation key at 0x%08x: %w", uint32(t.akHandle), perr)
		}
		if bad := ak.CheckAttributes(); len(bad) > 0 {
			return fmt.Errorf("load attestation key: handle 0x%08x holds a key that is not an attestation key: %v", uint32(t.akHandle), bad)
		}
		t.akPub, t.akName = bytes.Clone(pub), rp.Name
		return nil
	}
	if errors.Is(err, attest.ErrTPMUnreachable) {
		return fmt.Errorf("load attestation key: %w", err)
	}
	cp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHEndorsement, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(akTemplate),
	}.Execute(t.t)
	if err != nil {
		return fmt.Errorf("create attestation key: %w", err)
	}
	defer tpm2.FlushContext{FlushHandle: cp.ObjectHandle}.Execute(t.t) //nolint:errcheck // best effort
	if _, err := (tpm2.EvictControl{
		Auth:             tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		ObjectHandle:     tpm2.NamedHandle{Handle: cp.ObjectHandle, Name: cp.Name},
		PersistentHandle: t.akHandle,
	}).Execute(t.t); err != nil {
		return fmt.Errorf("persist attestation key at 0x%08x: %w", uint32(t.akHandle), err)
	}
	t.akPub, t.akName = bytes.Clone(cp.OutPublic.Bytes()), cp.Name
	return nil
}

// AKPublic returns the attestation key's TPMT_PUBLIC.
func (t *TPM) AKPublic() []byte { return bytes.Clone(t.akPub) }

func pcrSelection(pcr int, bank attest.HashAlg) (tpm2.TPMLPCRSelection, error) {
	if pcr < 0 || pcr > 23 {
		return tpm2.TPMLPCRSelection{}, fmt.Errorf("pcr %d out of range", pcr)
	}
	id := bank.TPMAlgID()
	if id == 0 {
		return tpm2.TPMLPCRSelection{}, fmt.Errorf("unknown bank %q", bank)
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash: tpm2.TPMIAlgHash(id), PCRSelect: tpm2.PCClientCompatible.PCRs(uint(pcr)),
	}}}, nil
}

// Extend extends pcr with each digest in its bank, in one TPM2_PCR_Extend.
func (t *TPM) Extend(pcr int, digests []attest.Digest) error {
	if pcr < 0 || pcr > 23 {
		return fmt.Errorf("extend: pcr %d out of range", pcr)
	}
	var vals tpm2.TPMLDigestValues
	for _, d := range digests {
		id := d.HashAlg.TPMAlgID()
		if id == 0 {
			return fmt.Errorf("extend: unknown bank %q", d.HashAlg)
		}
		vals.Digests = append(vals.Digests, tpm2.TPMTHA{HashAlg: tpm2.TPMIAlgHash(id), Digest: d.Digest})
	}
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests:   vals,
	}.Execute(t.t)
	if err != nil {
		return fmt.Errorf("extend pcr %d: %w", pcr, err)
	}
	return nil
}

// ReadPCR returns pcr's value in bank.
func (t *TPM) ReadPCR(pcr int, bank attest.HashAlg) ([]byte, error) {
	sel, err := pcrSelection(pcr, bank)
	if err != nil {
		return nil, fmt.Errorf("read pcr: %w", err)
	}
	rsp, err := tpm2.PCRRead{PCRSelectionIn: sel}.Execute(t.t)
	if err != nil {
		return nil, fmt.Errorf("read pcr %d: %w", pcr, err)
	}
	if len(rsp.PCRValues.Digests) != 1 {
		return nil, fmt.Errorf("read pcr %d: the TPM returned %d values (is the %s bank allocated?)", pcr, len(rsp.PCRValues.Digests), bank)
	}
	return rsp.PCRValues.Digests[0].Buffer, nil
}

// Quote signs pcr's value in bank with the attestation key, qualified by nonce.
func (t *TPM) Quote(nonce []byte, pcr int, bank attest.HashAlg) (attest.Quote, error) {
	sel, err := pcrSelection(pcr, bank)
	if err != nil {
		return attest.Quote{}, fmt.Errorf("quote: %w", err)
	}
	rsp, err := tpm2.Quote{
		SignHandle:     tpm2.AuthHandle{Handle: t.akHandle, Name: t.akName, Auth: tpm2.PasswordAuth(nil)},
		QualifyingData: tpm2.TPM2BData{Buffer: nonce},
		InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
		PCRSelect:      sel,
	}.Execute(t.t)
	if err != nil {
		return attest.Quote{}, fmt.Errorf("quote pcr %d: %w", pcr, err)
	}
	return attest.Quote{Attest: bytes.Clone(rsp.Quoted.Bytes()), Signature: tpm2.Marshal(rsp.Signature)}, nil
}

// ResetPCR resets a resettable PCR (16 or 23 at locality 0). Only tests use
// it: it is how root forges a log on a resettable PCR.
func (t *TPM) ResetPCR(pcr int) error {
	_, err := tpm2.PCRReset{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
	}.Execute(t.t)
	if err != nil {
		return fmt.Errorf("reset pcr %d: %w", pcr, err)
	}
	return nil
}

// Close closes the connection.
func (t *TPM) Close() error { return t.t.Close() }

// conn is a raw TPM transport: each command is written whole and the
// response read by its header's size (TPM 2.0 Part 1, 18.2). Sockets get a
// deadline per command and are redialled after an error; commands are
// never retried (an extend is not idempotent).
type conn struct {
	mu      sync.Mutex
	network string // "unix", "tcp" or "device"
	addr    string
	timeout time.Duration
	c       io.ReadWriteCloser
}

var _ transport.TPM = (*conn)(nil)

// maxResponse bounds a TPM response.
const maxResponse = 64 << 10

func newConn(addr string, timeout time.Duration) (*conn, error) {
	a := strings.TrimPrefix(addr, "swtpm:")
	c := &conn{timeout: timeout}
	switch {
	case strings.HasPrefix(a, "unix:"):
		c.network, c.addr = "unix", strings.TrimPrefix(a, "unix:")
	case strings.HasPrefix(a, "tcp:"):
		c.network, c.addr = "tcp", strings.TrimPrefix(a, "tcp:")
	case strings.HasPrefix(a, "/"):
		c.network, c.addr = "device", a
	default:
		return nil, fmt.Errorf("open tpm %q: want a device path, unix:PATH or tcp:HOST:PORT", addr)
	}
	if err := c.dial(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *conn) dial() error {
	if c.network == "device" {
		f, err := os.OpenFile(c.addr, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open tpm %s: %w: %w", c.addr, attest.ErrTPMUnreachable, err)
		}
		c.c = f
		return nil
	}
	nc, err := net.DialTimeout(c.network, c.addr, c.timeout)
	if err != nil {
		return fmt.Errorf("open tpm %s:%s: %w: %w", c.network, c.addr, attest.ErrTPMUnreachable, err)
	}
	c.c = nc
	return nil
}

// Send implements transport.TPM.
func (c *conn) Send(cmd []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		if err := c.dial(); err != nil {
			return nil, err
		}
	}
	rsp, err := c.roundTrip(cmd)
	if err != nil {
		c.c.Close()
		c.c = nil
		return nil, fmt.Errorf("tpm %s: %w: %w", c.addr, attest.ErrTPMUnreachable, err)
	}
	return rsp, nil
}

func (c *conn) roundTrip(cmd []byte) ([]byte, error) {
	if nc, ok := c.c.(net.Conn); ok {
		if err := nc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
			return nil, err
		}
	}
	if _, err := c.c.Write(cmd); err != nil {
		return nil, fmt.Errorf("write command: %w", err)
	}
	if c.network == "device" {
		// The kernel returns a whole response per read.
		buf := make([]byte, maxResponse)
		n, err := c.c.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("read response: %w", err)
		}
		return buf[:n], nil
	}
	var hdr [10]byte
	if _, err := io.ReadFull(c.c, hdr[:]); err != nil {
		return nil, fmt.Errorf("read response header: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < 10 || size > maxResponse {
		return nil, fmt.Errorf("response of %d bytes", size)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr[:])
	if _, err := io.ReadFull(c.c, rsp[10:]); err != nil {
		return nil, fmt.Errorf("read response body: %w", err)
	}
	return rsp, nil
}

// Close closes the connection.
func (c *conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		return nil
	}
	err := c.c.Close()
	c.c = nil
	return err
}
