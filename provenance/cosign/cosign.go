package cosign

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Media types and annotation keys of cosign's tag-based storage
// (cosign specs/SIGNATURE_SPEC.md and ATTESTATION_SPEC.md).
const (
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	DSSEMediaType          = "application/vnd.dsse.envelope.v1+json"

	SignatureAnnotation   = "dev.cosignproject.cosign/signature"
	CertificateAnnotation = "dev.sigstore.cosign/certificate"
	ChainAnnotation       = "dev.sigstore.cosign/chain"
	BundleAnnotation      = "dev.sigstore.cosign/bundle"
	RFC3161Annotation     = "dev.sigstore.cosign/rfc3161timestamp"
	PredicateAnnotation   = "predicateType"

	// SimpleSigningType is the critical.type of a cosign image signature.
	SimpleSigningType = "cosign container image signature"
	// AtomicSigningType is the older containers/image spelling, also accepted.
	AtomicSigningType = "atomic container signature"
)

// Limits on what one layer may carry. Real values are far smaller: a
// simple-signing payload is a few hundred bytes, a certificate chain a few KiB.
const (
	MaxPayload    = 64 << 10
	MaxAnnotation = 64 << 10
	MaxChain      = 10
)

// ErrMalformed is wrapped by every parse error of this package.
var ErrMalformed = errors.New("malformed cosign signature")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// SignatureTag is the tag cosign stores image signatures under.
func SignatureTag(d name.Digest) name.Tag { return suffixTag(d, "sig") }

// AttestationTag is the tag cosign stores attestations under.
func AttestationTag(d name.Digest) name.Tag { return suffixTag(d, "att") }

func suffixTag(d name.Digest, suffix string) name.Tag {
	return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + "." + suffix)
}

// SimpleSigning is the payload cosign signs for an image: which manifest
// digest the signature is for. Optional holds the signer's annotations.
type SimpleSigning struct {
	DockerReference string         `json:"dockerReference"`
	ManifestDigest  string         `json:"manifestDigest"`
	Type            string         `json:"type"`
	Optional        map[string]any `json:"optional,omitempty"`
}

// ParseSimpleSigning parses and checks a simple-signing payload: its type
// must be a container image signature and its digest well formed.
func ParseSimpleSigning(b []byte) (*SimpleSigning, error) {
	if len(b) > MaxPayload {
		return nil, malformed("simple-signing payload is %d bytes, over the %d limit", len(b), MaxPayload)
	}
	var raw struct {
		Critical *struct {
			Identity *struct {
				DockerReference string `json:"docker-reference"`
			} `json:"identity"`
			Image *struct {
				DockerManifestDigest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
		Optional map[string]any `json:"optional"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return nil, malformed("simple-signing payload: %v", err)
	}
	if dec.More() {
		return nil, malformed("simple-signing payload: data after the JSON object")
	}
	if raw.Critical == nil || raw.Critical.Image == nil {
		return nil, malformed("simple-signing payload has no critical.image")
	}
	s := &SimpleSigning{Type: raw.Critical.Type, ManifestDigest: raw.Critical.Image.DockerManifestDigest, Optional: raw.Optional}
	if raw.Critical.Identity != nil {
		s.DockerReference = raw.Critical.Identity.DockerReference
	}
	if s.Type != SimpleSigningType && !strings.EqualFold(s.Type, AtomicSigningType) {
		return nil, malformed("simple-signing payload type %q is not %q", s.Type, SimpleSigningType)
	}
	if err := checkDigest(s.ManifestDigest); err != nil {
		return nil, malformed("simple-signing payload digest: %v", err)
	}
	return s, nil
}

func checkDigest(d string) error {
	alg, hexPart, ok := strings.Cut(d, ":")
	if !ok {
		return fmt.Errorf("%q is not ALGORITHM:HEX", d)
	}
	want := map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}[alg]
	if want == 0 {
		return fmt.Errorf("unsupported digest algorithm %q", alg)
	}
	if len(hexPart) != want || strings.ToLower(hexPart) != hexPart {
		return fmt.Errorf("%q is not %d lowercase hex digits", d, want)
	}
	if _, err := hex.DecodeString(hexPart); err != nil {
		return fmt.Errorf("%q: %v", d, err)
	}
	return nil
}

// RekorBundle is the inclusion promise cosign stores in the bundle
// annotation: the log entry body, where and when it was logged, and the
// log's signature over that (the SignedEntryTimestamp).
type RekorBundle struct {
	SignedEntryTimestamp []byte
	Body                 []byte
	IntegratedTime       int64
	LogIndex             int64
	LogID                []byte
}

// ParseRekorBundle parses the dev.sigstore.cosign/bundle annotation.
func ParseRekorBundle(s string) (*RekorBundle, error) {
	if len(s) > MaxAnnotation {
		return nil, malformed("rekor bundle annotation over %d bytes", MaxAnnotation)
	}
	var raw struct {
		SignedEntryTimestamp string `json:"SignedEntryTimestamp"`
		Payload              *struct {
			Body           string `json:"body"`
			IntegratedTime *int64 `json:"integratedTime"`
			LogIndex       *int64 `json:"logIndex"`
			LogID          string `json:"logID"`
		} `json:"Payload"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, malformed("rekor bundle: %v", err)
	}
	p := raw.Payload
	if p == nil || p.IntegratedTime == nil || p.LogIndex == nil || p.Body == "" || p.LogID == "" {
		return nil, malformed("rekor bundle lacks Payload body, integratedTime, logIndex or logID")
	}
	if *p.IntegratedTime <= 0 || *p.LogIndex < 0 {
		return nil, malformed("rekor bundle: integratedTime %d, logIndex %d out of range", *p.IntegratedTime, *p.LogIndex)
	}
	b := &RekorBundle{IntegratedTime: *p.IntegratedTime, LogIndex: *p.LogIndex}
	var err error
	if b.SignedEntryTimestamp, err = base64.StdEncoding.DecodeString(raw.SignedEntryTimestamp); err != nil || len(b.SignedEntryTimestamp) == 0 {
		return nil, malformed("rekor bundle: SignedEntryTimestamp is not base64 (or empty)")
	}
	if b.Body, err = base64.StdEncoding.DecodeString(p.Body); err != nil {
		return nil, malformed("rekor bundle: body is not base64")
	}
	if b.LogID, err = hex.DecodeString(p.LogID); err != nil {
		return nil, malformed("rekor bundle: logID is not hex")
	}
	return b, nil
}

// Layer is one signature or attestation layer of a .sig or .att manifest,
// with its annotations parsed. Payload is the layer's content, read by the
// caller (digest-checked by go-containerregistry).
type Layer struct {
	MediaType string
	// Payload is the simple-signing JSON (.sig) or the DSSE envelope (.att).
	Payload []byte
	// Signature over Payload; empty for DSSE layers, whose envelope holds it.
	Signature     []byte
	Certificate   *x509.Certificate
	Chain         []*x509.Certificate
	Rekor         *RekorBundle
	RFC3161       []byte
	PredicateType string
}

// ParseLayer checks a layer's media type and parses its annotations.
// A simple-signing layer must carry a signature; a DSSE layer must not (the
// envelope carries it).
func ParseLayer(mediaType string, ann map[string]string, payload []byte) (*Layer, error) {
	l := &Layer{MediaType: mediaType, Payload: payload, PredicateType: ann[PredicateAnnotation]}
	for k, v := range ann {
		if len(v) > MaxAnnotation {
			return nil, malformed("annotation %s is %d bytes, over the %d limit", k, len(v), MaxAnnotation)
		}
	}
	switch mediaType {
	case SimpleSigningMediaType:
		if len(payload) > MaxPayload {
			return nil, malformed("simple-signing payload is %d bytes, over the %d limit", len(payload), MaxPayload)
		}
		sig, err := base64.StdEncoding.DecodeString(ann[SignatureAnnotation])
		if err != nil || len(sig) == 0 {
			return nil, malformed("annotation %s is missing or not base64", SignatureAnnotation)
		}
		l.Signature = sig
	case DSSEMediaType:
		if ann[SignatureAnnotation] != "" {
			return nil, malformed("a DSSE layer carries its signature in the envelope, not in %s", SignatureAnnotation)
		}
	default:
		return nil, malformed("layer media type %q is neither %s nor %s", mediaType, SimpleSigningMediaType, DSSEMediaType)
	}
	if c := ann[CertificateAnnotation]; c != "" {
		certs, err := ParseCertificates([]byte(c))
		if err != nil || len(certs) != 1 {
			return nil, malformed("annotation %s must hold one PEM certificate", CertificateAnnotation)
		}
		l.Certificate = certs[0]
	}
	if c := ann[ChainAnnotation]; c != "" {
		if l.Certificate == nil {
			return nil, malformed("annotation %s without %s", ChainAnnotation, CertificateAnnotation)
		}
		certs, err := ParseCertificates([]byte(c))
		if err != nil {
			return nil, malformed("annotation %s: %v", ChainAnnotation, err)
		}
		l.Chain = certs
	}
	if b := ann[BundleAnnotation]; b != "" {
		rb, err := ParseRekorBundle(b)
		if err != nil {
			return nil, err
		}
		l.Rekor = rb
	}
	if t := ann[RFC3161Annotation]; t != "" {
		var raw struct {
			SignedRFC3161Timestamp string `json:"SignedRFC3161Timestamp"`
		}
		if err := json.Unmarshal([]byte(t), &raw); err != nil {
			return nil, malformed("annotation %s: %v", RFC3161Annotation, err)
		}
		ts, err := base64.StdEncoding.DecodeString(raw.SignedRFC3161Timestamp)
		if err != nil || len(ts) == 0 {
			return nil, malformed("annotation %s: timestamp is not base64", RFC3161Annotation)
		}
		l.RFC3161 = ts
	}
	return l, nil
}

// ParseCertificates reads PEM CERTIFICATE blocks (at most MaxChain) and
// refuses anything else in between.
func ParseCertificates(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := bytes.TrimSpace(b)
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, malformed("not PEM")
		}
		if block.Type != "CERTIFICATE" {
			return nil, malformed("PEM block %q is not a CERTIFICATE", block.Type)
		}
		if len(certs) == MaxChain {
			return nil, malformed("more than %d certificates", MaxChain)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, malformed("certificate: %v", err)
		}
		certs = append(certs, c)
		rest = bytes.TrimSpace(rest)
	}
	if len(certs) == 0 {
		return nil, malformed("no certificate")
	}
	return certs, nil
}
