package synth_test

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph/synth"
)

func TestGenerate(t *testing.T) {
	c := synth.Config{Namespaces: 4, Pods: 40, NetworkPolicies: 12, Bindings: 30, Nodes: 3, Replicas: 2, Seed: 7}
	s := synth.Generate(c)
	got := map[string]int{"pods": len(s.Pods), "netpols": len(s.NetworkPolicies), "bindings": len(s.RoleBindings) + len(s.ClusterRoleBindings),
		"namespaces": len(s.Namespaces), "nodes": len(s.Nodes)}
	want := map[string]int{"pods": 40, "netpols": 12, "bindings": 30, "namespaces": 4, "nodes": 3}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("sizes (-want +got):\n%s", d)
	}
	var a, b bytes.Buffer
	if err := synth.WriteManifests(&a, s); err != nil {
		t.Fatal(err)
	}
	if err := synth.WriteManifests(&b, synth.Generate(c)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("Generate is not deterministic")
	}
	back, err := cluster.FromReader(t.Context(), &a, "synthetic")
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Pods) != 40 || len(back.NetworkPolicies) != 12 || len(back.Gaps) != 0 {
		t.Errorf("manifests read back: %d pods, %d policies, gaps %v", len(back.Pods), len(back.NetworkPolicies), back.Gaps)
	}
}
