package match

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	cvss30 "github.com/pandatix/go-cvss/30"
	cvss31 "github.com/pandatix/go-cvss/31"
	cvss40 "github.com/pandatix/go-cvss/40"

	"github.com/credence-dev/credence/vulndb/osv"
)

// Level is a severity level.
type Level string

// Severity levels, from worst.
const (
	Critical Level = "critical"
	High     Level = "high"
	Medium   Level = "medium"
	Low      Level = "low"
	None     Level = "none"
	Unknown  Level = "unknown"
)

// Rank orders levels: critical 5 … none 1, unknown 0.
func (l Level) Rank() int {
	switch l {
	case Critical:
		return 5
	case High:
		return 4
	case Medium:
		return 3
	case Low:
		return 2
	case None:
		return 1
	}
	return 0
}

// ParseLevel reads a level name ("critical", "high", "medium", "low").
func ParseLevel(s string) (Level, error) {
	l := Level(strings.ToLower(s))
	switch l {
	case Critical, High, Medium, Low, None:
		return l, nil
	}
	return "", fmt.Errorf("unknown severity %q: use critical, high, medium or low", s)
}

// Severity of a finding: the CVSS base score computed from the highest
// scoring vector among the merged advisories (CVSS v4 or v3), else the
// ecosystem's own rating (Ubuntu priority, GitHub's severity, the
// AlmaLinux/Red Hat impact in the title). Unknown when none is given.
type Severity struct {
	Level  Level   `json:"level"`
	Score  float64 `json:"score,omitempty"`
	Vector string  `json:"vector,omitempty"`
	// Source says where it came from: "CVSS_V3 in GHSA-…", "Ubuntu priority in UBUNTU-CVE-…".
	Source string `json:"source,omitempty"`
}

// FromScore maps a CVSS base score to its qualitative rating (CVSS v3.1
// and v4.0 specifications, section "Qualitative Severity Rating Scale").
func FromScore(s float64) Level {
	switch {
	case s >= 9.0:
		return Critical
	case s >= 7.0:
		return High
	case s >= 4.0:
		return Medium
	case s > 0:
		return Low
	}
	return None
}

// CVSSScore computes the base score of a CVSS v3.0, v3.1 or v4.0 vector.
func CVSSScore(vector string) (float64, error) {
	vector = strings.TrimSpace(vector)
	switch {
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		v, err := cvss40.ParseVector(vector)
		if err != nil {
			return 0, fmt.Errorf("parse CVSS v4.0 vector: %w", err)
		}
		return v.Score(), nil
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		v, err := cvss31.ParseVector(vector)
		if err != nil {
			return 0, fmt.Errorf("parse CVSS v3.1 vector: %w", err)
		}
		return v.BaseScore(), nil
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		v, err := cvss30.ParseVector(vector)
		if err != nil {
			return 0, fmt.Errorf("parse CVSS v3.0 vector: %w", err)
		}
		return v.BaseScore(), nil
	}
	return 0, fmt.Errorf("unsupported CVSS vector %.40q", vector)
}

// scoreByCVE scores the vulnerabilities that have no CVSS vector in their
// own records from the vectors other records state for the CVE (the
// highest wins); a rating from the finding's own database is replaced only
// by a score. Each finding's severity is then its worst vulnerability's.
func scoreByCVE(ctx context.Context, ss SeveritySource, fs []Finding) error {
	var cves []string
	seen := map[string]bool{}
	for i := range fs {
		for _, v := range fs[i].Vulnerabilities {
			if v.Severity.Score == 0 && strings.HasPrefix(v.ID, "CVE-") && !seen[v.ID] {
				seen[v.ID] = true
				cves = append(cves, v.ID)
			}
		}
	}
	if len(cves) == 0 {
		return nil
	}
	vectors, err := ss.CVSS(ctx, cves)
	if err != nil {
		return fmt.Errorf("look up CVSS by CVE: %w", err)
	}
	for i := range fs {
		f := &fs[i]
		for j := range f.Vulnerabilities {
			v := &f.Vulnerabilities[j]
			if v.Severity.Score > 0 {
				continue
			}
			var best Severity
			for _, vec := range vectors[v.ID] {
				score, err := CVSSScore(vec.Vector)
				if err != nil || math.IsNaN(score) || score <= best.Score {
					continue
				}
				best = Severity{Level: FromScore(score), Score: score, Vector: vec.Vector, Source: vec.Type + " for " + v.ID + " in " + vec.Advisory}
			}
			if best.Score > 0 {
				v.Severity = best
			}
		}
		f.Severity = f.worst(false)
	}
	return nil
}

func severityOf(hs []hit) Severity {
	best := Severity{Level: Unknown}
	consider := func(s Severity) {
		if s.Level.Rank() > best.Level.Rank() || (s.Level == best.Level && s.Score > best.Score) {
			best = s
		}
	}
	// CVSS vectors first: a computed score beats a rating.
	for _, h := range hs {
		sevs := append([]osv.Severity{}, h.adv.Severity...)
		for _, af := range h.adv.Affected {
			sevs = append(sevs, af.Severity...)
		}
		for _, s := range sevs {
			if s.Type != osv.SeverityCVSSv3 && s.Type != osv.SeverityCVSSv4 {
				continue
			}
			score, err := CVSSScore(s.Score)
			if err != nil || math.IsNaN(score) {
				continue
			}
			consider(Severity{Level: FromScore(score), Score: score, Vector: s.Score, Source: s.Type + " in " + h.adv.ID})
		}
	}
	if best.Level != Unknown {
		return best
	}
	for _, h := range hs {
		if l, src := ecosystemRating(h.adv); l != Unknown {
			consider(Severity{Level: l, Source: src + " in " + h.adv.ID})
		}
	}
	return best
}

// ecosystemRating reads a severity the advisory's database states in words.
func ecosystemRating(a *osv.Advisory) (Level, string) {
	for _, s := range a.Severity {
		if s.Type == osv.SeverityUbuntu {
			switch strings.ToLower(s.Score) {
			case "critical":
				return Critical, "Ubuntu priority"
			case "high":
				return High, "Ubuntu priority"
			case "medium":
				return Medium, "Ubuntu priority"
			case "low", "negligible":
				return Low, "Ubuntu priority"
			}
		}
	}
	if len(a.DatabaseSpecific) > 0 {
		var ds struct {
			Severity string `json:"severity"`
		}
		if json.Unmarshal(a.DatabaseSpecific, &ds) == nil {
			switch strings.ToUpper(ds.Severity) {
			case "CRITICAL":
				return Critical, "database severity"
			case "HIGH":
				return High, "database severity"
			case "MODERATE", "MEDIUM":
				return Medium, "database severity"
			case "LOW":
				return Low, "database severity"
			}
		}
	}
	// Red Hat style titles: "Important: glibc security update".
	if prefix, _, ok := strings.Cut(a.Summary, ":"); ok {
		switch strings.ToLower(strings.TrimSpace(prefix)) {
		case "critical":
			return Critical, "impact in title"
		case "important":
			return High, "impact in title"
		case "moderate":
			return Medium, "impact in title"
		case "low":
			return Low, "impact in title"
		}
	}
	return Unknown, ""
}
