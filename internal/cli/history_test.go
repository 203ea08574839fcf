//go:build !node && !scan

package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/store"
	"github.com/credence-dev/credence/vulndb"
	sampledb "github.com/credence-dev/credence/vulndb/sample"
)

// historyStore writes what credence serve would have written for the
// sample cluster over two days: yesterday's database without the log4j
// advisories, today's with them (web's image re-matched from its stored
// inventory), with a fixed clock.
func historyStore(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	root := testutil.RepoRoot(t)
	snap, err := cluster.FromManifests(ctx, filepath.Join(root, "testdata", "cluster", "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	dirs, _, err := assess.NewImageDirs(ctx, []string{filepath.Join(root, "testdata", "cluster", "images")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldDir := t.TempDir()
	data := filepath.Join(root, "vulndb", "sample", "data")
	ents, err := os.ReadDir(filepath.Join(data, "osv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(data, "osv", e.Name()))
		if !strings.Contains(string(b), "log4j") {
			writeTestFile(t, filepath.Join(oldDir, e.Name()), string(b))
		}
	}
	kev, _ := os.ReadFile(filepath.Join(data, "known_exploited_vulnerabilities.json"))
	writeTestFile(t, filepath.Join(oldDir, "kev.json"), string(kev))
	ins, err := vulndb.Inputs(oldDir)
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := vulndb.LoadMemory(ctx, "yesterday", ins)
	if err != nil {
		t.Fatal(err)
	}
	today, err := sampledb.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "credence.db")
	s, err := store.Open(ctx, path, store.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, day := range []struct {
		id  string
		src match.Source
	}{{"yesterday", old}, {"today", today}} {
		if i == 1 {
			now = now.Add(24 * time.Hour)
		}
		v, err := s.BeginDBVersion(ctx, store.DBVersionInfo{ID: day.id})
		if err != nil {
			t.Fatal(err)
		}
		a, err := assess.Assess(ctx, snap, day.src, assess.WithImageDirs(dirs), assess.WithCache(s), assess.WithClock(func() time.Time { return now }))
		if err != nil {
			t.Fatal(err)
		}
		for _, img := range a.Images {
			if m := store.MatchOf(img, v.Seq); m != nil {
				if _, err := s.RecordMatch(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := s.CommitDBVersion(ctx, v.Seq); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
		for j := range a.Subjects {
			if _, err := s.PutSubject(ctx, &a.Subjects[j]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return path
}

// TestHistory prints the timelines credence serve keeps: an image's (the
// advisory's publication and KEV dates are the records', the match is the
// day the database learnt of Log4Shell) and a workload's, named by its
// key, its name or a pod name its controller would give.
func TestHistory(t *testing.T) {
	path := historyStore(t)
	const web = "sha256:5872df9159cccd95624b4f624969d9abbbc5cb0b5123c06bfcb01e4cf5a9bb6a"
	code, out, errs := runCLI("history", web, "--store", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	testutil.Golden(t, "testdata/history-web-image.txt", []byte(out))
	for _, want := range []string{"2021-12-10  kev  kev-added  GHSA-jfh8-c2jp-5v3q", "2026-03-02 09:01:00  observed  matched  GHSA-jfh8-c2jp-5v3q"} {
		if !strings.Contains(strings.Join(strings.Fields(out), "  "), strings.Join(strings.Fields(want), "  ")) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	for _, ref := range []string{"shop/Deployment/web", "shop/web", "shop/web-7d9f8c6b5-x2x4q"} {
		code, out, errs := runCLI("history", ref, "--store", path, "-o", "json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", ref, code, errs)
		}
		var h struct {
			Ref    string
			Events []store.Event
		}
		if err := json.Unmarshal([]byte(out), &h); err != nil || h.Ref != "shop/Deployment/web" || len(h.Events) == 0 || h.Events[0].Kind == "" {
			t.Errorf("%s: %v %s", ref, err, out)
		}
		matched := false
		for _, e := range h.Events {
			matched = matched || e.Kind == store.Matched && e.Finding == "GHSA-jfh8-c2jp-5v3q" && e.At.Format(time.DateOnly) == "2026-03-02"
		}
		if !matched {
			t.Errorf("%s: Log4Shell not matched in the workload's images on the day the database learnt of it", ref)
		}
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"history", "nginx:latest"}, "a tag moves"},
		{[]string{"history", "shop/nothing"}, "no current workload"},
		{[]string{"history", "sha256:" + strings.Repeat("0", 64)}, "has no history of it"},
		{[]string{"history", "shop/web", "--store", filepath.Join(t.TempDir(), "none.db")}, "no store at"},
	} {
		args := tc.args
		if !slices.Contains(args, "--store") {
			args = append(args, "--store", path)
		}
		code, _, errs := runCLI(args...)
		if code != ExitError || !strings.Contains(errs, tc.says) || strings.Count(errs, "\n") > 2 {
			t.Errorf("%v: exit %d, %q", tc.args, code, errs)
		}
	}
}

// serve refuses to serve the API in clear unless told, and says how.
func TestServeNeedsTLS(t *testing.T) {
	code, _, errs := runCLI("serve", "--db", "sample")
	if code != ExitError || !strings.Contains(errs, "--tls-cert-file") {
		t.Errorf("exit %d: %s", code, errs)
	}
}
