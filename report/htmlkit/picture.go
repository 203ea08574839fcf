package htmlkit

import (
	"fmt"
	"strings"

	"github.com/credence-dev/credence/graph"
)

// Picture is one blast-radius drawing: what a page embeds as JSON (a list
// of them in its #credence-pictures block) for picture.js to draw into the
// element whose id is ID.
type Picture struct {
	ID string `json:"id"`
	// Root is the node the layout starts from (the entry container, or a
	// runtime alert).
	Root  string    `json:"root"`
	Nodes []PicNode `json:"nodes"`
	Edges []PicEdge `json:"edges"`
}

// PicNode is one node of a picture: a distinct name on the paths.
type PicNode struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Role is entry (the container the picture starts from), alert (the
	// runtime alert), compromised (the container an alert names), critical
	// (a critical asset) or step.
	Role     string `json:"role"`
	Critical string `json:"critical,omitempty"`
}

// PicEdge is one distinct step (from, to, kind) of the paths, with its
// reason and evidence for the side panel.
type PicEdge struct {
	ID         string   `json:"id"`
	Source     string   `json:"source"`
	Target     string   `json:"target"`
	From       string   `json:"from"`
	To         string   `json:"to"`
	Kind       string   `json:"kind"`
	Family     string   `json:"family"`
	Likelihood float64  `json:"likelihood"`
	Unknown    bool     `json:"unknown"`
	Reason     string   `json:"reason"`
	Evidence   []string `json:"evidence,omitempty"`
	Technique  string   `json:"technique,omitempty"`
	Weakened   []string `json:"weakened,omitempty"`
	Fixes      []string `json:"fixes,omitempty"`
}

// NewPicture draws the union of paths (or the one path when paths is
// empty): each distinct node name once, each distinct step (from, to,
// kind) once. assets name the critical assets (with why they are). start
// names the start when the paths do not begin there (an alert's
// container: drawn as compromised).
func NewPicture(id string, paths []graph.Path, one *graph.Path, assets []graph.Asset, start string) Picture {
	if len(paths) == 0 && one != nil {
		paths = []graph.Path{*one}
	}
	pic := Picture{ID: id, Nodes: []PicNode{}, Edges: []PicEdge{}}
	critical := map[string]string{}
	for _, a := range assets {
		critical[a.Name] = a.Critical
	}
	for _, p := range paths {
		if _, ok := critical[p.To]; !ok {
			critical[p.To] = "reached"
		}
	}
	index := map[string]int{} // node name -> index in pic.Nodes
	node := func(name string) int {
		if i, ok := index[name]; ok {
			return i
		}
		n := PicNode{ID: fmt.Sprintf("n%d", len(pic.Nodes)), Name: name, Role: "step"}
		if c, ok := critical[name]; ok {
			n.Role, n.Critical = "critical", c
		}
		index[name] = len(pic.Nodes)
		pic.Nodes = append(pic.Nodes, n)
		return index[name]
	}
	seen := map[string]bool{}
	for _, p := range paths {
		for i, s := range p.Steps {
			from, to := node(s.From), node(s.To)
			if i == 0 && pic.Root == "" {
				pic.Root = pic.Nodes[from].ID
				pic.Nodes[from].Role = "entry"
				if s.Kind == "ALERT" {
					pic.Nodes[from].Role = "alert"
				}
			}
			key := s.From + "\x00" + s.To + "\x00" + string(s.Kind)
			if seen[key] {
				continue
			}
			seen[key] = true
			pic.Edges = append(pic.Edges, PicEdge{ID: fmt.Sprintf("e%d", len(pic.Edges)), Source: pic.Nodes[from].ID, Target: pic.Nodes[to].ID,
				From: s.From, To: s.To, Kind: string(s.Kind), Family: EdgeFamily(s.Kind), Likelihood: s.Likelihood, Unknown: s.Unknown,
				Reason: s.Reason, Evidence: evidenceStrings(s.Evidence), Technique: s.Technique, Weakened: s.Weakened, Fixes: fixSummaries(s.Fixes)})
		}
	}
	if i, ok := index[start]; ok && start != "" && pic.Nodes[i].Role != "critical" {
		pic.Nodes[i].Role = "compromised"
	}
	return pic
}

// EdgeFamily groups edge kinds for the picture's colours: network, token,
// rbac, escape, shared, alert, unknown or other.
func EdgeFamily(k graph.EdgeKind) string {
	s := string(k)
	switch {
	case k == graph.EdgeUnknown:
		return "unknown"
	case s == "ALERT":
		return "alert"
	case strings.HasPrefix(s, "NET_") || k == graph.EdgeSamePod:
		return "network"
	case k == graph.EdgeTokenSteal || k == graph.EdgeSecretMount || k == graph.EdgeSecretToken || k == graph.EdgeRBACToken:
		return "token"
	case strings.HasPrefix(s, "RBAC_") || k == graph.EdgeScopeMember:
		return "rbac"
	case k == graph.EdgeEscape || k == graph.EdgeHostNetwork || k == graph.EdgeColocated:
		return "escape"
	case k == graph.EdgeSharedNS || k == graph.EdgeSharedVol:
		return "shared"
	}
	return "other"
}

func evidenceStrings(ev []graph.Evidence) []string {
	var out []string
	for _, e := range ev {
		out = append(out, e.String())
	}
	return out
}

func fixSummaries(fs []graph.Fix) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Summary)
	}
	return out
}
