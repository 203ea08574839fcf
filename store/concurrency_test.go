package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/store"
)

// Replicas writing the same workload's Subject, and the same image's
// findings, at once: no error, one current version, one row per finding.
func TestConcurrentWritersOfOneWorkload(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.dsn(t)
		s := open(t, dsn)
		v := begin(t, s, "v1")
		if _, err := s.CommitDBVersion(ctx, v.Seq); err != nil {
			t.Fatal(err)
		}
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := store.Open(ctx, dsn)
				if err != nil {
					errs <- err
					return
				}
				defer r.Close()
				if _, err := r.PutSubject(ctx, subj("shop", "web", float64(i%2), "sha256:a")); err != nil {
					errs <- fmt.Errorf("put subject: %w", err)
				}
				fs := []match.Finding{finding("CVE-1", "openssl", "3.0.1", match.NoFixYet, false), finding("CVE-2", "zlib", "1.2", match.FixState([]string{string(match.NoFixYet), string(match.FixAvailable)}[i%2]), false)}
				if _, err := r.RecordMatch(ctx, &store.ImageMatch{Digest: "sha256:a", DBVersion: v.Seq, Findings: fs}); err != nil {
					errs <- fmt.Errorf("record match: %w", err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		l, err := s.ListWorkloads(ctx, store.ListOptions{})
		if err != nil || len(l) != 1 {
			t.Errorf("current Subjects: %d, %v", len(l), err)
		}
		f, err := s.Findings(ctx, "sha256:a")
		if err != nil || len(f.Findings) != 2 {
			t.Errorf("visible findings: %+v, %v", f, err)
		}
	})
}
