package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// FuzzCleanEntryPath: a cleaned name is relative, clean and never climbs out.
func FuzzCleanEntryPath(f *testing.F) {
	for _, s := range []string{"a/b", "./a", "/abs", "../x", "a/../../b", "a//b/./c/", "..", ".wh..wh..opq"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, _, err := cleanEntryPath(name)
		if err != nil {
			return
		}
		if strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
			t.Fatalf("cleanEntryPath(%q) = %q escapes the root", name, p)
		}
	})
}

// FuzzReadTar feeds arbitrary bytes to the layer reader: it must return an
// error or a tree, never panic or hang, and lookups on the tree must work.
func FuzzReadTar(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "etc/os-release", Typeflag: tar.TypeReg, Size: 5, Mode: 0o644})
	tw.Write([]byte("ID=x\n"))
	tw.WriteHeader(&tar.Header{Name: "a/.wh..wh..opq", Typeflag: tar.TypeReg})
	tw.WriteHeader(&tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "l"})
	tw.WriteHeader(&tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../x"})
	tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tree := newTree(1, DefaultMaxIndex)
		err := readTar(context.Background(), tar.NewReader(bytes.NewReader(b)), 0, tree, func(e *Entry, r io.Reader) error {
			if r != nil {
				_, err := io.Copy(io.Discard, io.LimitReader(r, 1<<20))
				return err
			}
			return nil
		})
		if err != nil {
			return
		}
		tree.checkHardlinks()
		tree.Resolve("etc/os-release")
		tree.Resolve("l")
		tree.Versions("etc/os-release")
	})
}

// FuzzWalkLayer: a layer blob of any bytes (gzip, zstd, a plain tar or
// none), stored with its true digest so the check passes, is walked or
// refused with an error: never a panic, a hang or a goroutine left behind,
// through the blob read-ahead, the decompressor, its read-ahead and the tar
// reader. A truncated gzip and zstd seed the corpus.
func FuzzWalkLayer(f *testing.F) {
	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	tw.WriteHeader(&tar.Header{Name: "etc/os-release", Typeflag: tar.TypeReg, Size: 5, Mode: 0o644})
	tw.Write([]byte("ID=x\n"))
	tw.WriteHeader(&tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "etc/os-release"})
	tw.Close()
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(plain.Bytes())
	gw.Close()
	var zs bytes.Buffer
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(plain.Bytes())
	zw.Close()
	f.Add(plain.Bytes())
	f.Add(gz.Bytes())
	f.Add(gz.Bytes()[:gz.Len()/2])
	f.Add(zs.Bytes())
	f.Add(zs.Bytes()[:zs.Len()/2])
	f.Fuzz(func(t *testing.T, blob []byte) {
		img, err := mutate.AppendLayers(empty.Image, static.NewLayer(blob, types.OCILayer))
		if err != nil {
			t.Skip(err)
		}
		dir := t.TempDir()
		p, err := layout.Write(dir, empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AppendImage(img); err != nil {
			t.Fatal(err)
		}
		opened, err := Open(context.Background(), "oci:"+dir, WithMaxExpansion(64))
		if err != nil {
			t.Fatal(err)
		}
		before := runtime.NumGoroutine()
		tree, err := opened.Walk(context.Background(), func(e *Entry, r io.Reader) error {
			if r != nil {
				_, err := io.Copy(io.Discard, r)
				return err
			}
			return nil
		})
		valid := bytes.Equal(blob, plain.Bytes()) || bytes.Equal(blob, gz.Bytes()) || bytes.Equal(blob, zs.Bytes())
		if valid && err != nil {
			t.Fatalf("a valid layer: %v", err)
		}
		if err == nil {
			if _, e, rerr := tree.Resolve("l"); valid && (rerr != nil || e == nil) {
				t.Fatalf("a valid layer: its link to etc/os-release does not resolve (%v)", rerr)
			}
		}
		for deadline := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > before; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d goroutines before the walk, %d after it", before, runtime.NumGoroutine())
			}
		}
	})
}
