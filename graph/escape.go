package graph

import (
	"slices"
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

func (b *builder) escapeEdges(c NodeID, pl placed, podRef, wl, container string, prof *posture.Profile) {
	node := pl.node
	for _, e := range prof.Escapes {
		base, ok := escapeBase[e.ID]
		if !ok {
			base = 0.5
		}
		reason, unknown := e.Reason, escapeUnknown[e.ID]
		var kernelEvidence []Evidence
		if e.ID == "kernelExploit" {
			if x := b.kernelExploit(node); x.Known {
				// The node's kernel advisories replace the unknown default.
				base, unknown = x.Likelihood, false
				reason = "shares the node's kernel: " + x.Reason
				for _, id := range x.Evidence {
					kernelEvidence = append(kernelEvidence, Evidence{Object: b.g.Nodes[node].Name + " kernel", Field: id})
				}
			}
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
		if len(blocked) == 0 && unknown && l < minLikelihood {
			l = minLikelihood // weakened, but an unknown is never dropped
		}
		if len(blocked) > 0 || l < minLikelihood {
			b.g.Blocked = append(b.g.Blocked, Blocked{From: b.g.Nodes[c].Key, To: b.g.Nodes[node].Key, Kind: EdgeEscape,
				Reason: reason, Weakened: append(blocked, weakened...)})
			continue
		}
		var ev []Evidence
		for _, x := range e.Evidence {
			ev = append(ev, Evidence{Object: podRef, Field: x})
		}
		ev = append(ev, kernelEvidence...)
		if pl.factor < 1 {
			l *= pl.factor
			unknown = true
			weakened = append(weakened, "placement: "+pl.why)
		}
		b.g.addEdge(Edge{From: c, To: node, Kind: EdgeEscape, Technique: e.Technique, Likelihood: l, Unknown: unknown,
			Reason: reason, Evidence: ev, Weakened: weakened, Fixes: escapeFixes(e, prof, wl, container)})
	}
}

// escapeFixes are the changes that remove one escape, each a
// transformation of the pod spec.
func escapeFixes(e posture.Escape, prof *posture.Profile, wl, container string) []Fix {
	summary := e.Fix + " in " + wl
	switch e.ID {
	case "privileged":
		return []Fix{privilegedFix(wl, container, summary)}
	case "hostPIDAccess":
		return []Fix{hostPIDFix(wl)}
	case "capSysAdmin":
		return []Fix{dropCapabilityFix(wl, container, "SYS_ADMIN", summary)}
	case "capSysModule":
		return []Fix{dropCapabilityFix(wl, container, "SYS_MODULE", summary)}
	case "capDacReadSearch":
		return []Fix{dropCapabilityFix(wl, container, "DAC_READ_SEARCH", summary)}
	case "sensitiveHostPath":
		var vols []string
		for _, h := range prof.HostPaths {
			if h.Risk.AtLeast(posture.RiskHigh) {
				vols = append(vols, h.Volume)
			}
		}
		if len(vols) > 0 {
			return []Fix{removeVolumesFix(wl, vols, "sensitive host path")}
		}
	case "runtimeSocket":
		var vols []string
		for _, h := range prof.HostPaths {
			for _, s := range prof.RuntimeSockets {
				if h.Path == s || strings.HasPrefix(s, strings.TrimSuffix(h.Path, "/")+"/") {
					vols = append(vols, h.Volume)
				}
			}
		}
		if len(vols) > 0 {
			vols = slices.Compact(vols)
			return []Fix{removeVolumesFix(wl, vols, "runtime socket")}
		}
	case "kernelExploit":
		return []Fix{sandboxFix(wl, container, summary)}
	}
	return []Fix{{ID: "posture:" + wl + "/" + container + ":" + e.ID, Summary: summary}}
}

// kernelExploit asks the kernel source about a real node (stand-ins for
// unnamed nodes have no kernel to look at: unknown).
func (b *builder) kernelExploit(node NodeID) Exploit {
	if b.o.kernel == nil {
		return Exploit{}
	}
	name, ok := strings.CutPrefix(b.g.Nodes[node].Key, "node:")
	if !ok {
		return Exploit{}
	}
	return b.o.kernel.KernelExploitability(name)
}
