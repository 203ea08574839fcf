package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Identity is a keyless signer: the OIDC issuer and the subject (SAN) of a
// Fulcio certificate, each exact or a regular expression (Go RE2 syntax,
// matched anywhere unless anchored: anchor it with ^...$).
type Identity struct {
	Issuer        string `json:"issuer,omitempty"`
	IssuerRegexp  string `json:"issuerRegexp,omitempty"`
	Subject       string `json:"subject,omitempty"`
	SubjectRegexp string `json:"subjectRegexp,omitempty"`
}

func (id Identity) validate() error {
	if (id.Issuer == "") == (id.IssuerRegexp == "") {
		return errors.New("an identity needs exactly one of issuer and issuer regexp")
	}
	if (id.Subject == "") == (id.SubjectRegexp == "") {
		return errors.New("an identity needs exactly one of subject and subject regexp")
	}
	for _, re := range []string{id.IssuerRegexp, id.SubjectRegexp} {
		if re == "" {
			continue
		}
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("identity regexp %q: %w", re, err)
		}
	}
	return nil
}

func (id Identity) String() string {
	iss, sub := id.Issuer, id.Subject
	if iss == "" {
		iss = "~" + id.IssuerRegexp
	}
	if sub == "" {
		sub = "~" + id.SubjectRegexp
	}
	return sub + " from " + iss
}

// Authority is one party whose signatures the policy accepts: a set of keys,
// or a set of keyless identities. Signatures are accepted when any
// authority of the policy verifies them (OR across authorities).
type Authority struct {
	Name       string
	Keys       []PublicKey
	Identities []Identity
	// TlogThreshold is how many transparency-log entries must verify; 0 only
	// through WithoutTransparencyLogUnsafe.
	TlogThreshold int
	// SCTThreshold is how many certificate-transparency SCTs a keyless
	// certificate needs; -1 (the default) means one when the trust root
	// lists CT logs, none otherwise.
	SCTThreshold int
}

// AuthorityOption tunes an authority.
type AuthorityOption func(*authorityOptions) error

type authorityOptions struct {
	tlog, sct              int
	tlogSet, noTlog, noSCT bool
	sctSet                 bool
}

// WithTransparencyLogThreshold requires n verified log entries (default 1).
func WithTransparencyLogThreshold(n int) AuthorityOption {
	return func(o *authorityOptions) error {
		if n < 1 {
			return fmt.Errorf("transparency-log threshold %d: must be at least 1", n)
		}
		o.tlog, o.tlogSet = n, true
		return nil
	}
}

// WithoutTransparencyLogUnsafe accepts signatures that were never logged.
// Nobody can then audit when the key signed or what else it signed, and a
// stolen key's signatures look like any other: use only for private keys
// in air-gapped setups. Signatures that do carry a log entry still need it
// to verify.
func WithoutTransparencyLogUnsafe() AuthorityOption {
	return func(o *authorityOptions) error { o.noTlog = true; return nil }
}

// WithSCTThreshold requires n certificate-transparency SCTs in keyless
// certificates.
func WithSCTThreshold(n int) AuthorityOption {
	return func(o *authorityOptions) error {
		if n < 1 {
			return fmt.Errorf("SCT threshold %d: must be at least 1", n)
		}
		o.sct, o.sctSet = n, true
		return nil
	}
}

// WithoutSCTsUnsafe skips the certificate-transparency check even when the
// trust root lists CT logs.
func WithoutSCTsUnsafe() AuthorityOption {
	return func(o *authorityOptions) error { o.noSCT = true; return nil }
}

func newAuthority(name string, opts []AuthorityOption) (*Authority, error) {
	if name == "" {
		return nil, errors.New("an authority needs a name")
	}
	o := authorityOptions{tlog: 1}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("authority %s: %w", name, err)
		}
	}
	if o.noTlog && o.tlogSet {
		return nil, fmt.Errorf("authority %s: WithoutTransparencyLogUnsafe contradicts WithTransparencyLogThreshold", name)
	}
	if o.noSCT && o.sctSet {
		return nil, fmt.Errorf("authority %s: WithoutSCTsUnsafe contradicts WithSCTThreshold", name)
	}
	a := &Authority{Name: name, TlogThreshold: o.tlog, SCTThreshold: -1}
	if o.noTlog {
		a.TlogThreshold = 0
	}
	switch {
	case o.noSCT:
		a.SCTThreshold = 0
	case o.sctSet:
		a.SCTThreshold = o.sct
	}
	return a, nil
}

// NewKeyAuthority trusts signatures made by any of keys.
func NewKeyAuthority(name string, keys []PublicKey, opts ...AuthorityOption) (*Authority, error) {
	a, err := newAuthority(name, opts)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key authority %s: no keys", name)
	}
	for _, k := range keys {
		if k.verifier == nil {
			return nil, fmt.Errorf("key authority %s: a key was not made by NewPublicKey or ParsePublicKey", name)
		}
	}
	if a.SCTThreshold > 0 {
		return nil, fmt.Errorf("key authority %s: SCTs apply to keyless certificates only", name)
	}
	a.Keys = keys
	return a, nil
}

// NewKeylessAuthority trusts Fulcio certificates (from the trust root's CAs)
// whose identity matches any of ids.
func NewKeylessAuthority(name string, ids []Identity, opts ...AuthorityOption) (*Authority, error) {
	a, err := newAuthority(name, opts)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("keyless authority %s: no identities", name)
	}
	for _, id := range ids {
		if err := id.validate(); err != nil {
			return nil, fmt.Errorf("keyless authority %s: %w", name, err)
		}
	}
	a.Identities = ids
	return a, nil
}

func (a *Authority) keyless() bool { return len(a.Identities) > 0 }

// Policy is what the caller demands of an image.
type Policy struct {
	authorities   []*Authority
	attestations  []string
	registries    []string
	requireDigest bool
	digest        string
}

// PolicyOption adds to a policy.
type PolicyOption func(*Policy) error

// WithAuthority accepts signatures of a (at least one authority is required).
func WithAuthority(a *Authority) PolicyOption {
	return func(p *Policy) error {
		if a == nil {
			return errors.New("nil authority")
		}
		p.authorities = append(p.authorities, a)
		return nil
	}
}

// RequireAttestation demands a verified in-toto attestation of this
// predicate type, signed by one of the policy's authorities.
func RequireAttestation(predicateType string) PolicyOption {
	return func(p *Policy) error {
		if predicateType == "" {
			return errors.New("empty predicate type")
		}
		p.attestations = append(p.attestations, predicateType)
		return nil
	}
}

// WithTrustedRegistries accepts only images under these prefixes: a
// registry host ("ghcr.io") or a repository path ("ghcr.io/org"), matched
// on whole path segments; "docker.io" means Docker Hub. Checked before any
// registry call.
func WithTrustedRegistries(prefixes ...string) PolicyOption {
	return func(p *Policy) error {
		for _, s := range prefixes {
			n, err := normaliseRegistryPrefix(s)
			if err != nil {
				return err
			}
			p.registries = append(p.registries, n)
		}
		return nil
	}
}

// RequireDigest refuses references by tag: the workload must name the
// digest it runs.
func RequireDigest() PolicyOption {
	return func(p *Policy) error { p.requireDigest = true; return nil }
}

// NewPolicy validates the options once.
func NewPolicy(opts ...PolicyOption) (*Policy, error) {
	p := &Policy{}
	for _, o := range opts {
		if err := o(p); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
	}
	if len(p.authorities) == 0 {
		return nil, errors.New("policy: no authority: give keys or keyless identities to trust")
	}
	seen := map[string]bool{}
	for _, a := range p.authorities {
		if seen[a.Name] {
			return nil, fmt.Errorf("policy: two authorities named %q", a.Name)
		}
		seen[a.Name] = true
	}
	p.digest = p.computeDigest()
	return p, nil
}

// Digest identifies the authorities and requirements (keys by ID): with the
// image digest and the trust digest it keys a cache of verdicts.
func (p *Policy) Digest() string { return p.digest }

func (p *Policy) computeDigest() string {
	type auth struct {
		Name       string     `json:"name"`
		Keys       []string   `json:"keys,omitempty"`
		Identities []Identity `json:"identities,omitempty"`
		Tlog       int        `json:"tlog"`
		SCT        int        `json:"sct"`
	}
	var v struct {
		Authorities   []auth   `json:"authorities"`
		Attestations  []string `json:"attestations"`
		Registries    []string `json:"registries"`
		RequireDigest bool     `json:"requireDigest"`
	}
	for _, a := range p.authorities {
		x := auth{Name: a.Name, Identities: a.Identities, Tlog: a.TlogThreshold, SCT: a.SCTThreshold}
		for _, k := range a.Keys {
			x.Keys = append(x.Keys, k.ID)
		}
		v.Authorities = append(v.Authorities, x)
	}
	v.Attestations, v.Registries, v.RequireDigest = p.attestations, p.registries, p.requireDigest
	b, _ := json.Marshal(v)
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func normaliseRegistryPrefix(s string) (string, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "/")
	host, path, _ := strings.Cut(s, "/")
	if host == "" || strings.ContainsAny(s, "@ \t") || strings.Contains(path, ":") {
		return "", fmt.Errorf("trusted registry %q: give a host or host/path, no tag or digest", s)
	}
	if host == "docker.io" || host == "registry-1.docker.io" {
		host = name.DefaultRegistry
	}
	if path == "" {
		if _, err := name.NewRegistry(host); err != nil {
			return "", fmt.Errorf("trusted registry %q: %w", s, err)
		}
		return host, nil
	}
	if _, err := name.NewRepository(host + "/" + path); err != nil {
		return "", fmt.Errorf("trusted registry %q: %w", s, err)
	}
	return host + "/" + path, nil
}

// registryTrusted reports whether repo (registry/path, normalised by
// go-containerregistry) lies under one of the trusted prefixes.
func (p *Policy) registryTrusted(repo name.Repository) bool {
	if len(p.registries) == 0 {
		return true
	}
	full := repo.RegistryStr() + "/" + repo.RepositoryStr()
	for _, pre := range p.registries {
		if full == pre || strings.HasPrefix(full, pre+"/") {
			return true
		}
	}
	return false
}
