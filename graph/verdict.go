package graph

import "fmt"

// Verdict is a three-valued answer: a reachability or permission question
// the snapshot cannot settle is Unknown, never Denied.
type Verdict uint8

// Verdicts are ordered so that the union of alternatives is their maximum
// and the conjunction of requirements is their minimum.
const (
	Denied Verdict = iota
	Unknown
	Allowed
)

func (v Verdict) String() string {
	switch v {
	case Denied:
		return "denied"
	case Unknown:
		return "unknown"
	case Allowed:
		return "allowed"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// MarshalText writes the verdict as its name.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

func vmax(a, b Verdict) Verdict {
	if a > b {
		return a
	}
	return b
}

func vmin(a, b Verdict) Verdict {
	if a < b {
		return a
	}
	return b
}
