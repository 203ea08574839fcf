package policy

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"sync"
)

// The built-in packs are written in the policy language itself, one file
// per pack and version (packs/NAME.VERSION.yaml): a behaviour change adds a
// version, so a policy that names credence-no-kev@v1 keeps its meaning.
//
//go:embed packs/*.yaml
var packFS embed.FS

var (
	packsOnce sync.Once
	packs     []*Document
)

func builtinPacks() []*Document {
	packsOnce.Do(func() {
		ents, err := packFS.ReadDir("packs")
		if err != nil {
			panic(err)
		}
		for _, e := range ents {
			b, err := packFS.ReadFile(path.Join("packs", e.Name()))
			if err != nil {
				panic(err)
			}
			ds, err := Parse("builtin:packs/"+e.Name(), b)
			if err != nil {
				panic(fmt.Sprintf("built-in pack %s: %v", e.Name(), err))
			}
			for _, d := range ds {
				if d.Kind != KindPack || d.Name+"."+d.Version+".yaml" != e.Name() {
					panic(fmt.Sprintf("built-in pack %s: the file must hold pack %s", e.Name(), e.Name()))
				}
				packs = append(packs, d)
			}
		}
		sort.Slice(packs, func(i, j int) bool { return packs[i].Name+packs[i].Version < packs[j].Name+packs[j].Version })
	})
	return packs
}

// PackInfo describes a built-in pack.
type PackInfo struct {
	ID          string   `json:"id"` // name@version
	Description string   `json:"description"`
	Rules       []string `json:"rules"`
	Parameters  []string `json:"parameters,omitempty"`
}

// Packs lists the built-in packs.
func Packs() []PackInfo {
	var out []PackInfo
	for _, p := range builtinPacks() {
		pi := PackInfo{ID: p.Name + "@" + p.Version, Description: p.description()}
		for _, r := range p.pack.Rules {
			pi.Rules = append(pi.Rules, r.ID)
		}
		for _, k := range sortedKeys(p.pack.Parameters) {
			d := p.pack.Parameters[k]
			s := k + " (" + d.Type
			if d.Required {
				s += ", required"
			} else {
				s += fmt.Sprintf(", default %v", d.Default)
			}
			pi.Parameters = append(pi.Parameters, s+"): "+d.Description)
		}
		out = append(out, pi)
	}
	return out
}

// PackNames lists the built-in packs' ids (name@version).
func PackNames() []string {
	var out []string
	for _, p := range builtinPacks() {
		out = append(out, p.Name+"@"+p.Version)
	}
	return out
}

// PackSource returns a built-in pack's YAML, to read what it checks.
func PackSource(id string) ([]byte, bool) {
	for _, p := range builtinPacks() {
		if p.Name+"@"+p.Version == id {
			b, err := packFS.ReadFile(path.Join("packs", p.Name+"."+p.Version+".yaml"))
			return b, err == nil
		}
	}
	return nil, false
}

func (d *Document) description() string { return d.desc }

// DefaultPolicyYAML is the policy credence check applies when none is
// given: Pod Security baseline and no CISA KEV finding, enforced.
const DefaultPolicyYAML = `apiVersion: policy.credence.dev/v1
kind: Policy
metadata:
  name: credence-default
spec:
  packs:
    - name: credence-pss-baseline@v1
    - name: credence-no-kev@v1
`

// DefaultPolicy returns the parsed default policy.
func DefaultPolicy() []*Document {
	ds, err := Parse("builtin:default-policy", []byte(DefaultPolicyYAML))
	if err != nil {
		panic(err)
	}
	return ds
}
