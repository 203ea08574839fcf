package sbom_test

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/schematest"
	"github.com/credence-dev/credence/sbom"
)

// The definition of done: on fixture-app, read as an OCI layout and
// as a docker-archive, the CycloneDX SBOM lists exactly the packages of
// EXPECTED/ (120 dpkg, the npm packages under node_modules, the Go binary's
// modules and toolchain, the Python metadata directories), each with its
// layer; jwt-go and lodash 4.17.4, deleted by whiteouts, are absent. Both
// SBOM formats validate against the official schemas.
func TestFixtureAppSBOM(t *testing.T) {
	fx := testutil.DebianFixtures(t)
	want := expectedComponents(t, filepath.Join(fx, "EXPECTED"))
	for _, ref := range []string{"oci:" + filepath.Join(fx, "oci", "fixture-app"), "docker-archive:" + filepath.Join(fx, "fixture-app.docker.tar")} {
		t.Run(strings.SplitN(ref, ":", 2)[0], func(t *testing.T) {
			img, inv := scan(t, ref)
			var buf bytes.Buffer
			if err := sbom.WriteCycloneDX(&buf, sbom.CycloneDX(img, inv, fixedOptions...)); err != nil {
				t.Fatal(err)
			}
			schematest.Validate(t, schematest.CycloneDX(t), buf.Bytes())
			var got []string
			for _, c := range decodeComponents(t, buf.Bytes()) {
				if c.Type == "operating-system" {
					got = append(got, "os "+c.Name+" "+c.Version)
					continue
				}
				kind := strings.SplitN(strings.TrimPrefix(c.PURL, "pkg:"), "/", 2)[0]
				name := c.Name
				if kind == "pypi" {
					name = pep503(name)
				}
				got = append(got, kind+" "+name+" "+c.Version)
				if c.prop(sbom.PropLayerIndex) == "" || c.prop(sbom.PropLayerDigest)+c.prop(sbom.PropLayerDiffID) == "" || c.prop(sbom.PropLayerCreatedBy) == "" {
					t.Errorf("%s %s has no layer properties", c.Name, c.Version)
				}
				if kind != "deb" && c.prop(sbom.PropLayerIndex) != "1" {
					t.Errorf("%s %s is attributed to layer %s; the app layer is 1", c.Name, c.Version, c.prop(sbom.PropLayerIndex))
				}
				if len(c.Evidence.Occurrences) == 0 {
					t.Errorf("%s %s has no paths", c.Name, c.Version)
				}
			}
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("components (-EXPECTED +got):\n%s", diff)
			}
			buf.Reset()
			if err := sbom.WriteSPDX(&buf, sbom.SPDX(img, inv, fixedOptions...)); err != nil {
				t.Fatal(err)
			}
			schematest.Validate(t, schematest.SPDX(t), buf.Bytes())
		})
	}
}

// expectedComponents reads the fixture builder's ground truth.
func expectedComponents(t *testing.T, dir string) []string {
	t.Helper()
	want := []string{"os debian 12"}
	for _, f := range lines(t, filepath.Join(dir, "dpkg.tsv")) {
		fields := strings.Split(f, "\t")
		want = append(want, "deb "+fields[0]+" "+fields[1])
	}
	for _, f := range lines(t, filepath.Join(dir, "npm.tsv")) {
		fields := strings.Split(f, "\t")
		want = append(want, "npm "+fields[0]+" "+fields[1])
	}
	// go-binaries.txt is `go version -m` of each binary the image keeps:
	// "# path", "<path>: go1.X.Y", then path/mod/dep lines.
	for _, f := range lines(t, filepath.Join(dir, "go-binaries.txt")) {
		fields := strings.Fields(f)
		switch {
		case len(fields) == 2 && strings.HasPrefix(fields[1], "go1."):
			want = append(want, "golang stdlib v"+strings.TrimPrefix(fields[1], "go"))
		case len(fields) >= 3 && (fields[0] == "mod" || fields[0] == "dep"):
			want = append(want, "golang "+fields[1]+" "+fields[2])
		}
	}
	// python-metadata.txt lists <name>-<version>.(dist|egg)-info directories.
	re := regexp.MustCompile(`^(.+?)-([0-9][^-]*)\.(dist|egg)-info$`)
	for _, f := range lines(t, filepath.Join(dir, "python-metadata.txt")) {
		m := re.FindStringSubmatch(path.Base(f))
		if m == nil {
			t.Fatalf("cannot read %q", f)
		}
		want = append(want, "pypi "+pep503(m[1])+" "+m[2])
	}
	slices.Sort(want)
	return want
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}

// pep503 normalises a Python project name.
func pep503(name string) string {
	return strings.ToLower(regexp.MustCompile(`[-_.]+`).ReplaceAllString(name, "-"))
}
