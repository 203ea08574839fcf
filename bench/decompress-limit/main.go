// Command decompress-limit measures the floor for reading an image: for an
// OCI layout it reads and decompresses every layer blob (gzip or zstd),
// layers in parallel as credence does, and discards the bytes; for a
// docker-archive (uncompressed layers) it reads every layer and computes
// its sha256, layers in parallel, which is the least any tool that checks
// the layers' DiffIDs must do. bench/inventory.sh and bench/scale.sh divide
// credence's time by this one.
//
//	decompress-limit OCI-LAYOUT-DIR | DOCKER-ARCHIVE.tar
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: decompress-limit OCI-LAYOUT-DIR | DOCKER-ARCHIVE.tar")
		os.Exit(2)
	}
	start := time.Now()
	var n int64
	var err error
	if fi, serr := os.Stat(os.Args[1]); serr == nil && !fi.IsDir() {
		n, err = hashArchive(os.Args[1])
	} else {
		n, err = run(os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "decompress-limit:", err)
		os.Exit(1)
	}
	fmt.Printf("read %d uncompressed layer bytes in %v\n", n, time.Since(start))
}

func blob(dir, digest string) string {
	alg, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(dir, "blobs", alg, hex)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// parallel runs job for each item, GOMAXPROCS at a time, biggest first as
// credence does, and sums the byte counts.
func parallel[T any](items []T, job func(T) (int64, error)) (int64, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
		first error
	)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			n, err := job(it)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	return total, first
}

func run(dir string) (int64, error) {
	var index struct{ Manifests []struct{ Digest string } }
	if err := readJSON(filepath.Join(dir, "index.json"), &index); err != nil {
		return 0, err
	}
	if len(index.Manifests) == 0 {
		return 0, errors.New("index.json lists no manifest")
	}
	var manifest struct{ Layers []layerDesc }
	if err := readJSON(blob(dir, index.Manifests[0].Digest), &manifest); err != nil {
		return 0, err
	}
	layers := manifest.Layers
	slices.SortStableFunc(layers, func(a, b layerDesc) int { return cmp.Compare(b.Size, a.Size) }) // biggest first, as credence
	return parallel(layers, func(l layerDesc) (int64, error) { return decompress(blob(dir, l.Digest)) })
}

type layerDesc struct {
	Digest string
	Size   int64
}

func decompress(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	magic, _ := br.Peek(4)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, err
		}
		r = zr
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		r = zr
	}
	return io.Copy(io.Discard, r)
}

// hashArchive reads manifest.json of a docker-archive and hashes each
// layer it lists, in parallel.
func hashArchive(file string) (int64, error) {
	offsets, err := entries(file)
	if err != nil {
		return 0, err
	}
	mf, ok := offsets["manifest.json"]
	if !ok {
		return 0, errors.New("no manifest.json: not a docker-archive")
	}
	raw, err := readAt(file, mf)
	if err != nil {
		return 0, err
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(raw, &manifest); err != nil || len(manifest) == 0 {
		return 0, fmt.Errorf("manifest.json: %v", err)
	}
	var layers []entry
	for _, l := range manifest[0].Layers {
		e, ok := offsets[path.Clean(l)]
		if !ok {
			return 0, fmt.Errorf("layer %s is not in the archive (links are not followed here)", l)
		}
		layers = append(layers, e)
	}
	return parallel(layers, func(e entry) (int64, error) {
		f, err := os.Open(file)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, io.NewSectionReader(f, e.off, e.size))
		h.Sum(nil)
		return n, err
	})
}

type entry struct{ off, size int64 }

// entries maps the names in a tar file to where their content is.
func entries(file string) (map[string]entry, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]entry{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		// archive/tar reads exactly the header blocks: the file position
		// is where the content starts.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		out[path.Clean(strings.TrimPrefix(h.Name, "./"))] = entry{off, h.Size}
	}
}

func readAt(file string, e entry) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, e.size)
	_, err = f.ReadAt(b, e.off)
	return b, err
}
