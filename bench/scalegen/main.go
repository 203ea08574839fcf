// Command scalegen writes the synthetic but realistic OCI images that
// bench/scale.sh scans to show how credence's cost grows with image size:
//
//	bytes   N layers of files totalling SIZE bytes uncompressed: trees of
//	        text and binary files of log-normal sizes, some executable ELF
//	        files, a Debian os-release and dpkg status (default 20 layers, 1 GiB)
//	files   one layer of N small files laid out as node_modules (package.json
//	        per package, sources beside it; default 300,000 files)
//	lock    100 language lockfiles (npm, PyPI, Poetry, Cargo, Go modules) and
//	        50 copies of a real Go binary built with the local toolchain
//
// Content is deterministic (a seeded generator), so runs on different
// machines scan the same bytes. Layers are gzip-compressed as registries
// store them; the layout is written by hand (oci-layout, index.json, blobs).
//
//	go run ./bench/scalegen -kind bytes -size 1073741824 -layers 20 -o DIR
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

func main() {
	kind := flag.String("kind", "bytes", "bytes, files or lock")
	size := flag.Int64("size", 1<<30, "bytes: uncompressed bytes in all layers")
	layers := flag.Int("layers", 20, "bytes: number of layers")
	files := flag.Int("files", 300000, "files: number of files")
	out := flag.String("o", "", "OCI layout directory to write (must not exist)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: scalegen -kind bytes|files|lock [-size N -layers N | -files N] -o DIR")
		os.Exit(2)
	}
	start := time.Now()
	var err error
	switch *kind {
	case "bytes":
		err = writeImage(*out, *layers, func(i int, w *layerWriter) error { return bytesLayer(i, *layers, *size/int64(*layers), w) })
	case "files":
		err = writeImage(*out, 1, func(_ int, w *layerWriter) error { return filesLayer(*files, w) })
	case "lock":
		var bin []byte
		if bin, err = goBinary(); err == nil {
			err = writeImage(*out, 2, func(i int, w *layerWriter) error { return lockLayer(i, bin, w) })
		}
	default:
		err = fmt.Errorf("unknown kind %q", *kind)
	}
	if err != nil {
		os.RemoveAll(*out)
		fmt.Fprintln(os.Stderr, "scalegen:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "scalegen: wrote %s in %v\n", *out, time.Since(start).Round(time.Millisecond))
}

// layerWriter writes one tar layer, gzip-compressed, into a blob file while
// hashing the blob (its digest) and the tar (its DiffID).
type layerWriter struct {
	tw        *tar.Writer
	zw        *gzip.Writer
	f         *os.File
	blob, tar hash.Hash
	size      int64
	dirs      map[string]bool
}

type countingHash struct {
	h hash.Hash
	n *int64
}

func (c countingHash) Write(p []byte) (int, error) { *c.n += int64(len(p)); return c.h.Write(p) }

func newLayerWriter(path string) (*layerWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &layerWriter{f: f, blob: sha256.New(), tar: sha256.New(), dirs: map[string]bool{}}
	w.zw = gzip.NewWriter(io.MultiWriter(f, countingHash{w.blob, &w.size}))
	w.tw = tar.NewWriter(io.MultiWriter(w.zw, w.tar))
	return w, nil
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// file writes a regular file, creating its parent directories first.
func (w *layerWriter) file(name string, mode int64, body []byte) error {
	if err := w.mkdirs(filepath.Dir(name)); err != nil {
		return err
	}
	if err := w.tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(body)), ModTime: epoch}); err != nil {
		return err
	}
	_, err := w.tw.Write(body)
	return err
}

func (w *layerWriter) mkdirs(dir string) error {
	if dir == "." || dir == "/" || w.dirs[dir] {
		return nil
	}
	if err := w.mkdirs(filepath.Dir(dir)); err != nil {
		return err
	}
	w.dirs[dir] = true
	return w.tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch})
}

func (w *layerWriter) close() error {
	return errors.Join(w.tw.Close(), w.zw.Close(), w.f.Close())
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// writeImage writes an OCI layout of n layers, each filled by fill.
func writeImage(dir string, n int, fill func(int, *layerWriter) error) error {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("%s exists", dir)
	}
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	var layers []descriptor
	var diffIDs, history []string
	for i := range n {
		tmp := filepath.Join(blobs, fmt.Sprintf("layer-%d.tmp", i))
		w, err := newLayerWriter(tmp)
		if err != nil {
			return err
		}
		if err := fill(i, w); err != nil {
			return err
		}
		if err := w.close(); err != nil {
			return err
		}
		d := hex.EncodeToString(w.blob.Sum(nil))
		if err := os.Rename(tmp, filepath.Join(blobs, d)); err != nil {
			return err
		}
		layers = append(layers, descriptor{"application/vnd.oci.image.layer.v1.tar+gzip", "sha256:" + d, w.size})
		diffIDs = append(diffIDs, "sha256:"+hex.EncodeToString(w.tar.Sum(nil)))
		history = append(history, fmt.Sprintf(`{"created_by":"scalegen layer %d"}`, i))
	}
	config := fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]},"history":[%s]}`,
		strings.Join(diffIDs, `","`), strings.Join(history, ","))
	cfg, err := writeBlob(blobs, []byte(config))
	if err != nil {
		return err
	}
	cfg.MediaType = "application/vnd.oci.image.config.v1+json"
	manifest, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cfg, "layers": layers})
	m, err := writeBlob(blobs, manifest)
	if err != nil {
		return err
	}
	m.MediaType = "application/vnd.oci.image.manifest.v1+json"
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []descriptor{m}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

func writeBlob(blobs string, b []byte) (descriptor, error) {
	sum := sha256.Sum256(b)
	d := hex.EncodeToString(sum[:])
	return descriptor{Digest: "sha256:" + d, Size: int64(len(b))}, os.WriteFile(filepath.Join(blobs, d), b, 0o644)
}

var words = strings.Fields(`the of and to in is for on that by with as it from at this are be or an
was which not have has but all can its will one more about other their new some into only also
config value return error func type struct package import const var string int byte buffer read
write open close file path name size data layer image index table entry record version module
library service server client request response header body status cache store update delete list
http https json yaml toml xml html text plain utf8 base64 sha256 digest token secret key cert`)

// text returns about n bytes of text-like content (compresses about 3-4×).
func text(r *rand.Rand, n int) []byte {
	b := make([]byte, 0, n+16)
	for len(b) < n {
		for range 6 + r.IntN(8) {
			b = append(b, words[r.IntN(len(words))]...)
			b = append(b, ' ')
		}
		b[len(b)-1] = '\n'
	}
	return b[:n]
}

// binaryData returns n bytes that compress about 1.5-2×: random blocks,
// half of them repeated.
func binaryData(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	const block = 256
	for i := 0; i < n; i += block {
		end := min(n, i+block)
		if i >= 4*block && r.IntN(2) == 0 {
			src := r.IntN(i/block-1) * block
			copy(b[i:end], b[src:src+end-i])
			continue
		}
		for j := i; j < end; j += 8 {
			v := r.Uint64()
			for k := j; k < min(end, j+8); k++ {
				b[k] = byte(v)
				v >>= 8
			}
		}
	}
	return b
}

// elf returns an executable ELF image (header only, then binaryData): the
// Go-binary and cargo-auditable extractors read such files to the end.
func elf(r *rand.Rand, n int) []byte {
	b := binaryData(r, max(n, 128))
	copy(b, "\x7fELF\x02\x01\x01")
	for i := 7; i < 64; i++ {
		b[i] = 0
	}
	b[16], b[18], b[20] = 2, 62, 1
	return b
}

// logNormalSize draws a file size around 8 KiB, between 64 bytes and 4 MiB.
func logNormalSize(r *rand.Rand) int {
	s := math.Exp(r.NormFloat64()*1.6 + math.Log(8192))
	return int(min(max(s, 64), 4<<20))
}

const debianOSRelease = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n"

func dpkgStatus(r *rand.Rand, n int) []byte {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "Package: pkg%04d\nStatus: install ok installed\nArchitecture: amd64\nVersion: %d.%d.%d-%d\nDescription: %s\n\n",
			i, r.IntN(5), r.IntN(20), r.IntN(30), 1+r.IntN(3), strings.ReplaceAll(string(text(r, 60)), "\n", " "))
	}
	return []byte(sb.String())
}

// bytesLayer fills layer i of n with about size bytes of files.
func bytesLayer(i, n int, size int64, w *layerWriter) error {
	r := rand.New(rand.NewPCG(1, uint64(i)))
	if i == 0 {
		if err := w.file("etc/os-release", 0o644, []byte(debianOSRelease)); err != nil {
			return err
		}
	}
	if i == 0 || i == n-1 {
		if err := w.file("var/lib/dpkg/status", 0o644, dpkgStatus(r, 300+i)); err != nil {
			return err
		}
	}
	var written int64
	for f := 0; written < size; f++ {
		n := int(min(int64(logNormalSize(r)), size-written))
		dir := fmt.Sprintf("usr/lib/layer%02d/pkg%03d", i, f/40)
		var err error
		switch k := r.IntN(20); {
		case k == 0:
			err = w.file(fmt.Sprintf("usr/bin/l%02d-tool%05d", i, f), 0o755, elf(r, n))
		case k < 12:
			err = w.file(fmt.Sprintf("%s/doc%05d.txt", dir, f), 0o644, text(r, n))
		default:
			err = w.file(fmt.Sprintf("%s/data%05d.bin", dir, f), 0o644, binaryData(r, n))
		}
		if err != nil {
			return err
		}
		written += int64(n)
	}
	return nil
}

// filesLayer writes n small files as node_modules: one package.json per 50
// files, sources and assets of 0-4 KiB beside it.
func filesLayer(n int, w *layerWriter) error {
	r := rand.New(rand.NewPCG(2, 0))
	if err := w.file("etc/os-release", 0o644, []byte(debianOSRelease)); err != nil {
		return err
	}
	for f := 0; f < n; f++ {
		pkg := fmt.Sprintf("app/node_modules/pkg-%05d", f/50)
		var err error
		if f%50 == 0 {
			err = w.file(pkg+"/package.json", 0o644, fmt.Appendf(nil, `{"name":"pkg-%05d","version":"%d.%d.%d","license":"MIT","main":"lib/index.js"}`,
				f/50, r.IntN(9), r.IntN(30), r.IntN(30)))
		} else {
			err = w.file(fmt.Sprintf("%s/lib/d%d/f%05d.js", pkg, f%7, f), 0o644, text(r, r.IntN(4096)))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lockLayer: layer 0 holds 100 lockfiles, layer 1 50 copies of a Go binary.
func lockLayer(i int, bin []byte, w *layerWriter) error {
	r := rand.New(rand.NewPCG(3, uint64(i)))
	if i == 1 {
		for b := range 50 {
			if err := w.file(fmt.Sprintf("usr/local/bin/svc%02d", b), 0o755, bin); err != nil {
				return err
			}
		}
		return nil
	}
	if err := w.file("etc/os-release", 0o644, []byte(debianOSRelease)); err != nil {
		return err
	}
	for l := range 100 {
		dir := fmt.Sprintf("srv/app%03d", l)
		pkgs := 100 + r.IntN(900)
		var name string
		var body []byte
		switch l % 5 {
		case 0:
			name, body = "package-lock.json", npmLock(r, l, pkgs)
		case 1:
			name, body = "requirements.txt", requirements(r, pkgs)
		case 2:
			name, body = "poetry.lock", poetryLock(r, pkgs)
		case 3:
			name, body = "Cargo.lock", cargoLock(r, pkgs)
		case 4:
			name, body = "go.mod", goMod(r, l, pkgs)
		}
		if err := w.file(dir+"/"+name, 0o644, body); err != nil {
			return err
		}
	}
	return nil
}

func version(r *rand.Rand) string { return fmt.Sprintf("%d.%d.%d", r.IntN(9), r.IntN(40), r.IntN(40)) }

func npmLock(r *rand.Rand, l, n int) []byte {
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"name":"app%d","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"app%d","version":"1.0.0"}`, l, l)
	for i := range n {
		fmt.Fprintf(&sb, `,"node_modules/dep-%04d":{"version":"%s","resolved":"https://registry.npmjs.org/dep-%04d/-/dep-%04d.tgz","license":"MIT"}`, i, version(r), i, i)
	}
	sb.WriteString("}}\n")
	return []byte(sb.String())
}

func requirements(r *rand.Rand, n int) []byte {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "dist-%04d==%s\n", i, version(r))
	}
	return []byte(sb.String())
}

func poetryLock(r *rand.Rand, n int) []byte {
	var sb strings.Builder
	sb.WriteString("# This file is automatically @generated by Poetry 1.8.3 and should not be changed by hand.\n\n")
	for i := range n {
		fmt.Fprintf(&sb, "[[package]]\nname = \"lib-%04d\"\nversion = \"%s\"\ndescription = \"\"\noptional = false\npython-versions = \">=3.8\"\nfiles = []\n\n", i, version(r))
	}
	sb.WriteString("[metadata]\nlock-version = \"2.0\"\npython-versions = \"^3.11\"\ncontent-hash = \"00\"\n")
	return []byte(sb.String())
}

func cargoLock(r *rand.Rand, n int) []byte {
	var sb strings.Builder
	sb.WriteString("# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 3\n\n")
	for i := range n {
		fmt.Fprintf(&sb, "[[package]]\nname = \"crate-%04d\"\nversion = \"%s\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n", i, version(r))
	}
	return []byte(sb.String())
}

func goMod(r *rand.Rand, l, n int) []byte {
	var sb strings.Builder
	fmt.Fprintf(&sb, "module example.com/app%d\n\ngo 1.22\n\nrequire (\n", l)
	for i := range n {
		fmt.Fprintf(&sb, "\texample.com/mod%04d v%d.%d.%d\n", i, r.IntN(2), r.IntN(40), r.IntN(40))
	}
	sb.WriteString(")\n")
	return []byte(sb.String())
}

// goBinary builds a real Go program (the standard library's HTTP, TLS and
// JSON packages: about 8 MB) with the local toolchain.
func goBinary() ([]byte, error) {
	dir, err := os.MkdirTemp("", "scalegen-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src := `package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
)

func main() {
	b, _ := json.Marshal(&tls.Config{})
	fmt.Println(len(b), http.ListenAndServe(":0", nil))
}
`
	for name, body := range map[string]string{"go.mod": "module example.com/svc\n\ngo 1.22\n", "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command("go", "build", "-o", "svc", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return os.ReadFile(filepath.Join(dir, "svc"))
}
