package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The committed sample image is what its generator makes from sample-src.
func TestSampleIsReproducible(t *testing.T) {
	root := filepath.Join("..", "..", "..", "testdata", "images")
	out := filepath.Join(t.TempDir(), "sample")
	if err := run(filepath.Join(root, "sample-src"), out); err != nil {
		t.Fatal(err)
	}
	list := func(dir string) map[string]string {
		files := map[string]string{}
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(dir, p)
				files[rel] = string(b)
			}
			return err
		})
		return files
	}
	if diff := cmp.Diff(list(filepath.Join(root, "sample")), list(out)); diff != "" {
		t.Errorf("testdata/images/sample is stale; run go run ./internal/cmd/mksample (-committed +generated):\n%s", diff)
	}
}
