package rpm_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/rpm"
)

func TestFileRequired(t *testing.T) {
	extractortest.FileRequiredInfo(t, rpm.New(), map[inventory.FileInfo]bool{
		{Path: "var/lib/rpm/Packages", Mode: 0o644, Size: 1 << 20}:                  true,
		{Path: "var/lib/rpm/Packages.db", Mode: 0o644, Size: 1 << 20}:               true,
		{Path: "var/lib/rpm/rpmdb.sqlite", Mode: 0o644, Size: 1 << 20}:              true,
		{Path: "usr/lib/sysimage/rpm/rpmdb.sqlite", Mode: 0o644, Size: 1 << 20}:     true,
		{Path: "usr/lib/sysimage/rpm/Packages.db", Mode: 0o644, Size: 1 << 20}:      true,
		{Path: "usr/lib/sysimage/rpm/Packages", Mode: 0o644, Size: 1 << 20}:         true,
		{Path: "var/lib/rpm/rpmdb.sqlite-wal", Mode: 0o644, Size: 1 << 20}:          false,
		{Path: "var/lib/rpm/Name", Mode: 0o644, Size: 1 << 20}:                      false,
		{Path: "opt/var/lib/rpm/Packages", Mode: 0o644, Size: 1 << 20}:              false,
		{Path: "var/lib/rpm/Packages", Mode: fs.ModeSymlink | 0o777, Size: 1 << 20}: false,
	})
}

// row is one line of the expected-*.tsv files: rpm -qa's NAME, EPOCHNUM,
// VERSION, RELEASE, ARCH, SOURCERPM, MODULARITYLABEL, LICENSE.
type row [8]string

// TestExtract reads every real database in ../shared/fixtures/rpm and
// compares every package with what rpm 4.18 itself listed
// (expected-rpm-qa.tsv), or go-rpmdb for ndb, which Debian's rpm cannot read
// (expected-go-rpmdb.tsv).
func TestExtract(t *testing.T) {
	root := filepath.Join(testutil.Shared(t), "fixtures", "rpm")
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 5 {
		t.Fatalf("%s has %d databases, want the 5 the fixtures README lists", root, len(dirs))
	}
	for _, d := range dirs {
		t.Run(d.Name(), func(t *testing.T) {
			dir := filepath.Join(root, d.Name())
			db := findDB(t, dir)
			want := readExpected(t, dir)
			res := extractFile(t, dir, db)
			var got []row
			for _, p := range res.Packages {
				got = append(got, toRow(t, p))
			}
			sortRows(want)
			sortRows(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("packages of %s (-expected +got):\n%s", db, diff)
			}
			if len(res.Warnings) != 0 {
				t.Errorf("warnings: %q", res.Warnings)
			}
		})
	}
}

// TestExtractPackage checks every field of one package, in each format.
func TestExtractPackage(t *testing.T) {
	want := []*inventory.Package{{
		Name:          "openssl-libs",
		Version:       "1:1.1.1k-7.el8_6",
		Type:          "rpm",
		SourceName:    "openssl",
		SourceVersion: "1.1.1k-7.el8_6",
		Arch:          "x86_64",
		Licenses:      []string{"OpenSSL and ASL 2.0"},
		Metadata: &rpm.Metadata{
			Epoch:           1,
			Release:         "7.el8_6",
			SourceRPM:       "openssl-1.1.1k-7.el8_6.src.rpm",
			ModularityLabel: "openssl:1.1:8060020220204:ad008a3a",
		},
	}}
	sqlitePath := sqliteFile(t, rpmSchema, openssl())
	sqliteBytes, err := os.ReadFile(sqlitePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path string
		db         []byte
	}{
		{"bdb", "var/lib/rpm/Packages", bdbFile([][]byte{openssl()}, 0)},
		{"ndb", "usr/lib/sysimage/rpm/Packages.db", ndbFile([][]byte{openssl()})},
		{"sqlite", "var/lib/rpm/rpmdb.sqlite", sqliteBytes},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := extract(t, tt.path, tt.db)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, res.Packages); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			purl := inventory.PURL(res.Packages[0], &inventory.Distro{ID: "almalinux", VersionID: "8.6"})
			if want := "pkg:rpm/almalinux/openssl-libs@1.1.1k-7.el8_6?arch=x86_64&distro=almalinux-8.6&epoch=1"; purl != want {
				t.Errorf("purl = %s, want %s", purl, want)
			}
		})
	}
}

// TestExtractMalformed feeds hostile databases: each must give a clear
// error, quickly, without crashing the process (go-rpmdb on its own panics
// in a goroutine, loops forever or blocks on most of these).
func TestExtractMalformed(t *testing.T) {
	good := bdbFile([][]byte{openssl(), openssl()}, 0)
	goodNDB := ndbFile([][]byte{openssl()})
	badMagic := bytes.Clone(goodNDB)
	copy(badMagic[4096:], "XXXX") // the blob magic
	badSlot := bytes.Clone(goodNDB)
	copy(badSlot[32+16*5:], "XXXX") // an empty slot's magic: go-rpmdb prints it to stdout
	hugeBlob := bytes.Clone(goodNDB)
	copy(hugeBlob[4096+12:], []byte{0xff, 0xff, 0xff, 0xff})
	noNUL := header(tag{tag: tagName, str: "a"}, tag{tag: tagVersion, str: "1"})
	noNUL[len(noNUL)-1] = 'x' // the last string loses its NUL
	bigCount := header(tag{tag: tagName, str: "a"}, tag{tag: 1117, str: "b"})
	copy(bigCount[8+16+4:], []byte{0, 0, 0, 8})              // second entry: a STRING_ARRAY (basenames)
	copy(bigCount[8+16+12:], []byte{0xff, 0xff, 0xff, 0xff}) // of 2^32-1 strings: go-rpmdb spins for minutes
	overlap := binary.BigEndian.AppendUint32(nil, 1000)
	overlap = binary.BigEndian.AppendUint32(overlap, 20)
	for range 1000 { // 1000 entries, all the same 10 strings
		overlap = append(overlap, 0, 0, 0x04, 0x5d, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 10)
	}
	overlap = append(overlap, bytes.Repeat([]byte("a\x00"), 10)...)
	var shortPages []byte
	shortPages = append(shortPages, good[:512]...)
	shortPages[32] = 0xff // last page number far past the end

	tests := []struct {
		name, path string
		db         []byte
		sqlite     []string // statements building a SQLite database instead of db
	}{
		{name: "empty", path: "var/lib/rpm/Packages", db: nil},
		{name: "garbage named Packages", path: "var/lib/rpm/Packages", db: bytes.Repeat([]byte("garbage!"), 4096)},
		{name: "truncated bdb", path: "var/lib/rpm/Packages", db: good[:len(good)-100]},
		{name: "bdb last page past the end", path: "var/lib/rpm/Packages", db: shortPages},
		// go-rpmdb: endless loop
		{name: "bdb overflow chain into the metadata page", path: "var/lib/rpm/Packages", db: bdbFile([][]byte{openssl()}, 0xffffffff/512+1)},
		{name: "bdb overflow chain into the hash page", path: "var/lib/rpm/Packages", db: bdbFile([][]byte{openssl()}, 1)},
		{name: "bdb header without NUL", path: "var/lib/rpm/Packages", db: bdbFile([][]byte{noNUL}, 0)},
		{name: "bdb header with 2^32 strings", path: "var/lib/rpm/Packages", db: bdbFile([][]byte{bigCount}, 0)},
		// go-rpmdb: panic in its reader goroutine, the process dies
		{name: "bdb item offset past the page", path: "var/lib/rpm/Packages", db: func() []byte {
			b := bdbFile([][]byte{openssl()}, 0)
			b[512+28], b[512+29] = 0xf0, 0xff
			return b
		}()},
		{name: "ndb truncated", path: "var/lib/rpm/Packages.db", db: goodNDB[:len(goodNDB)-40]},
		{name: "ndb bad blob magic", path: "var/lib/rpm/Packages.db", db: badMagic},
		// go-rpmdb: prints to stdout
		{name: "ndb bad slot magic", path: "var/lib/rpm/Packages.db", db: badSlot},
		{name: "ndb 4 GiB blob", path: "var/lib/rpm/Packages.db", db: hugeBlob},
		{name: "sqlite empty", path: "var/lib/rpm/rpmdb.sqlite", sqlite: []string{"PRAGMA user_version = 1"}},
		{name: "sqlite truncated", path: "var/lib/rpm/rpmdb.sqlite", sqlite: rpmSchema},
		{name: "sqlite null blob", path: "var/lib/rpm/rpmdb.sqlite", sqlite: []string{"CREATE TABLE Packages (blob BLOB)", "INSERT INTO Packages VALUES (NULL)"}},
		{name: "sqlite garbage blob", path: "var/lib/rpm/rpmdb.sqlite", sqlite: []string{"CREATE TABLE Packages (blob BLOB)", "INSERT INTO Packages VALUES (x'00000001')"}},
		{name: "sqlite overlapping header entries", path: "var/lib/rpm/rpmdb.sqlite", sqlite: []string{"CREATE TABLE Packages (blob BLOB)", "INSERT INTO Packages VALUES (x'" + hex.EncodeToString(overlap) + "')"}},
		{name: "sqlite endless view", path: "var/lib/rpm/rpmdb.sqlite", sqlite: []string{"CREATE VIEW Packages AS WITH RECURSIVE c(blob) AS (SELECT 1 UNION ALL SELECT blob+1 FROM c) SELECT blob FROM c"}},
		{name: "sqlite generated column", path: "var/lib/rpm/rpmdb.sqlite", sqlite: []string{"CREATE TABLE Packages (n INTEGER, blob BLOB AS (zeroblob(1000000000)))", "INSERT INTO Packages (n) VALUES (1)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := tt.db
			if tt.sqlite != nil {
				var err error
				if db, err = os.ReadFile(sqliteFile(t, tt.sqlite)); err != nil {
					t.Fatal(err)
				}
				if tt.name == "sqlite truncated" {
					db = append(db[:len(db)/2:len(db)/2], bytes.Repeat([]byte{0xa5}, 100)...)
				}
			}
			done := make(chan struct{})
			var res inventory.Result
			var err error
			go func() {
				defer close(done)
				res, err = extract(t, tt.path, db)
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Extract hangs")
			}
			if err == nil {
				t.Fatalf("Extract = %d packages and no error, want an error", len(res.Packages))
			}
			if !errors.Is(err, rpm.ErrMalformed) {
				t.Errorf("error %q is not ErrMalformed", err)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestParseSourceRPM(t *testing.T) {
	tests := []struct{ in, name, version string }{
		{"glibc-2.34-60.el9.src.rpm", "glibc", "2.34-60.el9"},
		{"util-linux-2.32.1-42.el8_8.src.rpm", "util-linux", "2.32.1-42.el8_8"},
		{"buildah-1.11.6-7.module_el8.2.0+305+5e198a41.src.rpm", "buildah", "1.11.6-7.module_el8.2.0+305+5e198a41"},
		{"foo-1-2.nosrc.rpm", "foo", "1-2"},
		{"", "", ""},
		{"(none)", "", ""},
		{"noversion.src.rpm", "", ""},
		{"-1-2.src.rpm", "", ""},
		{"a--2.src.rpm", "", ""},
	}
	for _, tt := range tests {
		name, version := rpm.ParseSourceRPM(tt.in)
		if name != tt.name || version != tt.version {
			t.Errorf("ParseSourceRPM(%q) = %q, %q; want %q, %q", tt.in, name, version, tt.name, tt.version)
		}
	}
}

func BenchmarkExtract(b *testing.B) {
	dir := filepath.Join(testutil.Shared(b), "fixtures", "rpm", "centos8-modularitylabel")
	data, err := os.ReadFile(filepath.Join(dir, "var/lib/rpm/Packages"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := extract(b, "var/lib/rpm/Packages", data); err != nil {
			b.Fatal(err)
		}
	}
}

func extract(t testing.TB, path string, db []byte) (inventory.Result, error) {
	t.Helper()
	return extractortest.Extract(t, rpm.New(), path, db)
}

func findDB(t *testing.T, dir string) string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			rel = filepath.ToSlash(rel)
			if rpm.New().FileRequired(inventory.FileInfo{Path: rel, Mode: 0o644}) {
				found = append(found, rel)
			}
		}
		return nil
	})
	if len(found) != 1 {
		t.Fatalf("%s: rpm databases %q, want one", dir, found)
	}
	return found[0]
}

func extractFile(t *testing.T, dir, rel string) inventory.Result {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	res, err := extractortest.ExtractReader(t, rpm.New(), inventory.FileInfo{Path: rel, Mode: st.Mode(), Size: st.Size()}, f)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func readExpected(t *testing.T, dir string) []row {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, "expected-*.tsv"))
	if len(matches) != 1 {
		t.Fatalf("%s: expected files %q, want one", dir, matches)
	}
	f, err := os.Open(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 8 {
			t.Fatalf("%s: line %q has %d fields", matches[0], sc.Text(), len(fields))
		}
		if fields[0] == "name" {
			continue
		}
		var r row
		for i, f := range fields {
			if f == "(none)" { // rpm's way of printing an absent tag
				f = ""
			}
			r[i] = f
		}
		rows = append(rows, r)
	}
	return rows
}

func toRow(t *testing.T, p *inventory.Package) row {
	md := p.Metadata.(*rpm.Metadata)
	v := p.Version
	if md.Epoch != 0 {
		prefix := strconv.Itoa(md.Epoch) + ":"
		if !strings.HasPrefix(v, prefix) {
			t.Errorf("%s: version %q lacks the epoch %d", p.Name, v, md.Epoch)
		}
		v = strings.TrimPrefix(v, prefix)
	}
	version, release, ok := strings.Cut(v, "-")
	if !ok || release != md.Release {
		t.Errorf("%s: version %q does not end in -%s", p.Name, p.Version, md.Release)
	}
	if name, ver := rpm.ParseSourceRPM(md.SourceRPM); name != p.SourceName || ver != p.SourceVersion {
		t.Errorf("%s: source %s %s, from %q", p.Name, p.SourceName, p.SourceVersion, md.SourceRPM)
	}
	license := ""
	if len(p.Licenses) == 1 {
		license = p.Licenses[0]
	}
	return row{p.Name, strconv.Itoa(md.Epoch), version, release, p.Arch, md.SourceRPM, md.ModularityLabel, license}
}

func sortRows(rows []row) {
	slicesSort(rows)
}

func slicesSort(rows []row) {
	sort.Slice(rows, func(i, j int) bool { return strings.Join(rows[i][:], "\t") < strings.Join(rows[j][:], "\t") })
}
