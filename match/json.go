package match

import (
	"bytes"
	"encoding/json"

	"github.com/credence-dev/credence/inventory"
)

// Findings, undecided packages and coverage gaps are written without
// their packages' linked functions (inventory.Package.Linked: every
// function a Go binary links, up to megabytes for a large binary, which
// each finding on the binary's modules would repeat). The inventory keeps
// them; a finding's Reachability says what they mean for it.

// MarshalJSON implements json.Marshaler.
func (f Finding) MarshalJSON() ([]byte, error) {
	type plain Finding
	p := plain(f)
	p.Package = withoutLinked(f.Package)
	return marshal(p)
}

// MarshalJSON implements json.Marshaler.
func (u Undecided) MarshalJSON() ([]byte, error) {
	type plain Undecided
	p := plain(u)
	p.Package = withoutLinked(u.Package)
	return marshal(p)
}

// MarshalJSON implements json.Marshaler.
func (g Gap) MarshalJSON() ([]byte, error) {
	type plain Gap
	p := plain(g)
	p.Packages = make([]*inventory.Package, len(g.Packages))
	for i, pkg := range g.Packages {
		p.Packages[i] = withoutLinked(pkg)
	}
	return marshal(p)
}

// marshal leaves HTML characters alone: the encoder that called
// MarshalJSON escapes them if it was told to.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func withoutLinked(p *inventory.Package) *inventory.Package {
	if p == nil || p.Linked == nil {
		return p
	}
	cp := *p
	cp.Linked = nil
	return &cp
}
