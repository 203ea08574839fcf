package gobinary_test

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
)

// blob builds an ELF-looking file holding a Go 1.18+ build info blob at a
// 16-byte aligned offset: magic, pointer size, flags, padding, then the
// version and module info as uvarint-prefixed strings (cmd/link's layout).
func blob(version, modinfo string) []byte {
	b := append([]byte("\x7fELF"), make([]byte, 124)...)
	b = append(b, "\xff Go buildinf:\x08\x02"...)
	b = append(b, make([]byte, 16)...)
	b = binary.AppendUvarint(b, uint64(len(version)))
	b = append(b, version...)
	start := "0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6"
	end := "\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
	mod := start + modinfo + end
	b = binary.AppendUvarint(b, uint64(len(mod)))
	return append(b, mod...)
}

// FuzzExtract feeds arbitrary files, streamed or with random access.
func FuzzExtract(f *testing.F) {
	f.Add(false, blob("go1.21.3", "path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tgolang.org/x/net\tv0.17.0\th1:abc=\ndep\texample.com/old\tv1.0.0\n=>\texample.com/new\tv1.1.0\th1:def=\nbuild\tGOOS=linux\n"))
	f.Add(true, blob("go1.20", "path\tcmd\n"))
	f.Add(false, append(append([]byte("\x7fELF"), make([]byte, 124)...), "\xff Go buildinf:\x08\x00"...))
	f.Add(true, []byte("MZ\x90\x00"))
	f.Add(false, oldELF("go1.16.15", "path\texample.com/old\nmod\texample.com/old\tv1.0.0\t\n"))
	// A real Go binary (built by the test, 1.5 MB): mutations of it reach
	// the function table reader with random access and streamed.
	if bins := buildBinaries(f); len(bins) > 3 {
		if data, err := os.ReadFile(bins[3].path); err == nil {
			f.Add(false, data)
			f.Add(true, data)
		}
	}
	f.Fuzz(func(t *testing.T, random bool, data []byte) {
		res, err := extract(t, data, random)
		if err == nil {
			extractortest.CheckPackages(t, res.Packages, func(p *inventory.Package) bool { return p.Name != "" && p.Type == "golang" })
			for _, p := range res.Packages {
				if p.Linked == nil || (p.Linked.Unknown != "") == (p.Linked.Packages != nil) && p.Linked.Unknown != "" {
					t.Fatalf("%s: linked %+v: want known functions or a reason", p.Name, p.Linked)
				}
			}
		}
	})
}
