package attest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// The signed admission record is what an admission webhook appends, one
// decision per line (JSON Lines):
//
//	{"entry":{"seq":1,"time":"...","prev":"","keyID":"sha256:...","decision":{...},"admitted":[...]},"signature":"<base64>"}
//
// The signature is Ed25519 over RecordSignatureContext followed by the exact
// bytes of "entry" as they appear in the line. Each entry names the SHA-256
// of the previous entry's bytes (prev; "" for the first, whose seq is 1), so
// a line removed, reordered, edited or inserted breaks the chain. Removing
// the last lines cannot be told from a record that ended there: compare the
// last seq with the webhook's log or keep a copy elsewhere.
const (
	// RecordSignatureContext separates these signatures from any other use
	// of the key.
	RecordSignatureContext = "credence.dev/admission-record/v1\n"
	// maxRecordLine bounds one line of a record.
	maxRecordLine = 4 << 20
)

// RecordEntry is one decision of the signed admission record.
type RecordEntry struct {
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Prev  string    `json:"prev"`
	KeyID string    `json:"keyID"`
	// Decision is the webhook's decision (outcome, rules, evidence,
	// images): opaque to reconcile.
	Decision json.RawMessage `json:"decision"`
	// Admitted lists each container of a pod the decision let in (pods
	// created for real: not dry runs, not denials).
	Admitted []AdmittedWorkload `json:"admitted,omitempty"`
}

type recordLine struct {
	Entry     json.RawMessage `json:"entry"`
	Signature string          `json:"signature"`
}

// KeyID names an Ed25519 public key: "sha256:" and the hex SHA-256 of its
// PKIX DER encoding.
func KeyID(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	return SHA256Digest(der)
}

// ParseEd25519PrivateKey reads a PEM PKCS#8 Ed25519 private key, as
// "openssl genpkey -algorithm ed25519" writes it.
func ParseEd25519PrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("record key: no PEM block (want an Ed25519 PRIVATE KEY: openssl genpkey -algorithm ed25519)")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("record key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("record key: a %T, want Ed25519", k)
	}
	return ek, nil
}

// ParseEd25519PublicKey reads a PEM PKIX Ed25519 public key ("openssl pkey
// -pubout").
func ParseEd25519PublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("record public key: no PEM block (want an Ed25519 PUBLIC KEY)")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("record public key: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("record public key: a %T, want Ed25519", k)
	}
	return ek, nil
}

// RecordWriter appends signed entries to a record file. It is safe for
// concurrent use; each Append returns once its line is written to the file
// (in the kernel's cache: a crash of the process loses nothing appended;
// Sync makes it durable against a crash of the machine).
type RecordWriter struct {
	mu   sync.Mutex
	f    *os.File
	key  ed25519.PrivateKey
	id   string
	seq  uint64
	prev string
	now  func() time.Time
	buf  bytes.Buffer
}

// OpenRecord opens (or creates) the record at path for appending. An
// existing record must verify under key's public half; its chain is
// continued. A torn last line (the process died while writing it, so its
// decision was never answered) is cut off.
func OpenRecord(path string, key ed25519.PrivateKey) (*RecordWriter, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("admission record: %w", err)
	}
	w := &RecordWriter{f: f, key: key, id: KeyID(key.Public().(ed25519.PublicKey)), now: time.Now}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("admission record %s: %w", path, err)
	}
	if n := bytes.LastIndexByte(data, '\n'); n+1 < len(data) {
		if err := f.Truncate(int64(n + 1)); err != nil {
			f.Close()
			return nil, fmt.Errorf("admission record %s: cut a torn last line: %w", path, err)
		}
		data = data[:n+1]
	}
	if len(data) > 0 {
		sum, err := VerifyRecord(bytes.NewReader(data), key.Public().(ed25519.PublicKey))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("admission record %s does not continue under this key (start a new file, or give the key that signed it): %w", path, err)
		}
		w.seq, w.prev = sum.Last, sum.lastHash
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// KeyID is the ID of the key the writer signs with.
func (w *RecordWriter) KeyID() string { return w.id }

// Append signs one decision and appends it; it returns the entry's seq.
func (w *RecordWriter) Append(decision any, admitted []AdmittedWorkload) (uint64, error) {
	d, err := json.Marshal(decision)
	if err != nil {
		return 0, fmt.Errorf("admission record: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	e := RecordEntry{Seq: w.seq + 1, Time: w.now().UTC(), Prev: w.prev, KeyID: w.id, Decision: d, Admitted: admitted}
	eb, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("admission record: %w", err)
	}
	sig := ed25519.Sign(w.key, append([]byte(RecordSignatureContext), eb...))
	w.buf.Reset()
	w.buf.WriteString(`{"entry":`)
	w.buf.Write(eb)
	w.buf.WriteString(`,"signature":"`)
	w.buf.WriteString(base64.StdEncoding.EncodeToString(sig))
	w.buf.WriteString("\"}\n")
	if _, err := w.f.Write(w.buf.Bytes()); err != nil {
		return 0, fmt.Errorf("admission record: %w", err)
	}
	w.seq, w.prev = e.Seq, entryHash(eb)
	return e.Seq, nil
}

// Sync flushes the record to stable storage.
func (w *RecordWriter) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Sync()
}

// Close syncs and closes the record.
func (w *RecordWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func entryHash(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// RecordSummary is what verifying a record found.
type RecordSummary struct {
	Entries  int    `json:"entries"`
	Last     uint64 `json:"last"`
	KeyID    string `json:"keyID"`
	Admitted *Admitted
	lastHash string
}

// VerifyRecord checks every line of a signed admission record under pub:
// signature, key, sequence and chain. It returns the admitted workloads of
// every entry (an entry repeating an earlier pod UID and container with the
// same fields is kept once; with other fields it is an error).
func VerifyRecord(r io.Reader, pub ed25519.PublicKey) (*RecordSummary, error) {
	id := KeyID(pub)
	sum := &RecordSummary{KeyID: id, Admitted: &Admitted{APIVersion: AdmittedAPIVersion, Kind: AdmittedKind, Workloads: []AdmittedWorkload{}}}
	seen := map[[2]string]AdmittedWorkload{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxRecordLine)
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			return nil, fmt.Errorf("%w: admission record line %d is empty", ErrMalformed, line)
		}
		var l recordLine
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil || len(l.Entry) == 0 {
			return nil, fmt.Errorf("%w: admission record line %d: not a signed entry: %v", ErrMalformed, line, err)
		}
		sig, err := base64.StdEncoding.DecodeString(l.Signature)
		if err != nil || len(sig) != ed25519.SignatureSize {
			return nil, fmt.Errorf("%w: admission record line %d: signature is not base64 Ed25519", ErrMalformed, line)
		}
		if !ed25519.Verify(pub, append([]byte(RecordSignatureContext), l.Entry...), sig) {
			return nil, fmt.Errorf("admission record line %d: the signature does not verify under key %s (edited, or signed by another key)", line, id)
		}
		var e RecordEntry
		if err := json.Unmarshal(l.Entry, &e); err != nil {
			return nil, fmt.Errorf("%w: admission record line %d: %v", ErrMalformed, line, err)
		}
		switch {
		case e.KeyID != id:
			return nil, fmt.Errorf("admission record line %d: names key %s, verified with %s", line, e.KeyID, id)
		case e.Seq != sum.Last+1:
			return nil, fmt.Errorf("admission record line %d: seq %d after %d: lines are missing or reordered", line, e.Seq, sum.Last)
		case e.Prev != sum.lastHash:
			return nil, fmt.Errorf("admission record line %d: does not chain to the line before (prev %s, want %s)", line, e.Prev, orNone(sum.lastHash))
		}
		for i, w := range e.Admitted {
			if w.PodUID == "" || w.Container == "" {
				return nil, fmt.Errorf("%w: admission record line %d: admitted workload %d: podUID and container are required", ErrMalformed, line, i)
			}
			k := [2]string{w.PodUID, w.Container}
			if prev, ok := seen[k]; ok {
				if !sameAdmitted(prev, w) {
					return nil, fmt.Errorf("admission record line %d: pod %s container %s admitted twice with different settings", line, w.PodUID, w.Container)
				}
				continue
			}
			seen[k] = w
			sum.Admitted.Workloads = append(sum.Admitted.Workloads, w)
		}
		sum.Entries++
		sum.Last, sum.lastHash = e.Seq, entryHash(l.Entry)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("admission record line %d: %w", line+1, err)
	}
	return sum, nil
}

func orNone(s string) string {
	if s == "" {
		return `"" (the first line)`
	}
	return s
}

func sameAdmitted(a, b AdmittedWorkload) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// ReadAdmittedFile reads either form of the admitted workloads: the
// unsigned AdmittedWorkloads JSON, or a signed admission record. A record
// needs pub (it is verified line by line); an unsigned file is refused when
// pub is given, since it proves nothing about who admitted what.
func ReadAdmittedFile(path string, pub ed25519.PublicKey) (*Admitted, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read admitted workloads: %w", err)
	}
	defer fh.Close()
	br := bufio.NewReader(fh)
	head, _ := br.Peek(64)
	signed := bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte(`{"entry"`))
	switch {
	case signed && pub == nil:
		return nil, fmt.Errorf("%s is a signed admission record: give the webhook's public key (--admitted-key) to verify it", path)
	case signed:
		sum, err := VerifyRecord(br, pub)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return sum.Admitted, nil
	case pub != nil:
		return nil, fmt.Errorf("%s is not a signed admission record (it is %s), but --admitted-key was given: refusing an unsigned file", path, describeHead(head))
	}
	b, err := io.ReadAll(io.LimitReader(br, maxAdmittedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read admitted workloads: %w", err)
	}
	return ParseAdmitted(b)
}

func describeHead(head []byte) string {
	if strings.Contains(string(head), AdmittedKind) {
		return "an unsigned " + AdmittedKind + " file"
	}
	return "not a record"
}
