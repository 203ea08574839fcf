package sbom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/all"
	"github.com/credence-dev/credence/sbom"
)

var fixedOptions = []sbom.Option{sbom.WithTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)), sbom.WithToolVersion("test")}

func scan(t *testing.T, ref string) (*image.Image, *inventory.Inventory) {
	t.Helper()
	img, err := image.Open(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Run(context.Background(), img, all.Extractors(), inventory.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	return img, inv
}

// schema compiles a vendored JSON schema (testdata/schema, with its licence).
func schema(t *testing.T, main string, others ...string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	var mainID string
	for _, name := range append([]string{main}, others...) {
		b, err := os.ReadFile(filepath.Join("testdata", "schema", name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
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

func validate(t *testing.T, s *jsonschema.Schema, b []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("does not validate against the official schema: %v", err)
	}
}

func cyclonedxSchema(t *testing.T) *jsonschema.Schema {
	return schema(t, "bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json")
}

func spdxSchema(t *testing.T) *jsonschema.Schema {
	return schema(t, "spdx-schema-2.3.json")
}

// The sample image's BOMs are valid and stable (golden files).
func TestSampleBOMs(t *testing.T) {
	img, inv := scan(t, filepath.Join(testutil.RepoRoot(t), "testdata", "images", "sample"))
	var cdxOut, spdxOut bytes.Buffer
	if err := sbom.WriteCycloneDX(&cdxOut, sbom.CycloneDX(img, inv, fixedOptions...)); err != nil {
		t.Fatal(err)
	}
	if err := sbom.WriteSPDX(&spdxOut, sbom.SPDX(img, inv, fixedOptions...)); err != nil {
		t.Fatal(err)
	}
	validate(t, cyclonedxSchema(t), cdxOut.Bytes())
	validate(t, spdxSchema(t), spdxOut.Bytes())
	testutil.Golden(t, "testdata/sample.cdx.json", cdxOut.Bytes())
	testutil.Golden(t, "testdata/sample.spdx.json", spdxOut.Bytes())
}

// cdxComponent is the part of a CycloneDX component the tests read.
type cdxComponent struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Version    string `json:"version"`
	PURL       string `json:"purl"`
	Properties []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"properties"`
	Evidence struct {
		Occurrences []struct {
			Location string `json:"location"`
		} `json:"occurrences"`
	} `json:"evidence"`
}

func (c cdxComponent) prop(name string) string {
	for _, p := range c.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

func decodeComponents(t *testing.T, b []byte) []cdxComponent {
	t.Helper()
	var doc struct {
		Components []cdxComponent `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Components
}

// The schema check can fail: a BOM with a broken field is rejected.
func TestSchemasRejectBrokenBOMs(t *testing.T) {
	inst := func(s string) any {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(s)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := cyclonedxSchema(t).Validate(inst(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"no-such-type","name":"x"}]}`)); err == nil {
		t.Error("CycloneDX schema accepted an unknown component type")
	}
	if err := spdxSchema(t).Validate(inst(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"x","primaryPackagePurpose":"OPERATING-SYSTEM"}]}`)); err == nil {
		t.Error("SPDX schema accepted an unknown package purpose")
	}
}
