package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"

	"github.com/google/go-tpm/tpm2"
)

// maxTPMStruct bounds a TPM structure a verifier parses (TPM responses are
// at most a few KiB).
const maxTPMStruct = 16 << 10

// unmarshalTPM parses a TPM structure from b, refusing trailing bytes and
// turning a panic of the reflective decoder into an error.
func unmarshalTPM[T tpm2.Marshallable, P interface {
	*T
	tpm2.Unmarshallable
}](what string, b []byte) (out *T, err error) {
	if len(b) == 0 || len(b) > maxTPMStruct {
		return nil, fmt.Errorf("parse %s: %d bytes: %w", what, len(b), ErrMalformed)
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("parse %s: %v: %w", what, r, ErrMalformed)
		}
	}()
	v, err := tpm2.Unmarshal[T, P](b)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w: %w", what, ErrMalformed, err)
	}
	// The decoder ignores trailing bytes and accepts some non-canonical
	// encodings; the signed bytes must be exactly one structure.
	if !bytes.Equal(tpm2.Marshal(*v), b) {
		return nil, fmt.Errorf("parse %s: trailing or non-canonical bytes: %w", what, ErrMalformed)
	}
	return v, nil
}

// QuoteInfo is the content of a quote's TPMS_ATTEST.
type QuoteInfo struct {
	// QualifiedSigner is the qualified name of the signing key.
	QualifiedSigner []byte
	// ExtraData is the caller's qualifying data: the verifier's nonce.
	ExtraData []byte
	Clock     ClockInfo
	// FirmwareVersion is the TPM vendor's firmware version.
	FirmwareVersion uint64
	// Selection lists the quoted PCRs per bank.
	Selection map[HashAlg][]int
	// PCRDigest is the hash (the AK's scheme hash) of the selected PCR values.
	PCRDigest []byte
}

// ClockInfo is the TPM's TPMS_CLOCK_INFO.
type ClockInfo struct {
	Clock        uint64 `json:"clock"`
	ResetCount   uint32 `json:"resetCount"`
	RestartCount uint32 `json:"restartCount"`
	Safe         bool   `json:"safe"`
}

// ParseQuote parses a TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE. It checks the
// magic (TPM_GENERATED) and the type; it does not check the signature.
func ParseQuote(attest []byte) (*QuoteInfo, error) {
	a, err := unmarshalTPM[tpm2.TPMSAttest]("quote", attest)
	if err != nil {
		return nil, err
	}
	if a.Magic != tpm2.TPMGeneratedValue {
		return nil, fmt.Errorf("parse quote: magic 0x%x is not TPM_GENERATED: %w", uint32(a.Magic), ErrMalformed)
	}
	if a.Type != tpm2.TPMSTAttestQuote {
		return nil, fmt.Errorf("parse quote: type 0x%x is not TPM_ST_ATTEST_QUOTE: %w", uint16(a.Type), ErrMalformed)
	}
	q, err := a.Attested.Quote()
	if err != nil {
		return nil, fmt.Errorf("parse quote: %w: %w", ErrMalformed, err)
	}
	info := &QuoteInfo{
		QualifiedSigner: a.QualifiedSigner.Buffer,
		ExtraData:       a.ExtraData.Buffer,
		Clock: ClockInfo{
			Clock: a.ClockInfo.Clock, ResetCount: a.ClockInfo.ResetCount,
			RestartCount: a.ClockInfo.RestartCount, Safe: bool(a.ClockInfo.Safe),
		},
		FirmwareVersion: a.FirmwareVersion,
		Selection:       map[HashAlg][]int{},
		PCRDigest:       q.PCRDigest.Buffer,
	}
	for _, s := range q.PCRSelect.PCRSelections {
		bank := hashAlgFromTPM(uint16(s.Hash))
		if bank == "" {
			return nil, fmt.Errorf("parse quote: unknown bank 0x%x: %w", uint16(s.Hash), ErrMalformed)
		}
		if _, dup := info.Selection[bank]; dup {
			return nil, fmt.Errorf("parse quote: bank %s selected twice: %w", bank, ErrMalformed)
		}
		var pcrs []int
		for i, b := range s.PCRSelect {
			for bit := 0; bit < 8; bit++ {
				if b&(1<<bit) != 0 {
					pcrs = append(pcrs, i*8+bit)
				}
			}
		}
		info.Selection[bank] = pcrs
	}
	return info, nil
}

// AK is a parsed attestation key.
type AK struct {
	// Public is the TPMT_PUBLIC exactly as the TPM encodes it.
	Public []byte
	// Name is the key's TPM name: nameAlg followed by the hash of Public.
	Name []byte
	key  *ecdsa.PublicKey
	pub  *tpm2.TPMTPublic
}

// ParseAK parses a TPMT_PUBLIC and computes its name. It accepts only
// ECC P-256 keys named with SHA-256; CheckAttributes says whether it is an AK.
func ParseAK(public []byte) (*AK, error) {
	p, err := unmarshalTPM[tpm2.TPMTPublic]("attestation key", public)
	if err != nil {
		return nil, err
	}
	if p.NameAlg != tpm2.TPMAlgSHA256 {
		return nil, fmt.Errorf("parse attestation key: name algorithm 0x%x, want SHA-256: %w", uint16(p.NameAlg), ErrMalformed)
	}
	if p.Type != tpm2.TPMAlgECC {
		return nil, fmt.Errorf("parse attestation key: type 0x%x, only ECC P-256 keys are supported: %w", uint16(p.Type), ErrMalformed)
	}
	parms, err := p.Parameters.ECCDetail()
	if err != nil {
		return nil, fmt.Errorf("parse attestation key: %w: %w", ErrMalformed, err)
	}
	if parms.CurveID != tpm2.TPMECCNistP256 {
		return nil, fmt.Errorf("parse attestation key: curve 0x%x, want NIST P-256: %w", uint16(parms.CurveID), ErrMalformed)
	}
	pt, err := p.Unique.ECC()
	if err != nil {
		return nil, fmt.Errorf("parse attestation key: %w: %w", ErrMalformed, err)
	}
	if len(pt.X.Buffer) > 32 || len(pt.Y.Buffer) > 32 {
		return nil, fmt.Errorf("parse attestation key: point coordinates too long: %w", ErrMalformed)
	}
	// Validate the point through crypto/ecdh, which refuses points off the curve.
	raw := make([]byte, 65)
	raw[0] = 4
	copy(raw[1+32-len(pt.X.Buffer):33], pt.X.Buffer)
	copy(raw[33+32-len(pt.Y.Buffer):], pt.Y.Buffer)
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("parse attestation key: %w: %w", ErrMalformed, err)
	}
	sum := sha256.Sum256(public)
	name := append([]byte{0x00, 0x0B}, sum[:]...)
	return &AK{Public: bytes.Clone(public), Name: name, key: key, pub: p}, nil
}

// CheckAttributes lists why the key cannot be trusted as an attestation
// key: it must be restricted, sign-only, fixedTPM, fixedParent, generated
// in the TPM, with the ECDSA-SHA256 scheme. Empty means it is an AK.
func (ak *AK) CheckAttributes() []string {
	var bad []string
	a := ak.pub.ObjectAttributes
	for _, c := range []struct {
		ok   bool
		what string
	}{
		{a.Restricted, "not restricted (it could sign a forged TPMS_ATTEST)"},
		{a.SignEncrypt, "not a signing key"},
		{!a.Decrypt, "also a decryption key"},
		{a.FixedTPM, "not fixedTPM (it may exist outside the TPM)"},
		{a.FixedParent, "not fixedParent"},
		{a.SensitiveDataOrigin, "not generated inside the TPM (sensitiveDataOrigin clear)"},
	} {
		if !c.ok {
			bad = append(bad, c.what)
		}
	}
	parms, err := ak.pub.Parameters.ECCDetail()
	if err == nil {
		if parms.Scheme.Scheme != tpm2.TPMAlgECDSA {
			bad = append(bad, fmt.Sprintf("signing scheme 0x%x is not ECDSA", uint16(parms.Scheme.Scheme)))
		} else if d, err := parms.Scheme.Details.ECDSA(); err != nil || d.HashAlg != tpm2.TPMAlgSHA256 {
			bad = append(bad, "ECDSA scheme hash is not SHA-256")
		}
	}
	return bad
}

// VerifySignature checks a TPMT_SIGNATURE (ECDSA, SHA-256) over attest.
func (ak *AK) VerifySignature(attest, signature []byte) error {
	sig, err := unmarshalTPM[tpm2.TPMTSignature]("signature", signature)
	if err != nil {
		return err
	}
	if sig.SigAlg != tpm2.TPMAlgECDSA {
		return fmt.Errorf("verify signature: algorithm 0x%x is not ECDSA", uint16(sig.SigAlg))
	}
	e, err := sig.Signature.ECDSA()
	if err != nil {
		return fmt.Errorf("verify signature: %w: %w", ErrMalformed, err)
	}
	if e.Hash != tpm2.TPMAlgSHA256 {
		return fmt.Errorf("verify signature: hash 0x%x is not SHA-256", uint16(e.Hash))
	}
	digest := sha256.Sum256(attest)
	r, s := new(big.Int).SetBytes(e.SignatureR.Buffer), new(big.Int).SetBytes(e.SignatureS.Buffer)
	if !ecdsa.Verify(ak.key, digest[:], r, s) {
		return fmt.Errorf("verify signature: ECDSA signature does not verify")
	}
	return nil
}

// NameHex is the key's name in hex, as agent.start records it.
func (ak *AK) NameHex() string { return hex.EncodeToString(ak.Name) }

// EnrolledAK is the file a verifier pins a node's attestation key with:
// written once by `credence agent ak` and kept by the verifier.
type EnrolledAK struct {
	Kind string `json:"kind"` // "AttestationKey"
	Node string `json:"node,omitempty"`
	// Public is the AK's TPMT_PUBLIC (base64).
	Public []byte `json:"public"`
	// Name is the AK's TPM name in hex; it must match Public.
	Name string `json:"name"`
}

// NewEnrolledAK describes the attestation key public for enrollment.
func NewEnrolledAK(public []byte, node string) (*EnrolledAK, error) {
	ak, err := ParseAK(public)
	if err != nil {
		return nil, err
	}
	if bad := ak.CheckAttributes(); len(bad) > 0 {
		return nil, fmt.Errorf("enroll attestation key: %v", bad)
	}
	return &EnrolledAK{Kind: "AttestationKey", Node: node, Public: ak.Public, Name: ak.NameHex()}, nil
}

// ReadEnrolledAK reads and checks an enrolled AK file.
func ReadEnrolledAK(path string) (*EnrolledAK, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read attestation key: %w", err)
	}
	var e EnrolledAK
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("read attestation key %s: %w", path, err)
	}
	if e.Kind != "AttestationKey" {
		return nil, fmt.Errorf("read attestation key %s: kind %q, want AttestationKey", path, e.Kind)
	}
	ak, err := ParseAK(e.Public)
	if err != nil {
		return nil, fmt.Errorf("read attestation key %s: %w", path, err)
	}
	if ak.NameHex() != e.Name {
		return nil, fmt.Errorf("read attestation key %s: name %s does not match the public area (%s)", path, e.Name, ak.NameHex())
	}
	return &e, nil
}
