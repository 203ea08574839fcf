package graph_test

import (
	"encoding/json"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/credence-dev/credence/graph"
)

// FuzzNetworkPolicy feeds arbitrary NetworkPolicies (selectors that do not
// parse, bad CIDRs, odd ports) to the evaluator and the graph builder over
// the netpol fixture's pods. Invariants: no panic, self-traffic is always
// allowed, and a verdict is one of the three.
func FuzzNetworkPolicy(f *testing.F) {
	base := loadManifests(f, "testdata/netpol/cluster.yaml")
	for _, np := range base.NetworkPolicies {
		b, _ := json.Marshal(np)
		f.Add(b)
	}
	f.Add([]byte(`{"metadata":{"namespace":"misc"},"spec":{"podSelector":{"matchExpressions":[{"key":"app","operator":"Bogus"}]},"ingress":[{"from":[{"ipBlock":{"cidr":"300.1.1.1/99"}}],"ports":[{"port":"no such name"},{"port":70000,"endPort":1}]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var np networkingv1.NetworkPolicy
		if err := json.Unmarshal(data, &np); err != nil {
			return
		}
		s := *base
		s.NetworkPolicies = append([]networkingv1.NetworkPolicy{np}, base.NetworkPolicies...)
		ev := graph.NewNetworkEvaluator(&s)
		for i := range s.Pods {
			src := &s.Pods[i].Pod
			if r := ev.Reach(src, src, nil); r.Verdict != graph.Allowed {
				t.Fatalf("self-traffic of %s/%s: %s", src.Namespace, src.Name, r.Verdict)
			}
			for j := range s.Pods {
				r := ev.Reach(src, &s.Pods[j].Pod, nil)
				if r.Verdict > graph.Allowed {
					t.Fatalf("verdict %d", r.Verdict)
				}
			}
		}
		g, err := graph.Build(&s)
		if err != nil {
			t.Fatal(err)
		}
		// Cuts apply fixes (narrowing this policy among them) to the
		// hostile snapshot and rebuild: no panic, and the snapshot the
		// graph was built from is never changed.
		before, _ := json.Marshal(s.NetworkPolicies)
		if _, err := g.Query(g.Nodes[g.Containers[0]].Key, graph.WithMaxCutCandidates(4)); err != nil {
			t.Fatal(err)
		}
		if after, _ := json.Marshal(s.NetworkPolicies); string(after) != string(before) {
			t.Fatal("a cut changed the snapshot")
		}
	})
}

// FuzzRBACRules feeds arbitrary roles to the authorizer model and the
// graph builder: no panic, and a rule never allows a request whose verb it
// does not list (nor "*").
func FuzzRBACRules(f *testing.F) {
	base := loadManifests(f, "testdata/edges/cluster.yaml")
	for _, r := range base.ClusterRoles {
		b, _ := json.Marshal(r.Rules)
		f.Add(b, "get", "", "secrets", "", "app", "x")
	}
	f.Add([]byte(`[{"verbs":["*"],"apiGroups":["*"],"resources":["*/exec","pods/*"],"resourceNames":[""]}]`), "create", "", "pods", "exec", "", "")
	f.Fuzz(func(t *testing.T, rules []byte, verb, group, resource, sub, ns, name string) {
		var rs []rbacv1.PolicyRule
		if err := json.Unmarshal(rules, &rs); err != nil {
			return
		}
		attr := graph.Attributes{Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
		for i := range rs {
			if graph.RuleAllows(&rs[i], attr) {
				ok := false
				for _, v := range rs[i].Verbs {
					ok = ok || v == "*" || v == verb
				}
				if !ok {
					t.Fatalf("rule %+v allows verb %q", rs[i], verb)
				}
			}
		}
		s := *base
		s.ClusterRoles = append([]rbacv1.ClusterRole{{Rules: rs}}, base.ClusterRoles...)
		s.ClusterRoles[0].Name = "deployer"
		if _, err := graph.Build(&s); err != nil {
			t.Fatal(err)
		}
	})
}
