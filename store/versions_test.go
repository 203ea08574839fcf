package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/store"
)

func finding(id, pkg, ver string, fix match.FixState, kev bool) match.Finding {
	f := match.Finding{ID: id, Advisories: []string{id}, Package: &inventory.Package{Name: pkg, Version: ver, Type: "deb"},
		Installed: ver, FixState: fix, Severity: match.Severity{Level: match.High}, Matcher: "test@1"}
	if fix == match.FixAvailable {
		f.Fixed = []string{ver + "+1"}
	}
	if kev {
		f.KEV = &match.KEV{CVE: id, DateAdded: "2025-06-01"}
	}
	return f
}

func ids(fs []match.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID)
	}
	slices.Sort(out)
	return out
}

func begin(t testing.TB, s *store.Store, id string) store.DBVersion {
	t.Helper()
	v, err := s.BeginDBVersion(context.Background(), store.DBVersionInfo{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func recordOK(t testing.TB, s *store.Store, digest string, seq int64, fs ...match.Finding) store.MatchChange {
	t.Helper()
	c, err := s.RecordMatch(context.Background(), &store.ImageMatch{Digest: digest, DBVersion: seq, Findings: fs})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A database import that fails halfway: the store's current version and
// every visible finding stay as they were; beginning the next version
// discards what the failed one wrote.
func TestUpdateThatFailsHalfway(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newClock()
		s := open(t, b.dsn(t), store.WithClock(clk.Now))
		v1 := begin(t, s, "v1")
		recordOK(t, s, "sha256:a", v1.Seq, finding("CVE-1", "openssl", "3.0.1", match.NoFixYet, false))
		recordOK(t, s, "sha256:b", v1.Seq, finding("CVE-2", "zlib", "1.2", match.NoFixYet, false))
		if _, err := s.CommitDBVersion(ctx, v1.Seq); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Hour)

		v2 := begin(t, s, "v2")
		c := recordOK(t, s, "sha256:a", v2.Seq, finding("CVE-1", "openssl", "3.0.1", match.FixAvailable, false), finding("CVE-3", "openssl", "3.0.1", match.NoFixYet, true))
		if !c.Changed || !slices.Equal(c.Added, []string{"CVE-3 deb//openssl@3.0.1 "}) || len(c.Updated) != 1 {
			t.Errorf("change = %+v", c)
		}
		// A match against the old version now is stale: a newer one exists.
		if _, err := s.RecordMatch(ctx, &store.ImageMatch{Digest: "sha256:a", DBVersion: v1.Seq}); !errorsIs(err, store.ErrStaleVersion) {
			t.Errorf("stale match: err = %v", err)
		}
		// ... and the import dies here: sha256:b is never re-matched.
		if cur, _ := s.CurrentDBVersion(ctx); cur.Seq != v1.Seq {
			t.Errorf("current version advanced to %d during the update", cur.Seq)
		}
		f, _ := s.Findings(ctx, "sha256:a")
		if got := ids(f.Findings); !slices.Equal(got, []string{"CVE-1"}) || f.Findings[0].FixState != match.NoFixYet || f.DBVersion != v1.Seq {
			t.Errorf("visible findings during the update: %v (%s) from %d", got, f.Findings[0].FixState, f.DBVersion)
		}
		if ch, _ := s.ChangedDigests(ctx, v2.Seq); !slices.Equal(ch, []string{"sha256:a"}) {
			t.Errorf("changed under the pending version: %v", ch)
		}

		// The next attempt (another database) abandons v2.
		clk.Add(time.Hour)
		v3 := begin(t, s, "v3")
		vs, _ := s.DBVersions(ctx)
		if len(vs) != 3 || vs[1].State != store.DBAbandoned || vs[2].State != store.DBPending {
			t.Errorf("versions: %+v", vs)
		}
		if ch, _ := s.ChangedDigests(ctx, v2.Seq); len(ch) != 0 {
			t.Errorf("the abandoned version kept matches: %v", ch)
		}
		// Matching a again under v3 compares with v1, the visible state.
		c = recordOK(t, s, "sha256:a", v3.Seq, finding("CVE-1", "openssl", "3.0.1", match.NoFixYet, false))
		if c.Changed || len(c.Added)+len(c.Removed)+len(c.Updated) != 0 {
			t.Errorf("re-match equal to v1 changed: %+v", c)
		}
		recordOK(t, s, "sha256:b", v3.Seq) // CVE-2 withdrawn
		upd, err := s.CommitDBVersion(ctx, v3.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(upd.Changed, []string{"sha256:b"}) || upd.Previous != v1.Seq {
			t.Errorf("update = %+v", upd)
		}
		if f, _ := s.Findings(ctx, "sha256:b"); len(f.Findings) != 0 || f.DBVersion != v3.Seq {
			t.Errorf("b after v3: %+v", f)
		}
		ev, _ := s.ImageTimeline(ctx, "sha256:b")
		if e := findEvent(ev, store.FindingGone, "CVE-2"); e == nil || !e.At.Equal(clk.Now()) {
			t.Errorf("finding gone: %+v", ev)
		}
		if _, err := s.CommitDBVersion(ctx, v3.Seq); err == nil {
			t.Error("committed a version twice")
		}
		if _, err := s.CommitDBVersion(ctx, v2.Seq); err == nil {
			t.Error("committed an abandoned version")
		}
	})
}

func TestRematchIsIdempotent(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newClock()
		s := open(t, b.dsn(t), store.WithClock(clk.Now))
		v1 := begin(t, s, "v1")
		fs := []match.Finding{finding("CVE-1", "openssl", "3.0.1", match.NoFixYet, false), finding("CVE-2", "zlib", "1.2", match.NoFixYet, false)}
		recordOK(t, s, "sha256:a", v1.Seq, fs...)
		if _, err := s.CommitDBVersion(ctx, v1.Seq); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Minute)
		// Same version, same findings: nothing.
		if c := recordOK(t, s, "sha256:a", v1.Seq, fs...); c.Changed || len(c.Added)+len(c.Removed)+len(c.Updated) != 0 {
			t.Errorf("unchanged re-match: %+v", c)
		}
		// Begin the same database again: it is current, nothing to do.
		if v := begin(t, s, "v1"); v.Seq != v1.Seq || v.State != store.DBCommitted {
			t.Errorf("begin of the current version: %+v", v)
		}
		// A new version with the same findings: not changed.
		v2 := begin(t, s, "v2")
		if c := recordOK(t, s, "sha256:a", v2.Seq, fs...); c.Changed {
			t.Errorf("same findings under a new version: %+v", c)
		}
		if ch, _ := s.ChangedDigests(ctx, v2.Seq); len(ch) != 0 {
			t.Errorf("changed digests with the same findings: %v", ch)
		}
		// Resume: beginning v2 again returns the pending one.
		if v := begin(t, s, "v2"); v.Seq != v2.Seq || v.State != store.DBPending {
			t.Errorf("resume: %+v", v)
		}
		// Re-matching under the pending version with a difference, twice.
		fixed := []match.Finding{finding("CVE-1", "openssl", "3.0.1", match.FixAvailable, false), fs[1]}
		recordOK(t, s, "sha256:a", v2.Seq, fixed...)
		if c := recordOK(t, s, "sha256:a", v2.Seq, fixed...); c.Changed || len(c.Added)+len(c.Removed)+len(c.Updated) != 0 {
			t.Errorf("second identical re-match under the pending version: %+v", c)
		}
		t2 := clk.Add(time.Minute)
		if _, err := s.CommitDBVersion(ctx, v2.Seq); err != nil {
			t.Fatal(err)
		}
		f, _ := s.Findings(ctx, "sha256:a")
		if len(f.Findings) != 2 || f.Findings[0].FixState != match.FixAvailable {
			t.Errorf("after commit: %+v", f.Findings)
		}
		ev, _ := s.ImageTimeline(ctx, "sha256:a")
		if e := findEvent(ev, store.FixAvailable, "CVE-1"); e == nil || !e.At.Equal(t2) {
			t.Errorf("fix available: %+v", e)
		}
		if e := findEvent(ev, store.FindingGone, ""); e != nil {
			t.Errorf("an update reads as a finding gone: %+v", e)
		}
		counts, err := s.CountFindings(ctx, []string{"sha256:a", "sha256:none"})
		if err != nil || counts["sha256:a"] == nil || counts["sha256:a"].Findings != 2 || counts["sha256:a"].Fixable != 1 || counts["sha256:none"] != nil {
			t.Errorf("counts: %+v, %v", counts, err)
		}
	})
}
