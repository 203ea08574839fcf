package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/store"
)

// BenchmarkStore writes and reads 10,000 Subjects and 100 inventories on
// each backend. The Subjects are the sample cluster's (real blast radii and
// paths) under 10,000 names; the inventories are the sample web image's,
// under 100 digests. One op is the whole set; ns/subject and ns/inventory
// are per item. PostgreSQL runs with fsync off (postgrestest); SQLite with
// synchronous=NORMAL in WAL. Run: go test -run '^$' -bench Store -benchtime 3x ./store/
func BenchmarkStore(b *testing.B) {
	const nSubjects, nInventories, batch = 10000, 100, 500
	smp := loadSample(b)
	ctx := context.Background()
	seed := open(b, "sqlite://"+b.TempDir()+"/seed.db")
	a, err := assess.Assess(ctx, smp.snap, smp.today, assess.WithImageDirs(smp.dirs), assess.WithCache(seed))
	if err != nil {
		b.Fatal(err)
	}
	inv, err := seed.Get(ctx, assess.CacheKey{Digest: webDigest, Platform: a.Images[0].Extractors, Extractors: a.Images[0].Extractors})
	if inv == nil {
		infos, _ := seed.Inventories(ctx)
		inv, err = seed.Get(ctx, infos[len(infos)-1].Key)
	}
	if err != nil || inv == nil {
		b.Fatalf("sample inventory: %v", err)
	}
	subjects := make([]assess.Subject, nSubjects)
	var subjBytes int
	for i := range subjects {
		s := a.Subjects[i%len(a.Subjects)]
		s.Workload.Name = fmt.Sprintf("%s-%05d", s.Workload.Name, i)
		subjects[i] = s
		if i < len(a.Subjects) {
			j, _ := json.Marshal(s)
			subjBytes += len(j)
		}
	}
	invJSON, _ := json.Marshal(inv)
	b.Logf("Subject JSON %d bytes on average; inventory JSON %d bytes (%d packages)", subjBytes/len(a.Subjects), len(invJSON), len(inv.Inventory.Packages))

	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			dsn := be.dsn(b)
			s := open(b, dsn)
			b.Run("subjects-write", func(b *testing.B) {
				b.ReportAllocs()
				for n := 0; b.Loop(); n++ {
					for lo := 0; lo < nSubjects; lo += batch {
						err := s.Update(ctx, func(tx *store.Tx) error {
							for i := lo; i < lo+batch; i++ {
								sj := subjects[i]
								sj.Risk.Score = float64(n) // a new version each round
								if _, err := tx.PutSubject(ctx, &sj); err != nil {
									return err
								}
							}
							return nil
						})
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nSubjects), "ns/subject")
			})
			b.Run("subjects-read", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					for i := range subjects {
						if _, err := s.GetSubject(ctx, store.WorkloadKey(subjects[i].Workload)); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nSubjects), "ns/subject")
			})
			b.Run("rank-top100", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if l, err := s.ListWorkloads(ctx, store.ListOptions{Limit: 100}); err != nil || len(l) != 100 {
						b.Fatal(len(l), err)
					}
				}
			})
			b.Run("inventories-put", func(b *testing.B) {
				b.ReportAllocs()
				for n := 0; b.Loop(); n++ {
					for i := range nInventories {
						k := assess.CacheKey{Digest: fmt.Sprintf("sha256:%064d", i), Platform: "linux/amd64", Extractors: "bench"}
						c := *inv
						c.ScannedAt = time.Unix(int64(n), 0)
						if err := s.Put(ctx, k, &c); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nInventories), "ns/inventory")
			})
			b.Run("inventories-get", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					for i := range nInventories {
						k := assess.CacheKey{Digest: fmt.Sprintf("sha256:%064d", i), Platform: "linux/amd64", Extractors: "bench"}
						if c, err := s.Get(ctx, k); err != nil || c == nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nInventories), "ns/inventory")
			})
			if be.name == "sqlite" {
				var size int64
				for _, suf := range []string{"", "-wal"} {
					if st, err := os.Stat(strings.TrimPrefix(dsn, "sqlite://") + suf); err == nil {
						size += st.Size()
					}
				}
				b.Logf("sqlite file + WAL: %d MiB", size>>20)
			}
		})
	}
}
