package graph

import (
	"fmt"
	"io"
	"strings"
)

// WriteDOT writes the explained paths of r as a Graphviz digraph: the
// compromised container, every step (kind and likelihood), critical assets
// in red.
func WriteDOT(w io.Writer, r *Result) error {
	var b strings.Builder
	b.WriteString("digraph blast_radius {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n")
	ids := map[string]string{}
	id := func(name string) string {
		if v, ok := ids[name]; ok {
			return v
		}
		v := fmt.Sprintf("n%d", len(ids))
		ids[name] = v
		return v
	}
	crit := map[string]string{}
	for _, a := range r.Assets {
		crit[a.Name] = a.Critical
	}
	fmt.Fprintf(&b, "  %s [label=%q, style=filled, fillcolor=\"#ffd966\"];\n", id(r.From), "compromised: "+r.From)
	seen := map[string]bool{}
	for _, p := range r.Paths {
		for _, s := range p.Steps {
			for _, n := range []string{s.From, s.To} {
				if seen[n] || n == r.From {
					continue
				}
				seen[n] = true
				if c, ok := crit[n]; ok {
					fmt.Fprintf(&b, "  %s [label=%q, color=red, fontcolor=red];\n", id(n), n+"\n("+c+")")
				} else {
					fmt.Fprintf(&b, "  %s [label=%q];\n", id(n), n)
				}
			}
			key := s.From + "\x00" + s.To + "\x00" + string(s.Kind)
			if seen[key] {
				continue
			}
			seen[key] = true
			style := ""
			if s.Unknown {
				style = ", style=dashed"
			}
			fmt.Fprintf(&b, "  %s -> %s [label=%q, tooltip=%q%s];\n", id(s.From), id(s.To),
				fmt.Sprintf("%s %.2f", s.Kind, s.Likelihood), s.Reason, style)
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}
