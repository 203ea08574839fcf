package store_test

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

// Facts of the sample cluster (testdata/cluster/README.md): the web image
// carries log4j-core 2.14.1; the api image (also run by payments/ledger)
// has no sample advisory.
const (
	webDigest = "sha256:5872df9159cccd95624b4f624969d9abbbc5cb0b5123c06bfcb01e4cf5a9bb6a"
	apiDigest = "sha256:eb2c254075ad8f27163656392777487689db51bd8f2bdafbe8a808e8f41dd4a7"
	log4shell = "CVE-2021-44228"
)

type sample struct {
	snap  *cluster.Snapshot
	dirs  *assess.ImageDirs
	old   match.Source // yesterday: the sample data without the log4j advisories
	today match.Source // the sample data
}

func loadSample(t testing.TB) *sample {
	t.Helper()
	ctx := context.Background()
	root := testutil.RepoRoot(t)
	snap, err := cluster.FromManifests(ctx, filepath.Join(root, "testdata", "cluster", "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	dirs, warn, err := assess.NewImageDirs(ctx, []string{filepath.Join(root, "testdata", "cluster", "images")}, nil)
	if err != nil || len(warn) > 0 {
		t.Fatalf("image dirs: %v %v", err, warn)
	}
	oldDir := t.TempDir()
	data := filepath.Join(root, "vulndb", "sample", "data", "osv")
	ents, err := os.ReadDir(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(data, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "log4j") {
			if err := os.WriteFile(filepath.Join(oldDir, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
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
	return &sample{snap: snap, dirs: dirs, old: old, today: today}
}

// upstream reads a fact from the raw records, not from credence.
func upstreamPublished(t testing.TB, file string) time.Time {
	t.Helper()
	var rec struct{ Published time.Time }
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "vulndb", "sample", "data", "osv", file))
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		t.Fatal(err)
	}
	return rec.Published
}

func upstreamKEVAdded(t testing.TB, cve string) time.Time {
	t.Helper()
	var cat struct {
		Vulnerabilities []struct{ CveID, DateAdded string }
	}
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "vulndb", "sample", "data", "known_exploited_vulnerabilities.json"))
	if err == nil {
		err = json.Unmarshal(b, &cat)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range cat.Vulnerabilities {
		if v.CveID == cve {
			d, err := time.Parse("2006-01-02", v.DateAdded)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatalf("%s not in the sample KEV catalog", cve)
	return time.Time{}
}

func hasVuln(fs []match.Finding, id string) *match.Finding {
	for i := range fs {
		if fs[i].ID == id || slices.Contains(fs[i].Aliases, id) {
			return &fs[i]
		}
	}
	return nil
}

// record stores an assessment's scanned images under database version seq
// and its Subjects, in one transaction; it returns the changed workloads.
func record(t testing.TB, s *store.Store, a *assess.Assessment, seq int64, subjects bool) []string {
	t.Helper()
	var changed []string
	err := s.Update(context.Background(), func(tx *store.Tx) error {
		for _, img := range a.Images {
			if m := store.MatchOf(img, seq); m != nil {
				if _, err := tx.RecordMatch(context.Background(), m); err != nil {
					return err
				}
			}
		}
		if !subjects {
			return nil
		}
		for i := range a.Subjects {
			c, err := tx.PutSubject(context.Background(), &a.Subjects[i])
			if err != nil {
				return err
			}
			if c.Changed {
				changed = append(changed, store.WorkloadKey(a.Subjects[i].Workload))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(changed)
	return changed
}

func workloadsRunning(a *assess.Assessment, digest string) []string {
	var out []string
	for _, s := range a.Subjects {
		for _, c := range s.Containers {
			if c.Image.Digest == digest {
				out = append(out, store.WorkloadKey(s.Workload))
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// Risk rises before an attack: yesterday's database did not know Log4Shell;
// today's does. The stored inventories are re-matched (no image read), the
// update is committed at once, only the web image's findings changed, only
// the workloads running it change, and the timelines say when the advisory
// was published, when it entered KEV and when credence matched it.
func TestRiskRisesBeforeAnAttack(t *testing.T) {
	smp := loadSample(t)
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newClock()
		s := open(t, b.dsn(t), store.WithClock(clk.Now))
		t0 := clk.Now()

		v1, err := s.BeginDBVersion(ctx, store.DBVersionInfo{ID: "yesterday"})
		if err != nil {
			t.Fatal(err)
		}
		a1, err := assess.Assess(ctx, smp.snap, smp.old, assess.WithImageDirs(smp.dirs), assess.WithCache(s), assess.WithClock(func() time.Time { return t0 }))
		if err != nil {
			t.Fatal(err)
		}
		if a1.Stats.ImagesRead != 2 {
			t.Fatalf("first assessment read %d images, want 2", a1.Stats.ImagesRead)
		}
		first := record(t, s, a1, v1.Seq, true)
		if len(first) != len(a1.Subjects) {
			t.Errorf("first Subjects written: %d of %d", len(first), len(a1.Subjects))
		}
		if _, err := s.CommitDBVersion(ctx, v1.Seq); err != nil {
			t.Fatal(err)
		}
		if again := record(t, s, a1, v1.Seq, true); len(again) != 0 {
			t.Errorf("an unchanged re-evaluation wrote Subjects: %v", again)
		}

		t1 := clk.Add(24 * time.Hour)
		v2, err := s.BeginDBVersion(ctx, store.DBVersionInfo{ID: "today", Built: t1})
		if err != nil {
			t.Fatal(err)
		}
		a2, err := assess.Assess(ctx, smp.snap, smp.today, assess.WithImageDirs(smp.dirs), assess.WithCache(s), assess.WithClock(func() time.Time { return t1 }))
		if err != nil {
			t.Fatal(err)
		}
		if a2.Stats.ImagesRead != 0 || a2.Stats.CacheHits != 2 {
			t.Errorf("re-matching read images: %+v", a2.Stats)
		}
		record(t, s, a2, v2.Seq, false)
		// Not committed: the store's view is yesterday's.
		if cur, err := s.CurrentDBVersion(ctx); err != nil || cur.ID != "yesterday" {
			t.Errorf("current version during the update: %+v, %v", cur, err)
		}
		f, err := s.Findings(ctx, webDigest)
		if err != nil {
			t.Fatal(err)
		}
		if hasVuln(f.Findings, log4shell) != nil {
			t.Error("Log4Shell visible before the update was committed")
		}

		t2 := clk.Add(time.Minute)
		upd, err := s.CommitDBVersion(ctx, v2.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(upd.Changed, []string{webDigest}) || upd.Previous != v1.Seq || len(upd.Unmatched) != 0 {
			t.Errorf("update = %+v, want only the web image changed", upd)
		}
		affected, err := s.WorkloadsRunning(ctx, upd.Changed)
		if err != nil {
			t.Fatal(err)
		}
		if want := workloadsRunning(a2, webDigest); !slices.Equal(affected, want) || len(want) == 0 {
			t.Errorf("workloads running the changed image: %v, want %v", affected, want)
		}
		// The Subjects that change are those whose content changed: the
		// workloads running the image, and those whose blast radius goes
		// through it (api and worker reach web over the pod network).
		changed := record(t, s, a2, v2.Seq, true)
		if want := differing(a1, a2); !slices.Equal(changed, want) {
			t.Errorf("Subjects written after the update: %v, want those whose content changed %v", changed, want)
		}
		for _, w := range affected {
			if !slices.Contains(changed, w) {
				t.Errorf("%s runs the changed image and was not re-written", w)
			}
		}

		f, err = s.Findings(ctx, webDigest)
		if err != nil {
			t.Fatal(err)
		}
		l4s := hasVuln(f.Findings, log4shell)
		if l4s == nil || l4s.KEV == nil || f.DBVersion != v2.Seq {
			t.Fatalf("web findings after the update (version %d): Log4Shell %+v", f.DBVersion, l4s)
		}
		if want := hasVuln(a2.Images[slices.IndexFunc(a2.Images, func(i *assess.Image) bool { return i.Digest == webDigest })].Findings, log4shell); want.Summary != l4s.Summary || !slices.Equal(want.Fixed, l4s.Fixed) {
			t.Errorf("stored finding differs from the assessed one")
		}
		old, err := s.Findings(ctx, webDigest, store.AsOf(t1.Add(30*time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		if hasVuln(old.Findings, log4shell) != nil || old.DBVersion != v1.Seq {
			t.Errorf("as of before the commit: version %d, Log4Shell present %v", old.DBVersion, hasVuln(old.Findings, log4shell) != nil)
		}
		api, err := s.Findings(ctx, apiDigest)
		if err != nil || len(api.Findings) != 0 {
			t.Errorf("api findings %+v, %v", api, err)
		}
		if _, err := s.Findings(ctx, "sha256:never-seen"); !errorsIs(err, store.ErrNotFound) {
			t.Errorf("an image never matched: err = %v, want ErrNotFound (unknown, not clean)", err)
		}

		// The image's timeline, against the upstream records.
		ev, err := s.ImageTimeline(ctx, webDigest)
		if err != nil {
			t.Fatal(err)
		}
		want := map[store.EventKind]time.Time{
			store.Published: upstreamPublished(t, "Maven-GHSA-jfh8-c2jp-5v3q.json"),
			store.KEVAdded:  upstreamKEVAdded(t, log4shell),
			store.Matched:   t2,
		}
		for kind, at := range want {
			e := findEvent(ev, kind, l4s.ID)
			if e == nil || !e.At.Equal(at) {
				t.Errorf("%s of %s: %+v, want at %s", kind, l4s.ID, e, at)
			}
		}
		if e := findEvent(ev, store.FirstSeen, ""); e == nil || !e.At.Equal(t0) {
			t.Errorf("first seen %+v, want %s", e, t0)
		}
		if e := findEvent(ev, store.WorkloadStarted, ""); e == nil || e.Workload == "" {
			t.Errorf("no workload started running the image: %+v", ev)
		}

		// The workload's timeline: first seen, then the risk rose when the
		// update was committed, with the finding that raised it.
		wk := affected[0]
		wev, err := s.Timeline(ctx, wk)
		if err != nil {
			t.Fatal(err)
		}
		if e := findEvent(wev, store.FirstSeen, ""); e == nil || !e.At.Equal(t0) {
			t.Errorf("%s first seen: %+v", wk, e)
		}
		if h, err := s.SubjectHistory(ctx, wk); err != nil || len(h) != 2 || !h[0].ValidTo.Equal(t2) || !h[1].ValidFrom.Equal(t2) {
			t.Errorf("%s history: %d versions, %v", wk, len(h), err)
		}
		if e := findEvent(wev, store.Matched, l4s.ID); e == nil || !e.At.Equal(t2) || e.Workload != wk {
			t.Errorf("%s: Log4Shell matched %+v", wk, e)
		}
		if e := findEvent(wev, store.Published, l4s.ID); e == nil {
			t.Errorf("%s: no publication event for Log4Shell", wk)
		}

		// The workload goes away, its history stays.
		t3 := clk.Add(time.Hour)
		if ok, err := s.RemoveWorkload(ctx, wk); err != nil || !ok {
			t.Fatalf("remove %s: %v %v", wk, ok, err)
		}
		if _, err := s.GetSubject(ctx, wk); !errorsIs(err, store.ErrNotFound) {
			t.Errorf("removed workload still current: %v", err)
		}
		if ss, err := s.GetSubject(ctx, wk, store.AsOf(t1)); err != nil || ss.Subject.Risk.Score != subjectOf(a1, wk).Risk.Score {
			t.Errorf("as of yesterday: %+v, %v", ss, err)
		}
		wev, _ = s.Timeline(ctx, wk)
		if e := findEvent(wev, store.Removed, ""); e == nil || !e.At.Equal(t3) {
			t.Errorf("removed: %+v", e)
		}
		ev, _ = s.ImageTimeline(ctx, webDigest)
		if e := findEvent(ev, store.WorkloadStopped, ""); e == nil || e.Workload != wk || !e.At.Equal(t3) {
			t.Errorf("image timeline: %s stopped %+v", wk, e)
		}
	})
}

// differing are the workloads whose Subject JSON differs between two
// assessments: the ground truth of what an idempotent store must re-write.
func differing(a, b *assess.Assessment) []string {
	before := map[string]string{}
	for _, s := range a.Subjects {
		j, _ := json.Marshal(s)
		before[store.WorkloadKey(s.Workload)] = string(j)
	}
	var out []string
	for _, s := range b.Subjects {
		j, _ := json.Marshal(s)
		if k := store.WorkloadKey(s.Workload); before[k] != string(j) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func subjectOf(a *assess.Assessment, key string) *assess.Subject {
	for i := range a.Subjects {
		if store.WorkloadKey(a.Subjects[i].Workload) == key {
			return &a.Subjects[i]
		}
	}
	return nil
}

func findEvent(ev []store.Event, kind store.EventKind, finding string) *store.Event {
	for i := range ev {
		if ev[i].Kind == kind && (finding == "" || ev[i].Finding == finding) {
			return &ev[i]
		}
	}
	return nil
}
