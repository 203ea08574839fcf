package provenance

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// Artifact is what a bundle given directly is checked against: its bytes,
// or only its digest.
type Artifact struct {
	data    []byte
	alg     string // sha256, sha384, sha512
	digest  []byte
	display string
}

// ArtifactBytes is an artifact known by its content.
func ArtifactBytes(b []byte) Artifact {
	s := sha256.Sum256(b)
	return Artifact{data: b, display: "artifact sha256:" + hex.EncodeToString(s[:])}
}

// ArtifactDigest is an artifact known by its digest, "sha256:HEX" (also
// sha384, sha512).
func ArtifactDigest(s string) (Artifact, error) {
	alg, h, ok := strings.Cut(s, ":")
	want := map[string]int{"sha256": 32, "sha384": 48, "sha512": 64}[alg]
	d, err := hex.DecodeString(h)
	if !ok || want == 0 || err != nil || len(d) != want {
		return Artifact{}, fmt.Errorf("artifact digest %q: want sha256:HEX (or sha384, sha512)", s)
	}
	return Artifact{alg: alg, digest: d, display: "artifact " + s}, nil
}

var sigstoreAlg = map[string]string{"sha256": "SHA2_256", "sha384": "SHA2_384", "sha512": "SHA2_512"}

func (a Artifact) digests() map[string][]byte {
	if a.data == nil {
		return map[string][]byte{a.alg: a.digest}
	}
	s256, s384, s512 := sha256.Sum256(a.data), sha512.Sum384(a.data), sha512.Sum512(a.data)
	return map[string][]byte{"sha256": s256[:], "sha384": s384[:], "sha512": s512[:]}
}

func (a Artifact) binding() binding {
	ds := a.digests()
	b := binding{what: a.display}
	if a.data != nil {
		b.artifact = verify.WithArtifact(bytes.NewReader(a.data))
	} else {
		b.artifact = verify.WithArtifactDigest(a.alg, a.digest)
	}
	b.messageDigest = func(alg string, d []byte) bool {
		for name, want := range ds {
			if sigstoreAlg[name] == strings.ToUpper(alg) && bytes.Equal(want, d) {
				return true
			}
		}
		return false
	}
	b.subject = func(sub map[string]string) bool {
		for name, want := range ds {
			if strings.EqualFold(sub[name], hex.EncodeToString(want)) {
				return true
			}
		}
		return false
	}
	return b
}

// VerifyBundle checks one sigstore bundle (JSON) over an artifact against
// trust and authorities (OR): the sigstore-conformance "verify-bundle"
// operation. The result names the failed step, as for images.
func VerifyBundle(bundleJSON []byte, artifact Artifact, trust *Trust, auths ...*Authority) SignatureResult {
	sr := SignatureResult{Source: SourceBundleFile, Ref: "bundle"}
	if trust == nil || len(auths) == 0 {
		sr.Step, sr.Detail = StepMalformed, "no trust or no authority given"
		return sr
	}
	if len(bundleJSON) > MaxBlob {
		sr.Step, sr.Detail = StepMalformed, fmt.Sprintf("bundle of %d bytes is over the %d limit", len(bundleJSON), MaxBlob)
		return sr
	}
	b := &bundle.Bundle{}
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		sr.Step, sr.Detail = StepMalformed, fmt.Sprintf("sigstore bundle: %v", err)
		return sr
	}
	sr.Kind = "message-signature"
	if b.GetDsseEnvelope() != nil {
		sr.Kind = "dsse"
	}
	o := checkEntity(trust, b, artifact.binding(), auths)
	sr.Verified, sr.Step, sr.Detail, sr.Authority, sr.Signer = o.ok, o.step, o.detail, o.authority, o.signer
	sr.LogIndex, sr.IntegratedTime = o.logIndex, o.logTime
	if o.stmt != nil {
		sr.PredicateType = o.stmt.PredicateType
	}
	return sr
}
