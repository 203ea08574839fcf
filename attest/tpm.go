package attest

// Extender is what a log writer needs from a TPM: extend a PCR and read it back.
type Extender interface {
	// Extend extends pcr in the bank of each digest.
	Extend(pcr int, digests []Digest) error
	// ReadPCR returns the value of pcr in bank.
	ReadPCR(pcr int, bank HashAlg) ([]byte, error)
}

// Quoter signs PCR values with the TPM's attestation key.
type Quoter interface {
	// Quote returns a TPM2_Quote of pcr's bank, qualified by nonce.
	Quote(nonce []byte, pcr int, bank HashAlg) (Quote, error)
	// AKPublic returns the attestation key's TPMT_PUBLIC as the TPM encodes it.
	AKPublic() []byte
}

// TPM is the TPM an agent measures into.
type TPM interface {
	Extender
	Quoter
	Close() error
}

// Quote is a TPM2_Quote as the TPM returned it.
type Quote struct {
	// Attest is the TPMS_ATTEST structure, exactly the signed bytes.
	Attest []byte `json:"attest"`
	// Signature is the TPMT_SIGNATURE over Attest.
	Signature []byte `json:"signature"`
}

// Evidence is what an agent hands a verifier for one challenge: the quote,
// the key that made it and the log it covers.
type Evidence struct {
	// AKPublic is the TPMT_PUBLIC of the key that signed the quote.
	AKPublic []byte  `json:"akPublic"`
	Quote    Quote   `json:"quote"`
	PCR      int     `json:"pcr"`
	Bank     HashAlg `json:"bank"`
	// PCRValue is the value the agent expects the quote to cover.
	PCRValue HexBytes `json:"pcrValue"`
	// Log is the CEL-JSON Lines log, exact bytes.
	Log []byte `json:"log"`
}
