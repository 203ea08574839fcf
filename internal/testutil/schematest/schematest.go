// Package schematest validates documents in tests against vendored JSON
// schemas (santhosh-tekuri/jsonschema), compiled from their files.
package schematest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/credence-dev/credence/internal/testutil"
)

// The official schemas live beside the code that writes the format, with
// their licences: sbom/testdata/schema and report/sarif/testdata/schema.

// CycloneDX compiles the CycloneDX 1.6 JSON schema.
func CycloneDX(t testing.TB) *jsonschema.Schema {
	t.Helper()
	dir := filepath.Join(testutil.RepoRoot(t), "sbom", "testdata", "schema")
	return Compile(t, filepath.Join(dir, "bom-1.6.schema.json"), filepath.Join(dir, "spdx.schema.json"), filepath.Join(dir, "jsf-0.82.schema.json"))
}

// SPDX compiles the SPDX 2.3 JSON schema.
func SPDX(t testing.TB) *jsonschema.Schema {
	t.Helper()
	return Compile(t, filepath.Join(testutil.RepoRoot(t), "sbom", "testdata", "schema", "spdx-schema-2.3.json"))
}

// SARIF compiles the SARIF 2.1.0 JSON schema.
func SARIF(t testing.TB) *jsonschema.Schema {
	t.Helper()
	return Compile(t, filepath.Join(testutil.RepoRoot(t), "report", "sarif", "testdata", "schema", "sarif-2.1.0-rtm.5.json"))
}

// Compile compiles the schema in the file main, with the schemas it refers
// to in the files others, each known by its "$id" (draft-04: "id"). Formats
// are asserted, not only annotated.
func Compile(t testing.TB, main string, others ...string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	var mainID string
	for _, name := range append([]string{main}, others...) {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m, _ := doc.(map[string]any)
		id, _ := m["$id"].(string)
		if id == "" {
			id, _ = m["id"].(string)
		}
		if id == "" {
			t.Fatalf("%s has no $id", name)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatal(err)
		}
		if name == main {
			mainID = id
		}
	}
	s, err := c.Compile(mainID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Validate fails the test when doc is not JSON or not valid against s.
func Validate(t testing.TB, s *jsonschema.Schema, doc []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("does not validate against the official schema: %v", err)
	}
}
