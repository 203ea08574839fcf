package attest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
)

// Reason codes: each names one check that failed, stable for machines.
const (
	ReasonAKMismatch       = "ak-mismatch"             // the evidence's AK is not the enrolled one
	ReasonSignatureInvalid = "signature-invalid"       // the quote is not signed by the enrolled AK
	ReasonQuoteMalformed   = "quote-malformed"         // TPMS_ATTEST does not parse, or is not a quote
	ReasonNonceMismatch    = "nonce-mismatch"          // the quote answers another challenge
	ReasonQuoteReplayed    = "quote-replayed"          // the quote answers an earlier, used challenge
	ReasonNonceUnknown     = "nonce-unknown"           // the challenge was not issued here
	ReasonNonceExpired     = "nonce-expired"           // the challenge is too old
	ReasonNonceReused      = "nonce-reused"            // the challenge was already answered
	ReasonPCRSelection     = "pcr-selection"           // the quote covers other PCRs than the log's
	ReasonPCRValue         = "pcr-value-mismatch"      // the reported PCR value is not the quoted one
	ReasonPCRResettable    = "pcr-resettable"          // the PCR can be reset, so the log can be forged
	ReasonLogMalformed     = "log-malformed"           // a log line does not parse
	ReasonReplayMismatch   = "log-replay-mismatch"     // no prefix of the log replays to the quoted PCR
	ReasonRecNumGap        = "recnum-gap"              // records are missing: deleted
	ReasonRecNumOrder      = "recnum-order"            // records are out of order or repeated
	ReasonContentDigest    = "content-digest-mismatch" // a record's content does not hash to its digest: edited
	ReasonEventMalformed   = "event-malformed"         // a record's content is not a credence event
	ReasonBootMismatch     = "boot-mismatch"           // the log's agent.start belongs to another TPM boot
	ReasonBootIDChanged    = "boot-id-changed"         // agent.start events name different kernel boots
	ReasonAgentAKMismatch  = "agent-ak-mismatch"       // agent.start names another AK
	ReasonNoAgentStart     = "no-agent-start"          // nothing binds the log to this boot
	ReasonBeforeSeparator  = "before-separator"        // a container start inside agent start-up
	ReasonWrongPCR         = "wrong-pcr"               // an event names another PCR than the quoted one
	ReasonNotCovered       = "not-covered"             // a record after the quoted PCR value: not yet attested
	ReasonQuoteNotVerified = "quote-not-verified"      // the quote failed, so no record is trusted
	ReasonLogNotVerified   = "log-not-verified"        // the log failed a check that taints every record
	ReasonForeignContent   = "foreign-content"         // a record of another writer, replayed but not interpreted
	ReasonNoDigestInBank   = "no-digest-in-bank"       // a record lacks a digest in the quoted bank
	ReasonUnsupportedSetup = "unsupported"             // the evidence uses a bank or PCR layout not supported
)

// Verdicts.
const (
	Verified   = "verified"   // every check passed
	Failed     = "failed"     // the evidence as a whole failed a check
	Unverified = "unverified" // a record is not attested (not covered, or the evidence failed)
	Invalid    = "invalid"    // a record is covered by the quote but is itself wrong
)

// Reason is one failed check with a message for people.
type Reason struct {
	Code    string  `json:"code"`
	RecNum  *uint64 `json:"recnum,omitempty"`
	Message string  `json:"message"`
}

func (r Reason) String() string {
	if r.RecNum != nil {
		return fmt.Sprintf("%s (record %d): %s", r.Code, *r.RecNum, r.Message)
	}
	return r.Code + ": " + r.Message
}

// Result is the outcome of verifying one piece of evidence.
type Result struct {
	Verdict string   `json:"verdict"`
	Reasons []Reason `json:"reasons,omitempty"`
	AKName  string   `json:"akName"`
	Nonce   HexBytes `json:"nonce"`
	PCR     int      `json:"pcr"`
	Bank    HashAlg  `json:"bank"`
	// PCRValue is the quoted value when the log replays to it.
	PCRValue HexBytes  `json:"pcrValue,omitempty"`
	Clock    ClockInfo `json:"clock"`
	// Records is the number of records in the log; Covered how many of
	// them (a prefix) the quote covers.
	Records int `json:"records"`
	Covered int `json:"covered"`
	// Agents are the agent.start events the quote covers.
	Agents     []AgentStart       `json:"agents,omitempty"`
	Containers []ContainerVerdict `json:"containers"`
}

// ContainerVerdict is what the verifier concludes about one container.start record.
type ContainerVerdict struct {
	RecNum  uint64   `json:"recnum"`
	Verdict string   `json:"verdict"`
	Reasons []Reason `json:"reasons,omitempty"`
	// Start is the decoded event: nil until Result.DecodeStarts.
	Start   *ContainerStart `json:"start,omitempty"`
	content []byte
}

// DecodeStarts decodes every container.start event of the result, on
// every CPU. Verify leaves them encoded: its checks need only their digests
// and types, and decoding is most of the cost of a large log. A covered
// start that does not decode becomes invalid (event-malformed) and fails
// the result. Calling it again does nothing.
func (r *Result) DecodeStarts() {
	todo := make([]int, 0, len(r.Containers))
	for i := range r.Containers {
		if r.Containers[i].Start == nil && r.Containers[i].content != nil {
			todo = append(todo, i)
		}
	}
	errs := make([]error, len(r.Containers))
	workers := min(runtime.GOMAXPROCS(0), len(todo)/64+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < len(todo); k += workers {
				c := &r.Containers[todo[k]]
				ev, err := DecodeEvent(c.content)
				if err == nil && ev.ContainerStart == nil {
					err = fmt.Errorf("decode event: %s is not a container.start: %w", ev.Type, ErrMalformed)
				}
				if err != nil {
					errs[todo[k]] = err
					continue
				}
				c.Start = ev.ContainerStart
			}
		}()
	}
	wg.Wait()
	for _, i := range todo {
		c := &r.Containers[i]
		c.content = nil
		if errs[i] == nil {
			continue
		}
		reason := Reason{Code: ReasonEventMalformed, RecNum: recnumPtr(c.RecNum), Message: errs[i].Error()}
		if c.Verdict == Verified {
			r.Reasons = append(r.Reasons, reason)
			r.Verdict = Failed
		}
		c.Verdict = Invalid
		c.Reasons = append(c.Reasons, reason)
	}
}

// Verifier checks evidence from one node against its enrolled AK.
type Verifier struct {
	ak   *AK
	opts verifierOptions
}

type verifierOptions struct {
	pcr             int
	allowResettable bool
	nonces          NonceStore
	maxRecords      int
}

// VerifierOption configures a Verifier.
type VerifierOption func(*verifierOptions) error

// WithPCR sets the PCR the log is extended into (default 13).
func WithPCR(pcr int) VerifierOption {
	return func(o *verifierOptions) error {
		if pcr < 0 || pcr > maxPCR {
			return fmt.Errorf("pcr %d out of range 0-%d", pcr, maxPCR)
		}
		o.pcr = pcr
		return nil
	}
}

// WithResettablePCRUnsafe accepts logs on PCRs that can be reset without a
// reboot (16, 17-23). Root on the node can then reset the PCR and extend a
// forged log that verifies: use it only in tests.
func WithResettablePCRUnsafe() VerifierOption {
	return func(o *verifierOptions) error { o.allowResettable = true; return nil }
}

// WithNonces makes the verifier consume each challenge from store, so a
// nonce is answered once, within its lifetime, and replays are named. A
// NonceDir keeps that across runs and processes.
func WithNonces(store NonceStore) VerifierOption {
	return func(o *verifierOptions) error { o.nonces = store; return nil }
}

// WithMaxRecords bounds the records read from a log (default 10,000,000).
func WithMaxRecords(n int) VerifierOption {
	return func(o *verifierOptions) error {
		if n <= 0 {
			return fmt.Errorf("max records %d must be positive", n)
		}
		o.maxRecords = n
		return nil
	}
}

// DefaultPCR is the PCR credence measures into in production.
const DefaultPCR = 13

// NewVerifier returns a verifier for the node whose attestation key is
// enrolled (its TPMT_PUBLIC). The key must have AK attributes.
func NewVerifier(enrolled []byte, opts ...VerifierOption) (*Verifier, error) {
	o := verifierOptions{pcr: DefaultPCR, maxRecords: 10_000_000}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("new verifier: %w", err)
		}
	}
	ak, err := ParseAK(enrolled)
	if err != nil {
		return nil, fmt.Errorf("new verifier: %w", err)
	}
	if bad := ak.CheckAttributes(); len(bad) > 0 {
		return nil, fmt.Errorf("new verifier: the enrolled key is not an attestation key: %v", bad)
	}
	return &Verifier{ak: ak, opts: o}, nil
}

// resettable reports whether software can reset pcr without a reboot: PCR
// 16 (debug) and 23 (application) at locality 0, 17-22 by a dynamic launch.
func resettable(pcr int) bool { return pcr >= 16 }

func recnumPtr(n uint64) *uint64 { return &n }

// Verify checks evidence answering challenge. It returns an error only when
// it cannot run; every failed check is a Reason in the result. Steps:
//  1. The quote is signed by the enrolled AK (and the evidence names it).
//  2. TPMS_ATTEST is a TPM-generated quote whose extraData is the challenge.
//  3. It selects exactly the log's PCR in the SHA-256 bank.
//  4. The log replays (in order, from zero) to the quoted PCR digest; the
//     longest matching prefix is covered, later records are not.
//  5. Every covered record's content hashes to its digest; agent.start and
//     separator events decode (container.start events decode in
//     DecodeStarts).
//  6. agent.start events carry the quote's resetCount (same TPM boot), the
//     same boot id and the enrolled AK; container starts follow a separator.
func (v *Verifier) Verify(ev *Evidence, challenge []byte) (*Result, error) {
	if ev == nil {
		return nil, errors.New("verify: no evidence")
	}
	res := &Result{AKName: v.ak.NameHex(), Nonce: challenge, PCR: v.opts.pcr, Bank: SHA256, Containers: []ContainerVerdict{}}
	fail := func(code, format string, args ...any) {
		res.Reasons = append(res.Reasons, Reason{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	failAt := func(n uint64, code, format string, args ...any) {
		res.Reasons = append(res.Reasons, Reason{Code: code, RecNum: recnumPtr(n), Message: fmt.Sprintf(format, args...)})
	}
	quoteOK := true

	// 1. Identity and signature.
	if !bytes.Equal(ev.AKPublic, v.ak.Public) {
		quoteOK = false
		other := "an unparsable key"
		if ak, err := ParseAK(ev.AKPublic); err == nil {
			other = ak.NameHex()
		}
		fail(ReasonAKMismatch, "the quote names attestation key %s, not the enrolled %s", other, v.ak.NameHex())
	}
	if err := v.ak.VerifySignature(ev.Quote.Attest, ev.Quote.Signature); err != nil {
		quoteOK = false
		fail(ReasonSignatureInvalid, "the quote is not signed by the enrolled attestation key: %v", err)
	}

	// 2. Content of the quote.
	info, err := ParseQuote(ev.Quote.Attest)
	if err != nil {
		fail(ReasonQuoteMalformed, "%v", err)
		return v.finish(res, false, nil, nil), nil
	}
	res.Clock = info.Clock
	if len(challenge) < 16 {
		quoteOK = false
		fail(ReasonNonceMismatch, "a challenge of %d bytes cannot make a quote fresh: use 16 to 64 random bytes, once", len(challenge))
	}
	if !bytes.Equal(info.ExtraData, challenge) {
		quoteOK = false
		replayed := false
		if v.opts.nonces != nil {
			if replayed, err = v.opts.nonces.Used(info.ExtraData); err != nil {
				return nil, fmt.Errorf("verify: %w", err)
			}
		}
		if replayed {
			fail(ReasonQuoteReplayed, "the quote answers an earlier challenge %x that was already used: a replayed quote", info.ExtraData)
		} else {
			fail(ReasonNonceMismatch, "the quote's nonce %x is not the challenge %x", info.ExtraData, challenge)
		}
	}
	if v.opts.nonces != nil {
		// The challenge is spent whatever the answer: a nonce is single-use.
		switch err := v.opts.nonces.Consume(challenge); {
		case err == nil:
		case errors.Is(err, ErrNonceReused):
			quoteOK = false
			fail(ReasonNonceReused, "challenge %x was already answered: a nonce is single-use", challenge)
		case errors.Is(err, ErrNonceExpired):
			quoteOK = false
			fail(ReasonNonceExpired, "challenge %x expired before the answer was checked", challenge)
		case errors.Is(err, ErrNonceUnknown):
			quoteOK = false
			fail(ReasonNonceUnknown, "challenge %x was not issued by this verifier", challenge)
		default:
			return nil, fmt.Errorf("verify: %w", err)
		}
	}

	// 3. Selection and PCR.
	if len(info.Selection) != 1 || !slices.Equal(info.Selection[SHA256], []int{v.opts.pcr}) {
		quoteOK = false
		fail(ReasonPCRSelection, "the quote selects %v, want PCR %d in the sha256 bank only", info.Selection, v.opts.pcr)
	}
	if ev.PCR != v.opts.pcr || (ev.Bank != "" && ev.Bank != SHA256) {
		quoteOK = false
		fail(ReasonPCRSelection, "the evidence is for PCR %d bank %q, the verifier expects PCR %d bank sha256", ev.PCR, ev.Bank, v.opts.pcr)
	}
	if resettable(v.opts.pcr) && !v.opts.allowResettable {
		quoteOK = false
		fail(ReasonPCRResettable, "PCR %d can be reset without a reboot, so root on the node can reset it and extend a forged log that matches; measure into a non-resettable PCR such as %d", v.opts.pcr, DefaultPCR)
	}
	if len(ev.PCRValue) > 0 {
		if sum := sha256.Sum256(ev.PCRValue); !bytes.Equal(sum[:], info.PCRDigest) {
			fail(ReasonPCRValue, "the reported PCR value %x is not the quoted one", []byte(ev.PCRValue))
		}
	}

	// 4. Replay.
	parsed, logErr := parseLog(ev.Log, v.opts.maxRecords)
	recs := make([]Record, len(parsed))
	for i := range parsed {
		recs[i] = parsed[i].rec
	}
	res.Records = len(recs)
	if logErr != nil {
		fail(ReasonLogMalformed, "%v (the %d records before it are used)", logErr, len(recs))
	}
	// The quote signs SHA-256 of the selected PCR's value.
	covered, value, _ := replay(recs, v.opts.pcr, func(pcrValue []byte) bool {
		sum := sha256.Sum256(pcrValue)
		return bytes.Equal(sum[:], info.PCRDigest)
	})
	if covered < 0 {
		quoteOK = false
		fail(ReasonReplayMismatch, "no prefix of the log (%d records) replays to the quoted PCR %d: records were edited, deleted, reordered or forged, or the log belongs to another TPM", len(recs), v.opts.pcr)
	} else {
		res.Covered = covered
		res.PCRValue = value
	}
	checkRecNums(recs, failAt)
	return v.finish(res, quoteOK, parsed, info), nil
}

// parsedRecord is a record with its content checked and decoded.
type parsedRecord struct {
	rec       Record
	digestOK  bool  // the content hashes to the sha256 digest
	hasDigest bool  // there is a sha256 digest
	ev        Event // for credence content
	evErr     error
}

// parseLog splits a log into lines and decodes, hashes and interprets them
// on every CPU. Records after the first malformed line are dropped.
func parseLog(log []byte, maxRecords int) ([]parsedRecord, error) {
	var lines [][]byte
	for rest := log; len(rest) > 0; {
		if len(lines) == maxRecords {
			return nil, fmt.Errorf("read log: more than %d records", maxRecords)
		}
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			lines = append(lines, rest) // torn: the decoder reports it
			break
		}
		lines = append(lines, rest[:i+1])
		rest = rest[i+1:]
	}
	out := make([]parsedRecord, len(lines))
	errs := make([]error, len(lines))
	workers := min(runtime.GOMAXPROCS(0), len(lines)/256+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(lines); i += workers {
				line := lines[i]
				if line[len(line)-1] != '\n' {
					errs[i] = fmt.Errorf("line %d: %w", i+1, ErrTornLine)
					continue
				}
				rec, err := unmarshalLine(line, false)
				if err != nil {
					errs[i] = fmt.Errorf("line %d: %w", i+1, err)
					continue
				}
				p := &out[i]
				p.rec = rec
				if d := rec.Digest(SHA256); d != nil {
					sum := sha256.Sum256(rec.Content)
					p.hasDigest, p.digestOK = true, bytes.Equal(sum[:], d)
				}
				if rec.ContentType == ContentTypeCredence {
					if peekType(rec.Content) == TypeContainerStart {
						p.ev.Type = TypeContainerStart // decoded by DecodeStarts
					} else {
						p.ev, p.evErr = DecodeEvent(rec.Content)
					}
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return out[:i], err
		}
	}
	return out, nil
}

func checkRecNums(recs []Record, failAt func(uint64, string, string, ...any)) {
	for i := range recs {
		n := recs[i].RecNum
		if i == 0 {
			if n != 0 {
				failAt(n, ReasonRecNumGap, "the log starts at record %d: records 0-%d are missing (deleted)", n, n-1)
			}
			continue
		}
		prev := recs[i-1].RecNum
		switch {
		case n == prev+1:
		case n > prev+1:
			failAt(n, ReasonRecNumGap, "record %d follows record %d: %d record(s) missing (deleted)", n, prev, n-prev-1)
		default:
			failAt(n, ReasonRecNumOrder, "record %d follows record %d: records are reordered or repeated", n, prev)
		}
	}
}

// finish interprets the records and sets the verdicts.
func (v *Verifier) finish(res *Result, quoteOK bool, recs []parsedRecord, info *QuoteInfo) *Result {
	logTaint := "" // a failure that makes every record untrustworthy
	var bootID string
	sawAgent, sawSeparator := false, false
	for i := range recs {
		rec := &recs[i].rec
		// Records of other PCRs (other writers in a merged log) are not
		// covered by this quote.
		inPrefix := i < res.Covered && rec.PCR == res.PCR
		failRec := func(code, format string, args ...any) {
			res.Reasons = append(res.Reasons, Reason{Code: code, RecNum: recnumPtr(rec.RecNum), Message: fmt.Sprintf(format, args...)})
		}
		if rec.ContentType != ContentTypeCredence {
			if inPrefix && quoteOK {
				res.Reasons = append(res.Reasons, Reason{Code: ReasonForeignContent, RecNum: recnumPtr(rec.RecNum),
					Message: fmt.Sprintf("content type %q is replayed but not interpreted", rec.ContentType)})
			}
			continue
		}
		cv := ContainerVerdict{RecNum: rec.RecNum, Verdict: Verified}
		bad := func(code, format string, args ...any) {
			r := Reason{Code: code, RecNum: recnumPtr(rec.RecNum), Message: fmt.Sprintf(format, args...)}
			cv.Verdict = Invalid
			cv.Reasons = append(cv.Reasons, r)
			if inPrefix && quoteOK {
				res.Reasons = append(res.Reasons, r)
			}
		}
		if !recs[i].hasDigest {
			bad(ReasonNoDigestInBank, "the record has no sha256 digest")
		} else if !recs[i].digestOK {
			sum := sha256.Sum256(rec.Content)
			bad(ReasonContentDigest, "the content does not hash to the recorded digest %x (got %x): the record was edited", rec.Digest(SHA256), sum[:])
		}
		evt, err := recs[i].ev, recs[i].evErr
		if err != nil {
			bad(ReasonEventMalformed, "%v", err)
		}
		switch {
		case evt.AgentStart != nil:
			a := evt.AgentStart
			if inPrefix && quoteOK && cv.Verdict == Verified {
				res.Agents = append(res.Agents, *a)
				switch {
				case a.ResetCount != info.Clock.ResetCount:
					failRec(ReasonBootMismatch, "log from another boot: agent.start records TPM reset count %d, the quote %d", a.ResetCount, info.Clock.ResetCount)
					logTaint = ReasonBootMismatch
				case a.RestartCount > info.Clock.RestartCount:
					failRec(ReasonBootMismatch, "log from another boot: agent.start records TPM restart count %d, later than the quote's %d", a.RestartCount, info.Clock.RestartCount)
					logTaint = ReasonBootMismatch
				}
				if bootID != "" && a.BootID != bootID {
					failRec(ReasonBootIDChanged, "agent.start names boot %s after boot %s in the same TPM boot", a.BootID, bootID)
					logTaint = ReasonBootIDChanged
				}
				bootID = a.BootID
				if a.AKName != v.ak.NameHex() {
					failRec(ReasonAgentAKMismatch, "agent.start names attestation key %s, not the enrolled %s", a.AKName, v.ak.NameHex())
					logTaint = ReasonAgentAKMismatch
				}
				if a.PCR != res.PCR {
					failRec(ReasonWrongPCR, "agent.start names PCR %d, the quote covers PCR %d", a.PCR, res.PCR)
					logTaint = ReasonWrongPCR
				}
			}
			sawAgent, sawSeparator = true, false
			continue
		case evt.Separator != nil:
			sawSeparator = sawAgent
			continue
		case evt.Type == TypeContainerStart:
			cv.Start, cv.content = evt.ContainerStart, rec.Content
		default:
			if err == nil {
				continue
			}
		}
		if !sawAgent {
			bad(ReasonNoAgentStart, "a container start before any agent.start: nothing binds it to a boot")
		} else if !sawSeparator {
			bad(ReasonBeforeSeparator, "a container start before the agent's separator")
		}
		switch {
		case !quoteOK:
			if cv.Verdict == Verified {
				cv.Verdict = Unverified
			}
			cv.Reasons = append(cv.Reasons, Reason{Code: ReasonQuoteNotVerified, Message: "the quote did not verify, so no record is attested"})
		case !inPrefix:
			if cv.Verdict == Verified {
				cv.Verdict = Unverified
			}
			cv.Reasons = append(cv.Reasons, Reason{Code: ReasonNotCovered, RecNum: recnumPtr(rec.RecNum), Message: "the record follows the quoted PCR value (the log is ahead of the quote)"})
		}
		res.Containers = append(res.Containers, cv)
	}
	if quoteOK && res.Covered > 0 && len(res.Agents) == 0 {
		res.Reasons = append(res.Reasons, Reason{Code: ReasonNoAgentStart, Message: "the quoted log holds no agent.start: nothing binds it to this boot"})
		logTaint = ReasonNoAgentStart
	}
	if quoteOK && res.Covered == 0 {
		res.Reasons = append(res.Reasons, Reason{Code: ReasonNoAgentStart, Message: "the quoted PCR holds no measurement: the agent has not started since boot"})
	}
	if logTaint != "" {
		for i := range res.Containers {
			if res.Containers[i].Verdict == Verified {
				res.Containers[i].Verdict = Unverified
			}
			res.Containers[i].Reasons = append(res.Containers[i].Reasons, Reason{Code: ReasonLogNotVerified, Message: "the log failed the " + logTaint + " check"})
		}
	}
	res.Verdict = Verified
	for _, r := range res.Reasons {
		if r.Code != ReasonForeignContent {
			res.Verdict = Failed
			break
		}
	}
	return res
}

// ReplayLog returns the PCR value the log replays to in bank sha256.
func ReplayLog(r io.Reader, pcr int) ([]byte, int, error) {
	recs, err := ReadLog(r, 0)
	if err != nil {
		return nil, len(recs), err
	}
	_, _, value := replay(recs, pcr, nil)
	return value, len(recs), nil
}

// HexDigest formats a SHA-256 digest as "sha256:<hex>".
func HexDigest(sum []byte) string { return "sha256:" + hex.EncodeToString(sum) }

// SHA256Digest returns "sha256:<hex>" of b.
func SHA256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return HexDigest(sum[:])
}
