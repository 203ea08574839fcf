package kev_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/vulndb/kev"
)

func TestParseSample(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "sample", "data", "known_exploited_vulnerabilities.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := kev.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if c.Count != 4 || c.Released().IsZero() {
		t.Errorf("catalog %+v", c)
	}
}

func TestParseWrongShape(t *testing.T) {
	for _, bad := range []string{
		``, `[]`, `{"vulnerabilities":[]}`, `{"catalogVersion":"1"}`,
		`{"catalogVersion":"1","vulnerabilities":[{"cveID":"CVE-1","dateAdded":"soon"}]}`,
		`{"catalogVersion":"1","count":5,"vulnerabilities":[]}`,
		`{"catalogVersion":"1","vulnerabilities":[{"cveID":7}]}`,
	} {
		if _, err := kev.Parse(strings.NewReader(bad)); !errors.Is(err, kev.ErrShape) {
			t.Errorf("Parse(%s) = %v, want ErrShape", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"catalogVersion":"1","count":1,"vulnerabilities":[{"cveID":"CVE-2021-44228","dateAdded":"2021-12-10"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := kev.Parse(strings.NewReader(string(b)))
		if err == nil && c.Vulnerabilities == nil {
			t.Fatal("accepted a catalog without vulnerabilities")
		}
	})
}
