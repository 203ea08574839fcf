package provenance

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Trust is the sigstore material a deployment trusts: Fulcio CAs, Rekor
// logs, timestamp authorities and CT logs, read from trusted_root.json files.
// Nothing is fetched: no network is needed to start.
type Trust struct {
	material root.TrustedMaterialCollection
	digest   string
}

// LoadTrustedRoots reads sigstore trusted_root.json files. No files gives
// an empty Trust, enough for key authorities that do not require a
// transparency log.
func LoadTrustedRoots(paths ...string) (*Trust, error) {
	var raws [][]byte
	var mats []root.TrustedMaterial
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read trusted root: %w", err)
		}
		tr, err := root.NewTrustedRootFromJSON(b)
		if err != nil {
			return nil, fmt.Errorf("parse trusted root %s: %w", p, err)
		}
		mats = append(mats, tr)
		raws = append(raws, b)
	}
	return newTrust(mats, raws), nil
}

// NewTrust wraps trusted roots already in memory (parsed elsewhere, or made
// by a test CA). Each root is marshalled to compute the trust digest.
func NewTrust(roots ...*root.TrustedRoot) (*Trust, error) {
	var raws [][]byte
	var mats []root.TrustedMaterial
	for _, r := range roots {
		b, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("marshal trusted root: %w", err)
		}
		mats = append(mats, r)
		raws = append(raws, b)
	}
	return newTrust(mats, raws), nil
}

func newTrust(mats []root.TrustedMaterial, raws [][]byte) *Trust {
	sums := make([]string, len(raws))
	for i, b := range raws {
		s := sha256.Sum256(b)
		sums[i] = hex.EncodeToString(s[:])
	}
	sort.Strings(sums)
	all := sha256.Sum256([]byte(strings.Join(sums, "\n")))
	return &Trust{material: mats, digest: "sha256:" + hex.EncodeToString(all[:])}
}

// Digest identifies the trusted roots (order-independent): part of the key
// of any cache of verdicts.
func (t *Trust) Digest() string { return t.digest }

func (t *Trust) hasCTLogs() bool { return len(t.material.CTLogs()) > 0 }

// PublicKey is a trusted signing key.
type PublicKey struct {
	key crypto.PublicKey
	// ID is "sha256:" + hex of the DER SubjectPublicKeyInfo.
	ID string
	// Algorithm is ecdsa-p256, ecdsa-p384, ecdsa-p521, ed25519 or rsa-N.
	Algorithm string
	verifier  signature.Verifier

	validFrom, validUntil time.Time
}

// NewPublicKey accepts ECDSA (P-256, P-384, P-521), Ed25519 and RSA (2048
// bits or more) keys.
func NewPublicKey(k crypto.PublicKey) (PublicKey, error) {
	var alg string
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			alg = "ecdsa-p256"
		case elliptic.P384():
			alg = "ecdsa-p384"
		case elliptic.P521():
			alg = "ecdsa-p521"
		default:
			return PublicKey{}, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		alg = "ed25519"
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return PublicKey{}, fmt.Errorf("RSA key of %d bits is too short (2048 or more)", k.N.BitLen())
		}
		alg = fmt.Sprintf("rsa-%d", k.N.BitLen())
	default:
		return PublicKey{}, fmt.Errorf("unsupported public key type %T (ECDSA, Ed25519 or RSA)", k)
	}
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return PublicKey{}, fmt.Errorf("marshal public key: %w", err)
	}
	v, err := signature.LoadDefaultVerifier(k)
	if err != nil {
		return PublicKey{}, fmt.Errorf("load verifier: %w", err)
	}
	return PublicKey{key: k, ID: keyID(der), Algorithm: alg, verifier: v}, nil
}

func keyID(der []byte) string {
	s := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(s[:])
}

// ParsePublicKey reads one PEM "PUBLIC KEY" block (PKIX), as cosign and
// sigstore write them.
func ParsePublicKey(b []byte) (PublicKey, error) {
	block, rest := pem.Decode(b)
	if block == nil {
		return PublicKey{}, fmt.Errorf("public key: no PEM block")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return PublicKey{}, fmt.Errorf("public key: data after the PEM block")
	}
	if block.Type != "PUBLIC KEY" {
		return PublicKey{}, fmt.Errorf("public key: PEM block is %q, want \"PUBLIC KEY\"", block.Type)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key: %w", err)
	}
	return NewPublicKey(k)
}

// LoadPublicKey reads a PEM public key file.
func LoadPublicKey(path string) (PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return PublicKey{}, err
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// keyMaterial presents one candidate key for whatever hint a bundle names,
// so a key is trusted because the policy lists it, not because of a hint.
func keyMaterial(k PublicKey) root.TrustedMaterial {
	ek := root.NewExpiringKey(k.verifier, k.validFrom, k.validUntil)
	return root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return ek, nil })
}

// WithValidity returns the key limited to signatures made (per a trusted
// timestamp or log entry) between from and until; zero means unbounded.
func (k PublicKey) WithValidity(from, until time.Time) PublicKey {
	k.validFrom, k.validUntil = from, until
	return k
}
