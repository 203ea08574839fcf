// Package epss reads FIRST's Exploit Prediction Scoring System CSV
// (epss_scores-YYYY-MM-DD.csv[.gz]); it depends on the standard library only.
package epss

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Score is the probability of exploitation in the next 30 days and its
// percentile among all scored CVEs.
type Score struct {
	CVE        string  `json:"cve"`
	EPSS       float64 `json:"epss"`
	Percentile float64 `json:"percentile"`
}

// Header is the first comment line: "#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000".
type Header struct {
	ModelVersion string `json:"modelVersion,omitempty"`
	ScoreDate    string `json:"scoreDate,omitempty"`
}

// ErrShape marks a file that is not an EPSS CSV.
var ErrShape = errors.New("not an EPSS CSV")

// Parse reads the CSV, calling fn for each score. The column header
// "cve,epss,percentile" is required; a row that does not parse is an error.
func Parse(r io.Reader, fn func(Score) error) (Header, error) {
	var h Header
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line, sawColumns := 0, false
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if strings.HasPrefix(text, "#") {
			for _, kv := range strings.Split(strings.TrimPrefix(text, "#"), ",") {
				k, v, _ := strings.Cut(kv, ":")
				switch k {
				case "model_version":
					h.ModelVersion = v
				case "score_date":
					h.ScoreDate = v
				}
			}
			continue
		}
		if !sawColumns {
			if text != "cve,epss,percentile" {
				return h, fmt.Errorf("%w: line %d: want the header cve,epss,percentile, got %.60q", ErrShape, line, text)
			}
			sawColumns = true
			continue
		}
		f := strings.Split(text, ",")
		if len(f) != 3 || !strings.HasPrefix(f[0], "CVE-") {
			return h, fmt.Errorf("%w: line %d: %.60q", ErrShape, line, text)
		}
		e, err1 := strconv.ParseFloat(f[1], 64)
		p, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || e < 0 || e > 1 || p < 0 || p > 1 {
			return h, fmt.Errorf("%w: line %d: scores must be numbers in [0,1]: %.60q", ErrShape, line, text)
		}
		if err := fn(Score{CVE: f[0], EPSS: e, Percentile: p}); err != nil {
			return h, err
		}
	}
	if err := sc.Err(); err != nil {
		return h, fmt.Errorf("read EPSS CSV: %w", err)
	}
	if !sawColumns {
		return h, fmt.Errorf("%w: no cve,epss,percentile header", ErrShape)
	}
	return h, nil
}
