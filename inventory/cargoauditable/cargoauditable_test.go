package cargoauditable_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/cargoauditable"
	"github.com/credence-dev/credence/inventory/extractortest"
)

// auditJSON is what cargo auditable embeds for a binary "hello" (a local
// crate) with a runtime dependency tree and a build-time dependency, in
// auditable-serde's format: dependencies are indices into packages, "kind"
// is omitted for runtime crates.
const auditJSON = `{"packages":[` +
	`{"name":"adler","version":"1.0.2","source":"crates.io"},` +
	`{"name":"cc","version":"1.0.73","source":"crates.io","kind":"build"},` +
	`{"name":"hello","version":"0.1.0","source":"local","dependencies":[0,1,3,4],"root":true},` +
	`{"name":"miniz_oxide","version":"0.5.3","source":"crates.io","dependencies":[0]},` +
	`{"name":"forked","version":"0.2.0","source":"git"}` +
	`],"format":1}`

func wantPackages() []*inventory.Package {
	crate := func(name, version, kind string) *inventory.Package {
		return &inventory.Package{Name: name, Version: version, Type: "cargo", Metadata: &cargoauditable.Metadata{Kind: kind}}
	}
	return []*inventory.Package{crate("adler", "1.0.2", "runtime"), crate("cc", "1.0.73", "build"), crate("miniz_oxide", "0.5.3", "runtime")}
}

var wantWarnings = []string{"1 crates from git or registries other than crates.io are not reported (no OSV ecosystem for them): forked 0.2.0 (git)"}

func TestFileRequired(t *testing.T) {
	extractortest.FileRequiredInfo(t, cargoauditable.New(), map[inventory.FileInfo]bool{
		{Path: "usr/bin/hello", Mode: 0o755, Size: 1 << 20}:                  true,
		{Path: "usr/bin/hello", Mode: 0o644, Size: 1 << 20}:                  false,
		{Path: "usr/bin/hello", Mode: fs.ModeSymlink | 0o777, Size: 1 << 20}: false,
		{Path: "usr/bin/hello", Mode: 0o755, Size: 10}:                       false,
		{Path: "usr/bin/hello", Mode: 0o755, Size: 600 << 20}:                false,
	})
}

// TestExtract reads the section from executables of each format, written
// by hand in the layout cargo auditable produces (ELF: a non-allocated
// .dep-v0 section; PE: a .dep-v0 section; Mach-O: __DATA,.dep-v0), and from
// a real Go-built ELF to which objcopy added the section.
func TestExtract(t *testing.T) {
	payload := deflate(t, []byte(auditJSON))
	files := map[string][]byte{
		"elf":    elfFile(payload),
		"pe":     peFile(payload),
		"mach-o": machoFile(payload),
	}
	if real := objcopyELF(t, payload); real != nil {
		files["go-built elf + objcopy"] = real
	}
	for name, data := range files {
		for _, random := range []bool{false, true} {
			res, err := extract(t, data, random)
			if err != nil {
				t.Fatalf("%s (random %v): %v", name, random, err)
			}
			if diff := cmp.Diff(wantPackages(), res.Packages); diff != "" {
				t.Errorf("%s (random %v): packages (-want +got):\n%s", name, random, diff)
			}
			if diff := cmp.Diff(wantWarnings, res.Warnings); diff != "" {
				t.Errorf("%s (random %v): warnings (-want +got):\n%s", name, random, diff)
			}
		}
	}
}

func TestExtractNone(t *testing.T) {
	noSection := elfFile(nil)
	renameSection(noSection)
	for name, data := range map[string][]byte{
		"shell script":        []byte("#!/bin/sh\necho hi\n" + strings.Repeat("#", 100)),
		"ELF without section": noSection,
		"truncated ELF":       elfFile(deflate(t, []byte(auditJSON)))[:100],
	} {
		for _, random := range []bool{false, true} {
			res, err := extract(t, data, random)
			if err != nil || len(res.Packages) != 0 {
				t.Errorf("%s: %v, %v; want nothing", name, res.Packages, err)
			}
		}
	}
}

func TestExtractMalformed(t *testing.T) {
	bomb := deflate(t, bytes.Repeat([]byte(" "), 65<<20))
	for name, payload := range map[string][]byte{
		"not zlib":             []byte("not zlib at all"),
		"truncated zlib":       deflate(t, []byte(auditJSON))[:20],
		"not JSON":             deflate(t, []byte("<xml/>")),
		"packages not a list":  deflate(t, []byte(`{"packages":3}`)),
		"inflates over 64 MiB": bomb,
	} {
		if res, err := extract(t, elfFile(payload), false); err == nil {
			t.Errorf("%s: %d packages and no error", name, len(res.Packages))
		}
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(false, elfFile(deflate(f, []byte(auditJSON))))
	f.Add(true, peFile(deflate(f, []byte(auditJSON))))
	f.Add(false, machoFile(deflate(f, []byte(`{"packages":[]}`))))
	f.Fuzz(func(t *testing.T, random bool, data []byte) {
		res, err := extract(t, data, random)
		if err == nil {
			extractortest.CheckPackages(t, res.Packages, extractortest.HasNameAndVersion)
		}
	})
}

func extract(t testing.TB, data []byte, random bool) (inventory.Result, error) {
	t.Helper()
	return extractortest.ExtractExecutable(t, cargoauditable.New(), "usr/bin/hello", data, random)
}

func deflate(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var le = binary.LittleEndian

// elfFile writes a 64-bit little-endian ELF with sections null, .dep-v0
// (PROGBITS, no flags: not loaded, as cargo auditable writes it) and
// .shstrtab (System V ABI, "Sections").
func elfFile(payload []byte) []byte {
	names := []byte("\x00.dep-v0\x00.shstrtab\x00")
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	le.PutUint16(b[16:], 2)  // ET_EXEC
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint16(b[52:], 64) // e_ehsize
	le.PutUint16(b[54:], 56) // e_phentsize
	le.PutUint16(b[58:], 64) // e_shentsize
	le.PutUint16(b[60:], 3)  // e_shnum
	le.PutUint16(b[62:], 2)  // e_shstrndx
	depOff := len(b)
	b = append(b, payload...)
	namesOff := len(b)
	b = append(b, names...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	le.PutUint64(b[40:], uint64(len(b))) // e_shoff
	sh := func(name, typ uint32, off, size int) {
		s := make([]byte, 64)
		le.PutUint32(s, name)
		le.PutUint32(s[4:], typ)
		le.PutUint64(s[24:], uint64(off))
		le.PutUint64(s[32:], uint64(size))
		le.PutUint64(s[48:], 1)
		b = append(b, s...)
	}
	b = append(b, make([]byte, 64)...) // SHN_UNDEF
	sh(1, 1, depOff, len(payload))     // .dep-v0, SHT_PROGBITS
	sh(9, 3, namesOff, len(names))     // .shstrtab, SHT_STRTAB
	return b
}

// renameSection turns .dep-v0 into .dep-v9 in an elfFile.
func renameSection(b []byte) {
	i := bytes.LastIndex(b, []byte(".dep-v0"))
	b[i+6] = '9'
}

// peFile writes a PE file (DOS stub, COFF header, one section .dep-v0) as
// the PE/COFF specification lays it out.
func peFile(payload []byte) []byte {
	b := make([]byte, 512)
	copy(b, "MZ")
	le.PutUint32(b[0x3c:], 64) // e_lfanew
	copy(b[64:], "PE\x00\x00")
	coff := b[68:]
	le.PutUint16(coff, 0x8664) // AMD64
	le.PutUint16(coff[2:], 1)  // NumberOfSections
	le.PutUint16(coff[18:], 0x22)
	sec := b[88:]
	copy(sec, ".dep-v0")
	le.PutUint32(sec[8:], uint32(len(payload)))  // VirtualSize
	le.PutUint32(sec[12:], 0x1000)               // VirtualAddress
	le.PutUint32(sec[16:], uint32(len(payload))) // SizeOfRawData
	le.PutUint32(sec[20:], 512)                  // PointerToRawData
	le.PutUint32(sec[36:], 0x40000040)           // initialized data, readable
	return append(b, payload...)
}

// machoFile writes a 64-bit Mach-O with one LC_SEGMENT_64 __DATA holding
// the section .dep-v0 (mach-o/loader.h).
func machoFile(payload []byte) []byte {
	const dataOff = 192
	b := make([]byte, dataOff)
	le.PutUint32(b, 0xfeedfacf)
	le.PutUint32(b[4:], 0x01000007) // x86_64
	le.PutUint32(b[8:], 3)
	le.PutUint32(b[12:], 2) // MH_EXECUTE
	le.PutUint32(b[16:], 1) // ncmds
	le.PutUint32(b[20:], 72+80)
	seg := b[32:]
	le.PutUint32(seg, 0x19) // LC_SEGMENT_64
	le.PutUint32(seg[4:], 72+80)
	copy(seg[8:], "__DATA")
	le.PutUint64(seg[24:], 0x1000)               // vmaddr
	le.PutUint64(seg[32:], uint64(len(payload))) // vmsize
	le.PutUint64(seg[40:], dataOff)              // fileoff
	le.PutUint64(seg[48:], uint64(len(payload))) // filesize
	le.PutUint32(seg[56:], 3)
	le.PutUint32(seg[60:], 3)
	le.PutUint32(seg[64:], 1) // nsects
	sec := seg[72:]
	copy(sec, ".dep-v0")
	copy(sec[16:], "__DATA")
	le.PutUint64(sec[32:], 0x1000)
	le.PutUint64(sec[40:], uint64(len(payload)))
	le.PutUint32(sec[48:], dataOff)
	return append(b, payload...)
}

// objcopyELF builds a small Go program and adds the section with binutils'
// objcopy, as a non-loaded section: a real linker-made ELF around the data.
func objcopyELF(t *testing.T, payload []byte) []byte {
	t.Helper()
	objcopy, err := exec.LookPath("objcopy")
	if err != nil {
		testutil.MissingPart(t, "objcopy", "run scripts/setup.d/00-apt.sh as root (apt package binutils) for the real-ELF case")
		return nil
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.21\n",
		"main.go": "package main\n\nfunc main() { println(\"hello\") }\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, "hello")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			testutil.MissingPart(t, "go toolchain", "install Go for the real-ELF case")
			return nil
		}
	}
	cmd := exec.Command(goBin, "build", "-o", exe, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOOS=linux", "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sec := filepath.Join(dir, "dep.z")
	if err := os.WriteFile(sec, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(objcopy, "--add-section", ".dep-v0="+sec, exe).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func BenchmarkExtract(b *testing.B) {
	data := elfFile(deflate(b, []byte(auditJSON)))
	if sh, err := os.ReadFile("/bin/sh"); err == nil {
		data = append(sh[:len(sh):len(sh)], 0) // a real executable without the section
	}
	for _, random := range []bool{false, true} {
		b.Run(map[bool]string{false: "stream", true: "random"}[random], func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := extract(b, data, random); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loadedELF is an elfFile with one PT_LOAD program header covering the
// whole file, so .dep-v0 lies inside a loaded segment: not where linkers
// put a section without flags.
func loadedELF(payload []byte) []byte {
	b := elfFile(payload)
	phoff := len(b)
	p := make([]byte, 56)
	le.PutUint32(p, 1)                   // PT_LOAD
	le.PutUint32(p[4:], 4)               // R
	le.PutUint64(p[32:], uint64(len(b))) // p_filesz: everything before the program header
	le.PutUint64(p[40:], uint64(len(b))) // p_memsz
	b = append(b, p...)
	le.PutUint64(b[32:], uint64(phoff)) // e_phoff
	le.PutUint16(b[56:], 1)             // e_phnum
	return b
}

// Streamed, an ELF file is read once without keeping it: the section table
// at its end decides which of the bytes kept on the way were .dep-v0. A
// section the stream did not keep is an error, never "no crates"; with
// random access the same file reads fine.
func TestExtractStreamedELF(t *testing.T) {
	data := loadedELF(deflate(t, []byte(auditJSON)))
	if res, err := extract(t, data, true); err != nil || len(res.Packages) != len(wantPackages()) {
		t.Fatalf("random access: %v, %v", res.Packages, err)
	}
	_, err := extract(t, data, false)
	if !errors.Is(err, cargoauditable.ErrNotCaptured) {
		t.Errorf("streamed, section inside a loaded segment: error %v, want ErrNotCaptured", err)
	}

	// Many decoys: zlib headers and section names that lead nowhere.
	decoys := bytes.Repeat([]byte("\x78\x9c not zlib .dep-v0\x00"), 40)
	payload := deflate(t, []byte(auditJSON))
	withDecoys := elfFile(append(append([]byte(nil), payload...), decoys...))
	// The section keeps its size: the decoys sit after it, inside no section.
	le.PutUint64(withDecoys[len(withDecoys)-2*64+32:], uint64(len(payload)))
	res, err := extract(t, withDecoys, false)
	if err != nil {
		t.Fatalf("decoys: %v", err)
	}
	if diff := cmp.Diff(wantPackages(), res.Packages); diff != "" {
		t.Errorf("decoys: (-want +got):\n%s", diff)
	}
}
