// Command decompress-limit measures the floor for reading an image: it reads
// and decompresses every layer blob of an OCI layout, layers in parallel as
// credence does, and discards the bytes. bench/inventory.sh divides
// credence's time by this one.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: decompress-limit OCI-LAYOUT-DIR")
		os.Exit(2)
	}
	start := time.Now()
	n, err := run(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "decompress-limit:", err)
		os.Exit(1)
	}
	fmt.Printf("decompressed %d bytes in %v\n", n, time.Since(start))
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

func run(dir string) (int64, error) {
	var index struct{ Manifests []struct{ Digest string } }
	if err := readJSON(filepath.Join(dir, "index.json"), &index); err != nil {
		return 0, err
	}
	var manifest struct{ Layers []struct{ Digest string } }
	if err := readJSON(blob(dir, index.Manifests[0].Digest), &manifest); err != nil {
		return 0, err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
		first error
	)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for _, l := range manifest.Layers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			n, err := decompress(blob(dir, l.Digest))
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
