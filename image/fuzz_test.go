package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
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
