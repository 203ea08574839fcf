// Command mkosvsample writes vulndb/sample/data: the OSV records from
// ../shared/data that apply to the packages of testdata/images/sample, and
// the CISA KEV entries of their CVEs. Run from the repository root:
//
//	go run ./internal/cmd/mkosvsample -shared ../shared
package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/vulndb"
	"github.com/credence-dev/credence/vulndb/kev"
)

// samplePackages are the language packages of testdata/images/sample
// (testdata/images/README.md); its Alpine 3.14.10 packages have no open
// advisories in the Alpine data, so none are listed.
var samplePackages = []*inventory.Package{
	{Name: "lodash", Version: "4.17.4", Type: "npm", Ecosystem: "npm"},
	{Name: "minimist", Version: "1.2.0", Type: "npm", Ecosystem: "npm"},
	{Name: "minimist", Version: "0.0.8", Type: "npm", Ecosystem: "npm"}, // deleted by a whiteout: its record proves the scan does not report it
	{Name: "requests", Version: "2.25.0", Type: "pypi", Ecosystem: "PyPI"},
	{Name: "urllib3", Version: "1.26.4", Type: "pypi", Ecosystem: "PyPI"},
	{Name: "golang.org/x/net", Version: "v0.0.0-20210226172049-e18ecbb05110", Type: "golang", Ecosystem: "Go"},
	{Name: "golang.org/x/text", Version: "v0.3.5", Type: "golang", Ecosystem: "Go"},
	{Name: "h2", Version: "0.3.20", Type: "cargo", Ecosystem: "crates.io"},
	{Name: "log4j-core", Namespace: "org.apache.logging.log4j", Version: "2.14.1", Type: "maven", Ecosystem: "Maven"},
}

var zips = map[string]string{"npm": "npm", "PyPI": "PyPI", "Go": "Go", "crates.io": "crates.io", "Maven": "Maven"}

func main() {
	shared := flag.String("shared", "../shared", "the shared data directory")
	out := flag.String("out", "vulndb/sample/data", "output directory")
	flag.Parse()
	ctx := context.Background()
	var inputs []vulndb.Input
	for _, dir := range zips {
		ins, err := vulndb.Inputs(filepath.Join(*shared, "data", "osv", dir, "all.zip"))
		if err != nil {
			log.Fatal(err)
		}
		inputs = append(inputs, ins...)
	}
	db, _, err := vulndb.LoadMemory(ctx, "shared", inputs)
	if err != nil {
		log.Fatal(err)
	}
	res, err := match.Match(ctx, db, samplePackages)
	if err != nil {
		log.Fatal(err)
	}
	ids := map[string]string{} // advisory id → ecosystem dir
	cves := map[string]bool{}
	for _, f := range res.Findings {
		for _, a := range f.Advisories {
			ids[a] = zips[f.Package.Ecosystem]
		}
		for _, c := range f.CVEs() {
			cves[c] = true
		}
	}
	// Keep README.md; rewrite the records and the KEV subset.
	if err := os.RemoveAll(filepath.Join(*out, "osv")); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(*out, "osv"), 0o755); err != nil {
		log.Fatal(err)
	}
	var names []string
	for id, dir := range ids {
		b, err := readZipEntry(filepath.Join(*shared, "data", "osv", dir, "all.zip"), id+".json")
		if err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(*out, "osv", dir+"-"+strings.ReplaceAll(id, ":", "_")+".json"), b, 0o644); err != nil {
			log.Fatal(err)
		}
		// KEV entries of related CVEs are shown as related KEV.
		var rec struct{ Related []string }
		if err := json.Unmarshal(b, &rec); err != nil {
			log.Fatal(err)
		}
		for _, c := range rec.Related {
			if strings.HasPrefix(c, "CVE-") {
				cves[c] = true
			}
		}
		names = append(names, id)
	}
	slices.Sort(names)

	f, err := os.Open(filepath.Join(*shared, "data", "kev", "known_exploited_vulnerabilities.json"))
	if err != nil {
		log.Fatal(err)
	}
	cat, err := kev.Parse(f)
	f.Close()
	if err != nil {
		log.Fatal(err)
	}
	var keep []kev.Entry
	for _, e := range cat.Vulnerabilities {
		// The findings' CVEs, plus two facts the tests use: Log4Shell and
		// Heartbleed are in KEV.
		if cves[e.CVE] || e.CVE == "CVE-2021-44228" || e.CVE == "CVE-2014-0160" {
			keep = append(keep, e)
		}
	}
	cat.Vulnerabilities, cat.Count = keep, len(keep)
	cat.Title += " (subset: the CVEs of credence's sample data)"
	b, err := json.MarshalIndent(cat, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "known_exploited_vulnerabilities.json"), append(b, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d OSV records, %d KEV entries: %s\n", len(names), len(keep), strings.Join(names, " "))
}

func readZipEntry(path, name string) ([]byte, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name == name {
			rc, err := f.Open()
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			return io.ReadAll(rc)
		}
	}
	return nil, fmt.Errorf("%s: no entry %s", path, name)
}
