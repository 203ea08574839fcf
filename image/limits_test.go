package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/klauspost/compress/zstd"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/internal/testutil/imagetest"
)

// rewriteManifest edits the manifest of the only image of an OCI layout in
// place: the new manifest is written as a blob and index.json points to it.
func rewriteManifest(t *testing.T, dir string, edit func(*v1.Manifest)) {
	t.Helper()
	indexPath := filepath.Join(dir, "index.json")
	var index v1.IndexManifest
	readJSON(t, indexPath, &index)
	blob := func(h v1.Hash) string { return filepath.Join(dir, "blobs", h.Algorithm, h.Hex) }
	var m v1.Manifest
	readJSON(t, blob(index.Manifests[0].Digest), &m)
	edit(&m)
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h, size, _ := v1.SHA256(bytes.NewReader(raw))
	if err := os.WriteFile(blob(h), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	index.Manifests[0].Digest, index.Manifests[0].Size = h, size
	raw, _ = json.Marshal(index)
	if err := os.WriteFile(indexPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
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

func walkErr(t *testing.T, ref string, opts ...image.Option) error {
	t.Helper()
	img, err := image.Open(context.Background(), ref, opts...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = img.Walk(context.Background(), func(*image.Entry, io.Reader) error { return nil })
	return err
}

// A manifest that declares a huge size for a small bomb must not raise the
// bomb limit: the limit counts the bytes read from the blob.
func TestBombLimitCountsBytesRead(t *testing.T) {
	if testing.Short() {
		t.Skip("the decompression bomb expands 600 MiB")
	}
	img, _ := mutate.AppendLayers(empty.Image, zeroLayer(t, 600<<20)) // a few MiB of gzip
	dir := imagetest.Layout(t, img, "")
	rewriteManifest(t, dir, func(m *v1.Manifest) { m.Layers[0].Size = 1 << 40 }) // "1 TiB"
	if err := walkErr(t, "oci:"+dir); !errors.Is(err, image.ErrDecompressionBomb) {
		t.Fatalf("error = %v, want a decompression bomb despite the declared 1 TiB", err)
	}
}

// A blob longer than its descriptor says is refused as soon as it passes
// the declared size, before any digest could be computed.
func TestBlobLongerThanDeclared(t *testing.T) {
	img := imagetest.Image(t, []imagetest.File{{Name: "etc/os-release", Body: strings.Repeat("ID=test\n", 4000)}})
	dir := imagetest.Layout(t, img, "")
	rewriteManifest(t, dir, func(m *v1.Manifest) { m.Layers[0].Size = 100 })
	err := walkErr(t, "oci:"+dir)
	if !errors.Is(err, image.ErrDigestMismatch) || !strings.Contains(err.Error(), "longer than the 100 bytes its descriptor declares") {
		t.Fatalf("error = %v, want a blob longer than declared", err)
	}
}

// zstdLayer compresses a tar of files with zstd.
func zstdLayer(t *testing.T, files []imagetest.File, opts ...zstd.EOption) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, opts...)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(imagetest.Tar(t, files))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return imagetest.LayerFromTar(t, buf.Bytes())
}

// zstd layers are read; a frame whose header asks for a window bigger than
// MaxZstdWindow is refused before anything is allocated for it.
func TestZstdWindowBounded(t *testing.T) {
	ok := zstdLayer(t, []imagetest.File{{Name: "etc/os-release", Body: "ID=zstd\n"}})
	seen, _ := walk(t, open(t, "oci:"+imagetest.Layout(t, imagetest.ImageOfLayers(t, ok), "")))
	if seen["etc/os-release@0"] != "ID=zstd\n" {
		t.Fatalf("zstd layer read as %v", seen)
	}

	// A frame (RFC 8878 section 3.1.1) without a content size that declares
	// a 256 MiB window (Window_Descriptor exponent 18: 1 << (10+18)), then
	// one raw, last block holding a tar.
	tarball := imagetest.Tar(t, []imagetest.File{{Name: "a", Body: "a"}})
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 18 << 3}
	hdr := make([]byte, 4)
	binary.LittleEndian.PutUint32(hdr, uint32(len(tarball))<<3|1) // last block, raw
	frame = append(append(frame, hdr[:3]...), tarball...)
	big := imagetest.LayerFromTar(t, frame)
	err := walkErr(t, "oci:"+imagetest.Layout(t, imagetest.ImageOfLayers(t, big), ""))
	if !errors.Is(err, image.ErrZstdWindow) {
		t.Fatalf("error = %v, want the 256 MiB window refused", err)
	}
}

// The file index is bounded: an image whose entries outgrow WithMaxIndex
// stops with ErrIndexTooLarge, and what the index counts is close to what
// its records and paths take.
func TestFileIndexBounded(t *testing.T) {
	var files []imagetest.File
	for i := range 40000 {
		files = append(files, imagetest.File{Name: fmt.Sprintf("usr/share/many/dir%03d/file-%06d.txt", i%500, i)})
	}
	dir := imagetest.Layout(t, imagetest.Image(t, files), "")
	err := walkErr(t, "oci:"+dir, image.WithMaxIndex(1<<20))
	if !errors.Is(err, image.ErrIndexTooLarge) || !strings.Contains(err.Error(), "--max-file-index") {
		t.Fatalf("error = %v, want the index refused over 1 MiB", err)
	}

	img := open(t, "oci:"+dir)
	tree, err := img.Walk(context.Background(), func(*image.Entry, io.Reader) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if tree.Entries() != len(files) {
		t.Errorf("index holds %d entries, want %d", tree.Entries(), len(files))
	}
	pathBytes := int64(len(files) * len(files[0].Name))
	if size := tree.IndexSize(); size < pathBytes || size > 4*pathBytes+4<<20 {
		t.Errorf("index size %d bytes for %d bytes of paths: the accounting is off", size, pathBytes)
	}
	if e, ok := tree.Lookup("usr/share/many/dir007/file-000007.txt"); !ok || e.Type != image.Regular {
		t.Errorf("Lookup after a big layer = %v, %v", e, ok)
	}
	if !tree.Exists("usr/share/many/dir499") || tree.Exists("usr/share/many/dir500") {
		t.Error("implicit directories are wrong")
	}
}

// A tar that repeats a name keeps the later entry, as extraction does.
func TestRepeatedNameKeepsLast(t *testing.T) {
	img := imagetest.Image(t, []imagetest.File{
		{Name: "x", Body: "first"},
		{Name: "x", Typeflag: tar.TypeSymlink, Link: "y"},
	})
	_, tree := walk(t, open(t, "oci:"+imagetest.Layout(t, img, "")))
	if e, ok := tree.Lookup("x"); !ok || e.Type != image.Symlink || e.Linkname != "y" {
		t.Fatalf("Lookup(x) = %+v, want the later symlink", e)
	}
}
