package policy_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/policy"
)

const head = "apiVersion: policy.credence.dev/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n"

// Load errors name the file, line and column.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"CEL syntax error", head + "  rules:\n    - id: r\n      scope: container\n      expression: container.findings.exists(f, f.kev &&)\n",
			[]string{"test.yaml:8:56:", "rule p/r: expression does not compile", "Syntax error"}},
		{"CEL syntax error in a block", head + "  rules:\n    - id: r\n      expression: >-\n        subject.workload.name ==\n",
			[]string{"test.yaml:8:", "does not compile"}},
		{"misspelt field", head + "  rules:\n    - id: r\n      expression: subject.workload.namspace == 'shop'\n",
			[]string{"test.yaml:7:", "undefined field 'namspace'"}},
		{"container outside container scope", head + "  rules:\n    - id: r\n      expression: container.name == 'x'\n",
			[]string{"undeclared reference to 'container'"}},
		{"not a bool", head + "  rules:\n    - id: r\n      expression: subject.workload.name\n", []string{"test.yaml:7:19: rule p/r: expression returns string, want bool"}},
		{"evidence not a list", head + "  rules:\n    - id: r\n      expression: 'true'\n      evidence: subject.workload.name\n", []string{"evidence returns string, want list(string)"}},
		{"unknown field", head + "  exemptons: []\n  rules: [{id: r, expression: 'true'}]\n", []string{"test.yaml:5:3: unknown field \"exemptons\" (known: breakGlass, costLimit, exemptions, failureMode"}},
		{"unknown rule field", head + "  rules:\n    - id: r\n      expresion: 'true'\n", []string{"test.yaml:7:7: unknown field \"expresion\""}},
		{"bad selector", head + "  match:\n    labelSelector:\n      matchExpressions: [{key: app, operator: Among, values: [a]}]\n  rules: [{id: r, expression: 'true'}]\n",
			[]string{"test.yaml:7:7: match.labelSelector:", "Among"}},
		{"bad regexp", head + "  match: {imageRegexps: ['(']}\n  rules: [{id: r, expression: 'true'}]\n", []string{"test.yaml:5:10: match: imageRegexps"}},
		{"unknown pack", head + "  packs: [{name: credence-no-kev@v9}]\n", []string{"unknown pack \"credence-no-kev@v9\" (built in: ", "credence-no-kev@v1"}},
		{"unknown parameter", head + "  packs: [{name: credence-no-kev@v1, parameters: {ransomware: true}}]\n", []string{"unknown parameter \"ransomware\" (known: ransomwareOnly)"}},
		{"required parameter", head + "  packs: [{name: credence-slsa@v1, parameters: {builders: [x]}}]\n", []string{"parameter repositories is required"}},
		{"bad enum", head + "  packs: [{name: credence-no-fixable-critical@v1, parameters: {minSeverity: severe}}]\n", []string{"\"severe\" is not one of critical, high, medium, low"}},
		{"bad mode", head + "  rules: [{id: r, expression: 'true', mode: block}]\n", []string{"mode \"block\": want enforce, warn or audit"}},
		{"bad failure mode", head + "  failureMode: fail-safe\n  rules: [{id: r, expression: 'true'}]\n", []string{"failureMode \"fail-safe\""}},
		{"wrong apiVersion", "apiVersion: v1\nkind: Policy\nmetadata: {name: p}\nspec: {}\n", []string{"want policy.credence.dev/v1"}},
		{"exemption of nothing", head + "  rules: [{id: r, expression: 'true'}]\n  exemptions: [{name: e, reason: r}]\n", []string{"say what it exempts"}},
		{"exemption of an unknown rule", head + "  rules: [{id: r, expression: 'true'}]\n  exemptions: [{name: e, reason: why, rules: [nope], namespaces: [x]}]\n", []string{"no rule or pack \"nope\""}},
		{"no rules", head + "  failureMode: fail-closed\n", []string{"has no rules"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := compileErr(tc.src)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// A rule that costs more than the limit is an evaluation error: it denies
// under fail-closed, warns under fail-open, and never allows.
func TestCostLimit(t *testing.T) {
	rule := `  costLimit: 200
  rules:
    - id: quadratic
      scope: container
      expression: container.findings.all(f, container.findings.all(g, f.id != g.id || f == g))
`
	for _, tc := range []struct {
		mode string
		want policy.Outcome
	}{{"fail-closed", policy.Deny}, {"fail-open", policy.WarnOutcome}} {
		t.Run(tc.mode, func(t *testing.T) {
			d := decide(t, compile(t, head+"  failureMode: "+tc.mode+"\n"+rule), sample(t), "shop/web", nil)
			if d.Outcome != tc.want || d.Failures[0].Result != policy.Errored || !strings.Contains(d.Failures[0].Evidence[0].Error, "cost limit exceeded") {
				t.Errorf("%s", dump(d))
			}
		})
	}
	// Without the limit it passes: the limit, not the rule, decided.
	if d := decide(t, compile(t, head+strings.Replace(rule, "costLimit: 200", "costLimit: 100000000", 1)), sample(t), "shop/web", nil); d.Outcome != policy.Allow {
		t.Errorf("without the limit: %s", dump(d))
	}
	// The request budget bounds the sum over rules.
	d := decide(t, compile(t, packPolicy("credence-pss-baseline@v1", "")+"      mode: enforce\n    - name: credence-no-kev@v1\n", policy.WithRequestBudget(50)), sample(t), "shop/web", nil)
	if d.Outcome != policy.Deny || !strings.Contains(dump(d), "cost budget (50) is spent") {
		t.Errorf("budget: %s", dump(d))
	}
}

// A runtime error (a key a map lacks) is an evaluation error too.
func TestRuntimeError(t *testing.T) {
	d := decide(t, compile(t, head+"  rules:\n    - id: r\n      expression: subject.workload.labels['tier'] == 'web'\n"), sample(t), "shop/web", nil)
	if d.Outcome != policy.Deny || d.Failures[0].Result != policy.Errored || !strings.Contains(d.Failures[0].Message, "no such key") {
		t.Errorf("%s", dump(d))
	}
}

// An image scanned with packages that could not be checked: a rule that
// finds a problem still fails; one that finds none is unknown, not a pass;
// unknown: pass lets it through, recorded; unknown: evaluate decides alone.
func TestPartialUnknown(t *testing.T) {
	a := sample(t)
	var imgs []*assess.Image
	for _, img := range a.Images {
		cp := *img
		cp.Unchecked = []string{"3 OS packages of an unrecognised distribution"}
		imgs = append(imgs, &cp)
	}
	partial := &assess.Assessment{Subjects: a.Subjects, Images: imgs}
	kev := compile(t, packPolicy("credence-no-kev@v1", ""))
	if d := decide(t, kev, partial, "shop/web", nil); d.Outcome != policy.Deny || d.Failures[0].Result != policy.Fail {
		t.Errorf("web (KEV found) must fail: %s", dump(d))
	}
	d := decide(t, kev, partial, "payments/ledger", nil)
	if d.Outcome != policy.Deny || d.Failures[0].Result != policy.Unknown || !strings.Contains(d.Failures[0].Message, "not fully checked: 3 OS packages") {
		t.Errorf("ledger (nothing found, not all checked) must be unknown: %s", dump(d))
	}
	custom := func(unknown string) *policy.Engine {
		return compile(t, head+"  rules:\n    - id: r\n      scope: container\n      unknown: "+unknown+"\n      expression: \"!container.findings.exists(f, f.kev)\"\n")
	}
	d = decide(t, custom("pass"), partial, "payments/ledger", nil)
	if d.Outcome != policy.Allow || len(d.Failures) != 1 || d.Failures[0].Effect != policy.EffectPass {
		t.Errorf("unknown: pass must allow and record: %s", dump(d))
	}
	if d := decide(t, custom("pass"), a, "shop/worker", nil); d.Outcome != policy.Allow || d.Failures[0].Result != policy.Unknown {
		t.Errorf("unknown: pass on an unscanned image: %s", dump(d))
	}
	if d := decide(t, custom("evaluate"), a, "shop/worker", nil); d.Outcome != policy.Allow || len(d.Failures) != 0 {
		t.Errorf("unknown: evaluate takes the expression's word (no findings on an unscanned image): %s", dump(d))
	}
	scanned := compile(t, head+"  rules:\n    - id: r\n      scope: container\n      unknown: evaluate\n      expression: container.image.scanned && container.counts.kev == 0\n")
	if d := decide(t, scanned, a, "shop/worker", nil); d.Outcome != policy.Deny || d.Failures[0].Result != policy.Fail {
		t.Errorf("a rule that handles unknowns itself: %s", dump(d))
	}
}

// Match by namespace, labels and image; exemptions by workload, image and
// namespace, with expiry.
func TestMatchAndExemptions(t *testing.T) {
	a := sample(t)
	kev := "  packs: [{name: credence-no-kev@v1}, {name: credence-pss-baseline@v1}]\n"
	for _, tc := range []struct {
		name, spec, ref string
		want            policy.Outcome
		rules           int
		exempted        []string
		note            string
	}{
		{"namespace glob selects", "  match: {namespaces: ['sh*']}\n" + kev, "shop/web", policy.Deny, 2, nil, ""},
		{"namespace glob skips", "  match: {namespaces: ['sh*']}\n" + kev, "payments/ledger", policy.Allow, 0, nil, ""},
		{"excluded namespace", "  match: {excludeNamespaces: [shop]}\n" + kev, "shop/web", policy.Allow, 0, nil, ""},
		{"label selector", "  match: {labelSelector: {matchExpressions: [{key: app, operator: In, values: [api, worker]}]}}\n" + kev, "shop/web", policy.Allow, 0, nil, ""},
		{"label selector selects", "  match: {labelSelector: {matchLabels: {app: api}}}\n" + kev, "shop/api", policy.Deny, 2, nil, ""},
		{"image glob: * stays in a segment", "  match: {images: ['registry.example.com/*']}\n" + kev, "shop/web", policy.Allow, 0, nil, ""},
		{"image glob: ** crosses segments", "  match: {images: ['registry.example.com/**']}\n" + kev, "shop/web", policy.Deny, 2, nil, ""},
		{"image regexp", "  match: {imageRegexps: ['^registry\\.example\\.com/payments/']}\n" + kev, "payments/ledger", policy.Allow, 2, nil, ""},
		{"image regexp skips", "  match: {imageRegexps: ['^registry\\.example\\.com/payments/']}\n" + kev, "shop/worker", policy.Allow, 0, nil, ""},
		{"exempt a workload from one pack", kev + "  exemptions:\n    - {name: legacy, reason: migrating, rules: [credence-no-kev@v1], workloads: [shop/worker]}\n",
			"shop/worker", policy.Deny, 1, []string{"credence-no-kev@v1/no-kev"}, ""},
		{"exempt a workload from every rule", kev + "  exemptions:\n    - {name: legacy, reason: migrating, workloads: ['shop/Deployment/work*']}\n",
			"shop/worker", policy.Allow, 0, []string{"credence-no-kev@v1/no-kev", "credence-pss-baseline@v1/pod-security-baseline"}, ""},
		{"exemption by image covers container rules", kev + "  exemptions:\n    - {name: vendor, reason: vendor image, images: ['registry.example.com/shop/worker:*']}\n",
			"shop/worker", policy.Allow, 0, []string{"credence-no-kev@v1/no-kev", "credence-pss-baseline@v1/pod-security-baseline"}, ""},
		{"exemption by another image", kev + "  exemptions:\n    - {name: vendor, reason: vendor image, images: ['registry.example.com/shop/web:*']}\n",
			"shop/worker", policy.Deny, 2, nil, ""},
		{"expired exemption", kev + "  exemptions:\n    - {name: legacy, reason: migrating, expires: 2026-05-31, namespaces: [shop]}\n",
			"shop/worker", policy.Deny, 2, nil, "exemption legacy of policy p expired on 2026-06-01T00:00:00Z"},
		{"exemption through its last day", kev + "  exemptions:\n    - {name: legacy, reason: migrating, expires: 2026-06-01, namespaces: [shop]}\n",
			"shop/worker", policy.Allow, 0, []string{"credence-no-kev@v1/no-kev", "credence-pss-baseline@v1/pod-security-baseline"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(t, compile(t, head+tc.spec), a, tc.ref, nil)
			var ex []string
			for _, e := range d.Exempted {
				ex = append(ex, e.Rule)
			}
			if d.Outcome != tc.want || d.Evaluated != tc.rules || strings.Join(ex, ",") != strings.Join(tc.exempted, ",") {
				t.Errorf("decision %s after %d rules, exempted %v; want %s, %d, %v: %s", d.Outcome, d.Evaluated, ex, tc.want, tc.rules, tc.exempted, dump(d))
			}
			if tc.note != "" && !strings.Contains(strings.Join(d.Notes, "\n"), tc.note) {
				t.Errorf("notes %v lack %q", d.Notes, tc.note)
			}
		})
	}
}

// Modes: warn warns, audit records, a message expression names the target.
func TestModes(t *testing.T) {
	a := sample(t)
	d := decide(t, compile(t, head+"  packs: [{name: credence-no-kev@v1, mode: warn}, {name: credence-pss-baseline@v1, mode: audit}]\n"), a, "shop/worker", nil)
	if d.Outcome != policy.WarnOutcome || len(d.Failures) != 2 || d.Failures[0].Effect != policy.EffectWarn || d.Failures[1].Effect != policy.EffectAudit {
		t.Errorf("%s", dump(d))
	}
	if w := d.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], "credence-no-kev@v1/no-kev: container worker: cannot tell") {
		t.Errorf("warnings %q", w)
	}
	d = decide(t, compile(t, head+"  packs: [{name: credence-pss-baseline@v1, mode: audit}]\n"), a, "shop/api", nil)
	if d.Outcome != policy.Allow || d.Failures[0].Effect != policy.EffectAudit {
		t.Errorf("audit only records: %s", dump(d))
	}
	custom := head + `  parameters: {team: payments}
  rules:
    - id: owned
      message: every workload needs an owner label
      expression: "'owner' in subject.workload.labels"
    - id: exposed-critical
      scope: container
      mode: warn
      expression: container.exposure.level != 'internet' || container.counts.critical == 0
      messageExpression: "'container ' + container.name + ' is exposed to the internet with ' + string(container.counts.critical) + ' critical findings (team ' + params.team + ')'"
`
	d = decide(t, compile(t, custom), a, "shop/web", nil)
	if d.Outcome != policy.Deny || d.Failures[0].Message != "every workload needs an owner label" ||
		d.Failures[1].Message != "container web is exposed to the internet with 4 critical findings (team payments)" {
		t.Errorf("%s", dump(d))
	}
}

// Evaluate is deterministic: the same input gives the same decision.
func TestDeterministic(t *testing.T) {
	e := compile(t, allPacks)
	a := sample(t)
	first := dump(decide(t, e, a, "shop/web", nil))
	for i := 0; i < 20; i++ {
		if got := dump(decide(t, e, a, "shop/web", nil)); got != first {
			t.Fatalf("run %d differs:\n%s\n---\n%s", i, got, first)
		}
	}
}

// Needs: what the policies will read per image, before any I/O; an image
// exempted from the provenance rules needs no registry call.
func TestNeeds(t *testing.T) {
	e := compile(t, head+`  packs: [{name: credence-signed@v1}, {name: credence-pss-baseline@v1}, {name: credence-image-source@v1, parameters: {registries: [ghcr.io]}}]
  exemptions:
    - {name: base, reason: distroless base images are verified upstream, rules: [credence-signed@v1], images: ['gcr.io/distroless/**']}
`)
	got := e.Needs(policy.Target{Namespace: "shop", Kind: "Deployment", Name: "web", Images: []string{"ghcr.io/org/app:1", "gcr.io/distroless/static:nonroot"}}, now)
	want := []policy.Need{{Image: "ghcr.io/org/app:1", Provenance: true}, {Image: "gcr.io/distroless/static:nonroot"}}
	if dump(got) != dump(want) {
		t.Errorf("needs %s, want %s", dump(got), dump(want))
	}
}

// The policy digest changes with the policy (a webhook sees a new policy
// at once) and not otherwise.
func TestDigest(t *testing.T) {
	a, b := compile(t, allPacks), compile(t, allPacks)
	c := compile(t, strings.Replace(allPacks, "minLikelihood: 0.5", "minLikelihood: 0.6", 1))
	if a.Digest() != b.Digest() || a.Digest() == c.Digest() {
		t.Errorf("digests %s %s %s", a.Digest(), b.Digest(), c.Digest())
	}
}

// The example policy in testdata parses and compiles, and every built-in
// pack has a test case in TestBuiltinPacks.
func TestExamplePolicy(t *testing.T) {
	docs, err := policy.Parse("testdata/example.yaml", mustRead(t, "testdata/example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Compile(docs); err != nil {
		t.Fatal(err)
	}
}

// allPacks uses every built-in pack.
const allPacks = head + `  packs:
    - name: credence-pss-baseline@v1
    - name: credence-pss-restricted@v1
    - name: credence-no-kev@v1
    - name: credence-no-fixable-critical@v1
    - name: credence-signed@v1
    - name: credence-slsa@v1
      parameters: {builders: ["https://github.com/actions/runner/"], repositories: ["git+https://github.com/example/"]}
    - name: credence-image-source@v1
      parameters: {registries: [registry.example.com]}
    - name: credence-no-new-critical-path@v1
      parameters: {minLikelihood: 0.5}
`

func TestEveryPackCovered(t *testing.T) {
	var names []string
	for _, p := range policy.Packs() {
		names = append(names, p.ID)
		if !strings.Contains(allPacks, p.ID) {
			t.Errorf("pack %s is not in allPacks (the benchmark and TestDeterministic)", p.ID)
		}
	}
	if len(names) != 8 {
		t.Errorf("packs %v", names)
	}
	if _, ok := policy.PackSource("credence-no-kev@v1"); !ok {
		t.Error("no source for credence-no-kev@v1")
	}
}

// BenchmarkEvaluate: one Subject against every built-in pack (9 rules), as
// a webhook evaluates each request: shop/web (37 findings, 5 paths, 6 rules
// fail with their messages and evidence) and payments/ledger (clean
// image; fails only the provenance, SLSA and new-path rules).
func BenchmarkEvaluate(b *testing.B) {
	e := compile(b, allPacks)
	a := sample(b)
	images := policy.NewImageIndex(a.Images...)
	for _, ref := range []string{"shop/web", "payments/ledger"} {
		b.Run(strings.ReplaceAll(ref, "/", "-"), func(b *testing.B) {
			in := policy.Input{Subject: subject(b, a, ref), Images: images, Now: time.Now()}
			b.ReportAllocs()
			var d policy.Decision
			for b.Loop() {
				d = e.Evaluate(in)
			}
			b.ReportMetric(float64(d.Cost), "celcost/op")
			b.ReportMetric(float64(len(d.Failures)), "failing/op")
			if d.Outcome != policy.Deny {
				b.Fatal(dump(d))
			}
		})
	}
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
