package attest

import "errors"

var (
	// ErrTPMUnreachable means the TPM did not answer; nothing was measured.
	ErrTPMUnreachable = errors.New("tpm unreachable")
	// ErrLogDiverged means the log no longer replays to the PCR: something
	// other than this writer extended or reset it, or the log was edited.
	ErrLogDiverged = errors.New("log does not replay to the pcr")
	// ErrLogLocked means another writer holds the log.
	ErrLogLocked = errors.New("log is locked by another writer")
	// ErrMalformed marks input that does not parse (a log line, a quote, a TLV).
	ErrMalformed = errors.New("malformed")
)
