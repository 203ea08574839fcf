package inventory_test

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/all"
	"github.com/credence-dev/credence/inventory/extractortest"
)

// The fixture-app image (real Debian bookworm plus an app layer, a whiteout
// layer and an opaque-directory layer), read as an OCI layout and as a
// docker-archive, must give exactly the dpkg packages its EXPECTED/dpkg.tsv
// lists (from dpkg-query in the final rootfs), each attributed to the layer
// whose tar first holds its var/lib/dpkg/info/<pkg>.list file.
func TestFixtureAppDpkg(t *testing.T) {
	fx := testutil.DebianFixtures(t)
	want := readTSV(t, filepath.Join(fx, "EXPECTED", "dpkg.tsv"))
	wantLayer := dpkgListLayers(t, filepath.Join(fx, "oci", "fixture-app"))
	for _, ref := range extractortest.FixtureRefs(t) {
		t.Run(strings.SplitN(ref, ":", 2)[0], func(t *testing.T) {
			inv := scan(t, ref)
			if inv.Distro == nil || inv.Distro.Ecosystem != "Debian:12" {
				t.Fatalf("distro = %+v, want Debian:12", inv.Distro)
			}
			var got [][]string
			layers := map[string]int{}
			for _, p := range inv.Packages {
				if p.Type != inventory.TypeDeb {
					continue
				}
				got = append(got, []string{p.Name, p.Version, p.SourceName, p.SourceVersion, p.Arch})
				if p.Layer == nil {
					t.Errorf("%s has no layer", p.Name)
					continue
				}
				layers[p.Name] = p.Layer.Index
				if p.Ecosystem != "Debian:12" || !strings.HasPrefix(p.PURL, "pkg:deb/debian/") {
					t.Errorf("%s: ecosystem %q purl %q", p.Name, p.Ecosystem, p.PURL)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("dpkg packages (-EXPECTED/dpkg.tsv +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantLayer, layers); diff != "" {
				t.Errorf("layer of each package (-info/*.list +got):\n%s", diff)
			}
		})
	}
}

// The whiteouts of layer 3 and the opaque directory of layer 4 hide files
// the earlier layers hold.
func TestFixtureAppWhiteouts(t *testing.T) {
	oci := extractortest.FixtureRefs(t)[0]
	img, err := image.Open(context.Background(), oci)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := img.Walk(context.Background(), func(*image.Entry, io.Reader) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"usr/local/bin/gotool", "opt/legacy/node_modules/lodash/package.json", "etc/goapp/old.yaml"} {
		if e, ok := tree.Lookup(gone); ok {
			t.Errorf("%s is visible (layer %d); EXPECTED/removed.txt says it is deleted", gone, e.Layer)
		}
	}
	if e, ok := tree.Lookup("etc/goapp/config.yaml"); !ok || e.Layer != 3 {
		t.Errorf("etc/goapp/config.yaml = %+v, want the layer-3 version", e)
	}
	if e, ok := tree.Lookup("usr/local/bin/goapp"); !ok || e.Layer != 1 {
		t.Errorf("usr/local/bin/goapp = %+v, want layer 1", e)
	}
	inv := scan(t, oci)
	for _, p := range inv.Packages {
		// opt/legacy/package-lock.json survives the whiteout of
		// opt/legacy/node_modules, but what it lists is gone.
		if p.Name == "github.com/dgrijalva/jwt-go" || (p.Name == "lodash" && p.Version == "4.17.4") {
			t.Errorf("%s is reported at %v, but its file was deleted by a whiteout", p, p.Locations)
		}
	}
}

func scan(t *testing.T, ref string) *inventory.Inventory {
	t.Helper()
	inv := extractortest.ScanFixture(t, ref, all.Extractors()...)
	if inv.Status.State != inventory.Succeeded {
		b, _ := json.MarshalIndent(inv.Status, "", " ")
		t.Errorf("scan of %s: %s", ref, b)
	}
	return inv
}

func readTSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() != "" {
			out = append(out, strings.Split(sc.Text(), "\t"))
		}
	}
	return out
}

// dpkgListLayers reads the OCI layout with the standard library alone and
// returns, for each package, the first layer whose tar holds its
// var/lib/dpkg/info/<name>[:arch].list: the layer dpkg installed it in.
func dpkgListLayers(t *testing.T, dir string) map[string]int {
	t.Helper()
	var index struct{ Manifests []struct{ Digest string } }
	readJSON(t, filepath.Join(dir, "index.json"), &index)
	var manifest struct{ Layers []struct{ Digest string } }
	readJSON(t, blobPath(dir, index.Manifests[0].Digest), &manifest)
	out := map[string]int{}
	for i, l := range manifest.Layers {
		f, err := os.Open(blobPath(dir, l.Digest))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimPrefix(h.Name, "./")
			if rest, ok := strings.CutPrefix(name, "var/lib/dpkg/info/"); ok && strings.HasSuffix(rest, ".list") {
				pkg, _, _ := strings.Cut(strings.TrimSuffix(rest, ".list"), ":")
				if _, seen := out[pkg]; !seen {
					out[pkg] = i
				}
			}
		}
		f.Close()
	}
	return out
}

func blobPath(dir, digest string) string {
	alg, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(dir, "blobs", alg, hex)
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
