package attest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// CEL-TLV field types (TCG Canonical Event Log, section 5: TLV with a
// one-byte type and a four-byte big-endian length).
const (
	celRecNum  = 0
	celPCR     = 1
	celDigests = 3
	// CELContentType is the TLV type of credence content. CEL leaves types
	// outside its own (4 cel_mgt, 5 pcclient_std, 7 ima_template, 8 ima_tlv)
	// to implementers; the Confidential Space launcher uses 80. Private to credence.
	CELContentType = 0x63
)

func appendTLV(b []byte, typ uint8, value []byte) []byte {
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(len(value)))
	return append(b, value...)
}

// MarshalTLV encodes the record as four CEL TLVs: recnum (8 bytes), pcr
// (1 byte), digests (one nested TLV per bank, typed by its TPM_ALG_ID) and
// the content.
func (r *Record) MarshalTLV() ([]byte, error) {
	if r.ContentType != ContentTypeCredence {
		return nil, fmt.Errorf("encode cel: content type %q has no TLV mapping here", r.ContentType)
	}
	if r.PCR < 0 || r.PCR > maxPCR {
		return nil, fmt.Errorf("encode cel: pcr %d out of range", r.PCR)
	}
	var digests []byte
	for _, d := range r.Digests {
		id := d.HashAlg.TPMAlgID()
		if id == 0 || id > 0xff {
			return nil, fmt.Errorf("encode cel: bank %q has no one-byte TPM_ALG_ID", d.HashAlg)
		}
		digests = appendTLV(digests, uint8(id), d.Digest)
	}
	b := appendTLV(nil, celRecNum, binary.BigEndian.AppendUint64(nil, r.RecNum))
	b = appendTLV(b, celPCR, []byte{uint8(r.PCR)})
	b = appendTLV(b, celDigests, digests)
	return appendTLV(b, CELContentType, r.Content), nil
}

// ExportCEL writes the records in the CEL-TLV encoding.
func ExportCEL(w io.Writer, recs []Record) error {
	bw := bufio.NewWriter(w)
	for i := range recs {
		b, err := recs[i].MarshalTLV()
		if err != nil {
			return fmt.Errorf("record %d: %w", recs[i].RecNum, err)
		}
		if _, err := bw.Write(b); err != nil {
			return fmt.Errorf("write cel: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write cel: %w", err)
	}
	return nil
}

func readTLV(r io.Reader, limit uint32) (uint8, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return 0, nil, err // io.EOF between records
	}
	if _, err := io.ReadFull(r, hdr[1:]); err != nil {
		return 0, nil, fmt.Errorf("tlv header: %w: %w", ErrMalformed, unexpected(err))
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > limit {
		return 0, nil, fmt.Errorf("tlv of %d bytes exceeds %d: %w", n, limit, ErrMalformed)
	}
	v := make([]byte, n)
	if _, err := io.ReadFull(r, v); err != nil {
		return 0, nil, fmt.Errorf("tlv value: %w: %w", ErrMalformed, unexpected(err))
	}
	return hdr[0], v, nil
}

// DecodeCEL reads CEL-TLV records written by ExportCEL, at most maxRecords
// (0: no limit). Each value is bounded by MaxLineBytes.
func DecodeCEL(r io.Reader, maxRecords int) ([]Record, error) {
	br := bufio.NewReader(r)
	var out []Record
	for {
		typ, v, err := readTLV(br, MaxLineBytes)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("decode cel record %d: %w", len(out), err)
		}
		if maxRecords > 0 && len(out) == maxRecords {
			return out, fmt.Errorf("decode cel: more than %d records", maxRecords)
		}
		rec, err := decodeCELRecord(br, typ, v)
		if err != nil {
			return out, fmt.Errorf("decode cel record %d: %w", len(out), err)
		}
		out = append(out, rec)
	}
}

func decodeCELRecord(r io.Reader, typ uint8, v []byte) (Record, error) {
	var rec Record
	if typ != celRecNum || len(v) != 8 {
		return rec, fmt.Errorf("want recnum TLV, got type %d of %d bytes: %w", typ, len(v), ErrMalformed)
	}
	rec.RecNum = binary.BigEndian.Uint64(v)
	typ, v, err := readTLV(r, MaxLineBytes)
	if err != nil {
		return rec, fmt.Errorf("pcr: %w", noEOF(err))
	}
	if typ != celPCR || len(v) != 1 || int(v[0]) > maxPCR {
		return rec, fmt.Errorf("want pcr TLV, got type %d of %d bytes: %w", typ, len(v), ErrMalformed)
	}
	rec.PCR = int(v[0])
	typ, v, err = readTLV(r, MaxLineBytes)
	if err != nil {
		return rec, fmt.Errorf("digests: %w", noEOF(err))
	}
	if typ != celDigests {
		return rec, fmt.Errorf("want digests TLV, got type %d: %w", typ, ErrMalformed)
	}
	for rest := v; len(rest) > 0; {
		if len(rest) < 5 {
			return rec, fmt.Errorf("digest TLV truncated: %w", ErrMalformed)
		}
		n := binary.BigEndian.Uint32(rest[1:5])
		if uint64(n) > uint64(len(rest)-5) {
			return rec, fmt.Errorf("digest TLV truncated: %w", ErrMalformed)
		}
		alg := hashAlgFromTPM(uint16(rest[0]))
		if alg == "" || int(n) != alg.Hash().Size() || len(rec.Digests) == maxDigests {
			return rec, fmt.Errorf("digest TLV of alg 0x%02x and %d bytes: %w", rest[0], n, ErrMalformed)
		}
		rec.Digests = append(rec.Digests, Digest{HashAlg: alg, Digest: rest[5 : 5+n]})
		rest = rest[5+n:]
	}
	if len(rec.Digests) == 0 {
		return rec, fmt.Errorf("no digests: %w", ErrMalformed)
	}
	typ, v, err = readTLV(r, MaxLineBytes)
	if err != nil {
		return rec, fmt.Errorf("content: %w", noEOF(err))
	}
	if typ != CELContentType {
		return rec, fmt.Errorf("content type %d is not credence's (%d): %w", typ, CELContentType, ErrMalformed)
	}
	rec.ContentType, rec.Content = ContentTypeCredence, v
	return rec, nil
}

// unexpected turns io.EOF inside a TLV into io.ErrUnexpectedEOF, so only
// the end between records reads as the end of the log.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("record truncated: %w", ErrMalformed)
	}
	return err
}
