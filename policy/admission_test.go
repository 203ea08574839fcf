package policy_test

import (
	"strings"
	"testing"

	"github.com/credence-dev/credence/policy"
)

// TestFactsFilter: Input.Facts keeps only the rules that read one of the
// facts; shop/web fails credence-no-kev (scan) and, against no baseline,
// credence-no-new-critical-path (blastRadius).
func TestFactsFilter(t *testing.T) {
	a := sample(t)
	e := compile(t, `apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: test}
spec:
  packs:
    - name: credence-no-kev@v1
    - name: credence-no-new-critical-path@v1
`)
	s := subject(t, a, "shop/web")
	all := e.Evaluate(policy.Input{Subject: s, Images: policy.NewImageIndex(a.Images...), Now: now})
	if got := rulesOf(all); got != "credence-no-kev@v1/no-kev,credence-no-new-critical-path@v1/no-new-critical-path" {
		t.Fatalf("every rule: failures %s", got)
	}
	only := e.Evaluate(policy.Input{Subject: s, Images: policy.NewImageIndex(a.Images...), Now: now, Facts: []string{policy.FactBlastRadius}})
	if got := rulesOf(only); got != "credence-no-new-critical-path@v1/no-new-critical-path" || only.Evaluated != 1 || !only.Denied() {
		t.Fatalf("blastRadius only: failures %s, evaluated %d, %s", got, only.Evaluated, only.Outcome)
	}
	bad := e.Evaluate(policy.Input{Subject: s, Images: policy.NewImageIndex(a.Images...), Now: now, Facts: []string{"blast"}})
	if bad.Evaluated != 2 || len(bad.Notes) != 1 || !strings.Contains(bad.Notes[0], `unknown fact "blast"`) {
		t.Fatalf("an unknown fact must evaluate every rule with a note: evaluated %d, notes %v", bad.Evaluated, bad.Notes)
	}
}

func rulesOf(d policy.Decision) string {
	var ids []string
	for _, f := range d.Failures {
		ids = append(ids, f.Rule)
	}
	return strings.Join(ids, ",")
}

func TestBreakGlass(t *testing.T) {
	e := compile(t, `apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: shop}
spec:
  packs: [{name: credence-no-kev@v1}]
  breakGlass: {namespaces: [shop, "team-*"]}
---
apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: strict}
spec:
  packs: [{name: credence-no-kev@v1}]
`)
	for _, c := range []struct {
		policy, ns string
		want       bool
	}{
		{"shop", "shop", true}, {"shop", "team-a", true}, {"shop", "shop-test", false}, {"shop", "payments", false},
		{"strict", "shop", false}, {"nosuch", "shop", false},
	} {
		if got := e.BreakGlassAllowed(c.policy, c.ns); got != c.want {
			t.Errorf("BreakGlassAllowed(%s, %s) = %v, want %v", c.policy, c.ns, got, c.want)
		}
	}
	err := compileErr(`apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: p}
spec:
  packs: [{name: credence-no-kev@v1}]
  breakGlass: {namespaces: []}
`)
	if err == nil || !strings.Contains(err.Error(), "test.yaml:6:15: breakGlass.namespaces: list the namespaces") {
		t.Fatalf("empty breakGlass: %v", err)
	}
	err = compileErr(`apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: p}
spec:
  packs: [{name: credence-no-kev@v1}]
  breakGlass: {namespace: [x]}
`)
	if err == nil || !strings.Contains(err.Error(), `unknown field "namespace" (known: namespaces)`) {
		t.Fatalf("misspelt breakGlass field: %v", err)
	}
}

func TestPoliciesDescribed(t *testing.T) {
	e := compile(t, `apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: shop}
spec:
  failureMode: fail-open
  match:
    namespaces: ["shop-*"]
    labelSelector: {matchLabels: {tier: web}}
    images: ["registry.example.com/**"]
  packs: [{name: credence-image-source@v1, parameters: {registries: [registry.example.com]}}]
  exemptions:
    - {name: legacy, reason: old, expires: 2030-01-01, rules: [credence-image-source@v1], workloads: ["shop-a/*"]}
`)
	ps := e.Policies()
	if len(ps) != 1 {
		t.Fatalf("%d policies", len(ps))
	}
	p := ps[0]
	if p.Name != "shop" || p.FailureMode != policy.FailOpen || len(p.Rules) != 2 || p.Match.LabelSelector.MatchLabels["tier"] != "web" ||
		strings.Join(p.Match.Namespaces, ",") != "^shop-.*$" || strings.Join(p.Match.Images, ",") != "^registry\\.example\\.com/.*$" {
		t.Fatalf("policy %+v", p)
	}
	x := p.Exemptions[0]
	if x.Name != "legacy" || x.Expires.IsZero() || strings.Join(x.Select.Workloads, ",") != "^shop-a/[^/]*$" || !x.Covers(p.Rules[0]) || x.Select.Empty() {
		t.Fatalf("exemption %+v", x)
	}
}
