//go:build !node && !scan

package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/schematest"
)

var sampleClusterArgs = []string{"assess", "--manifests", "../../testdata/cluster/manifests", "--images", "../../testdata/cluster/images",
	"--db", "sample", "--offline", "--no-cache", "--no-progress"}

func TestAssessGolden(t *testing.T) {
	code, out, errs := runCLI(sampleClusterArgs...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	testutil.Golden(t, "testdata/assess-sample.txt", []byte(out))
	if !strings.Contains(errs, "embedded sample database") {
		t.Errorf("no sample-database warning: %s", errs)
	}
}

func TestAssessJSON(t *testing.T) {
	code, out, errs := runCLI(append(sampleClusterArgs, "-o", "json", "--from", "shop/web")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var a struct {
		Version  string `json:"version"`
		Subjects []struct {
			Workload struct{ Namespace, Kind, Name string } `json:"workload"`
		} `json:"subjects"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	if a.Version != "credence.dev/assess/v1" || len(a.Subjects) != 1 || a.Subjects[0].Workload.Name != "web" {
		t.Errorf("got %+v", a)
	}
}

func TestAssessSARIF(t *testing.T) {
	code, out, errs := runCLI(append(sampleClusterArgs, "-o", "sarif")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	schematest.Validate(t, schematest.SARIF(t), []byte(out))
	for _, want := range []string{"credence/workload-risk", "credence/exposed-kev", "credence/not-assessed", "CVE-2021-44228"} {
		if !strings.Contains(out, want) {
			t.Errorf("SARIF lacks %s", want)
		}
	}
}

// The gate: KEV findings fail it; a workload that could not be assessed
// fails it unless --allow-unknown; nothing fails without --fail-on.
func TestAssessGate(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"kev", []string{"--fail-on", "kev"}, 1, "with findings in the CISA KEV catalog (--fail-on): shop/web (2)"},
		{"unknown fails", []string{"--fail-on", "critical", "--from", "shop/worker"}, 1, "could not be fully assessed"},
		{"unknown allowed", []string{"--fail-on", "critical", "--from", "shop/worker", "--allow-unknown"}, 0, ""},
		{"clean passes", []string{"--fail-on", "low", "--from", "payments/ledger"}, 0, ""},
		{"no gate", nil, 0, ""},
		{"bad level", []string{"--fail-on", "severe"}, 2, "--fail-on"},
		{"bad from", []string{"--from", "shop/nope"}, 2, "nearest"},
		{"bad size", []string{"--max-image-size", "lots"}, 2, "--max-image-size"},
		{"bad image pair", []string{"--image", "no-equals-sign"}, 2, "REF=IMAGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(append(append([]string{}, sampleClusterArgs...), tc.args...)...)
			if code != tc.code || !strings.Contains(errs, tc.msg) {
				t.Errorf("exit %d, want %d; stderr %q lacks %q", code, tc.code, errs, tc.msg)
			}
		})
	}
}

func TestAssessAlertFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "alerts.json")
	writeTestFile(t, f, `{"rule":"Terminal shell in container","priority":"Notice","output":"A shell was spawned","output_fields":{"k8s.ns.name":"shop","k8s.pod.name":"web-7d9f8c6b5-x2x4z","container.name":"web"}}
garbage
{"rule":"Ghost","output_fields":{"k8s.ns.name":"shop","k8s.pod.name":"nope-1"}}
`)
	code, out, errs := runCLI(append(sampleClusterArgs, "--alert", f)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{`Alert "Terminal shell in container"`, "matched by workload name", "runtime alert → shop/web/web", `Alert "Ghost"`, "not in the snapshot"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "alerts.json:2: not a Falco JSON alert") {
		t.Errorf("stderr lacks the malformed line: %s", errs)
	}
}

// The JSON form is documented by assess/schema.json; the output must hold
// to it, and the schema must reject what it says is wrong.
func TestAssessSchema(t *testing.T) {
	code, out, errs := runCLI(append(sampleClusterArgs, "-o", "json", "--alert", "../../internal/cli/testdata/alerts-sample.json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	schema := schematest.Compile(t, "../../assess/schema.json")
	schematest.Validate(t, schema, []byte(out))
	bad := strings.Replace(out, `"status": "scanned"`, `"status": "clean"`, 1)
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(inst); err == nil {
		t.Error("the schema accepts an image status of \"clean\"")
	}
}
