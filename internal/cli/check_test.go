//go:build !node && !scan

package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/schematest"
	"github.com/credence-dev/credence/internal/testutil/signtest"
	"github.com/credence-dev/credence/provenance"
)

var sampleCheckArgs = []string{"check", "-f", "../../testdata/cluster/manifests", "--images", "../../testdata/cluster/images",
	"--db", "sample", "--offline", "--no-cache", "--no-progress"}

// The CI gate on the sample cluster with the default policy (Pod Security
// baseline, no KEV): web has Log4Shell, api is privileged, worker mounts the
// containerd socket and its image cannot be scanned; ledger passes.
func TestCheckGolden(t *testing.T) {
	code, out, errs := runCLI(sampleCheckArgs...)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (denied): %s", code, errs)
	}
	testutil.Golden(t, "testdata/check-sample.txt", []byte(out))
	if !strings.Contains(errs, "credence: 3 of 4 workloads denied: shop/Deployment/api, shop/Deployment/web, shop/Deployment/worker") {
		t.Errorf("stderr: %s", errs)
	}
	// The same with the example policy of the README.
	code, out, errs = runCLI(append(sampleCheckArgs, "--policy", "../../policy/testdata/example.yaml")...)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	testutil.Golden(t, "testdata/check-example.txt", []byte(out))
}

type checkJSON struct {
	Version   string `json:"version"`
	Decisions []struct {
		Workload string `json:"workload"`
		Decision string `json:"decision"`
		Failures []struct {
			Rule, Effect, Result string
			Evidence             []struct {
				Container string
				Items     []string
			}
		} `json:"failures"`
		Exempted []struct{ Rule, Exemption string } `json:"exempted"`
	} `json:"decisions"`
	Summary struct{ Workloads, Allow, Warn, Deny int } `json:"summary"`
}

func (c checkJSON) decision(t *testing.T, w string) (string, []string) {
	t.Helper()
	for _, d := range c.Decisions {
		if d.Workload == w {
			var rules []string
			for _, f := range d.Failures {
				rules = append(rules, f.Rule+"="+f.Effect+"/"+f.Result)
			}
			return d.Decision, rules
		}
	}
	t.Fatalf("no decision for %s", w)
	return "", nil
}

func TestCheckJSONAndSARIF(t *testing.T) {
	code, out, errs := runCLI(append(sampleCheckArgs, "-o", "json")...)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var c checkJSON
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	if c.Version != CheckVersion || c.Summary != (struct{ Workloads, Allow, Warn, Deny int }{4, 1, 0, 3}) {
		t.Errorf("%+v", c.Summary)
	}
	if d, rules := c.decision(t, "shop/Deployment/worker"); d != "deny" ||
		strings.Join(rules, " ") != "credence-pss-baseline@v1/pod-security-baseline=deny/fail credence-no-kev@v1/no-kev=deny/unknown" {
		t.Errorf("worker: %s %v", d, rules)
	}

	code, out, errs = runCLI(append(sampleCheckArgs, "-o", "sarif", "--policy", "../../policy/testdata/example.yaml")...)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	schematest.Validate(t, schematest.SARIF(t), []byte(out))
	var log struct {
		Runs []struct {
			Tool struct {
				Driver struct{ Rules []struct{ ID string } }
			}
			Results []struct {
				RuleID, Level string
				Message       struct{ Text string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if len(run.Tool.Driver.Rules) != 12 {
		t.Errorf("%d rules, want 11 (8 pack rules and 3 custom)", len(run.Tool.Driver.Rules))
	}
	// One result per failing rule per workload: as many as the JSON has.
	_, jout, _ := runCLI(append(sampleCheckArgs, "-o", "json", "--policy", "../../policy/testdata/example.yaml")...)
	var cj checkJSON
	if err := json.Unmarshal([]byte(jout), &cj); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range cj.Decisions {
		n += len(d.Failures)
	}
	if len(run.Results) != n || n == 0 {
		t.Errorf("%d SARIF results, %d failures in JSON", len(run.Results), n)
	}
	found := false
	for _, r := range run.Results {
		if r.RuleID == "credence-no-kev@v1/no-kev" && r.Level == "error" && strings.Contains(r.Message.Text, "CVE-2021-44228") {
			found = true
		}
	}
	if !found {
		t.Error("no error-level no-kev result naming CVE-2021-44228")
	}
}

// --baseline: against the same cluster's assessment no path is new; against
// no path at all, every path to a critical asset is.
func TestCheckBaseline(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "paths.yaml")
	writeTestFile(t, pol, "apiVersion: policy.credence.dev/v1\nkind: Policy\nmetadata: {name: paths}\nspec:\n  packs: [{name: credence-no-new-critical-path@v1}]\n")
	code, out, errs := runCLI(append(sampleClusterArgs, "-o", "json")...)
	if code != 0 {
		t.Fatalf("assess: exit %d: %s", code, errs)
	}
	base := filepath.Join(dir, "before.json")
	writeTestFile(t, base, out)
	if code, out, errs := runCLI(append(sampleCheckArgs, "--policy", pol, "--baseline", base)...); code != 0 || !strings.Contains(out, "0 denied, 0 warned, 4 allowed") {
		t.Errorf("same cluster as baseline: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runCLI(append(sampleCheckArgs, "--policy", pol)...)
	if code != 1 || !strings.Contains(out, "Secret payments/ledger-db at 1: shop/web/web → ServiceAccount shop/web (TOKEN_STEAL)") {
		t.Errorf("no baseline: exit %d\n%s", code, out)
	}
	// A baseline from before the RoleBinding: web's path to the secret is new.
	var a map[string]any
	if err := json.Unmarshal(mustReadFile(t, base), &a); err != nil {
		t.Fatal(err)
	}
	for _, s := range a["subjects"].([]any) {
		for _, c := range s.(map[string]any)["containers"].([]any) {
			br := c.(map[string]any)["blastRadius"].(map[string]any)
			var kept []any
			for _, as := range br["assets"].([]any) {
				if as.(map[string]any)["key"] != "secret:payments/ledger-db" {
					kept = append(kept, as)
				}
			}
			br["assets"] = kept
			br["counts"].(map[string]any)["criticalAssets"] = float64(len(kept))
		}
	}
	b, _ := json.Marshal(a)
	writeTestFile(t, base, string(b))
	code, out, _ = runCLI(append(sampleCheckArgs, "--policy", pol, "--baseline", base, "-o", "json")...)
	var c checkJSON
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	// Every workload reaches the secret (web through its token, the others
	// through web or the node); only that path is new, not the node's.
	if code != 1 || c.Summary.Deny != 4 {
		t.Errorf("exit %d: %+v", code, c.Summary)
	}
	for _, d := range c.Decisions {
		for _, f := range d.Failures {
			for _, ev := range f.Evidence {
				for _, it := range ev.Items {
					if !strings.HasPrefix(it, "Secret payments/ledger-db at ") {
						t.Errorf("%s: %s is not new", d.Workload, it)
					}
				}
			}
		}
	}
}

// Bad input exits 2 with a one-line error naming the file and position.
func TestCheckBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeTestFile(t, bad, "apiVersion: policy.credence.dev/v1\nkind: Policy\nmetadata: {name: x}\nspec:\n  rules:\n    - id: r\n      expression: subject.workload.nam == 'x'\n")
	unknownField := filepath.Join(dir, "field.yaml")
	writeTestFile(t, unknownField, "apiVersion: policy.credence.dev/v1\nkind: Policy\nmetadata: {name: x}\nspec:\n  packs: [{name: credence-no-kev@v1, mod: warn}]\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"CEL error", []string{"--policy", bad}, "bad.yaml:7:35: rule x/r: expression does not compile: undefined field 'nam'"},
		{"unknown field", []string{"--policy", unknownField}, "field.yaml:5:38: unknown field \"mod\""},
		{"missing policy file", []string{"--policy", filepath.Join(dir, "nope.yaml")}, "--policy: open"},
		{"offline cannot verify", []string{"--key", bad}, "--offline cannot verify provenance"},
		{"baseline not an assessment", []string{"--baseline", bad}, "not an assessment"},
		{"no manifests", []string{"-f", ""}, "say what to check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(append(append([]string{}, sampleCheckArgs...), tc.args...)...)
			if code != 2 || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
				t.Errorf("exit %d, stderr %q, want %q", code, errs, tc.want)
			}
		})
	}
}

func TestCheckListPacks(t *testing.T) {
	code, out, _ := runCLI("check", "--list-packs")
	if code != 0 || !strings.Contains(out, "credence-slsa@v1") || !strings.Contains(out, "parameter builders (list, required)") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	code, out, _ = runCLI("check", "--show-pack", "credence-no-kev@v1")
	if code != 0 || !strings.Contains(out, "kind: Pack") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// Provenance verified in check against a real registry: the sample images
// pushed to go-containerregistry's registry, web signed (and attested) in
// the test with a key made here, api unsigned.
func TestCheckProvenance(t *testing.T) {
	host := signtest.Registry(t)
	root := testutil.RepoRoot(t)
	web := signtest.PushLayout(t, filepath.Join(root, "testdata", "cluster", "images", "web"), host+"/shop/web:1.4")
	signtest.PushLayout(t, filepath.Join(root, "testdata", "cluster", "images", "api"), host+"/shop/api:2.0")
	k := signtest.NewKey(t)
	signtest.Sign(t, k, web)
	signtest.Attest(t, k, web, provenance.PredicateSLSAv1, signtest.SLSAv1("https://github.com/actions/runner/github-hosted", "https://github.com/example/shop"))
	dir := t.TempDir()
	pub := k.WritePublic(t, dir, "cosign.pub")
	other := signtest.NewKey(t).WritePublic(t, dir, "other.pub")
	manifests := filepath.Join(dir, "deploy.yaml")
	writeTestFile(t, manifests, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: %s/shop/web:1.4}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: %s/shop/api:2.0}]
`, host, host))
	pol := filepath.Join(dir, "signed.yaml")
	writeTestFile(t, pol, `apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: supply-chain}
spec:
  packs:
    - name: credence-signed@v1
      parameters: {authorities: [key]}
    - name: credence-slsa@v1
      parameters: {builders: ["https://github.com/actions/runner/"], repositories: ["git+https://github.com/example/"]}
`)
	args := []string{"check", "-f", manifests, "--db", "sample", "--no-cache", "--no-progress", "--policy", pol, "--insecure-ignore-tlog", "-o", "json"}
	code, out, errs := runCLI(append(args, "--key", pub)...)
	var c checkJSON
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("exit %d: %v\n%s", code, err, errs)
	}
	if code != 1 || c.Summary.Allow != 1 || c.Summary.Deny != 1 {
		t.Fatalf("exit %d: %+v\n%s", code, c.Summary, out)
	}
	if d, rules := c.decision(t, "shop/Deployment/web"); d != "allow" {
		t.Errorf("web is signed and attested: %s %v", d, rules)
	}
	if d, rules := c.decision(t, "shop/Deployment/api"); d != "deny" ||
		strings.Join(rules, " ") != "credence-signed@v1/signed=deny/fail credence-slsa@v1/trusted-build=deny/fail" {
		t.Errorf("api is unsigned: %s %v", d, rules)
	}
	// Another key: web's signature exists but does not verify.
	code, out, _ = runCLI(append(args, "--key", other)...)
	c = checkJSON{}
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	if d, _ := c.decision(t, "shop/Deployment/web"); code != 1 || d != "deny" || !strings.Contains(out, "untrusted-key") {
		t.Errorf("signed by an untrusted key: exit %d %s\n%s", code, d, out)
	}
}
