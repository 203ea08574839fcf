package attest

import (
	"bufio"
	"bytes"
	"crypto"
	_ "crypto/sha256" // the sha256 bank
	_ "crypto/sha512" // the sha384 and sha512 banks
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// HashAlg names a PCR bank as CEL-JSON does ("sha256").
type HashAlg string

// The PCR banks a log may carry. The writer extends SHA256 only.
const (
	SHA1   HashAlg = "sha1"
	SHA256 HashAlg = "sha256"
	SHA384 HashAlg = "sha384"
	SHA512 HashAlg = "sha512"
)

// Hash returns the crypto.Hash of the bank, or 0 when it is not known.
func (a HashAlg) Hash() crypto.Hash {
	switch a {
	case SHA1:
		return crypto.SHA1
	case SHA256:
		return crypto.SHA256
	case SHA384:
		return crypto.SHA384
	case SHA512:
		return crypto.SHA512
	}
	return 0
}

// TPMAlgID is the TPM_ALG_ID of the bank (Part 2, 6.3), or 0 when unknown.
func (a HashAlg) TPMAlgID() uint16 {
	switch a {
	case SHA1:
		return 0x0004
	case SHA256:
		return 0x000B
	case SHA384:
		return 0x000C
	case SHA512:
		return 0x000D
	}
	return 0
}

func hashAlgFromTPM(id uint16) HashAlg {
	for _, a := range []HashAlg{SHA1, SHA256, SHA384, SHA512} {
		if a.TPMAlgID() == id {
			return a
		}
	}
	return ""
}

// Digest is one bank's digest of a record's content.
type Digest struct {
	HashAlg HashAlg  `json:"hashAlg"`
	Digest  HexBytes `json:"digest"`
}

// HexBytes is a byte string written as lower-case hex in JSON.
type HexBytes []byte

// MarshalJSON implements json.Marshaler.
func (h HexBytes) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, 2+2*len(h))
	out = append(out, '"')
	out = hex.AppendEncode(out, h)
	return append(out, '"'), nil
}

// UnmarshalJSON implements json.Unmarshaler; it accepts lower- and upper-case hex.
func (h *HexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("decode hex: %w", err)
	}
	*h = d
	return nil
}

// ContentTypeCredence is the CEL-JSON content_type of credence's own events.
const ContentTypeCredence = "credence"

// Record is one entry of the canonical event log.
type Record struct {
	// RecNum is the record's sequence number: 0, 1, 2, ... in log order.
	RecNum uint64
	// PCR is the register the record was extended into (0-23 on PC Client TPMs).
	PCR int
	// Digests holds one digest of Content per extended bank.
	Digests []Digest
	// ContentType is "credence" for our events; other writers sharing a
	// PCR use their own (systemd writes "systemd").
	ContentType string
	// Content is the exact content bytes. For "credence" it is one compact
	// JSON event and Digests are hashes of exactly these bytes.
	Content []byte
}

// Digest returns the record's digest in bank alg, or nil.
func (r *Record) Digest(alg HashAlg) []byte {
	for _, d := range r.Digests {
		if d.HashAlg == alg {
			return d.Digest
		}
	}
	return nil
}

// NewRecord builds a credence record for content, digested in each bank.
func NewRecord(recnum uint64, pcr int, content []byte, banks ...HashAlg) (Record, error) {
	if len(banks) == 0 {
		banks = []HashAlg{SHA256}
	}
	if err := checkContent(content); err != nil {
		return Record{}, err
	}
	r := Record{RecNum: recnum, PCR: pcr, ContentType: ContentTypeCredence, Content: content}
	for _, b := range banks {
		h := b.Hash()
		if h == 0 || !h.Available() {
			return Record{}, fmt.Errorf("digest record: unknown bank %q", b)
		}
		hh := h.New()
		hh.Write(content)
		r.Digests = append(r.Digests, Digest{HashAlg: b, Digest: hh.Sum(nil)})
	}
	return r, nil
}

// checkContent accepts content that can be stored verbatim in a JSON line.
func checkContent(content []byte) error {
	if len(content) == 0 || len(content) > MaxLineBytes/2 {
		return fmt.Errorf("encode record: content of %d bytes: %w", len(content), ErrMalformed)
	}
	if bytes.ContainsAny(content, "\r\n") || !json.Valid(content) {
		return fmt.Errorf("encode record: content is not one line of JSON: %w", ErrMalformed)
	}
	return nil
}

// MarshalLine encodes the record as one CEL-JSON line ending in '\n'. The
// content is written verbatim, so decoding the line gives the same bytes.
func (r *Record) MarshalLine() ([]byte, error) {
	if err := checkContent(r.Content); err != nil {
		return nil, err
	}
	if r.PCR < 0 || r.PCR > maxPCR {
		return nil, fmt.Errorf("encode record: pcr %d out of range: %w", r.PCR, ErrMalformed)
	}
	b := make([]byte, 0, 160+len(r.Content))
	b = append(b, `{"recnum":`...)
	b = strconv.AppendUint(b, r.RecNum, 10)
	b = append(b, `,"pcr":`...)
	b = strconv.AppendInt(b, int64(r.PCR), 10)
	b = append(b, `,"digests":[`...)
	for i, d := range r.Digests {
		if d.HashAlg.Hash() == 0 {
			return nil, fmt.Errorf("encode record: unknown bank %q: %w", d.HashAlg, ErrMalformed)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"hashAlg":"`...)
		b = append(b, d.HashAlg...)
		b = append(b, `","digest":"`...)
		b = hex.AppendEncode(b, d.Digest)
		b = append(b, `"}`...)
	}
	b = append(b, `],"content_type":`...)
	ct, err := json.Marshal(r.ContentType)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	b = append(b, ct...)
	b = append(b, `,"content":`...)
	b = append(b, r.Content...)
	return append(b, "}\n"...), nil
}

// Limits on a log a verifier or writer reads. Hostile logs are the normal case.
const (
	// MaxLineBytes bounds one record line.
	MaxLineBytes = 1 << 20
	// maxPCR is the highest PCR index a record may name.
	maxPCR = 23
	// maxDigests bounds the banks per record.
	maxDigests = 8
)

type lineJSON struct {
	RecNum      *uint64         `json:"recnum"`
	PCR         *int            `json:"pcr"`
	Digests     []Digest        `json:"digests"`
	ContentType string          `json:"content_type"`
	Content     json.RawMessage `json:"content"`
}

// UnmarshalLine decodes one CEL-JSON line (with or without its '\n').
// The content is kept as exact bytes; whether a credence content is a
// valid event is DecodeEvent's to say.
func UnmarshalLine(line []byte) (Record, error) { return unmarshalLine(line, true) }

// unmarshalLine decodes a line; validate=false skips checking that a
// credence content is valid JSON (for callers that decode it next anyway).
func unmarshalLine(line []byte, validate bool) (Record, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	if len(line) > MaxLineBytes {
		return Record{}, fmt.Errorf("decode record: line of %d bytes exceeds %d: %w", len(line), MaxLineBytes, ErrMalformed)
	}
	if rec, ok := fastLine(line, validate); ok {
		return rec, nil
	}
	var l lineJSON
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return Record{}, fmt.Errorf("decode record: %w: %w", ErrMalformed, err)
	}
	if rest := line[dec.InputOffset():]; len(bytes.TrimSpace(rest)) != 0 {
		return Record{}, fmt.Errorf("decode record: trailing data after the record: %w", ErrMalformed)
	}
	switch {
	case l.RecNum == nil:
		return Record{}, fmt.Errorf("decode record: no recnum: %w", ErrMalformed)
	case l.PCR == nil:
		return Record{}, fmt.Errorf("decode record: no pcr (nv_index records are not supported): %w", ErrMalformed)
	case *l.PCR < 0 || *l.PCR > maxPCR:
		return Record{}, fmt.Errorf("decode record: pcr %d out of range: %w", *l.PCR, ErrMalformed)
	case len(l.Digests) == 0 || len(l.Digests) > maxDigests:
		return Record{}, fmt.Errorf("decode record: %d digests: %w", len(l.Digests), ErrMalformed)
	case l.ContentType == "":
		return Record{}, fmt.Errorf("decode record: no content_type: %w", ErrMalformed)
	case len(l.Content) == 0 || string(l.Content) == "null":
		return Record{}, fmt.Errorf("decode record: no content: %w", ErrMalformed)
	}
	seen := map[HashAlg]bool{}
	for _, d := range l.Digests {
		h := d.HashAlg.Hash()
		if h == 0 {
			return Record{}, fmt.Errorf("decode record: unknown bank %q: %w", d.HashAlg, ErrMalformed)
		}
		if len(d.Digest) != h.Size() {
			return Record{}, fmt.Errorf("decode record: %s digest of %d bytes: %w", d.HashAlg, len(d.Digest), ErrMalformed)
		}
		if seen[d.HashAlg] {
			return Record{}, fmt.Errorf("decode record: two %s digests: %w", d.HashAlg, ErrMalformed)
		}
		seen[d.HashAlg] = true
	}
	return Record{RecNum: *l.RecNum, PCR: *l.PCR, Digests: l.Digests, ContentType: l.ContentType, Content: []byte(l.Content)}, nil
}

// fastLine decodes a line laid out exactly as MarshalLine writes a
// credence record with one sha256 digest, the common case, without a JSON
// decoder; ok is false for anything else (the general decoder decides).
func fastLine(line []byte, validate bool) (rec Record, ok bool) {
	p := line
	cut := func(prefix string) bool {
		if !bytes.HasPrefix(p, []byte(prefix)) {
			return false
		}
		p = p[len(prefix):]
		return true
	}
	num := func(maxDigits int) (uint64, bool) {
		i := 0
		for i < len(p) && i < maxDigits && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		if i == 0 || (i > 1 && p[0] == '0') || i == len(p) || (p[i] >= '0' && p[i] <= '9') {
			return 0, false
		}
		v, err := strconv.ParseUint(string(p[:i]), 10, 64)
		p = p[i:]
		return v, err == nil
	}
	if !cut(`{"recnum":`) {
		return rec, false
	}
	if rec.RecNum, ok = num(20); !ok || !cut(`,"pcr":`) {
		return rec, false
	}
	pcr, ok := num(2)
	if !ok || pcr > maxPCR || !cut(`,"digests":[{"hashAlg":"sha256","digest":"`) || len(p) < 64 {
		return rec, false
	}
	d := make([]byte, 32)
	for i := 0; i < 64; i++ { // lower-case hex only, as written
		if c := p[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return rec, false
		}
	}
	if _, err := hex.Decode(d, p[:64]); err != nil {
		return rec, false
	}
	p = p[64:]
	if !cut(`"}],"content_type":"credence","content":{`) || len(p) < 2 || p[len(p)-1] != '}' || p[len(p)-2] != '}' {
		return rec, false
	}
	content := line[len(line)-len(p)-1 : len(line)-1]
	if validate && !json.Valid(content) {
		return rec, false // the general decoder names the error
	}
	rec.PCR, rec.ContentType = int(pcr), ContentTypeCredence
	rec.Digests = []Digest{{HashAlg: SHA256, Digest: d}}
	rec.Content = bytes.Clone(content)
	return rec, true
}

// Decoder reads CEL-JSON Lines, bounding each line to MaxLineBytes.
type Decoder struct {
	r    *bufio.Reader
	line int
	off  int64
}

// NewDecoder returns a decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 64<<10)}
}

// Offset is the byte offset just after the last record returned.
func (d *Decoder) Offset() int64 { return d.off }

// Next returns the next record, or io.EOF after the last complete line. A
// final line without its '\n' (a torn write) is reported as ErrTornLine.
func (d *Decoder) Next() (Record, error) {
	line, err := d.readLine()
	if err != nil {
		return Record{}, err
	}
	d.line++
	rec, err := UnmarshalLine(line)
	if err != nil {
		return Record{}, fmt.Errorf("line %d: %w", d.line, err)
	}
	d.off += int64(len(line))
	return rec, nil
}

// ErrTornLine is a last line without its newline: a write that did not finish.
var ErrTornLine = errors.New("last line is incomplete (torn write)")

func (d *Decoder) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := d.r.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLineBytes+1 {
			return nil, fmt.Errorf("line %d: longer than %d bytes: %w", d.line+1, MaxLineBytes, ErrMalformed)
		}
		switch {
		case err == nil:
			if buf == nil {
				return bytes.Clone(chunk), nil
			}
			return append(buf, chunk...), nil
		case errors.Is(err, bufio.ErrBufferFull):
			buf = append(buf, chunk...)
		case errors.Is(err, io.EOF):
			if len(buf)+len(chunk) == 0 {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("line %d: %w", d.line+1, ErrTornLine)
		default:
			return nil, fmt.Errorf("read log: %w", err)
		}
	}
}

// ReadLog decodes every record of a CEL-JSON Lines log, at most maxRecords
// (0 means no limit).
func ReadLog(r io.Reader, maxRecords int) ([]Record, error) {
	d := NewDecoder(r)
	var out []Record
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if maxRecords > 0 && len(out) == maxRecords {
			return out, fmt.Errorf("read log: more than %d records", maxRecords)
		}
		out = append(out, rec)
	}
}
