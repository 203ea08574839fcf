// Package imagetest builds small synthetic images for tests: layers from a
// list of tar entries, written as OCI layouts or docker-archives.
package imagetest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one tar entry of a synthetic layer.
type File struct {
	Name     string
	Typeflag byte // 0 means a regular file
	Body     string
	Link     string
	Mode     int64 // 0 means 0644
}

// Tar returns the uncompressed tar of files, in order.
func Tar(t testing.TB, files []File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Typeflag: f.Typeflag, Linkname: f.Link, Mode: f.Mode}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// LayerFromTar makes a (gzip) layer of an uncompressed or compressed tar.
func LayerFromTar(t testing.TB, b []byte) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Layer makes a layer holding files.
func Layer(t testing.TB, files []File) v1.Layer { return LayerFromTar(t, Tar(t, files)) }

// Image stacks one layer per list of files (history "layer N"), linux/amd64.
func Image(t testing.TB, layers ...[]File) v1.Image {
	t.Helper()
	var ls []v1.Layer
	for _, files := range layers {
		ls = append(ls, Layer(t, files))
	}
	return ImageOfLayers(t, ls...)
}

// ImageOfLayers stacks layers (history "layer N"), linux/amd64.
func ImageOfLayers(t testing.TB, layers ...v1.Layer) v1.Image {
	t.Helper()
	img := empty.Image
	for i, l := range layers {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "layer " + strconv.Itoa(i)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Layout writes img to a new OCI layout, tagged when tag is not empty, and
// returns its directory.
func Layout(t testing.TB, img v1.Image, tag string) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	var opts []layout.Option
	if tag != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
	}
	if err := p.AppendImage(img, opts...); err != nil {
		t.Fatal(err)
	}
	return dir
}

// DockerArchive writes a "docker save" tarball by hand (manifest.json, the
// config, uncompressed layers) and returns its path.
func DockerArchive(t testing.TB, tags []string, layers ...[]byte) string {
	t.Helper()
	cfg := v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers"}}
	var names []string
	for _, l := range layers {
		h, _, err := v1.SHA256(bytes.NewReader(l))
		if err != nil {
			t.Fatal(err)
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, h)
		names = append(names, h.Hex+"/layer.tar")
	}
	cfgBytes, _ := json.Marshal(cfg)
	cfgHash, _, _ := v1.SHA256(bytes.NewReader(cfgBytes))
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgHash.Hex + ".json", "RepoTags": tags, "Layers": names}})
	files := []File{{Name: "manifest.json", Body: string(manifest)}, {Name: cfgHash.Hex + ".json", Body: string(cfgBytes)}}
	for i, l := range layers {
		files = append(files, File{Name: names[i], Body: string(l)})
	}
	path := filepath.Join(t.TempDir(), "archive.tar")
	if err := os.WriteFile(path, Tar(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Zip returns a zip archive (a jar, a war) holding files, name → content.
func Zip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
