package graph

import "errors"

// errNotApplicable says a fix has no transformation of the snapshot.
var errNotApplicable = errors.New("the fix cannot be applied to the snapshot")

// Counterfactual builds the graph of the snapshot with fix f applied: the
// changed objects, their recomputed posture, and every edge that depends on
// them. Parts of the build whose inputs the fix did not touch (the posture
// of other pods, the network part when no policy, namespace label or pod
// network field changed) are reused from g; everything else is rebuilt.
// It returns nil (and the patch) when the fix changes nothing.
func (g *Graph) Counterfactual(f Fix) (*Graph, *Patch, error) {
	if g.base == nil || f.Apply == nil {
		return nil, nil, errNotApplicable
	}
	p := NewPatch(g.base.snap)
	if !f.Apply(p) {
		return nil, p, nil
	}
	r := &reuse{base: g.base.cache, dirtyPods: p.dirtyPods, network: !p.netDirty && g.base.cache.net != nil, rbac: !p.rbacDirty}
	st := &baseState{snap: p.s, opts: g.base.opts, posture: g.base.posture}
	b := newBuilder(st, p.s, r, len(g.Edges))
	b.build()
	st.cache = b.cache
	b.g.base = st
	return b.g, p, nil
}
