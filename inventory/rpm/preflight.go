package rpm

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/knqyf263/go-rpmdb/pkg/bdb"
)

// ErrMalformed is returned for a database credence refuses to hand to the
// parser, or that the parser rejects.
var ErrMalformed = errors.New("malformed rpm database")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// preflight checks the database at path the way go-rpmdb will read it and
// returns the number of package headers in it. It detects the format in the
// order rpmdb.Open tries them: SQLite, ndb, then Berkeley DB.
func preflight(ctx context.Context, path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	head := make([]byte, 32)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case n < 16:
		return 0, malformed("%d bytes: too short to be a database", n)
	case bytes.HasPrefix(head, []byte("SQLite format 3\x00")):
		return preflightSQLite(ctx, path)
	case n == 32 && isNDB(head):
		return preflightNDB(ctx, f, size)
	}
	return preflightBDB(ctx, f, size)
}

// maxHeaderSize is rpm's own bound on one header (headerMaxbytes, 256 MiB).
const maxHeaderSize = 256 << 20

// checkHeader checks one package header blob enough that go-rpmdb's parser
// stays bounded: the index fits in the blob, every string entry has its
// terminating NULs (its parser otherwise loops "count" times, up to 2^32),
// and the entries together span at most a few times the data: entries that
// all overlap the same bytes would make its parser scan and copy the data
// once per entry (65,535 times).
func checkHeader(b []byte) error {
	if len(b) < 8 {
		return malformed("header of %d bytes", len(b))
	}
	il := int64(int32(binary.BigEndian.Uint32(b)))
	dl := int64(int32(binary.BigEndian.Uint32(b[4:])))
	if il < 1 || il > 0xffff || dl < 0 || 8+16*il+dl > int64(len(b)) || 8+16*il+dl >= maxHeaderSize {
		return malformed("header index of %d entries and %d data bytes does not fit its %d bytes", il, dl, len(b))
	}
	data := b[8+16*il : 8+16*il+dl]
	budget := 8*dl + 4096 // bytes the entries may span together
	for i := int64(0); i < il; i++ {
		e := b[8+16*i:]
		typ := binary.BigEndian.Uint32(e[4:])
		off := int64(int32(binary.BigEndian.Uint32(e[8:])))
		count := int64(binary.BigEndian.Uint32(e[12:]))
		if off < 0 || off >= dl {
			continue // go-rpmdb rejects this offset itself
		}
		switch typ {
		case 6, 8, 9: // STRING, STRING_ARRAY, I18NSTRING
			rest := data[off:]
			for c := int64(0); c < count; c++ {
				j := bytes.IndexByte(rest, 0)
				if j < 0 {
					return malformed("header entry %d: %d strings announced, %d terminated", i, count, c)
				}
				if budget -= int64(j) + 1; budget < 0 {
					return malformed("header entries overlap: they span more than 8 times the header's %d data bytes", dl)
				}
				rest = rest[j+1:]
			}
		case 1, 2, 3, 4, 5, 7: // CHAR, INT8, INT16, INT32, INT64, BIN
			if budget -= min(typeSize[typ]*count, dl); budget < 0 {
				return malformed("header entries overlap: they span more than 8 times the header's %d data bytes", dl)
			}
		}
	}
	return nil
}

// typeSize is the size of one element of each fixed-size rpm header type.
var typeSize = [...]int64{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}

// Berkeley DB (hash access method), as go-rpmdb's bdb package reads it.
const (
	bdbPageHeaderSize = 26 // bdb.PageHeaderSize
	bdbHashPage       = 13 // bdb.HashPageType
	bdbHashUnsorted   = 2  // bdb.HashUnsortedPageType
	bdbOverflowPage   = 7  // bdb.OverflowPageType
	bdbOffPageItem    = 3  // bdb.HashOffIndexPageType
	bdbOffPageSize    = 12 // bdb.HashOffPageSize
)

// preflightBDB walks the hash pages and overflow chains of a Berkeley DB
// exactly as bdb.BerkeleyDB.Read does, refusing what would make it index
// out of a page (a panic in its goroutine kills the process), follow a
// chain through a non-overflow page (it never advances: an endless loop) or
// around a cycle (endless, and memory grows).
func preflightBDB(ctx context.Context, f *os.File, size int64) (int, error) {
	meta := make([]byte, 512)
	if _, err := f.ReadAt(meta, 0); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	md, err := bdb.ParseHashMetadataPage(meta)
	if err != nil {
		return 0, malformed("not a Berkeley DB hash database, an ndb or a SQLite database: %v", err)
	}
	pageSize := md.PageSize
	switch pageSize {
	case 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536:
	default:
		return 0, malformed("Berkeley DB page size %d", pageSize)
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if md.Swapped {
		order = binary.BigEndian
	}
	page := make([]byte, pageSize)
	over := make([]byte, pageSize)
	headers := 0
	for pageNo := uint64(0); pageNo <= uint64(md.LastPageNo); pageNo++ {
		if pageNo%1024 == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		off := int64(pageNo) * int64(pageSize)
		if off+int64(pageSize) > size {
			return 0, malformed("truncated: page %d of %d is past the end of the file (%d bytes)", pageNo, md.LastPageNo, size)
		}
		if _, err := f.ReadAt(page, off); err != nil {
			return 0, err
		}
		typ := page[25]
		if typ != bdbHashPage && typ != bdbHashUnsorted {
			continue
		}
		entries := order.Uint16(page[20:])
		if entries%2 != 0 {
			return 0, malformed("page %d: odd number of hash entries (%d)", pageNo, entries)
		}
		// go-rpmdb computes these in uint16; refuse what would wrap.
		indexEnd := int(bdbPageHeaderSize) + 2*int(entries)
		if indexEnd > len(page) || uint16(bdbPageHeaderSize)+entries*2 != uint16(indexEnd) {
			return 0, malformed("page %d: %d hash entries overflow the page", pageNo, entries)
		}
		for idx := bdbPageHeaderSize + 2; idx+2 <= indexEnd; idx += 4 {
			v := int(order.Uint16(page[idx:]))
			if v >= len(page) {
				return 0, malformed("page %d: item offset %d past the page", pageNo, v)
			}
			if page[v] != bdbOffPageItem {
				continue
			}
			if v+bdbOffPageSize > len(page) || uint16(v)+bdbOffPageSize != uint16(v+bdbOffPageSize) {
				return 0, malformed("page %d: off-page item at %d overflows the page", pageNo, v)
			}
			blob, err := bdbValue(f, size, page[v:v+bdbOffPageSize], pageSize, order, over)
			if err != nil {
				return 0, fmt.Errorf("page %d item %d: %w", pageNo, idx, err)
			}
			if err := checkHeader(blob); err != nil {
				return 0, fmt.Errorf("page %d item %d: %w", pageNo, idx, err)
			}
			headers++
		}
	}
	return headers, nil
}

// bdbValue follows one overflow chain as bdb.HashPageValueContent does.
func bdbValue(f *os.File, size int64, item []byte, pageSize uint32, order binary.ByteOrder, page []byte) ([]byte, error) {
	seen := map[uint32]bool{}
	var value []byte
	for cur := order.Uint32(item[4:]); cur != 0; {
		if seen[cur] {
			return nil, malformed("overflow chain loops back to page %d", cur)
		}
		seen[cur] = true
		off := int64(pageSize * cur) // uint32 product, as go-rpmdb computes it
		if off+int64(pageSize) > size {
			return nil, malformed("overflow page %d is past the end of the file", cur)
		}
		if _, err := f.ReadAt(page, off); err != nil {
			return nil, err
		}
		if page[25] != bdbOverflowPage {
			return nil, malformed("overflow chain reaches page %d of type %d", cur, page[25])
		}
		next := order.Uint32(page[16:])
		if next == 0 {
			free := order.Uint16(page[22:])
			end := bdbPageHeaderSize + int(free)
			if end > len(page) || uint16(bdbPageHeaderSize)+free != uint16(end) {
				return nil, malformed("overflow page %d: %d bytes used of %d", cur, free, len(page))
			}
			value = append(value, page[bdbPageHeaderSize:end]...)
		} else {
			value = append(value, page[bdbPageHeaderSize:]...)
		}
		cur = next
	}
	return value, nil
}

// ndb ("Packages.db"), as go-rpmdb's ndb package reads it.
const (
	ndbHeaderMagic  = 'R' | 'p'<<8 | 'm'<<16 | 'P'<<24
	ndbSlotMagic    = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbBlobMagic    = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbSlotsPerPage = 4096 / 16
	ndbMaxSlotPages = 2048
)

func isNDB(head []byte) bool {
	le := binary.LittleEndian
	return le.Uint32(head) == ndbHeaderMagic && le.Uint32(head[4:]) == 0 && le.Uint32(head[12:]) != 0
}

// preflightNDB checks every slot and blob header the way ndb.RpmNDB.Read
// walks them, refusing what would make it print to stdout (a bad slot
// magic), allocate a blob of any announced length (up to 4 GiB) or send
// two errors on its channel (the second blocks forever).
func preflightNDB(ctx context.Context, f *os.File, size int64) (int, error) {
	le := binary.LittleEndian
	head := make([]byte, 32)
	if _, err := f.ReadAt(head, 0); err != nil {
		return 0, err
	}
	pages := int64(le.Uint32(head[12:]))
	if pages > ndbMaxSlotPages {
		return 0, malformed("ndb: %d slot pages", pages)
	}
	nslots := pages*ndbSlotsPerPage - 2
	if 32+16*nslots > size {
		return 0, malformed("ndb: truncated slot table (%d slots, %d bytes)", nslots, size)
	}
	slots := make([]byte, 16*nslots)
	if _, err := f.ReadAt(slots, 32); err != nil {
		return 0, err
	}
	headers := 0
	bh := make([]byte, 16)
	for i := int64(0); i < nslots; i++ {
		if i%1024 == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		s := slots[16*i:]
		if le.Uint32(s) != ndbSlotMagic {
			return 0, malformed("ndb: slot %d has a bad magic", i)
		}
		pkg := le.Uint32(s[4:])
		if pkg == 0 {
			continue
		}
		off := int64(le.Uint32(s[8:])) * 16
		if off+16 > size {
			return 0, malformed("ndb: slot %d points past the end of the file", i)
		}
		if _, err := f.ReadAt(bh, off); err != nil {
			return 0, err
		}
		if le.Uint32(bh) != ndbBlobMagic || le.Uint32(bh[4:]) != pkg {
			return 0, malformed("ndb: slot %d (package %d) does not point at its blob", i, pkg)
		}
		n := int64(le.Uint32(bh[12:]))
		if off+16+n > size {
			return 0, malformed("ndb: blob of package %d (%d bytes) runs past the end of the file", pkg, n)
		}
		blob := make([]byte, n)
		if _, err := f.ReadAt(blob, off+16); err != nil {
			return 0, err
		}
		if err := checkHeader(blob); err != nil {
			return 0, fmt.Errorf("ndb package %d: %w", pkg, err)
		}
		headers++
	}
	return headers, nil
}

// preflightSQLite opens the database read-only and checks that "Packages"
// is a plain table whose blob column is stored (a view or a generated
// column could compute rows without end) and that every blob is a header;
// go-rpmdb's reader sends a second error on its channel after a failed
// query or scan, which blocks it forever.
func preflightSQLite(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&immutable=1")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var kind, schema string
	err = db.QueryRowContext(ctx, "SELECT type, coalesce(sql, '') FROM sqlite_master WHERE name = 'Packages'").Scan(&kind, &schema)
	if err != nil {
		return 0, malformed("sqlite: no Packages table: %v", err)
	}
	if kind != "table" || strings.HasPrefix(strings.ToUpper(strings.Join(strings.Fields(schema), " ")), "CREATE VIRTUAL") {
		return 0, malformed("sqlite: Packages is not a plain table: %.80q", schema)
	}
	cols, err := db.QueryContext(ctx, "SELECT name, hidden FROM pragma_table_xinfo('Packages')")
	if err != nil {
		return 0, malformed("sqlite: %v", err)
	}
	stored := false
	for cols.Next() {
		var name string
		var hidden int
		if err := cols.Scan(&name, &hidden); err != nil {
			cols.Close()
			return 0, malformed("sqlite: %v", err)
		}
		if name == "blob" && hidden == 0 {
			stored = true
		}
	}
	if err := cols.Err(); err != nil {
		return 0, malformed("sqlite: %v", err)
	}
	cols.Close()
	if !stored {
		return 0, malformed("sqlite: the Packages table has no stored blob column")
	}
	rows, err := db.QueryContext(ctx, "SELECT blob FROM Packages")
	if err != nil {
		return 0, malformed("sqlite: %v", err)
	}
	defer rows.Close()
	headers := 0
	for rows.Next() {
		var blob []byte
		if err := rows.Scan(&blob); err != nil {
			return 0, malformed("sqlite: row %d: %v", headers+1, err)
		}
		if blob == nil {
			return 0, malformed("sqlite: row %d: NULL blob", headers+1)
		}
		if err := checkHeader(blob); err != nil {
			return 0, fmt.Errorf("sqlite row %d: %w", headers+1, err)
		}
		headers++
	}
	if err := rows.Err(); err != nil {
		return 0, malformed("sqlite: %v", err)
	}
	return headers, nil
}
