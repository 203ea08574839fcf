// Command mksample builds the sample images the README's commands read, as
// OCI layouts, from testdata/images/sample-src (a real Alpine 3.14.10 apk
// database, an app layer with lockfiles and a jar, and a layer that deletes
// app/old with a whiteout):
//
//   - testdata/images/sample: the three layers, tag "latest" (credence scan);
//   - testdata/cluster/images/web: the same image, as containerd exports it for
//     registry.example.com/shop/web:1.4 (the sample cluster's web);
//   - testdata/cluster/images/api: the Alpine layer alone, with nothing
//     vulnerable in the sample data, as registry.example.com/shop/api:2.0.
//
// Run from the repository root: go run ./internal/cmd/mksample. The output
// is reproducible.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	for _, o := range outputs("testdata") {
		if err := o.write("testdata/images/sample-src"); err != nil {
			fmt.Fprintln(os.Stderr, "mksample:", err)
			os.Exit(1)
		}
	}
}

// output is one OCI layout to write.
type output struct {
	dir         string
	annotations map[string]string
	clean       bool // the base layer only
}

// outputs lists the layouts under the testdata directory root.
func outputs(root string) []output {
	return []output{
		{dir: filepath.Join(root, "images", "sample"), annotations: map[string]string{"org.opencontainers.image.ref.name": "latest"}},
		{dir: filepath.Join(root, "cluster", "images", "web"), annotations: map[string]string{
			"io.containerd.image.name": "registry.example.com/shop/web:1.4", "org.opencontainers.image.ref.name": "1.4"}},
		{dir: filepath.Join(root, "cluster", "images", "api"), clean: true, annotations: map[string]string{
			"io.containerd.image.name": "registry.example.com/shop/api:2.0", "org.opencontainers.image.ref.name": "2.0"}},
	}
}

func (o output) write(src string) error { return run(src, o.dir, o.annotations, o.clean) }

func run(src, out string, annotations map[string]string, clean bool) error {
	base, err := dirLayer(filepath.Join(src, "base"), nil)
	if err != nil {
		return err
	}
	jar, err := log4jJar()
	if err != nil {
		return err
	}
	app, err := dirLayer(filepath.Join(src, "app"), map[string][]byte{"app/lib/log4j-core-2.14.1.jar": jar})
	if err != nil {
		return err
	}
	cleanup, err := tarLayer([]entry{{name: "app/", dir: true}, {name: "app/.wh.old"}})
	if err != nil {
		return err
	}
	img := empty.Image
	type addendum struct {
		layer v1.Layer
		by    string
	}
	layers := []addendum{
		{base, "ADD alpine-minirootfs-3.14.10 (apk database only) /"},
		{app, "COPY app/ /app/ (lockfiles, go.mod, Cargo.lock, log4j-core jar)"},
		{cleanup, "RUN rm -rf /app/old"},
	}
	if clean {
		layers = layers[:1]
	}
	for _, a := range layers {
		img, err = mutate.Append(img, mutate.Addendum{Layer: a.layer, History: v1.History{CreatedBy: a.by, Created: v1.Time{Time: epoch}}})
		if err != nil {
			return err
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Created = "linux", "amd64", v1.Time{Time: epoch}
	cfg.Config.Cmd = []string{"/bin/sh"}
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img,
		layout.WithAnnotations(annotations),
		layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})); err != nil {
		return err
	}
	d, _ := img.Digest()
	fmt.Println("wrote", out, d)
	return nil
}

type entry struct {
	name string
	dir  bool
	body []byte
}

// dirLayer makes a layer of every file under root, plus extra files.
func dirLayer(root string, extra map[string][]byte) (v1.Layer, error) {
	files := map[string][]byte{}
	dirs := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			dirs[rel+"/"] = true
			return nil
		}
		b, err := os.ReadFile(p)
		files[rel] = b
		return err
	})
	if err != nil {
		return nil, err
	}
	for name, b := range extra {
		files[name] = b
		for d := filepath.Dir(name); d != "."; d = filepath.Dir(d) {
			dirs[filepath.ToSlash(d)+"/"] = true
		}
	}
	var entries []entry
	for d := range dirs {
		entries = append(entries, entry{name: d, dir: true})
	}
	for name, b := range files {
		entries = append(entries, entry{name: name, body: b})
	}
	return tarLayer(entries)
}

func tarLayer(entries []entry) (v1.Layer, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, ModTime: epoch, Typeflag: tar.TypeReg, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// log4jJar is a jar holding log4j-core 2.14.1's Maven metadata and manifest
// (not its classes): what a scanner reads to identify it.
func log4jJar() ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range []struct{ name, body string }{
		{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nImplementation-Title: Apache Log4j Core\r\nImplementation-Vendor-Id: org.apache.logging.log4j\r\nImplementation-Version: 2.14.1\r\nBundle-SymbolicName: org.apache.logging.log4j.core\r\nBundle-Version: 2.14.1\r\n\r\n"},
		{"META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties", "#Created by Apache Maven 3.6.3\nversion=2.14.1\ngroupId=org.apache.logging.log4j\nartifactId=log4j-core\n"},
	} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: epoch})
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(w, f.body); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
