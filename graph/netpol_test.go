package graph_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/internal/testutil"
)

func findPod(t *testing.T, s *cluster.Snapshot, ref string) *corev1.Pod {
	t.Helper()
	ns, name, _ := strings.Cut(ref, "/")
	for i := range s.Pods {
		if s.Pods[i].Namespace == ns && s.Pods[i].Name == name {
			return &s.Pods[i].Pod
		}
	}
	t.Fatalf("no pod %s in fixture", ref)
	return nil
}

// TestNetworkPolicyRules checks every rule of design note §2.3 on
// testdata/netpol/cluster.yaml. The want verdicts come from the
// Kubernetes NetworkPolicy documentation, rule by rule; the reasons are
// golden (testdata/netpol/reach.golden.json).
func TestNetworkPolicyRules(t *testing.T) {
	s := loadManifests(t, "testdata/netpol/cluster.yaml")
	ev := graph.NewNetworkEvaluator(s)
	tcp := func(p int32) *graph.PortQuery { return &graph.PortQuery{Protocol: corev1.ProtocolTCP, Port: p} }
	udp := func(p int32) *graph.PortQuery { return &graph.PortQuery{Protocol: corev1.ProtocolUDP, Port: p} }
	tests := []struct {
		rule     string
		src, dst string
		port     *graph.PortQuery
		want     graph.Verdict
	}{
		{"1 egress rules without policyTypes isolate egress too", "iso/a", "iso/b", nil, graph.Allowed},
		{"1 egress rules without policyTypes isolate egress too", "iso/a", "iso/c", nil, graph.Denied},
		{"1 policyTypes defaults include Ingress", "iso/b", "iso/a", nil, graph.Denied},
		{"1 policyTypes [Egress] only: egress isolated", "iso/c", "iso/a", nil, graph.Denied},
		{"1 policyTypes [Egress] only: ingress stays open", "iso/b", "iso/c", nil, graph.Allowed},
		{"2 egress AND ingress: ingress admits, egress does not", "iso/a", "iso/d", nil, graph.Denied},
		{"2 union of policies: second policy admits b", "iso/b", "iso/d", nil, graph.Allowed},
		{"2 egress-isolated source", "iso/c", "iso/d", nil, graph.Denied},
		{"3 podSelector alone: own namespace", "peers/web", "peers/db", nil, graph.Allowed},
		{"3 podSelector alone: not another namespace", "other/web", "peers/db", nil, graph.Denied},
		{"3 namespaceSelector AND podSelector in one peer", "other/web", "peers/both", nil, graph.Allowed},
		{"3 one peer AND: pod fails", "other/api", "peers/both", nil, graph.Denied},
		{"3 one peer AND: namespace fails", "peers/web", "peers/both", nil, graph.Denied},
		{"3 separate peers OR: namespace", "other/api", "peers/either", nil, graph.Allowed},
		{"3 separate peers OR: pod", "peers/web", "peers/either", nil, graph.Allowed},
		{"3 separate peers OR: neither", "peers/db", "peers/either", nil, graph.Denied},
		{"3 rule without from: every source", "other/api", "peers/everyone", nil, graph.Allowed},
		{"3 ingress: [] denies all", "peers/web", "peers/nobody", nil, graph.Denied},
		{"3 namespaceSelector {} selects every namespace", "ghost/web", "peers/empty-from", nil, graph.Allowed},
		{"3 namespace labels not in the snapshot: unknown", "ghost/web", "other/web", nil, graph.Unknown},
		{"3 namespaceSelector matches", "peers/web", "other/web", nil, graph.Allowed},
		{"3 name label is always known", "ghost/web", "other/api", nil, graph.Allowed},
		{"3 namespaceSelector by name: other namespace", "peers/web", "other/api", nil, graph.Denied},
		{"4 no common port (egress 80, ingress 443)", "ports/client", "ports/tls", nil, graph.Denied},
		{"4 no common port: 443 asked", "ports/client", "ports/tls", tcp(443), graph.Denied},
		{"4 no common port: 80 asked", "ports/client", "ports/tls", tcp(80), graph.Denied},
		{"4 named port resolves on the destination", "ports/client", "ports/server", nil, graph.Allowed},
		{"4 named port http = 8080", "ports/client", "ports/server", tcp(8080), graph.Allowed},
		{"4 named port: other port", "ports/client", "ports/server", tcp(80), graph.Denied},
		{"4 named port http is TCP", "ports/client", "ports/server", udp(8080), graph.Denied},
		{"4 UDP port", "ports/client", "ports/server", udp(53), graph.Allowed},
		{"4 endPort range: inside", "ports/client", "ports/range", tcp(8050), graph.Allowed},
		{"4 endPort range: past the end", "ports/client", "ports/range", tcp(8101), graph.Denied},
		{"4 protocol defaults to TCP", "ports/client", "ports/range", udp(8050), graph.Denied},
		{"4 open egress, named ingress", "ports/tls", "ports/server", tcp(8080), graph.Allowed},
		{"5 self-traffic is always allowed", "misc/locked", "misc/locked", nil, graph.Allowed},
		{"5 node-local traffic is always allowed", "misc/hostnet", "misc/locked", nil, graph.Allowed},
		{"7 hostNetwork source on another node: unknown", "misc/hostnet2", "misc/locked", nil, graph.Unknown},
		{"6 ipBlock holding the pod IP: unknown", "misc/cidr-in", "misc/locked", nil, graph.Unknown},
		{"6 ipBlock not holding the pod IP", "misc/cidr-out", "misc/locked", nil, graph.Denied},
		{"6 ipBlock, pod IP unknown: unknown", "misc/cidr-noip", "misc/locked", nil, graph.Unknown},
		{"7 hostNetwork destination: unknown", "misc/backend", "misc/hostnet", nil, graph.Unknown},
		{"9 selector that does not parse: unknown", "misc/cidr-out", "misc/badsel", nil, graph.Unknown},
	}
	type rec struct {
		Rule     string         `json:"rule"`
		Src, Dst string         `json:"-"`
		Query    string         `json:"query"`
		Reach    graph.NetReach `json:"reach"`
	}
	var got []rec
	for _, tc := range tests {
		name := fmt.Sprintf("%s/%s->%s", tc.rule, tc.src, tc.dst)
		t.Run(name, func(t *testing.T) {
			r := ev.Reach(findPod(t, s, tc.src), findPod(t, s, tc.dst), tc.port)
			if r.Verdict != tc.want {
				t.Errorf("verdict %s, want %s; reasons: %v", r.Verdict, tc.want, r.Reasons)
			}
			q := tc.src + " -> " + tc.dst
			if tc.port != nil {
				q += fmt.Sprintf(" %s/%d", tc.port.Protocol, tc.port.Port)
			}
			got = append(got, rec{Rule: tc.rule, Query: q, Reach: r})
		})
	}
	b, _ := json.MarshalIndent(got, "", "  ")
	testutil.Golden(t, "testdata/netpol/reach.golden.json", append(b, '\n'))
}

// TestServiceAfterDNAT: a Service is evaluated on its backends' target
// ports (rule 6): port 80 → named targetPort web (8080) is allowed by a
// policy that admits only 8080; a Service whose targetPort is 80 is not.
func TestServiceAfterDNAT(t *testing.T) {
	s := loadManifests(t, "testdata/netpol/cluster.yaml")
	ev := graph.NewNetworkEvaluator(s)
	src := findPod(t, s, "misc/cidr-out")
	for _, tc := range []struct {
		svc  string
		want graph.Verdict
	}{{"backend", graph.Allowed}, {"backend-wrong", graph.Denied}} {
		var svc *corev1.Service
		for i := range s.Services {
			if s.Services[i].Name == tc.svc {
				svc = &s.Services[i]
			}
		}
		got, err := ev.ReachService(src, svc, 80, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Verdict != tc.want {
			t.Errorf("service %s: got %+v, want one backend %s", tc.svc, got, tc.want)
		}
	}
}
