// Command mkosvsample writes vulndb/sample/data: every OSV record in
// ../shared/data that names a package of testdata/images/sample (by
// ecosystem and name, whatever the versions: the records that do not affect
// the sample's versions are kept too, so the demo shows what is not
// reported), and the CISA KEV entries of their CVEs. The choice reads the
// records' raw JSON only; it never runs credence's matcher, so the sample
// cannot inherit its mistakes. Run from the repository root:
//
//	go run ./internal/cmd/mkosvsample -shared ../shared
package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/credence-dev/credence/vulndb/kev"
)

// languagePackages are the language packages of testdata/images/sample
// (testdata/images/README.md), by OSV ecosystem and name as OSV spells it.
var languagePackages = [][2]string{
	{"npm", "lodash"},
	{"npm", "minimist"},
	{"PyPI", "requests"},
	{"PyPI", "urllib3"},
	{"Go", "golang.org/x/net"},
	{"Go", "golang.org/x/text"},
	{"crates.io", "h2"},
	{"Maven", "org.apache.logging.log4j:log4j-core"},
}

// alpineEcosystem is the sample's OS: its apk database is Alpine 3.14.10's.
const alpineEcosystem = "Alpine:v3.14"

// dirs are the shared archives (osv/<dir>/all.zip) the records come from.
var dirs = []string{"npm", "PyPI", "Go", "crates.io", "Maven", "Alpine"}

func main() {
	shared := flag.String("shared", "../shared", "the shared data directory")
	out := flag.String("out", "vulndb/sample/data", "output directory")
	apkDB := flag.String("apk", "testdata/images/sample-src/base/lib/apk/db/installed", "the sample's apk database")
	flag.Parse()
	want := map[[2]string]bool{}
	for _, k := range languagePackages {
		want[[2]string{k[0], normalize(k[0], k[1])}] = true
	}
	origins, err := apkOrigins(*apkDB)
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range origins {
		want[[2]string{alpineEcosystem, o}] = true
	}

	// Keep README.md; rewrite the records and the KEV subset.
	if err := os.RemoveAll(filepath.Join(*out, "osv")); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(*out, "osv"), 0o755); err != nil {
		log.Fatal(err)
	}
	cves := map[string]bool{}
	var names []string
	for _, dir := range dirs {
		zr, err := zip.OpenReader(filepath.Join(*shared, "data", "osv", dir, "all.zip"))
		if err != nil {
			log.Fatal(err)
		}
		for _, f := range zr.File {
			b, err := readEntry(f)
			if err != nil {
				log.Fatal(err)
			}
			var rec struct {
				ID                         string
				Aliases, Upstream, Related []string
				Affected                   []struct {
					Package struct{ Ecosystem, Name string }
				}
			}
			if err := json.Unmarshal(b, &rec); err != nil {
				log.Fatalf("%s: %v", f.Name, err)
			}
			named := false
			for _, a := range rec.Affected {
				named = named || want[[2]string{a.Package.Ecosystem, normalize(a.Package.Ecosystem, a.Package.Name)}]
			}
			if !named {
				continue
			}
			if err := os.WriteFile(filepath.Join(*out, "osv", dir+"-"+strings.ReplaceAll(rec.ID, ":", "_")+".json"), b, 0o644); err != nil {
				log.Fatal(err)
			}
			// KEV entries of related CVEs are shown as related KEV.
			for _, list := range [][]string{{rec.ID}, rec.Aliases, rec.Upstream, rec.Related} {
				for _, c := range list {
					if strings.HasPrefix(c, "CVE-") {
						cves[c] = true
					}
				}
			}
			names = append(names, rec.ID)
		}
		zr.Close()
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
		// The records' CVEs, plus two facts the tests use: Log4Shell and
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
	fmt.Printf("%d OSV records, %d KEV entries\n", len(names), len(keep))
}

// normalize spells a name as OSV files it: PyPI names per PEP 503.
func normalize(eco, name string) string {
	if eco == "PyPI" {
		return strings.ToLower(pep503.ReplaceAllString(name, "-"))
	}
	return name
}

var pep503 = regexp.MustCompile(`[-_.]+`)

// apkOrigins reads the origin (o:) of every package of an apk database.
func apkOrigins(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if o, ok := strings.CutPrefix(sc.Text(), "o:"); ok && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out, sc.Err()
}

func readEntry(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
