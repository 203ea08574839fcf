package graph

import (
	"strings"

	"github.com/credence-dev/credence/posture"
)

// Escape edges come from the posture package: each escape technique whose
// preconditions hold for a container (posture.Profile.Escapes), with the
// mitigations in effect. A blocking mitigation removes the edge (reported
// as blocked, with the reason); each weakening one lowers the likelihood.

// escapeBase is the likelihood of each posture escape check when nothing
// weakens it.
var escapeBase = map[string]float64{
	"privileged":        0.95,
	"hostPIDAccess":     0.9,
	"capSysAdmin":       0.8,
	"capSysModule":      0.9,
	"capDacReadSearch":  0.6,
	"sensitiveHostPath": 0.85,
	"runtimeSocket":     0.95,
	// The node's kernel vulnerabilities are unknown: a low, unknown chance.
	"kernelExploit": 0.05,
}

// escapeUnknown marks checks whose precondition is an unknown fact.
var escapeUnknown = map[string]bool{"kernelExploit": true}

const (
	firstWeakening = 0.3 // the first weakening mitigation in effect
	moreWeakening  = 0.6 // each further one
)

// minLikelihood is below which a weakened edge is removed (and reported
// as blocked, with the reasons).
const minLikelihood = 0.02

func (b *builder) escapeEdges(c NodeID, node NodeID, podRef, wl, container string, prof *posture.Profile) {
	for _, e := range prof.Escapes {
		base, ok := escapeBase[e.ID]
		if !ok {
			base = 0.5
		}
		var weakened, blocked []string
		l := base
		for _, m := range e.Mitigations {
			if m.State != posture.Yes {
				continue
			}
			why := m.ID + ": " + m.Reason
			switch m.Effect {
			case posture.Blocks:
				blocked = append(blocked, why)
			case posture.Weakens:
				if len(weakened) == 0 {
					l *= firstWeakening
				} else {
					l *= moreWeakening
				}
				weakened = append(weakened, why)
			}
		}
		if len(blocked) == 0 && escapeUnknown[e.ID] && l < minLikelihood {
			l = minLikelihood // weakened, but an unknown is never dropped
		}
		if len(blocked) > 0 || l < minLikelihood {
			b.g.Blocked = append(b.g.Blocked, Blocked{From: b.g.Nodes[c].Key, To: b.g.Nodes[node].Key, Kind: EdgeEscape,
				Reason: e.Reason, Weakened: append(blocked, weakened...)})
			continue
		}
		var ev []Evidence
		for _, x := range e.Evidence {
			ev = append(ev, Evidence{Object: podRef, Field: x})
		}
		fix := Fix{ID: "posture:" + wl + "/" + container + ":" + e.ID, Summary: e.Fix + " in " + wl}
		if strings.HasPrefix(e.Fix, "set spec.") || e.ID == "hostPIDAccess" {
			fix.ID = "posture:" + wl + ":" + e.ID
		}
		b.g.addEdge(Edge{From: c, To: node, Kind: EdgeEscape, Technique: e.Technique, Likelihood: l, Unknown: escapeUnknown[e.ID],
			Reason: e.Reason, Evidence: ev, Weakened: weakened, Fixes: []Fix{fix}})
	}
}
