package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/server"
)

// imageWith is a scanned image with n critical, KEV-listed findings.
func imageWith(digest string, n int) *assess.Image {
	img := &assess.Image{Digest: digest, Status: assess.Scanned}
	for i := range n {
		img.Findings = append(img.Findings, match.Finding{ID: fmt.Sprintf("CVE-2026-%05d", i),
			Severity: match.Severity{Level: "critical"}, KEV: &match.KEV{CVE: fmt.Sprintf("CVE-2026-%05d", i)}})
	}
	img.Counts = assess.CountsOf(img.Findings, 0)
	return img
}

// What the server writes on a pod does not grow with the findings: the
// summary of an image with 1,000 or 100,000 findings has the same fields,
// names no finding, and stays within MaxSummaryBytes, as does the patch.
func TestSummaryIsBounded(t *testing.T) {
	th := server.DefaultThresholds
	var sizes []int
	for _, n := range []int{0, 1, 1000, 100000} {
		d := fmt.Sprintf("sha256:%064d", n)
		subj := &assess.Subject{Risk: assess.Risk{Score: 87.4},
			Containers: []assess.Container{{Image: assess.ImageRef{Digest: d, Status: assess.Scanned}}, {Image: assess.ImageRef{Digest: d, Status: assess.Scanned}}}}
		s := server.SummaryOf(subj, map[string]*assess.Image{d: imageWith(d, n)}, "deny")
		if s.Critical != min(n, 999999) || s.KEV != min(n, 999999) {
			t.Errorf("%d findings: summary %+v (each image counted once)", n, s)
		}
		a := s.Annotation()
		var fields map[string]any
		if err := json.Unmarshal([]byte(a), &fields); err != nil || len(fields) != 5 {
			t.Errorf("%d findings: annotation %s: %v", n, a, err)
		}
		if strings.Contains(a, "CVE") || len(a) > server.MaxSummaryBytes {
			t.Errorf("%d findings: annotation %q (%d bytes, limit %d)", n, a, len(a), server.MaxSummaryBytes)
		}
		sizes = append(sizes, len(a))
	}
	if sizes[3]-sizes[1] > 10 {
		t.Errorf("annotation sizes %v grow with the findings", sizes)
	}
	worst := server.Summary{Risk: 100, Critical: 999999, KEV: 999999, Unknown: false, Decision: "allow"}
	if n := len(worst.Annotation()); n > server.MaxSummaryBytes {
		t.Errorf("the largest summary is %d bytes, over MaxSummaryBytes %d", n, server.MaxSummaryBytes)
	}
	if l := worst.Labels(th); len(l) != 2 || l[server.LabelRisk] != "high" || l[server.LabelKEV] != "true" {
		t.Errorf("labels %v", l)
	}
}

// Unknown is never low: a workload whose facts are missing is labelled
// unknown unless what is known already makes it high.
func TestLevels(t *testing.T) {
	th := server.Thresholds{High: 50, Medium: 20}
	for _, tc := range []struct {
		s    server.Summary
		want string
	}{
		{server.Summary{Risk: 5}, "low"},
		{server.Summary{Risk: 20}, "medium"},
		{server.Summary{Risk: 50}, "high"},
		{server.Summary{Risk: 5, Unknown: true}, "unknown"},
		{server.Summary{Risk: 30, Unknown: true}, "unknown"},
		{server.Summary{Risk: 70, Unknown: true}, "high"},
	} {
		if got := tc.s.Level(th); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.s, got, tc.want)
		}
	}
	// An image not scanned makes the summary unknown.
	subj := &assess.Subject{Risk: assess.Risk{Score: 3}, Containers: []assess.Container{{Image: assess.ImageRef{Status: assess.NotScanned}}}}
	if s := server.SummaryOf(subj, nil, "allow"); !s.Unknown || s.Level(th) != "unknown" {
		t.Errorf("unscanned image: %+v", s)
	}
	if s := server.SummaryOf(subj, nil, "<script>"); s.Decision != "" {
		t.Errorf("a verdict outside the fixed set was kept: %q", s.Decision)
	}
}

var _ = corev1.PodRunning
