package graph

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/credence-dev/credence/cluster"
)

// PortRange is a range of ports of one protocol, both ends included.
type PortRange struct {
	Protocol corev1.Protocol `json:"protocol"`
	From     int32           `json:"from"`
	To       int32           `json:"to"`
}

func (r PortRange) String() string {
	if r.From == 1 && r.To == 65535 {
		return string(r.Protocol) + "/*"
	}
	if r.From == r.To {
		return fmt.Sprintf("%s/%d", r.Protocol, r.From)
	}
	return fmt.Sprintf("%s/%d-%d", r.Protocol, r.From, r.To)
}

var protocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

func allPorts() []PortRange {
	out := make([]PortRange, len(protocols))
	for i, p := range protocols {
		out[i] = PortRange{p, 1, 65535}
	}
	return out
}

func intersectPorts(a, b []PortRange) []PortRange {
	var out []PortRange
	for _, x := range a {
		for _, y := range b {
			if x.Protocol != y.Protocol {
				continue
			}
			lo, hi := max(x.From, y.From), min(x.To, y.To)
			if lo <= hi {
				out = append(out, PortRange{x.Protocol, lo, hi})
			}
		}
	}
	return out
}

func portsContain(rs []PortRange, q PortQuery) bool {
	for _, r := range rs {
		if r.Protocol == q.protocol() && r.From <= q.Port && q.Port <= r.To {
			return true
		}
	}
	return false
}

// PortQuery asks about one destination port. Protocol defaults to TCP.
type PortQuery struct {
	Protocol corev1.Protocol
	Port     int32
}

func (q PortQuery) protocol() corev1.Protocol {
	if q.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return q.Protocol
}

// NetReach is the answer to "can src open a connection to dst": the
// verdict, the (protocol, port) ranges it holds for, and why, rule by rule.
type NetReach struct {
	Verdict Verdict     `json:"verdict"`
	Ports   []PortRange `json:"ports,omitempty"`
	Reasons []string    `json:"reasons"`
	// egressBy and ingressBy name what grants the verdict on each side:
	// a NetworkPolicy ref, or "" when the side is not isolated; the rules
	// ("NetworkPolicy ns/name spec.ingress[0]") in egressRules and ingressRules.
	egressBy, ingressBy       []string
	egressRules, ingressRules []string
}

// NetworkEvaluator answers reachability questions between pods under the
// NetworkPolicies of a snapshot (design note §2.3).
type NetworkEvaluator struct {
	policies   map[string][]*netPolicy
	namespaces map[string]labels.Set
	pods       map[string][]*cluster.Pod // by namespace, for Service backends
	ips        map[*corev1.Pod][]netip.Addr
	// assumed are namespaces whose labels are only partly known (added by
	// a fix with the one label it sets).
	assumed map[string]bool
}

type netPolicy struct {
	ref              string // "NetworkPolicy ns/name"
	ns               string
	pod              selector
	ingress, egress  bool
	ingRules, egRule []netRule
}

type netRule struct {
	field    string
	allPeers bool
	peers    []netPeer
	ports    []networkingv1.NetworkPolicyPort
}

type netPeer struct {
	pod, ns *selector
	ip      *ipBlock
}

type ipBlock struct {
	cidr   netip.Prefix
	except []netip.Prefix
	err    error
}

// NewNetworkEvaluator compiles the NetworkPolicies of s.
func NewNetworkEvaluator(s *cluster.Snapshot) *NetworkEvaluator {
	e := &NetworkEvaluator{
		policies:   map[string][]*netPolicy{},
		namespaces: map[string]labels.Set{},
		pods:       map[string][]*cluster.Pod{},
		ips:        map[*corev1.Pod][]netip.Addr{},
	}
	for i := range s.Namespaces {
		ns := &s.Namespaces[i]
		set := labels.Set{}
		for k, v := range ns.Labels {
			set[k] = v
		}
		set[nsNameLabel] = ns.Name
		e.namespaces[ns.Name] = set
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		e.pods[p.Namespace] = append(e.pods[p.Namespace], p)
	}
	for i := range s.NetworkPolicies {
		np := compilePolicy(&s.NetworkPolicies[i])
		e.policies[np.ns] = append(e.policies[np.ns], np)
	}
	return e
}

func compilePolicy(np *networkingv1.NetworkPolicy) *netPolicy {
	p := &netPolicy{
		ref: "NetworkPolicy " + np.Namespace + "/" + np.Name,
		ns:  np.Namespace,
		pod: compileSelector(&np.Spec.PodSelector),
	}
	// Rule 1: policyTypes defaults to [Ingress], plus Egress when egress
	// rules exist.
	if len(np.Spec.PolicyTypes) == 0 {
		p.ingress = true
		p.egress = len(np.Spec.Egress) > 0
	}
	for _, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			p.ingress = true
		case networkingv1.PolicyTypeEgress:
			p.egress = true
		}
	}
	for i, r := range np.Spec.Ingress {
		p.ingRules = append(p.ingRules, compileRule(fmt.Sprintf("spec.ingress[%d]", i), r.From, r.Ports))
	}
	for i, r := range np.Spec.Egress {
		p.egRule = append(p.egRule, compileRule(fmt.Sprintf("spec.egress[%d]", i), r.To, r.Ports))
	}
	return p
}

func compileRule(field string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) netRule {
	// Rule 3: no from/to (or an empty list) selects every peer.
	r := netRule{field: field, allPeers: len(peers) == 0, ports: ports}
	for _, pe := range peers {
		var c netPeer
		if pe.PodSelector != nil {
			s := compileSelector(pe.PodSelector)
			c.pod = &s
		}
		if pe.NamespaceSelector != nil {
			s := compileSelector(pe.NamespaceSelector)
			c.ns = &s
		}
		if pe.IPBlock != nil {
			c.ip = parseIPBlock(pe.IPBlock)
		}
		r.peers = append(r.peers, c)
	}
	return r
}

func parseIPBlock(b *networkingv1.IPBlock) *ipBlock {
	out := &ipBlock{}
	pfx, err := netip.ParsePrefix(strings.TrimSpace(b.CIDR))
	if err != nil {
		out.err = fmt.Errorf("parse ipBlock cidr %q: %w", b.CIDR, err)
		return out
	}
	out.cidr = pfx.Masked()
	for _, ex := range b.Except {
		e, err := netip.ParsePrefix(strings.TrimSpace(ex))
		if err != nil {
			out.err = fmt.Errorf("parse ipBlock except %q: %w", ex, err)
			return out
		}
		out.except = append(out.except, e.Masked())
	}
	return out
}

// nsLabels returns the labels of namespace ns and whether they are complete.
func (e *NetworkEvaluator) nsLabels(ns string) (labels.Set, bool) {
	if l, ok := e.namespaces[ns]; ok {
		return l, !e.assumed[ns]
	}
	return labels.Set{nsNameLabel: ns}, false
}

func podIPs(p *corev1.Pod) []netip.Addr {
	var out []netip.Addr
	seen := map[string]bool{}
	add := func(s string) {
		if s == "" || seen[s] {
			return
		}
		seen[s] = true
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	add(p.Status.PodIP)
	for _, ip := range p.Status.PodIPs {
		add(ip.IP)
	}
	return out
}

// peerMatch answers whether pod (in its namespace) is a peer of rule r of
// policy p, with the reason when it is not a plain yes or no.
func (e *NetworkEvaluator) peerMatch(p *netPolicy, r *netRule, pod *corev1.Pod) (Verdict, string) {
	if r.allPeers {
		return Allowed, "every peer (no from/to)"
	}
	best, why := Denied, ""
	for i, pe := range r.peers {
		v, w := e.onePeer(p, pe, pod)
		if v > best {
			best, why = v, fmt.Sprintf("peer [%d] %s", i, w)
		}
		if best == Allowed {
			break
		}
	}
	return best, why
}

func (e *NetworkEvaluator) onePeer(p *netPolicy, pe netPeer, pod *corev1.Pod) (Verdict, string) {
	if pe.ip != nil {
		// Rule 6: ipBlock is meant for cluster-external traffic; whether it
		// matches pod IPs is implementation-defined.
		if pe.ip.err != nil {
			return Unknown, "ipBlock does not parse: " + pe.ip.err.Error()
		}
		ips, ok := e.ips[pod]
		if !ok {
			ips = podIPs(pod)
			e.ips[pod] = ips
		}
		if len(ips) == 0 {
			return Unknown, fmt.Sprintf("ipBlock %s: the pod has no known IP, and ipBlock matching of pod IPs is implementation-defined", pe.ip.cidr)
		}
		for _, ip := range ips {
			if pe.ip.cidr.Contains(ip) && !inAny(pe.ip.except, ip) {
				return Unknown, fmt.Sprintf("ipBlock %s holds pod IP %s: implementation-defined whether it matches pod traffic", pe.ip.cidr, ip)
			}
		}
		return Denied, ""
	}
	if pe.pod == nil && pe.ns == nil {
		return Unknown, "peer selects nothing known (invalid peer)"
	}
	nsV := Allowed
	if pe.ns == nil {
		// Rule 3: podSelector alone means the policy's own namespace.
		if pod.Namespace != p.ns {
			nsV = Denied
		}
	} else {
		set, complete := e.nsLabels(pod.Namespace)
		nsV = pe.ns.match(set, complete)
	}
	podV := Allowed
	if pe.pod != nil {
		podV = pe.pod.match(labels.Set(pod.Labels), true)
	}
	v := vmin(nsV, podV)
	switch {
	case v == Unknown && nsV == Unknown:
		return v, fmt.Sprintf("namespaceSelector on namespace %q whose labels are not in the snapshot", pod.Namespace)
	case v == Unknown:
		return v, "selector does not parse"
	}
	return v, "selects the pod"
}

func inAny(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// rulePorts resolves the ports of a rule on the destination pod dst
// (rule 4: protocol defaults to TCP, endPort ranges, named ports resolve on
// the destination pod's container ports).
func rulePorts(ports []networkingv1.NetworkPolicyPort, dst *corev1.Pod) []PortRange {
	if len(ports) == 0 {
		return allPorts()
	}
	var out []PortRange
	for _, np := range ports {
		proto := corev1.ProtocolTCP
		if np.Protocol != nil && *np.Protocol != "" {
			proto = *np.Protocol
		}
		switch {
		case np.Port == nil:
			out = append(out, PortRange{proto, 1, 65535})
		case np.Port.Type == intstr.String: // a named port
			for _, n := range namedPort(dst, np.Port.StrVal, proto) {
				out = append(out, PortRange{proto, n, n})
			}
		default:
			lo, hi := np.Port.IntVal, np.Port.IntVal
			if np.EndPort != nil && *np.EndPort >= lo {
				hi = *np.EndPort
			}
			out = append(out, PortRange{proto, lo, hi})
		}
	}
	return out
}

func namedPort(p *corev1.Pod, name string, proto corev1.Protocol) []int32 {
	var out []int32
	scan := func(cs []corev1.Container) {
		for _, c := range cs {
			for _, cp := range c.Ports {
				pp := cp.Protocol
				if pp == "" {
					pp = corev1.ProtocolTCP
				}
				if cp.Name == name && pp == proto {
					out = append(out, cp.ContainerPort)
				}
			}
		}
	}
	scan(p.Spec.InitContainers) // restartable (sidecar) init containers may name ports
	scan(p.Spec.Containers)
	return out
}

// grant is one way a direction lets traffic through.
type grant struct {
	ports []PortRange
	v     Verdict
	why   string
	by    string
	rule  string // "NetworkPolicy ns/name spec.ingress[0]"; empty when not one rule
}

// side lists the grants of one direction: egress of pod towards peer, or
// ingress of pod from peer. dst is the destination pod (named ports
// resolve there).
func (e *NetworkEvaluator) side(pod, peer, dst *corev1.Pod, ingress bool) []grant {
	dir := "egress"
	if ingress {
		dir = "ingress"
	}
	name := pod.Namespace + "/" + pod.Name
	var grants []grant
	isolated := Denied
	var maybe []string
	for _, p := range e.policies[pod.Namespace] {
		if (ingress && !p.ingress) || (!ingress && !p.egress) {
			continue
		}
		sel := p.pod.match(labels.Set(pod.Labels), true)
		if sel == Denied {
			continue
		}
		isolated = vmax(isolated, sel)
		if sel == Unknown {
			maybe = append(maybe, p.ref)
		}
		rules := p.egRule
		if ingress {
			rules = p.ingRules
		}
		for i := range rules {
			r := &rules[i]
			v, pwhy := e.peerMatch(p, r, peer)
			v = vmin(v, sel)
			if v == Denied {
				continue
			}
			ports := rulePorts(r.ports, dst)
			if len(ports) == 0 {
				continue // named ports that the destination does not have
			}
			why := fmt.Sprintf("%s: %s %s %s (%s)", dir, p.ref, r.field, v, pwhy)
			grants = append(grants, grant{ports, v, why, p.ref, p.ref + " " + r.field})
		}
	}
	switch isolated {
	case Denied:
		return []grant{{allPorts(), Allowed, fmt.Sprintf("%s: %s is not isolated for %s (no NetworkPolicy with %s selects it)", dir, name, dir, titleDir(dir)), "", ""}}
	case Unknown:
		grants = append(grants, grant{allPorts(), Unknown, fmt.Sprintf("%s: unknown whether %s selects %s (its podSelector does not parse)", dir, strings.Join(maybe, ", "), name), strings.Join(maybe, ", "), ""})
	}
	return grants
}

func titleDir(d string) string { return strings.ToUpper(d[:1]) + d[1:] }

// Reach evaluates one connection from src to dst; q nil asks whether any
// (protocol, port) is allowed in both directions.
func (e *NetworkEvaluator) Reach(src, dst *corev1.Pod, q *PortQuery) NetReach {
	// Rule 5: a pod can always reach itself.
	if src.Namespace == dst.Namespace && src.Name == dst.Name {
		return NetReach{Verdict: Allowed, Ports: allPorts(), Reasons: []string{"self-traffic: a pod can always reach itself"}}
	}
	// Rule 7: hostNetwork pods are outside NetworkPolicy.
	if src.Spec.HostNetwork {
		if src.Spec.NodeName != "" && src.Spec.NodeName == dst.Spec.NodeName {
			return NetReach{Verdict: Allowed, Ports: allPorts(), Reasons: []string{fmt.Sprintf("node-local: %s/%s uses hostNetwork on node %s, and traffic from a pod's own node is always allowed", src.Namespace, src.Name, dst.Spec.NodeName)}}
		}
		return NetReach{Verdict: Unknown, Ports: allPorts(), Reasons: []string{fmt.Sprintf("source %s/%s uses hostNetwork: NetworkPolicy treatment of node traffic is implementation-defined", src.Namespace, src.Name)}}
	}
	if dst.Spec.HostNetwork {
		return NetReach{Verdict: Unknown, Ports: allPorts(), Reasons: []string{fmt.Sprintf("destination %s/%s uses hostNetwork: NetworkPolicy does not apply to it; it listens on the node", dst.Namespace, dst.Name)}}
	}
	// Rule 2: allowed = egress of src allows AND ingress of dst allows.
	eg := e.side(src, dst, dst, false)
	in := e.side(dst, src, dst, true)
	out := NetReach{Verdict: Denied}
	var ports []PortRange
	var reasons, egBy, inBy, egRules, inRules []string
	for _, g := range eg {
		for _, h := range in {
			common := intersectPorts(g.ports, h.ports)
			if q != nil {
				if !portsContain(common, *q) {
					continue
				}
				common = []PortRange{{q.protocol(), q.Port, q.Port}}
			}
			if len(common) == 0 {
				continue
			}
			v := vmin(g.v, h.v)
			if v > out.Verdict {
				out.Verdict, ports, reasons, egBy, inBy, egRules, inRules = v, nil, nil, nil, nil, nil, nil
			}
			if v == out.Verdict {
				ports = append(ports, common...)
				reasons = appendUnique(reasons, g.why, h.why)
				egBy = appendUnique(egBy, g.by)
				inBy = appendUnique(inBy, h.by)
				if g.rule != "" {
					egRules = appendUnique(egRules, g.rule)
				}
				if h.rule != "" {
					inRules = appendUnique(inRules, h.rule)
				}
			}
		}
	}
	if out.Verdict == Denied {
		out.Reasons = deniedReasons(eg, in, q)
		return out
	}
	out.Ports = mergePorts(ports)
	out.Reasons = reasons
	out.egressBy, out.ingressBy = egBy, inBy
	out.egressRules, out.ingressRules = egRules, inRules
	return out
}

func deniedReasons(eg, in []grant, q *PortQuery) []string {
	switch {
	case len(eg) == 0:
		return []string{"egress: the source is isolated for egress and no rule admits the destination"}
	case len(in) == 0:
		return []string{"ingress: the destination is isolated for ingress and no rule admits the source"}
	case q != nil:
		return []string{fmt.Sprintf("no rule pair allows %s/%d in both directions", q.protocol(), q.Port)}
	}
	return []string{"egress and ingress allow no common (protocol, port)"}
}

func appendUnique(list []string, items ...string) []string {
	for _, it := range items {
		found := false
		for _, l := range list {
			if l == it {
				found = true
				break
			}
		}
		if !found {
			list = append(list, it)
		}
	}
	return list
}

func mergePorts(rs []PortRange) []PortRange {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Protocol != rs[j].Protocol {
			return protoIndex(rs[i].Protocol) < protoIndex(rs[j].Protocol)
		}
		return rs[i].From < rs[j].From
	})
	var out []PortRange
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].Protocol == r.Protocol && r.From <= out[n-1].To+1 {
			out[n-1].To = max(out[n-1].To, r.To)
			continue
		}
		out = append(out, r)
	}
	return out
}

func protoIndex(p corev1.Protocol) int {
	for i, q := range protocols {
		if q == p {
			return i
		}
	}
	return len(protocols)
}

// BackendReach is the reach to one backend pod of a Service.
type BackendReach struct {
	Pod string `json:"pod"`
	NetReach
}

// ReachService evaluates src → Service svc on service port (number, or 0
// with portName): Services are evaluated after DNAT, so the answer is the
// reach to each backend pod on its target port (rule 6).
func (e *NetworkEvaluator) ReachService(src *corev1.Pod, svc *corev1.Service, port int32, portName string) ([]BackendReach, error) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil, fmt.Errorf("service %s/%s is ExternalName: it has no backends in the cluster", svc.Namespace, svc.Name)
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if (port != 0 && p.Port == port) || (portName != "" && p.Name == portName) {
			sp = p
			break
		}
	}
	if sp == nil {
		return nil, fmt.Errorf("service %s/%s has no port %d%s", svc.Namespace, svc.Name, port, portName)
	}
	if len(svc.Spec.Selector) == 0 {
		return []BackendReach{{Pod: "(endpoints managed by hand)", NetReach: NetReach{Verdict: Unknown, Reasons: []string{"the Service has no selector: its backends are not in the snapshot"}}}}, nil
	}
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var out []BackendReach
	for _, p := range e.pods[svc.Namespace] {
		if !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		name := p.Namespace + "/" + p.Name
		var targets []int32
		switch {
		case sp.TargetPort.Type == intstr.String:
			targets = namedPort(&p.Pod, sp.TargetPort.StrVal, proto)
		case sp.TargetPort.IntVal != 0:
			targets = []int32{sp.TargetPort.IntVal}
		default:
			targets = []int32{sp.Port}
		}
		if len(targets) == 0 {
			out = append(out, BackendReach{Pod: name, NetReach: NetReach{Verdict: Denied, Reasons: []string{fmt.Sprintf("named targetPort %q is not a container port of the backend", sp.TargetPort.StrVal)}}})
			continue
		}
		r := e.Reach(src, &p.Pod, &PortQuery{proto, targets[0]})
		out = append(out, BackendReach{Pod: name, NetReach: r})
	}
	return out, nil
}

// metadataIP is the link-local address of the cloud metadata service (AWS,
// GCP, Azure, OpenStack, ...).
const metadataIP = "169.254.169.254"

// EgressToAddress evaluates a connection from src to an address outside
// the cluster (rule 6: ipBlock is for cluster-external traffic). Only the
// source's egress side applies; pod and namespace selectors never match an
// address outside the cluster, and named ports never match it either.
func (e *NetworkEvaluator) EgressToAddress(src *corev1.Pod, ip netip.Addr, q PortQuery) NetReach {
	if src.Spec.HostNetwork {
		return NetReach{Verdict: Allowed, Reasons: []string{"hostNetwork: the node's own network, outside NetworkPolicy"}}
	}
	name := src.Namespace + "/" + src.Name
	isolated := Denied
	out := NetReach{Verdict: Denied}
	var maybe []string
	none := &corev1.Pod{}
	for _, p := range e.policies[src.Namespace] {
		if !p.egress {
			continue
		}
		sel := p.pod.match(labels.Set(src.Labels), true)
		if sel == Denied {
			continue
		}
		isolated = vmax(isolated, sel)
		if sel == Unknown {
			maybe = append(maybe, p.ref)
		}
		for i := range p.egRule {
			r := &p.egRule[i]
			if !portsContain(rulePorts(r.ports, none), q) {
				continue
			}
			v, why := Denied, ""
			if r.allPeers {
				v, why = Allowed, "every destination (no to)"
			}
			for _, pe := range r.peers {
				if pe.ip == nil {
					continue
				}
				switch {
				case pe.ip.err != nil:
					if v < Unknown {
						v, why = Unknown, "ipBlock does not parse: "+pe.ip.err.Error()
					}
				case pe.ip.cidr.Contains(ip) && !inAny(pe.ip.except, ip):
					v, why = Allowed, fmt.Sprintf("ipBlock %s holds %s", pe.ip.cidr, ip)
				}
			}
			v = vmin(v, sel)
			if v == Denied {
				continue
			}
			if v > out.Verdict {
				out.Verdict, out.Reasons, out.egressBy, out.egressRules = v, nil, nil, nil
			}
			if v == out.Verdict {
				out.Reasons = appendUnique(out.Reasons, fmt.Sprintf("egress: %s %s %s (%s)", p.ref, r.field, v, why))
				out.egressBy = appendUnique(out.egressBy, p.ref)
				out.egressRules = appendUnique(out.egressRules, p.ref+" "+r.field)
			}
		}
	}
	switch {
	case isolated == Denied:
		return NetReach{Verdict: Allowed, Reasons: []string{fmt.Sprintf("egress: %s is not isolated for egress (no NetworkPolicy with Egress selects it)", name)}, egressBy: []string{""}}
	case isolated == Unknown && out.Verdict == Denied:
		return NetReach{Verdict: Unknown, Reasons: []string{fmt.Sprintf("egress: unknown whether %s selects %s (its podSelector does not parse)", strings.Join(maybe, ", "), name)}}
	case out.Verdict == Denied:
		out.Reasons = []string{fmt.Sprintf("egress: %s is isolated for egress and no rule admits %s %s/%d", name, ip, q.protocol(), q.Port)}
	}
	return out
}
