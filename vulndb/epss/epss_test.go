package epss_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/credence-dev/credence/vulndb/epss"
)

func TestParse(t *testing.T) {
	var got []epss.Score
	h, err := epss.Parse(strings.NewReader("#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000\ncve,epss,percentile\nCVE-2021-44228,0.94358,0.99957\n"), func(s epss.Score) error {
		got = append(got, s)
		return nil
	})
	if err != nil || h.ModelVersion != "v2025.03.14" || len(got) != 1 || got[0].EPSS != 0.94358 {
		t.Errorf("%+v %+v %v", h, got, err)
	}
	for _, bad := range []string{"", "a,b,c\n", "cve,epss,percentile\nCVE-1,x,0.1\n", "cve,epss,percentile\nCVE-1,0.1\n", "cve,epss,percentile\nfoo,0.1,0.1\n"} {
		if _, err := epss.Parse(strings.NewReader(bad), func(epss.Score) error { return nil }); !errors.Is(err, epss.ErrShape) {
			t.Errorf("Parse(%q) = %v, want ErrShape", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("#model_version:v1,score_date:2025-01-01\ncve,epss,percentile\nCVE-1,0.5,0.5\n")
	f.Fuzz(func(t *testing.T, s string) {
		epss.Parse(strings.NewReader(s), func(sc epss.Score) error {
			if sc.EPSS < 0 || sc.EPSS > 1 || sc.Percentile < 0 || sc.Percentile > 1 {
				t.Fatalf("out of range accepted: %+v", sc)
			}
			return nil
		})
	})
}
