package graph

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/credence-dev/credence/cluster"
)

// netClass is a group of pods NetworkPolicy cannot tell apart: same
// namespace, labels, container ports, host networking (and node, for
// hostNetwork), and the same answer for every ipBlock in the policies.
type netClass struct {
	ns         string
	pods       []*cluster.Pod
	containers []NodeID
	in, out    NodeID
	hostNet    bool
	// isolation per direction: Denied (open), Unknown, Allowed (isolated).
	inIso, outIso Verdict
	// namespaces the isolated side can talk to; nil means any.
	inNS, outNS map[string]bool
}

func (b *builder) classKey(p *cluster.Pod, blocks []*ipBlock) string {
	var sb strings.Builder
	sb.WriteString(p.Namespace)
	keys := make([]string, 0, len(p.Labels))
	for k := range p.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sb.WriteString("\x00" + k + "=" + p.Labels[k])
	}
	sb.WriteString("\x01")
	if p.Spec.HostNetwork {
		sb.WriteString("hostNetwork@" + p.Spec.NodeName + "/" + p.Name)
	}
	var ports []string
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range cs {
			for _, cp := range c.Ports {
				ports = append(ports, fmt.Sprintf("%s/%s/%d", cp.Name, cp.Protocol, cp.ContainerPort))
			}
		}
	}
	sort.Strings(ports)
	sb.WriteString(strings.Join(ports, ","))
	if len(blocks) > 0 {
		sb.WriteString("\x01")
		for _, blk := range blocks {
			v, _ := b.net.onePeer(nil, netPeer{ip: blk}, &p.Pod)
			sb.WriteString(v.String()[:1])
		}
	}
	return sb.String()
}

func (b *builder) network() {
	var blocks []*ipBlock
	for _, ps := range b.net.policies {
		for _, p := range ps {
			for _, rules := range [][]netRule{p.ingRules, p.egRule} {
				for _, r := range rules {
					for _, pe := range r.peers {
						if pe.ip != nil {
							blocks = append(blocks, pe.ip)
						}
					}
				}
			}
		}
	}
	var classes []*netClass
	byKey := map[string]*netClass{}
	ci := 0
	for pi := range b.s.Pods {
		p := &b.s.Pods[pi]
		n := len(p.Spec.InitContainers) + len(p.Spec.Containers) + len(p.Spec.EphemeralContainers)
		ids := b.g.Containers[ci : ci+n]
		ci += n
		k := b.classKey(p, blocks)
		c := byKey[k]
		if c == nil {
			c = &netClass{ns: p.Namespace, hostNet: p.Spec.HostNetwork}
			byKey[k] = c
			classes = append(classes, c)
		}
		c.pods = append(c.pods, p)
		c.containers = append(c.containers, ids...)
	}
	hub := b.g.node(KindNetwork, "net:open", "the pod network (no NetworkPolicy isolation on either side)", "")
	ruleNS := map[*netRule]map[string]bool{}
	for i, c := range classes {
		rep := c.pods[0]
		name := rep.Namespace + "/" + rep.Name
		if len(c.pods) > 1 {
			name += fmt.Sprintf(" (+%d alike)", len(c.pods)-1)
		}
		c.out = b.g.node(KindNetPeer, fmt.Sprintf("netout:%d", i), "connections from "+name, c.ns)
		c.in = b.g.node(KindNetPeer, fmt.Sprintf("netin:%d", i), "listeners of "+name, c.ns)
		c.inIso, c.inNS = b.isolation(rep, true, ruleNS)
		c.outIso, c.outNS = b.isolation(rep, false, ruleNS)
		podRef := "Pod " + rep.Namespace + "/" + rep.Name
		for _, cid := range c.containers {
			b.g.addEdge(Edge{From: cid, To: c.out, Kind: EdgeNetEgress, Likelihood: 1,
				Reason: "opens connections from its pod's network namespace", Evidence: []Evidence{{Object: podRef}}})
			n := b.g.Nodes[cid]
			parts := strings.SplitN(strings.TrimPrefix(n.Key, "container:"), "/", 3)
			ref := ContainerRef{Namespace: parts[0], Pod: parts[1], Container: parts[2]}
			l, unknown, why := b.exploit(ref)
			if l <= 0 {
				b.g.Blocked = append(b.g.Blocked, Blocked{From: b.g.Nodes[c.in].Key, To: n.Key, Kind: EdgeNetExploit, Reason: "reachable over the network", Weakened: []string{why}})
				continue
			}
			b.g.addEdge(Edge{From: c.in, To: cid, Kind: EdgeNetExploit, Technique: "T1210", Likelihood: l, Unknown: unknown,
				Reason: "takes over container " + n.Name + " through a service it listens on: " + why, Evidence: []Evidence{{Object: podRef}}})
		}
		open := func(v Verdict) bool { return v == Denied && !c.hostNet }
		if open(c.outIso) {
			b.g.addEdge(Edge{From: c.out, To: hub, Kind: EdgeNetReach, Technique: "T1046", Likelihood: 1,
				Reason:   "egress of " + name + " is not isolated: no NetworkPolicy with Egress selects it",
				Evidence: []Evidence{{Object: podRef, Field: "metadata.labels (selected by no egress policy in " + c.ns + ")"}},
				Fixes:    []Fix{egressFix(c.ns)}})
		}
		if open(c.inIso) {
			b.g.addEdge(Edge{From: hub, To: c.in, Kind: EdgeNetReach, Technique: "T1046", Likelihood: 1,
				Reason:   "ingress of " + name + " is not isolated: it accepts connections from any pod",
				Evidence: []Evidence{{Object: podRef, Field: "metadata.labels (selected by no ingress policy in " + c.ns + ")"}},
				Fixes:    []Fix{ingressFix(c.ns)}})
		}
	}
	b.pairs(classes, hub, ruleNS)
	b.metadata(classes)
	if len(b.netUnknown) > 0 {
		b.unknownNetwork(classes)
	}
}

// metadata adds egress to the cloud metadata endpoint: on a cloud node it
// hands out the node's instance credentials to whoever connects, unless
// the provider keeps pods away from it (IMDSv2 with a hop limit of 1, GKE
// metadata concealment or Workload Identity, Azure's pod identity
// interception). Whether the cluster runs in such a cloud is unknown here,
// so the step is always unknown; NetworkPolicy egress decides whether it
// exists at all.
func (b *builder) metadata(classes []*netClass) {
	ip := netip.MustParseAddr(metadataIP)
	q := PortQuery{Protocol: corev1.ProtocolTCP, Port: 80}
	var md NodeID = -1
	for _, c := range classes {
		rep := c.pods[0]
		r := b.net.EgressToAddress(&rep.Pod, ip, q)
		if r.Verdict == Denied {
			continue
		}
		if md < 0 {
			md = b.g.node(KindExternal, "external:cloud-metadata", "the cloud metadata endpoint ("+metadataIP+"): the node's instance credentials", "")
		}
		podRef := "Pod " + rep.Namespace + "/" + rep.Name
		e := Edge{From: c.out, To: md, Kind: EdgeMetadata, Technique: "T1552.005", Likelihood: 0.5, Unknown: true,
			Reason: "egress to " + metadataIP + ":80 is " + r.Verdict.String() + " (" + strings.Join(r.Reasons, "; ") + "); on a cloud node the metadata service hands out the node's credentials " +
				"unless the provider keeps pods from it (IMDSv2 hop limit 1, GKE metadata concealment, Workload Identity): unknown here"}
		if r.Verdict == Unknown {
			e.Likelihood = 0.25
		}
		switch {
		case c.hostNet:
			wl := workload(rep)
			e.Evidence = []Evidence{{Object: podRef, Field: "spec.hostNetwork"}}
			e.Fixes = []Fix{hostNetworkFix(wl)}
		case len(r.egressBy) == 1 && r.egressBy[0] == "":
			e.Evidence = []Evidence{{Object: podRef, Field: "metadata.labels (selected by no egress policy in " + c.ns + ")"}}
			e.Fixes = []Fix{metadataFix(c.ns), egressFix(c.ns)}
		default:
			for _, by := range r.egressBy {
				e.Evidence = append(e.Evidence, Evidence{Object: by})
			}
			if len(r.egressBy) == 1 {
				var fields []string
				for _, rr := range r.egressRules {
					fields = append(fields, strings.TrimPrefix(rr, r.egressBy[0]+" "))
				}
				e.Fixes = []Fix{narrowPolicyFix(r.egressBy[0], fields)}
			}
		}
		b.g.addEdge(e)
	}
}

// unknownNetwork: policies the snapshot could not read (AdminNetworkPolicy,
// Cilium, Calico, egress firewalls) may allow what NetworkPolicy denies and
// deny what it allows. Every verdict becomes unknown, and every group may
// reach every other through one more hub.
func (b *builder) unknownNetwork(classes []*netClass) {
	why := "network policies the snapshot could not read (" + strings.Join(b.netUnknown, ", ") + ") may change this verdict"
	for i := range b.g.Edges {
		e := &b.g.Edges[i]
		if e.Kind == EdgeNetReach && !e.Unknown {
			e.Unknown, e.Likelihood = true, e.Likelihood*0.5
			e.Weakened = append(e.Weakened, why)
		}
	}
	hub := b.g.node(KindNetwork, "net:unknown-policy", "the pod network under policies not read", "")
	for _, c := range classes {
		b.g.addEdge(Edge{From: c.out, To: hub, Kind: EdgeNetReach, Technique: "T1046", Likelihood: 0.5, Unknown: true,
			Reason: "NetworkPolicy denies or does not decide this traffic, but " + why})
		b.g.addEdge(Edge{From: hub, To: c.in, Kind: EdgeNetReach, Technique: "T1046", Likelihood: 1, Unknown: true, Reason: "reaches the pod if the unread policies allow it"})
	}
	b.g.Unknowns = append(b.g.Unknowns, "every network verdict is unknown: "+why)
}

// bitset is a set of class indices.
type bitset []uint64

func newBitset(n int) bitset    { return make(bitset, (n+63)/64) }
func (s bitset) set(i int)      { s[i/64] |= 1 << (i % 64) }
func (s bitset) has(i int) bool { return s[i/64]&(1<<(i%64)) != 0 }
func (s bitset) or(o bitset) {
	for i := range s {
		s[i] |= o[i]
	}
}

// rulePeers is which classes a rule's peers match: allowed, or unknown.
type rulePeers struct{ allowed, unknown bitset }

// pairs adds the reach edges between peer groups. Groups whose egress is
// open reach, through the hub, every group whose ingress verdict is the
// same for all of them; everything else is an explicit edge. Peer matching
// is computed once per rule and class (bitsets), and the exact evaluator
// (with ports and reasons) runs only for egress-isolated sources.
func (b *builder) pairs(classes []*netClass, hub NodeID, ruleNS map[*netRule]map[string]bool) {
	n := len(classes)
	byNS := map[string][]int{}
	for i, c := range classes {
		byNS[c.ns] = append(byNS[c.ns], i)
	}
	memo := map[*netRule]*rulePeers{}
	peers := func(p *netPolicy, r *netRule) *rulePeers {
		if rp, ok := memo[r]; ok {
			return rp
		}
		rp := &rulePeers{newBitset(n), newBitset(n)}
		var cand []int
		if set := ruleNS[r]; set != nil {
			for ns := range set {
				cand = append(cand, byNS[ns]...)
			}
		} else {
			cand = make([]int, n)
			for i := range cand {
				cand[i] = i
			}
		}
		for _, i := range cand {
			switch v, _ := b.net.peerMatch(p, r, &classes[i].pods[0].Pod); v {
			case Allowed:
				rp.allowed.set(i)
			case Unknown:
				rp.unknown.set(i)
			}
		}
		memo[r] = rp
		return rp
	}
	if _, ok := ruleNS[nil]; ok {
		delete(ruleNS, nil)
	}
	// Ingress of every destination over all sources.
	inAllowed := make([]bitset, n)
	inUnknown := make([]bitset, n)
	for di, d := range classes {
		if d.hostNet || d.inIso != Allowed {
			continue
		}
		al, un := newBitset(n), newBitset(n)
		rep := &d.pods[0].Pod
		for _, p := range b.net.policies[d.ns] {
			if !p.ingress {
				continue
			}
			sel := p.pod.match(labels.Set(rep.Labels), true)
			if sel == Denied {
				continue
			}
			for i := range p.ingRules {
				r := &p.ingRules[i]
				if len(rulePorts(r.ports, rep)) == 0 {
					continue
				}
				if _, ok := ruleNS[r]; !ok {
					ruleNS[r] = b.ruleNamespaces(p, r)
				}
				rp := peers(p, r)
				if sel == Allowed {
					al.or(rp.allowed)
				} else {
					un.or(rp.allowed)
				}
				un.or(rp.unknown)
			}
		}
		inAllowed[di], inUnknown[di] = al, un
	}
	var openSrc []int
	for ci, c := range classes {
		if !c.hostNet && c.outIso == Denied {
			openSrc = append(openSrc, ci)
		}
	}
	hnSrc := b.g.node(KindNetwork, "net:from-hostnetwork", "traffic from hostNetwork pods (node traffic to NetworkPolicy)", "")
	hnDst := b.g.node(KindNetwork, "net:to-hostnetwork", "listeners on hostNetwork pods (outside NetworkPolicy)", "")
	b.g.addEdge(Edge{From: hnSrc, To: hnDst, Kind: EdgeNetReach, Technique: "T1046", Likelihood: 1, Reason: "node traffic reaches host-network listeners"})
	for ci, c := range classes {
		if c.hostNet {
			rep := c.pods[0]
			b.g.addEdge(Edge{From: c.out, To: hnSrc, Kind: EdgeNetReach, Technique: "T1046", Likelihood: 0.5, Unknown: true,
				Reason:   "source " + rep.Namespace + "/" + rep.Name + " uses hostNetwork: NetworkPolicy treatment of node traffic is implementation-defined (node-local traffic is always allowed)",
				Evidence: []Evidence{{Object: "Pod " + rep.Namespace + "/" + rep.Name, Field: "spec.hostNetwork"}},
				Fixes:    []Fix{hostNetworkFix(workload(rep))}})
			b.g.addEdge(Edge{From: hnDst, To: c.in, Kind: EdgeNetReach, Technique: "T1046", Likelihood: 0.5, Unknown: true,
				Reason:   "destination " + rep.Namespace + "/" + rep.Name + " uses hostNetwork: NetworkPolicy does not apply to it; it listens on the node",
				Evidence: []Evidence{{Object: "Pod " + rep.Namespace + "/" + rep.Name, Field: "spec.hostNetwork"}},
				Fixes:    []Fix{hostNetworkFix(workload(rep))}})
			continue
		}
		b.g.addEdge(Edge{From: c.out, To: hnDst, Kind: EdgeNetReach, Technique: "T1046", Likelihood: 1,
			Reason: "any pod can open connections to host-network listeners"})
		b.g.addEdge(Edge{From: hnSrc, To: c.in, Kind: EdgeNetReach, Technique: "T1046", Likelihood: 1,
			Reason: "node traffic reaches the pod (unknown whether NetworkPolicy filters it)"})
		_ = ci
	}
	// Egress-open sources to each destination.
	for di, d := range classes {
		if d.hostNet {
			continue
		}
		switch {
		case d.inIso == Denied:
			continue // hub → d added with the classes
		case d.inIso == Unknown:
			for ci, c := range classes {
				if c.hostNet || c.outIso != Denied {
					continue
				}
				b.exactPair(classes, ci, di)
			}
			continue
		}
		al, un := inAllowed[di], inUnknown[di]
		uniform, v := true, Denied
		for k, ci := range openSrc {
			w := Denied
			switch {
			case al.has(ci):
				w = Allowed
			case un.has(ci):
				w = Unknown
			}
			if ci == di && len(d.pods) < 2 {
				continue
			}
			if k == 0 {
				v = w
			} else if w != v {
				uniform = false
				break
			}
		}
		if uniform && v != Denied {
			b.g.addEdge(b.classEdge(hub, d, nil, v, al))
			continue
		}
		if uniform {
			continue
		}
		for _, ci := range openSrc {
			if ci == di && len(d.pods) < 2 {
				continue
			}
			switch {
			case al.has(ci):
				b.g.addEdge(b.classEdge(classes[ci].out, d, classes[ci], Allowed, al))
			case un.has(ci):
				b.g.addEdge(b.classEdge(classes[ci].out, d, classes[ci], Unknown, un))
			}
		}
	}
	// Egress-isolated sources: exact evaluation of the candidates.
	for ci, c := range classes {
		if c.hostNet || c.outIso == Denied {
			continue
		}
		for di, d := range classes {
			if d.hostNet || (c == d && len(c.pods) < 2) {
				continue
			}
			if c.outIso == Allowed && c.outNS != nil && !c.outNS[d.ns] {
				continue
			}
			if d.inIso == Allowed && !inAllowed[di].has(ci) && !inUnknown[di].has(ci) {
				continue
			}
			b.exactPair(classes, ci, di)
		}
	}
}

func (b *builder) exactPair(classes []*netClass, ci, di int) {
	c, d := classes[ci], classes[di]
	if c == d && len(c.pods) < 2 {
		return // self-traffic: the same pod
	}
	dst := d.pods[0]
	if c == d {
		dst = d.pods[1]
	}
	r := b.net.Reach(&c.pods[0].Pod, &dst.Pod, nil)
	if r.Verdict != Denied {
		b.g.addEdge(b.reachEdge(c, d, r))
	}
}

// classEdge is an edge into destination group d admitted by its ingress
// rules (from the hub when src is nil), explained by the admitting policies.
func (b *builder) classEdge(from NodeID, d *netClass, src *netClass, v Verdict, admitted bitset) Edge {
	rep := d.pods[0]
	var refs []string
	var ports []PortRange
	rep0 := &rep.Pod
	for _, p := range b.net.policies[d.ns] {
		if !p.ingress || p.pod.match(labels.Set(rep0.Labels), true) == Denied {
			continue
		}
		for i := range p.ingRules {
			r := &p.ingRules[i]
			if src == nil || r.allPeers || b.ruleAdmits(p, r, src) {
				refs = appendUnique(refs, p.ref+" "+r.field)
				ports = append(ports, rulePorts(r.ports, rep0)...)
			}
		}
	}
	var ps []string
	for _, p := range mergePorts(ports) {
		ps = append(ps, p.String())
	}
	who := "every pod with open egress"
	if src != nil {
		who = src.pods[0].Namespace + "/" + src.pods[0].Name
	}
	e := Edge{From: from, To: d.in, Kind: EdgeNetReach, Technique: "T1046", Likelihood: 1,
		Reason: fmt.Sprintf("NetworkPolicy %s %s → %s/%s on %s: ingress admitted by %s", v, who, rep.Namespace, rep.Name, strings.Join(ps, ","), strings.Join(refs, ", "))}
	if v == Unknown {
		e.Likelihood, e.Unknown = 0.5, true
	}
	var pols []string
	for _, r := range refs {
		pol, _, _ := strings.Cut(strings.TrimPrefix(r, "NetworkPolicy "), " ")
		pols = appendUnique(pols, "NetworkPolicy "+pol)
		e.Evidence = append(e.Evidence, Evidence{Object: "NetworkPolicy " + pol, Field: strings.TrimPrefix(r, "NetworkPolicy "+pol+" ")})
	}
	if len(pols) == 1 {
		var fields []string
		for _, r := range refs {
			fields = append(fields, strings.TrimPrefix(r, pols[0]+" "))
		}
		e.Fixes = append(e.Fixes, narrowPolicyFix(pols[0], fields))
	}
	if src != nil {
		e.Fixes = append(e.Fixes, egressFix(src.ns))
	}
	return e
}

func (b *builder) ruleAdmits(p *netPolicy, r *netRule, src *netClass) bool {
	v, _ := b.net.peerMatch(p, r, &src.pods[0].Pod)
	return v != Denied
}

func (b *builder) reachEdge(c, d *netClass, r NetReach) Edge {
	src, dst := c.pods[0], d.pods[0]
	e := Edge{From: c.out, To: d.in, Kind: EdgeNetReach, Technique: "T1046", Likelihood: 1}
	var ports []string
	for _, p := range r.Ports {
		ports = append(ports, p.String())
	}
	e.Reason = fmt.Sprintf("NetworkPolicy %s %s/%s → %s/%s on %s: %s", r.Verdict, src.Namespace, src.Name, dst.Namespace, dst.Name,
		strings.Join(ports, ","), strings.Join(r.Reasons, "; "))
	if r.Verdict == Unknown {
		e.Likelihood, e.Unknown = 0.5, true
	}
	side := func(by, rules []string, ns string, fix func(string) Fix) {
		for _, p := range by {
			if p != "" {
				e.Evidence = append(e.Evidence, Evidence{Object: p})
			}
		}
		if len(by) == 1 {
			if by[0] == "" {
				e.Fixes = append(e.Fixes, fix(ns))
			} else if !strings.Contains(by[0], ",") {
				var fields []string
				for _, r := range rules {
					if f, ok := strings.CutPrefix(r, by[0]+" "); ok {
						fields = append(fields, f)
					}
				}
				if len(fields) > 0 {
					e.Fixes = append(e.Fixes, narrowPolicyFix(by[0], fields))
				}
			}
		}
	}
	side(r.egressBy, r.egressRules, src.Namespace, egressFix)
	side(r.ingressBy, r.ingressRules, dst.Namespace, ingressFix)
	for _, p := range []*cluster.Pod{src, dst} {
		if p.Spec.HostNetwork {
			wl := workload(p)
			e.Evidence = append(e.Evidence, Evidence{Object: "Pod " + p.Namespace + "/" + p.Name, Field: "spec.hostNetwork"})
			e.Fixes = append(e.Fixes, hostNetworkFix(wl))
		}
	}
	return e
}

// isolation says whether pod is isolated in one direction, and (when it is
// for certain) which namespaces its rules can admit; nil means any.
func (b *builder) isolation(pod *cluster.Pod, ingress bool, memo map[*netRule]map[string]bool) (Verdict, map[string]bool) {
	iso := Denied
	var nss map[string]bool
	all := false
	for _, p := range b.net.policies[pod.Namespace] {
		if (ingress && !p.ingress) || (!ingress && !p.egress) {
			continue
		}
		sel := p.pod.match(labels.Set(pod.Labels), true)
		if sel == Denied {
			continue
		}
		iso = vmax(iso, sel)
		rules := p.egRule
		if ingress {
			rules = p.ingRules
		}
		for i := range rules {
			r := &rules[i]
			set, ok := memo[r]
			if !ok {
				set = b.ruleNamespaces(p, r)
				memo[r] = set
			}
			if set == nil {
				all = true
				continue
			}
			if nss == nil {
				nss = map[string]bool{}
			}
			for ns := range set {
				nss[ns] = true
			}
		}
	}
	if iso != Allowed || all {
		return iso, nil
	}
	if nss == nil {
		nss = map[string]bool{}
	}
	return iso, nss
}

// ruleNamespaces lists the namespaces a rule's peers can be in (matching
// or unknown); nil means any (no peers, or an ipBlock).
func (b *builder) ruleNamespaces(p *netPolicy, r *netRule) map[string]bool {
	if r.allPeers {
		return nil
	}
	out := map[string]bool{}
	for _, pe := range r.peers {
		switch {
		case pe.ip != nil, pe.pod == nil && pe.ns == nil:
			return nil
		case pe.ns == nil:
			out[p.ns] = true
		default:
			for _, ns := range b.nsList {
				set, complete := b.net.nsLabels(ns)
				if pe.ns.match(set, complete) != Denied {
					out[ns] = true
				}
			}
		}
	}
	return out
}
