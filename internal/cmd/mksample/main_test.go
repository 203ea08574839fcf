package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The committed sample images are what their generator makes from sample-src.
func TestSampleIsReproducible(t *testing.T) {
	testdata := filepath.Join("..", "..", "..", "testdata")
	tmp := t.TempDir()
	committed := outputs(testdata)
	for i, o := range outputs(tmp) {
		if err := o.write(filepath.Join(testdata, "images", "sample-src")); err != nil {
			t.Fatal(err)
		}
		compare(t, committed[i].dir, o.dir)
	}
}

func compare(t *testing.T, committed, out string) {
	t.Helper()
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
	if diff := cmp.Diff(list(committed), list(out)); diff != "" {
		t.Errorf("%s is stale; run go run ./internal/cmd/mksample (-committed +generated):\n%s", committed, diff)
	}
}
