package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/internal/testutil/imagetest"
)

func mustConfig(t testing.TB, img v1.Image) *v1.ConfigFile {
	t.Helper()
	c, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// walk returns the paths visited and the tree.
func walk(t testing.TB, img *image.Image) (map[string]string, *image.Tree) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]string{}
	tree, err := img.Walk(context.Background(), func(e *image.Entry, r io.Reader) error {
		if r == nil {
			return nil
		}
		b, err := io.ReadAll(r)
		mu.Lock()
		seen[e.Path+"@"+string(rune('0'+e.Layer))] = string(b)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return seen, tree
}

func open(t testing.TB, ref string, opts ...image.Option) *image.Image {
	t.Helper()
	img, err := image.Open(context.Background(), ref, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// The OCI image spec's whiteout rules: a .wh. file deletes the name below,
// an opaque marker hides the directory's content below, a non-directory
// replaces a directory, and a layer's own entries beside a whiteout stay.
func TestWhiteoutsAndOpaqueDirectories(t *testing.T) {
	img := imagetest.Image(t,
		[]imagetest.File{
			{Name: "a/", Typeflag: tar.TypeDir}, {Name: "a/gone", Body: "0"}, {Name: "a/kept", Body: "0"},
			{Name: "b/dir/x", Body: "0"},
			{Name: "c/old", Body: "0"}, {Name: "c/sub/deep", Body: "0"},
			{Name: "f/sub/x", Body: "0"},
			{Name: "g", Body: "0"},
			{Name: "h", Body: "0"},
		},
		[]imagetest.File{
			{Name: "a/.wh.gone", Body: ""},
			{Name: ".wh.b", Body: ""},
			{Name: "f", Body: "now a file"},
			{Name: ".wh.g"}, {Name: "g", Body: "recreated in 1"},
			{Name: "h", Body: "1"},
		},
		[]imagetest.File{
			{Name: "c/", Typeflag: tar.TypeDir},
			{Name: "c/.wh..wh..opq"},
			{Name: "c/new", Body: "2"},
			{Name: "h", Body: "2"},
		},
	)
	ref := "oci:" + imagetest.Layout(t, img, "latest")
	_, tree := walk(t, open(t, ref))

	tests := []struct {
		path      string
		wantLayer int // -1: not visible
	}{
		{"a/gone", -1},
		{"a/kept", 0},
		{"b/dir/x", -1},
		{"b", -1},
		{"c/old", -1},
		{"c/sub/deep", -1},
		{"c/new", 2},
		{"f/sub/x", -1},
		{"f", 1},
		{"g", 1},
		{"h", 2},
	}
	for _, tc := range tests {
		e, ok := tree.Lookup(tc.path)
		got := -1
		if ok {
			got = e.Layer
		}
		if got != tc.wantLayer {
			t.Errorf("Lookup(%q) layer = %d, want %d", tc.path, got, tc.wantLayer)
		}
	}
	// h has three versions; g's history stops at the whiteout in layer 1.
	if got := layersOf(tree.Versions("h")); !slices.Equal(got, []int{2, 1, 0}) {
		t.Errorf("Versions(h) = %v, want [2 1 0]", got)
	}
	if got := layersOf(tree.Versions("g")); !slices.Equal(got, []int{1}) {
		t.Errorf("Versions(g) = %v, want [1]: the layer-0 g was deleted", got)
	}
	// b/dir was never an explicit entry: an implicit directory exists while
	// something visible is under it.
	for p, want := range map[string][2]bool{"b/dir": {false, true}, "c/sub": {false, true}, "a": {true, true}, "c": {true, true}, "nowhere": {false, false}} {
		if got := [2]bool{tree.Exists(p), tree.Existed(p)}; got != want {
			t.Errorf("Exists, Existed(%q) = %v, want %v", p, got, want)
		}
	}
	if got := tree.Versions("a/gone"); got != nil {
		t.Errorf("Versions(a/gone) = %v, want none", got)
	}
}

func layersOf(es []*image.Entry) []int {
	var out []int
	for _, e := range es {
		out = append(out, e.Layer)
	}
	return out
}

func TestResolveSymlinks(t *testing.T) {
	img := imagetest.Image(t, []imagetest.File{
		{Name: "usr/lib/os-release", Body: "ID=test"},
		{Name: "etc/os-release", Typeflag: tar.TypeSymlink, Link: "../usr/lib/os-release"},
		{Name: "lib", Typeflag: tar.TypeSymlink, Link: "usr/lib"},
		{Name: "loop1", Typeflag: tar.TypeSymlink, Link: "loop2"},
		{Name: "loop2", Typeflag: tar.TypeSymlink, Link: "/loop1"},
		{Name: "escape", Typeflag: tar.TypeSymlink, Link: "../../../../usr/lib/os-release"},
		{Name: "abs", Typeflag: tar.TypeSymlink, Link: "/etc/os-release"},
	})
	_, tree := walk(t, open(t, "oci:"+imagetest.Layout(t, img, "")))
	for _, p := range []string{"etc/os-release", "lib/os-release", "escape", "abs", "usr/lib/../lib/os-release"} {
		got, e, err := tree.Resolve(p)
		if err != nil || got != "usr/lib/os-release" || e == nil || e.Type != image.Regular {
			t.Errorf("Resolve(%q) = %q, %v, %v; want usr/lib/os-release", p, got, e, err)
		}
	}
	if _, _, err := tree.Resolve("loop1"); !errors.Is(err, image.ErrSymlinkLoop) {
		t.Errorf("Resolve(loop1) error = %v, want a symlink loop", err)
	}
	if _, _, err := tree.Resolve("etc/missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Resolve(etc/missing) error = %v, want not exist", err)
	}
}

// Hostile entries are skipped with a warning; nothing escapes the root.
func TestUnsafeEntries(t *testing.T) {
	img := imagetest.Image(t, []imagetest.File{
		{Name: "../../etc/evil", Body: "x"},
		{Name: "a/../../evil2", Body: "x"},
		{Name: "/abs/file", Body: "abs"},
		{Name: "ok/./file", Body: "ok"},
		{Name: "hl", Typeflag: tar.TypeLink, Link: "missing/target"},
		{Name: "hl2", Typeflag: tar.TypeLink, Link: "../../outside"},
	})
	seen, tree := walk(t, open(t, "oci:"+imagetest.Layout(t, img, "")))
	var paths []string
	for p := range seen {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	if diff := cmp.Diff([]string{"abs/file@0", "ok/file@0"}, paths); diff != "" {
		t.Errorf("visited (-want +got):\n%s", diff)
	}
	warnings := strings.Join(tree.Warnings(), "\n")
	for _, want := range []string{`"../../etc/evil" climbs out`, `"a/../../evil2" climbs out`, `absolute entry names such as "/abs/file"`,
		"hardlink hl points to missing/target, which no layer holds", "hardlink hl2: target \"../../outside\" is outside the image"} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings lack %q:\n%s", want, warnings)
		}
	}
}

func TestPlatformSelection(t *testing.T) {
	amd := imagetest.Image(t, []imagetest.File{{Name: "arch", Body: "amd64"}})
	arm := imagetest.Image(t, []imagetest.File{{Name: "arch", Body: "arm64"}})
	arm, _ = mutate.ConfigFile(arm, &v1.ConfigFile{OS: "linux", Architecture: "arm64", RootFS: mustConfig(t, arm).RootFS})
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "multi"})); err != nil {
		t.Fatal(err)
	}
	for plat, want := range map[string]string{"linux/amd64": "amd64", "linux/arm64": "arm64", "linux/arm64/v8": "arm64"} {
		img := open(t, "oci:"+dir+":multi", image.WithPlatform(plat))
		seen, _ := walk(t, img)
		if seen["arch@0"] != want {
			t.Errorf("--platform %s read %q, want %q", plat, seen["arch@0"], want)
		}
		if img.IndexDigest == "" {
			t.Errorf("--platform %s: IndexDigest not set", plat)
		}
	}
	_, err = image.Open(context.Background(), "oci:"+dir, image.WithPlatform("linux/s390x"))
	if !errors.Is(err, image.ErrNoMatchingPlatform) || !strings.Contains(err.Error(), "available: linux/amd64, linux/arm64/v8") {
		t.Errorf("error = %v, want one listing linux/amd64, linux/arm64/v8", err)
	}
}

func TestReferences(t *testing.T) {
	img := imagetest.Image(t, []imagetest.File{{Name: "etc/os-release", Body: "ID=test"}})
	wantConfig, _ := img.ConfigName()
	wantManifest, _ := img.Digest()
	ociDir := imagetest.Layout(t, img, "v1")

	archive := filepath.Join(t.TempDir(), "img.tar")
	tag, _ := name.NewTag("example.com/app:v1")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	regRef, _ := name.ParseReference(host + "/team/app:v1")
	if err := remote.Write(regRef, img); err != nil {
		t.Fatal(err)
	}

	plainDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(plainDir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plainDir, "etc/os-release"), []byte("ID=test"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		ref           string
		wantTransport image.Transport
		wantManifest  bool
	}{
		{"oci:" + ociDir, image.OCILayout, true},
		{"oci:" + ociDir + ":v1", image.OCILayout, true},
		{"oci:" + ociDir + "@" + wantManifest.String(), image.OCILayout, true},
		{ociDir, image.OCILayout, true},
		{"docker-archive:" + archive, image.DockerArchive, false},
		{"docker-archive:" + archive + ":example.com/app:v1", image.DockerArchive, false},
		{archive, image.DockerArchive, false},
		{"registry:" + host + "/team/app:v1", image.Registry, true},
		{host + "/team/app:v1", image.Registry, true},
		{"dir:" + plainDir, image.Directory, false},
		{plainDir, image.Directory, false},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			got := open(t, tc.ref)
			if got.Transport != tc.wantTransport {
				t.Errorf("transport = %s, want %s", got.Transport, tc.wantTransport)
			}
			if tc.wantTransport != image.Directory && got.ConfigDigest != wantConfig.String() {
				t.Errorf("config digest = %s, want %s", got.ConfigDigest, wantConfig)
			}
			if tc.wantManifest && got.ManifestDigest != wantManifest.String() {
				t.Errorf("manifest digest = %s, want %s", got.ManifestDigest, wantManifest)
			}
			seen, _ := walk(t, got)
			if seen["etc/os-release@0"] != "ID=test" {
				t.Errorf("walk saw %v", seen)
			}
		})
	}

	for ref, want := range map[string]string{
		"oci:" + ociDir + ":nope":                     `no image tagged "nope"; tags: v1`,
		"docker-archive:" + archive + ":other/app:v2": "no image tagged other/app:v2 (tags: example.com/app:v1)",
		"./does/not/exist":                            "no such file or directory",
		"oci:" + plainDir:                             "is not an OCI image layout",
		"docker-archive:" + filepath.Join(plainDir, "etc/os-release"): "is not a docker-archive",
		"Bad Ref!": "not a file, a directory or a registry reference",
		"":         "empty reference",
	} {
		if _, err := image.Open(context.Background(), ref); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) error = %v, want it to contain %q", ref, err, want)
		}
	}
}

// A tampered blob, a truncated layer and a wrong DiffID in a docker-archive
// all stop the walk with a clear error.
func TestIntegrityErrors(t *testing.T) {
	img := imagetest.Image(t, []imagetest.File{{Name: "etc/os-release", Body: strings.Repeat("ID=test\n", 1000)}})
	layers, _ := img.Layers()
	blobDigest, _ := layers[0].Digest()

	t.Run("tampered blob", func(t *testing.T) {
		dir := imagetest.Layout(t, img, "")
		blob := filepath.Join(dir, "blobs", "sha256", blobDigest.Hex)
		tamper(t, blob, func(b []byte) []byte {
			// Re-compress different content under the same name.
			return gzipBytes(t, imagetest.Tar(t, []imagetest.File{{Name: "etc/os-release", Body: "ID=evil"}}))
		})
		_, err := open(t, "oci:"+dir).Walk(context.Background(), func(*image.Entry, io.Reader) error { return nil })
		if !errors.Is(err, image.ErrDigestMismatch) {
			t.Errorf("error = %v, want a digest mismatch", err)
		}
	})
	t.Run("truncated layer", func(t *testing.T) {
		dir := imagetest.Layout(t, img, "")
		blob := filepath.Join(dir, "blobs", "sha256", blobDigest.Hex)
		tamper(t, blob, func(b []byte) []byte { return b[:len(b)/2] })
		_, err := open(t, "oci:"+dir).Walk(context.Background(), func(*image.Entry, io.Reader) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
			t.Errorf("error = %v, want unexpected EOF", err)
		}
	})
	t.Run("docker-archive diffid", func(t *testing.T) {
		// An uncompressed layer whose content changed after the config was written.
		good := imagetest.Tar(t, []imagetest.File{{Name: "a", Body: "good"}})
		bad := imagetest.Tar(t, []imagetest.File{{Name: "a", Body: "evil"}})
		archive := imagetest.DockerArchive(t, []string{"x/y:z"}, good)
		replaceTarMember(t, archive, good, bad)
		_, err := open(t, "docker-archive:"+archive).Walk(context.Background(), func(*image.Entry, io.Reader) error { return nil })
		if !errors.Is(err, image.ErrDigestMismatch) {
			t.Errorf("error = %v, want a digest mismatch", err)
		}
	})
}

func tamper(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceTarMember swaps equal-length content inside a tarball in place.
func replaceTarMember(t *testing.T, archive string, old, new []byte) {
	t.Helper()
	tamper(t, archive, func(b []byte) []byte {
		i := bytes.Index(b, old)
		if i < 0 || len(old) != len(new) {
			t.Fatal("member not found or lengths differ")
		}
		copy(b[i:], new)
		return b
	})
}

// A 2 GiB sparse file is walked without reading its holes; a layer whose
// gzip expands a thousandfold is stopped as a decompression bomb.
func TestSparseFileAndDecompressionBomb(t *testing.T) {
	sparse, err := os.ReadFile("testdata/sparse-2g.tar")
	if err != nil {
		t.Fatal(err)
	}
	l, _ := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(sparse)), nil })
	img, _ := mutate.AppendLayers(empty.Image, l)
	var sizes []int64
	_, err = open(t, "oci:"+imagetest.Layout(t, img, "")).Walk(context.Background(), func(e *image.Entry, r io.Reader) error {
		sizes = append(sizes, e.Size)
		return nil
	})
	if err != nil || !slices.Equal(sizes, []int64{2 << 30, 2 << 30}) {
		t.Fatalf("walk of sparse files: sizes %v, err %v", sizes, err)
	}

	if testing.Short() {
		t.Skip("the decompression bomb expands 600 MiB")
	}
	bomb := zeroLayer(t, 600<<20) // a few MiB of gzip
	img, _ = mutate.AppendLayers(empty.Image, bomb)
	_, err = open(t, "oci:"+imagetest.Layout(t, img, "")).Walk(context.Background(), func(e *image.Entry, r io.Reader) error { return nil })
	if !errors.Is(err, image.ErrDecompressionBomb) {
		t.Fatalf("error = %v, want a decompression bomb", err)
	}
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zeroLayer is a gzip layer holding one file of n zero bytes; the bytes of
// each size are made once per test binary.
func zeroLayer(t testing.TB, n int64) v1.Layer {
	t.Helper()
	zeroLayersMu.Lock()
	b, ok := zeroLayers[n]
	if !ok {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		tw := tar.NewWriter(zw)
		if err := tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: n}); err != nil {
			t.Fatal(err)
		}
		zeros := make([]byte, 1<<20)
		for left := n; left > 0; left -= int64(len(zeros)) {
			if _, err := tw.Write(zeros[:min(left, int64(len(zeros)))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		b = buf.Bytes()
		zeroLayers[n] = b
	}
	zeroLayersMu.Unlock()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var (
	zeroLayersMu sync.Mutex
	zeroLayers   = map[int64][]byte{}
)

// Registry credentials come from the Docker config keychain ($DOCKER_CONFIG).
func TestRegistryCredentialsFromDockerConfig(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "scanner" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img := imagetest.Image(t, []imagetest.File{{Name: "etc/os-release", Body: "ID=test"}})
	ref, _ := name.ParseReference(host + "/private/app:v1")
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "scanner", Password: "s3cret"})); err != nil {
		t.Fatal(err)
	}

	t.Setenv("DOCKER_CONFIG", t.TempDir())
	if _, err := image.Open(context.Background(), "registry:"+host+"/private/app:v1"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without credentials: error = %v, want 401 Unauthorized", err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte("scanner:s3cret"))
	config := `{"auths": {"` + host + `": {"auth": "` + auth + `"}}}`
	if err := os.WriteFile(filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	got := open(t, "registry:"+host+"/private/app:v1")
	if want, _ := img.Digest(); got.ManifestDigest != want.String() {
		t.Errorf("manifest digest = %s, want %s", got.ManifestDigest, want)
	}
}
