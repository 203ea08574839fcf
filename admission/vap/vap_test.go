package vap_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/credence-dev/credence/admission/vap"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/policy"
)

func compile(t *testing.T, src string) *policy.Engine {
	t.Helper()
	docs, err := policy.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile(docs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// TestGolden: the policies generated for the parity corpus's policy (the
// ones the real API server type-checks and runs in the admission package's
// TestAgainstKubeAPIServer).
func TestGolden(t *testing.T) {
	src, err := os.ReadFile("../testdata/parity/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := vap.Generate(compile(t, string(src)), vap.Options{ExcludeNamespaces: []string{"kube-system"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := res.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "testdata/parity.yaml", b.Bytes())
	var names []string
	for _, p := range res.Policies {
		names = append(names, p.Name)
	}
	want := "credence-parity-pods-deny,credence-parity-workloads-deny,credence-parity-cronjobs-deny," +
		"credence-parity-restricted-pods-warn,credence-parity-restricted-workloads-warn,credence-parity-restricted-cronjobs-warn"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("policies %s, want %s", got, want)
	}
	if len(res.Generated) != 4 || len(res.Skipped) != 0 {
		t.Errorf("generated %+v skipped %+v", res.Generated, res.Skipped)
	}
}

// TestLeftToTheWebhook: what the API server cannot evaluate is listed,
// with why, and not generated.
func TestLeftToTheWebhook(t *testing.T) {
	e := compile(t, `apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: Shop_Prod}
spec:
  match:
    namespaces: ["shop-*"]
    labelSelector: {matchLabels: {tier: web}, matchExpressions: [{key: env, operator: NotIn, values: [dev]}]}
  packs:
    - name: credence-signed@v1
    - name: credence-pss-baseline@v1
    - name: credence-pss-restricted@v1
      mode: audit
    - name: credence-image-source@v1
      parameters: {registries: [ghcr.io/org], requireDigest: false}
  rules:
    - id: small
      expression: size(subject.containers) < 5
  exemptions:
    - {name: temp, reason: migration, expires: 2030-01-01, rules: [credence-pss-baseline@v1], namespaces: [shop-legacy]}
    - {name: old, reason: expired, expires: 2020-01-01, rules: [credence-image-source@v1], images: ["**"]}
    - {name: named, reason: vendor, rules: [credence-pss-restricted@v1], workloads: ["shop-a/vendor"]}
`)
	res, err := vap.Generate(e, vap.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	why := map[string]string{}
	for _, s := range res.Skipped {
		why[s.Rule] = s.Why
	}
	for rule, want := range map[string]string{
		"credence-signed@v1/signed":                          "over credence's Subject (provenance)",
		"credence-pss-baseline@v1/pod-security-baseline":     "exemption temp expires",
		"credence-pss-restricted@v1/pod-security-restricted": "exemption named names workloads",
		"credence-image-source@v1/pinned":                    "requireDigest is false",
		"Shop_Prod/small":                                    "the API server evaluates CEL over the object alone",
	} {
		if !strings.Contains(why[rule], want) {
			t.Errorf("%s: skipped %q, want %q", rule, why[rule], want)
		}
	}
	if len(res.Generated) != 1 || res.Generated[0].Rule != "credence-image-source@v1/trusted-registry" {
		t.Fatalf("generated %+v", res.Generated)
	}
	p := res.Policies[0]
	if p.Name != "credence-shop-prod-pods-deny" || p.Labels["policy.credence.dev/policy"] != "shop-prod" {
		t.Errorf("names: %s %v", p.Name, p.Labels)
	}
	var conds []string
	for _, c := range p.Spec.MatchConditions {
		conds = append(conds, c.Name+"="+c.Expression)
	}
	all := strings.Join(conds, "\n")
	for _, want := range []string{"policy-namespaces=(namespaceObject.metadata.name.matches('^shop-.*$'))",
		"('tier' in ((has(object.metadata.labels)) ? object.metadata.labels : {}) &&",
		"(!('env' in ((has(object.metadata.labels)) ? object.metadata.labels : {})) || !(",
		"template-changed=request.operation != 'UPDATE'"} {
		if !strings.Contains(all, want) {
			t.Errorf("match conditions lack %q:\n%s", want, all)
		}
	}
	// The expired exemption is dropped (the webhook ignores it too).
	if strings.Contains(p.Spec.Validations[0].Expression, "'^.*$'") {
		t.Error("an expired exemption was translated")
	}
}
