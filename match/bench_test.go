package match_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/vulndb/sample"
)

// BenchmarkMatchSample matches the sample image's language packages against
// the embedded sample database (in memory).
func BenchmarkMatchSample(b *testing.B) {
	db, err := sample.Open(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	pkgs := []*inventory.Package{
		{Name: "lodash", Version: "4.17.4", Type: "npm", Ecosystem: "npm"},
		{Name: "requests", Version: "2.25.0", Type: "pypi", Ecosystem: "PyPI"},
		{Name: "golang.org/x/net", Version: "v0.0.0-20210226172049-e18ecbb05110", Type: "golang", Ecosystem: "Go"},
		{Name: "log4j-core", Namespace: "org.apache.logging.log4j", Version: "2.14.1", Type: "maven", Ecosystem: "Maven"},
	}
	for b.Loop() {
		if _, err := match.Match(context.Background(), db, pkgs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatchFixtureApp matches the fixture-app image's packages against
// the full shared database (SQLite): the matching share of a scan.
func BenchmarkMatchFixtureApp(b *testing.B) {
	db := shared(b)
	fx := testutil.DebianFixtures(b)
	inv := scanImage(b, "oci:"+filepath.Join(fx, "oci", "fixture-app"))
	b.ResetTimer()
	for b.Loop() {
		if _, err := match.Match(context.Background(), db, inv.Packages); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(inv.Packages)), "packages")
}
