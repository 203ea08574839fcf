package sbom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/schematest"
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
	schematest.Validate(t, schematest.CycloneDX(t), cdxOut.Bytes())
	schematest.Validate(t, schematest.SPDX(t), spdxOut.Bytes())
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
	if err := schematest.CycloneDX(t).Validate(inst(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"no-such-type","name":"x"}]}`)); err == nil {
		t.Error("CycloneDX schema accepted an unknown component type")
	}
	if err := schematest.SPDX(t).Validate(inst(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"x","primaryPackagePurpose":"OPERATING-SYSTEM"}]}`)); err == nil {
		t.Error("SPDX schema accepted an unknown package purpose")
	}
}
