package inventory_test

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/internal/testutil/imagetest"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/all"
)

func status(pkgs ...string) string {
	var sb strings.Builder
	for _, p := range pkgs {
		name, version, _ := strings.Cut(p, "@")
		sb.WriteString("Package: " + name + "\nStatus: install ok installed\nArchitecture: amd64\nVersion: " + version + "\n\n")
	}
	return sb.String()
}

const debianRelease = "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"

func run(t *testing.T, ref string) *inventory.Inventory {
	t.Helper()
	img, err := image.Open(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	inv, err := inventory.Run(context.Background(), img, all.Extractors(), inventory.WithTempDir(tmp))
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	return inv
}

// layers maps "name@version" to the layer index of each package.
func layers(inv *inventory.Inventory) map[string]int {
	out := map[string]int{}
	for _, p := range inv.Packages {
		l := -1
		if p.Layer != nil {
			l = p.Layer.Index
		}
		out[p.Name+"@"+p.Version] = l
	}
	return out
}

// A package database rewritten by every layer: each package belongs to the
// layer from which every later version of the database still lists it.
func TestLayerAttribution(t *testing.T) {
	img := imagetest.Image(t,
		[]imagetest.File{{Name: "etc/os-release", Body: debianRelease}, {Name: "var/lib/dpkg/status", Body: status("a@1", "b@1", "e@1")}},
		[]imagetest.File{{Name: "var/lib/dpkg/status", Body: status("a@1", "b@2", "c@1", "e@1")}},
		[]imagetest.File{{Name: "var/lib/dpkg/status", Body: status("a@1", "c@1", "d@1")}},
		[]imagetest.File{{Name: "unrelated", Body: "x"}},
		[]imagetest.File{{Name: "var/lib/dpkg/status", Body: status("a@1", "c@1", "d@1", "e@1")}},
	)
	inv := run(t, "oci:"+imagetest.Layout(t, img, ""))
	want := map[string]int{
		"a@1": 0, // never changed
		"c@1": 1,
		"d@1": 2,
		"e@1": 4, // removed in layer 2, installed again in layer 4
	}
	if diff := cmp.Diff(want, layers(inv)); diff != "" {
		t.Errorf("layers (-want +got):\n%s", diff)
	}
	for _, p := range inv.Packages {
		if p.Ecosystem != "Debian:12" || p.Extractor != "dpkg@1" || p.Layer.CreatedBy == "" || p.Layer.Digest == "" {
			t.Errorf("%s: ecosystem %q extractor %q layer %+v", p, p.Ecosystem, p.Extractor, p.Layer)
		}
	}
}

// A database deleted by a whiteout and written again starts a new history;
// a database hidden by an opaque directory is not reported at all.
func TestLayerAttributionAcrossDeletion(t *testing.T) {
	img := imagetest.Image(t,
		[]imagetest.File{{Name: "etc/os-release", Body: debianRelease}, {Name: "var/lib/dpkg/status", Body: status("a@1")}, {Name: "var/lib/dpkg/status.d/old", Body: status("old@1")}},
		[]imagetest.File{{Name: "var/lib/dpkg/.wh.status"}, {Name: "var/lib/dpkg/status.d/", Typeflag: tar.TypeDir}, {Name: "var/lib/dpkg/status.d/.wh..wh..opq"}},
		[]imagetest.File{{Name: "var/lib/dpkg/status", Body: status("a@1", "b@1")}},
	)
	inv := run(t, "oci:"+imagetest.Layout(t, img, ""))
	if diff := cmp.Diff(map[string]int{"a@1": 2, "b@1": 2}, layers(inv)); diff != "" {
		t.Errorf("layers (-want +got):\n%s", diff)
	}
}

// A hardlink gets the packages of the file it links to, when that file was
// read; otherwise the scan warns.
func TestHardlinks(t *testing.T) {
	img := imagetest.Image(t, []imagetest.File{
		{Name: "etc/os-release", Body: debianRelease},
		{Name: "var/lib/dpkg/status.d/a", Body: status("a@1")},
		{Name: "var/lib/dpkg/status.d/a-link", Typeflag: tar.TypeLink, Link: "var/lib/dpkg/status.d/a"},
		{Name: "elsewhere", Body: status("b@1")},
		{Name: "var/lib/dpkg/status.d/b", Typeflag: tar.TypeLink, Link: "elsewhere"},
	})
	inv := run(t, "oci:"+imagetest.Layout(t, img, ""))
	var locations []string
	for _, p := range inv.Packages {
		locations = append(locations, p.Name+":"+strings.Join(p.Locations, ","))
	}
	if diff := cmp.Diff([]string{"a:var/lib/dpkg/status.d/a,var/lib/dpkg/status.d/a-link"}, locations); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	if !strings.Contains(strings.Join(inv.Status.Warnings, "\n"), "status.d/b in layer 0: it is a hardlink to elsewhere, which was not read") {
		t.Errorf("warnings lack the unread hardlink: %q", inv.Status.Warnings)
	}
}

// A 2 GiB sparse file where the dpkg database should be is skipped with a
// warning, without reading 2 GiB; a malformed database is reported as a
// file error and the rest of the scan goes on.
func TestHostileFiles(t *testing.T) {
	sparse, err := os.ReadFile("../image/testdata/sparse-2g.tar")
	if err != nil {
		t.Fatal(err)
	}
	img := imagetest.ImageOfLayers(t,
		imagetest.Layer(t, []imagetest.File{
			{Name: "etc/os-release", Body: debianRelease},
			{Name: "lib/apk/db/installed", Body: "P:ok\nV:1-r0\n\n" + strings.Repeat("x", 2<<20) + "\n"},
		}),
		imagetest.LayerFromTar(t, sparse),
	)
	inv := run(t, "oci:"+imagetest.Layout(t, img, ""))
	warnings := strings.Join(inv.Status.Warnings, "\n")
	if !strings.Contains(warnings, "dpkg skipped var/lib/dpkg/status in layer 1: 2.0 GiB is over its 256.0 MiB limit") {
		t.Errorf("warnings lack the skipped 2 GiB file:\n%s", warnings)
	}
	if inv.Status.State != inventory.Partial || len(inv.Status.FileErrors) != 1 || inv.Status.FileErrors[0].Extractor != "apk@1" {
		t.Errorf("status = %+v, want partial with one apk file error (a 2 MiB line)", inv.Status)
	}
}

// A directory is scanned as one layer; packages carry no layer.
func TestDirectory(t *testing.T) {
	dir := t.TempDir()
	for path, body := range map[string]string{"etc/os-release": debianRelease, "var/lib/dpkg/status": status("a@1")} {
		if err := os.MkdirAll(dir+"/"+path[:strings.LastIndex(path, "/")], 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/"+path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/shadow", dir+"/var/lib/dpkg/status.d"); err != nil {
		t.Fatal(err)
	}
	inv := run(t, "dir:"+dir)
	if diff := cmp.Diff(map[string]int{"a@1": -1}, layers(inv)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// probe is a test extractor that reads up to limit bytes of every file
// named "shared" and reports how many it read as the package version.
type probe struct {
	name  string
	limit int64
}

func (p probe) Name() string                           { return p.name }
func (p probe) Version() int                           { return 0 }
func (p probe) Requirements() inventory.Requirements   { return inventory.Requirements{} }
func (p probe) FileRequired(f inventory.FileInfo) bool { return f.Path == "shared" }
func (p probe) Extract(_ context.Context, in *inventory.Input) (inventory.Result, error) {
	n, err := io.Copy(io.Discard, io.LimitReader(in.Reader, p.limit))
	return inventory.Result{Packages: []*inventory.Package{{Name: p.name, Version: strconv.FormatInt(n, 10), Type: inventory.TypeNPM}}}, err
}

// A file several extractors want is streamed to each of them: one that
// stops early does not stop the others, and nobody reads a short copy.
func TestFileSharedByExtractors(t *testing.T) {
	body := strings.Repeat("x", 1<<20+123)
	img := imagetest.Image(t, []imagetest.File{{Name: "shared", Body: body}})
	ref, _ := image.Open(context.Background(), "oci:"+imagetest.Layout(t, img, ""))
	extractors := []inventory.Extractor{probe{"early", 10}, probe{"whole", 1 << 30}, probe{"half", 1 << 19}}
	inv, err := inventory.Run(context.Background(), ref, extractors)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range inv.Packages {
		got[p.Name] = p.Version
	}
	want := map[string]string{"early": "10", "whole": strconv.Itoa(len(body)), "half": strconv.Itoa(1 << 19)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bytes read by each extractor (-want +got):\n%s", diff)
	}
}

// A lockfile that outlives the node_modules it describes lists packages a
// later layer deleted: they are not reported. A lockfile whose packages
// were never installed beside it (a bundled app) is still evidence.
func TestLockfileOutlivesItsInstall(t *testing.T) {
	lock := func(name, version string) string {
		return `{"lockfileVersion": 3, "packages": {"": {"name": "x"}, "node_modules/` + name + `": {"version": "` + version + `"}}}`
	}
	img := imagetest.Image(t,
		[]imagetest.File{
			{Name: "gone/package-lock.json", Body: lock("lodash", "4.17.4")},
			{Name: "gone/node_modules/lodash/package.json", Body: `{"name": "lodash", "version": "4.17.4"}`},
			{Name: "bundled/package-lock.json", Body: lock("minimist", "1.2.0")},
		},
		[]imagetest.File{{Name: "gone/.wh.node_modules"}},
	)
	inv := run(t, "oci:"+imagetest.Layout(t, img, ""))
	if diff := cmp.Diff(map[string]int{"minimist@1.2.0": 0}, layers(inv)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if w := strings.Join(inv.Status.Warnings, "\n"); !strings.Contains(w, "gone/package-lock.json lists lodash@4.17.4 (npm), but a later layer deleted it from gone/node_modules/lodash") {
		t.Errorf("warnings lack the deleted install: %q", w)
	}
}

// A hardlink to an archive takes the nested locations of its target too.
func TestHardlinkToArchive(t *testing.T) {
	jar := imagetest.Zip(t, map[string]string{"META-INF/maven/g/a/pom.properties": "groupId=g\nartifactId=a\nversion=1.0\n"})
	war := imagetest.Zip(t, map[string]string{"WEB-INF/lib/a-1.0.jar": string(jar)})
	img := imagetest.Image(t, []imagetest.File{
		{Name: "srv/app.war", Body: string(war)},
		{Name: "srv/link.war", Typeflag: tar.TypeLink, Link: "srv/app.war"},
	})
	inv := run(t, "oci:"+imagetest.Layout(t, img, ""))
	var locations []string
	for _, p := range inv.Packages {
		locations = append(locations, p.Locations...)
	}
	want := []string{"srv/app.war!/WEB-INF/lib/a-1.0.jar", "srv/link.war!/WEB-INF/lib/a-1.0.jar"}
	if diff := cmp.Diff(want, locations); diff != "" {
		t.Errorf("locations (-want +got):\n%s", diff)
	}
}
