package rpm_test

import (
	"os"
	"testing"

	"github.com/credence-dev/credence/inventory/extractortest"
)

// FuzzExtract feeds arbitrary bytes as each of the database paths; seeds
// are small valid databases in the three formats. Any panic, hang or
// unbounded allocation is a bug (go-rpmdb alone has all three).
func FuzzExtract(f *testing.F) {
	two := [][]byte{openssl(), header(tag{tag: tagName, str: "bash"}, tag{tag: tagVersion, str: "5.1"}, tag{tag: tagRelease, str: "1"})}
	f.Add(uint8(0), bdbFile(two, 0))
	f.Add(uint8(1), ndbFile(two))
	db, err := os.ReadFile(sqliteFile(f, rpmSchema, two...))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(2), db)
	paths := []string{"var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "var/lib/rpm/rpmdb.sqlite"}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		res, err := extract(t, paths[int(which)%len(paths)], data)
		if err == nil {
			extractortest.CheckPackages(t, res.Packages, extractortest.HasNameAndVersion)
		}
	})
}
