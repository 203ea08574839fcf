package osv_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/vulndb/osv"
)

func TestParse(t *testing.T) {
	a, err := osv.Parse([]byte(`{"id":"DSA-1","modified":"2023-01-01T00:00:00Z","aliases":["A"],"upstream":["CVE-1"],"related":["CVE-2"],"affected":[{"package":{"ecosystem":"Debian:12","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"fixed":"2"},{"introduced":"0"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"DSA-1", "A", "CVE-1"}, a.IDs()); diff != "" {
		t.Errorf("IDs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"CVE-1", "CVE-2"}, a.CVEs()); diff != "" {
		t.Errorf("CVEs (-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		`{}`, `{"id":" "}`, `[]`, `{"id":"x","affected":[{"package":{"name":"p"}}]}`,
		`{"id":"x","affected":[{"package":{"ecosystem":"npm","name":"p"},"ranges":[{"type":"SEMVER","events":[{}]}]}]}`,
		`{"id":"x","affected":[{"package":{"ecosystem":"npm","name":"p"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}`,
		`{"id":"x","modified":"yesterday"}`,
	} {
		if _, err := osv.Parse([]byte(bad)); !errors.Is(err, osv.ErrInvalid) {
			t.Errorf("Parse(%s) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	for _, tt := range []struct{ eco, in, want string }{
		{"PyPI", "Foo.Bar__baz", "foo-bar-baz"},
		{"PyPI", "requests", "requests"},
		{"crates.io", "Serde", "serde"},
		{"npm", "@Babel/Core", "@Babel/Core"},
		{"Maven", "org.apache:Foo", "org.apache:Foo"},
	} {
		if got := osv.NormalizeName(tt.eco, tt.in); got != tt.want {
			t.Errorf("NormalizeName(%s, %q) = %q, want %q", tt.eco, tt.in, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"GO-1","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"stdlib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2"}]}],"versions":["1.1"]}]}`))
	f.Add([]byte(`{"id":"x","withdrawn":"2023-01-01T00:00:00Z","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := osv.Parse(b)
		if err != nil {
			return
		}
		// A parsed record is usable: ids and events answer without panics.
		_ = a.IDs()
		_ = a.CVEs()
		_ = a.CVEVectors()
		for _, af := range a.Affected {
			for _, r := range af.Ranges {
				for _, e := range r.Events {
					if e.Kind() == "" || e.Value() == "" {
						t.Fatalf("accepted an event with no single field: %+v", e)
					}
				}
			}
		}
	})
}
