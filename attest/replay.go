package attest

import "crypto/sha256"

// pcrValue is a PCR of the SHA-256 bank as the TPM computes it: it starts at
// zero (the reset value of the PCRs credence uses) and each extend sets it
// to SHA-256(old || digest). Its two halves are the value and the digest
// being extended, so a replay allocates nothing per record.
type pcrValue [2 * sha256.Size]byte

func (p *pcrValue) value() []byte { return p[:sha256.Size:sha256.Size] }

// extend extends the PCR by a sha256 digest.
func (p *pcrValue) extend(digest []byte) {
	copy(p[sha256.Size:], digest)
	sum := sha256.Sum256(p[:])
	copy(p[:sha256.Size], sum[:])
}

// extendSHA256 returns value extended by digest.
func extendSHA256(value, digest []byte) []byte {
	var p pcrValue
	copy(p[:sha256.Size], value)
	p.extend(digest)
	return append([]byte(nil), p.value()...)
}

// replay is the one replay of a log into a PCR, for the writer (which
// matches the log to the TPM when it opens it) and the verifier (which
// matches it to the quote). It extends a zero SHA-256 PCR with the sha256
// digest of each record of pcr, in order, skipping records of other PCRs
// (other writers in a merged log) and stopping at the first record of pcr
// without a sha256 digest. It returns the longest prefix recs[:n] after
// which match(value) holds (n is -1 when it never does, not even before the
// first record), the PCR value there, and the value after the last record
// replayed. A nil match only computes that last value.
func replay(recs []Record, pcr int, match func(value []byte) bool) (n int, at, last []byte) {
	var p pcrValue
	n = -1
	if match != nil && match(p.value()) {
		n, at = 0, append([]byte(nil), p.value()...)
	}
	for i := range recs {
		if recs[i].PCR != pcr {
			continue
		}
		d := recs[i].Digest(SHA256)
		if d == nil {
			break
		}
		p.extend(d)
		if match != nil && match(p.value()) {
			n, at = i+1, append(at[:0], p.value()...)
		}
	}
	return n, at, append([]byte(nil), p.value()...)
}
