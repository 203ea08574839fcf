package sarif_test

import (
	"bytes"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/schematest"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/report/sarif"
)

func TestWriteImage(t *testing.T) {
	lodash := &inventory.Package{Name: "lodash", Version: "4.17.4", Type: "npm", Ecosystem: "npm", PURL: "pkg:npm/lodash@4.17.4",
		Locations: []string{"app/package-lock.json"}, Layer: &inventory.Layer{Index: 1, Digest: "sha256:abc"}}
	log4j := &inventory.Package{Name: "log4j-core", Namespace: "org.apache.logging.log4j", Version: "2.14.1", Type: "maven", Ecosystem: "Maven",
		PURL: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", Locations: []string{"app/lib/log4j-core-2.14.1.jar"}}
	fs := []match.Finding{
		{ID: "GHSA-jf85-cpcp-j695", Aliases: []string{"CVE-2019-10744"}, Summary: "Prototype Pollution in lodash", Package: lodash, Installed: "4.17.4",
			Fixed: []string{"4.17.12"}, FixState: match.FixAvailable, Severity: match.Severity{Level: match.Critical, Score: 9.1, Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:H"},
			References: []string{"https://github.com/advisories/GHSA-jf85-cpcp-j695"}},
		{ID: "GHSA-jfh8-c2jp-5v3q", Aliases: []string{"CVE-2021-44228"}, Summary: "Remote code injection in Log4j", Package: log4j, Installed: "2.14.1",
			Fixed: []string{"2.15.0"}, FixState: match.FixAvailable, Severity: match.Severity{Level: match.Critical},
			KEV:        &match.KEV{CVE: "CVE-2021-44228", DateAdded: "2021-12-10", KnownRansomwareCampaignUse: "Known"},
			Suppressed: &match.Suppression{Reason: "JndiLookup removed", RuleID: "CVE-2021-44228"}},
		{ID: "X-OPEN", Package: lodash, Installed: "4.17.4", FixState: match.NoFixYet, Severity: match.Severity{Level: match.Unknown}},
	}
	var buf bytes.Buffer
	if err := sarif.WriteImage(&buf, sarif.Image{ImageRef: "testdata/images/sample", ImageID: "sha256:1", Findings: fs, ToolVersion: "test"}); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "testdata/sample.sarif.json", buf.Bytes())

	// Valid against the SARIF 2.1.0 schema (testdata/schema, with its licence).
	s := schematest.SARIF(t)
	schematest.Validate(t, s, buf.Bytes())
	// A broken log is caught (the validation is live).
	if err := s.Validate(map[string]any{"version": "2.1.0"}); err == nil {
		t.Errorf("a log without runs validated")
	}
}
