package rpm_test

import (
	"database/sql"
	"encoding/binary"
	"path/filepath"
	"testing"
)

// Small databases built in the test, in the on-disk formats rpm writes
// (rpm's lib/header.c for headers, Berkeley DB's hash pages, rpm's ndb
// rpmpkg.c, rpm's sqlite backend). The real databases in ../shared are the
// ground truth; these make hostile variants and fuzz seeds.

type tag struct {
	tag int32
	str string // a STRING entry when set
	i32 int32  // else an INT32 entry
}

// header encodes an rpm header blob (index length, data length, index
// entries, data), big-endian, without a region tag.
func header(tags ...tag) []byte {
	var index, data []byte
	be := binary.BigEndian
	for _, t := range tags {
		e := make([]byte, 16)
		be.PutUint32(e, uint32(t.tag))
		if t.str != "" {
			be.PutUint32(e[4:], 6)
			be.PutUint32(e[8:], uint32(len(data)))
			be.PutUint32(e[12:], 1)
			data = append(data, t.str...)
			data = append(data, 0)
		} else {
			for len(data)%4 != 0 {
				data = append(data, 0)
			}
			be.PutUint32(e[4:], 4)
			be.PutUint32(e[8:], uint32(len(data)))
			be.PutUint32(e[12:], 1)
			data = be.AppendUint32(data, uint32(t.i32))
		}
		index = append(index, e...)
	}
	out := be.AppendUint32(nil, uint32(len(tags)))
	out = be.AppendUint32(out, uint32(len(data)))
	return append(append(out, index...), data...)
}

// rpm tags (rpm's rpmtag.h).
const (
	tagName            = 1000
	tagVersion         = 1001
	tagRelease         = 1002
	tagEpoch           = 1003
	tagLicense         = 1014
	tagArch            = 1022
	tagSourceRPM       = 1044
	tagModularityLabel = 5096
)

func openssl() []byte {
	return header(
		tag{tag: tagEpoch, i32: 1},
		tag{tag: tagName, str: "openssl-libs"},
		tag{tag: tagVersion, str: "1.1.1k"},
		tag{tag: tagRelease, str: "7.el8_6"},
		tag{tag: tagLicense, str: "OpenSSL and ASL 2.0"},
		tag{tag: tagArch, str: "x86_64"},
		tag{tag: tagSourceRPM, str: "openssl-1.1.1k-7.el8_6.src.rpm"},
		tag{tag: tagModularityLabel, str: "openssl:1.1:8060020220204:ad008a3a"},
	)
}

// bdbFile lays headers out as a Berkeley DB hash database of 512-byte
// pages: page 0 metadata, page 1 a hash page with one off-page item per
// header, then one overflow page per header. chain, when set, overrides
// the overflow page number of the first item.
func bdbFile(headers [][]byte, chain uint32) []byte {
	const ps = 512
	le := binary.LittleEndian
	pages := 2 + len(headers)
	b := make([]byte, ps*pages)
	meta := b[:ps]
	le.PutUint32(meta[12:], 0x00061561) // hash magic
	le.PutUint32(meta[16:], 9)
	le.PutUint32(meta[20:], ps)
	meta[25] = 8 // hash metadata page
	le.PutUint32(meta[32:], uint32(pages-1))

	hp := b[ps : 2*ps]
	le.PutUint32(hp[8:], 1)
	le.PutUint16(hp[20:], uint16(2*len(headers)))
	hp[25] = 13 // hash page
	itemAt := ps - 12
	for i, h := range headers {
		if len(h) > ps-26 {
			panic("header too big for one overflow page")
		}
		itemAt -= 16
		le.PutUint16(hp[26+4*i:], uint16(itemAt))     // key (an inline item)
		le.PutUint16(hp[26+4*i+2:], uint16(itemAt+4)) // value
		hp[itemAt] = 1
		item := hp[itemAt+4:]
		item[0] = 3 // HOFFPAGE
		page := uint32(2 + i)
		if i == 0 && chain != 0 {
			page = chain
		}
		le.PutUint32(item[4:], page)
		le.PutUint32(item[8:], uint32(len(h)))

		op := b[(2+i)*ps : (3+i)*ps]
		le.PutUint32(op[8:], uint32(2+i))
		le.PutUint16(op[22:], uint16(len(h)))
		op[25] = 7 // overflow page
		copy(op[26:], h)
	}
	return b
}

// ndbFile lays headers out as an ndb Packages.db: a 32-byte header and one
// 4 KiB slot page, then one blob per header in 16-byte blocks.
func ndbFile(headers [][]byte) []byte {
	le := binary.LittleEndian
	b := make([]byte, 4096)
	le.PutUint32(b, 'R'|'p'<<8|'m'<<16|'P'<<24)
	le.PutUint32(b[12:], 1) // slot pages
	for i := 0; i < 4096/16-2; i++ {
		le.PutUint32(b[32+16*i:], 'S'|'l'<<8|'o'<<16|'t'<<24)
	}
	for i, h := range headers {
		slot := b[32+16*i:]
		le.PutUint32(slot[4:], uint32(i+1))
		le.PutUint32(slot[8:], uint32(len(b)/16))
		blob := make([]byte, 16)
		le.PutUint32(blob, 'B'|'l'<<8|'b'<<16|'S'<<24)
		le.PutUint32(blob[4:], uint32(i+1))
		le.PutUint32(blob[12:], uint32(len(h)))
		blob = append(blob, h...)
		for len(blob)%16 != 0 {
			blob = append(blob, 0)
		}
		le.PutUint32(slot[12:], uint32(len(blob)/16))
		b = append(b, blob...)
	}
	return b
}

// sqliteFile builds a SQLite database with the given statements run in it.
func sqliteFile(t testing.TB, stmts []string, blobs ...[]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	for _, b := range blobs {
		if _, err := db.Exec("INSERT INTO Packages (blob) VALUES (?)", b); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// rpmSchema is the table rpm's sqlite backend creates.
var rpmSchema = []string{"CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"}
