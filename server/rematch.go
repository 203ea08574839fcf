package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/store"
)

// rematchPayload is a "rematch" job's: the database version to re-match
// under, and when the update began (for the update-to-verdict latency).
type rematchPayload struct {
	DB    string    `json:"db"`
	Since time.Time `json:"since,omitzero"`
}

// rematch makes this replica's database the store's current version
// without reading any image: every stored inventory is matched again under
// a pending version (invisible until committed), the version is committed
// in one transaction, and only the workloads running an image whose
// findings changed are queued for re-evaluation (then a resync, for the
// blast radii that pass through them). An update that fails halfway leaves
// the pending version behind, unseen; the job's next attempt resumes it.
func (s *Server) rematch(ctx context.Context, j *store.Job) (func(*store.Tx) error, func(), error) {
	var p rematchPayload
	_ = json.Unmarshal(j.Payload, &p)
	src, info, err := s.db.current(ctx)
	if err != nil {
		return nil, nil, err
	}
	if p.DB != "" && p.DB != info.ID {
		// This replica's file is another version: the newer one wins, but a
		// replica behind the update waits for its own file.
		if cur, err := s.st.CurrentDBVersion(ctx); err == nil && cur.ID == info.ID {
			s.kickDB()
			return nil, nil, fmt.Errorf("this replica's vulnerability database (%s) is behind the update (%s): retried", info.ID, p.DB)
		}
	}
	if cur, err := s.st.CurrentDBVersion(ctx); err == nil && cur.ID != info.ID && older(info, cur) {
		s.kickDownload()
		return nil, nil, fmt.Errorf("this replica's vulnerability database (%s, data of %s) is older than the store's (%s, %s): never committed",
			info.ID, info.DataAsOf.Format(time.RFC3339), cur.ID, cur.DataAsOf.Format(time.RFC3339))
	}
	t0 := time.Now()
	v, err := s.st.BeginDBVersion(ctx, info)
	if err != nil {
		return nil, nil, err
	}
	var upd *store.DBUpdate
	matched := 0
	if v.State == store.DBCommitted {
		// Already current: nothing new, or a re-run after the commit (the
		// re-evaluation is queued again: idempotent).
		changed, err := s.st.ChangedDigests(ctx, v.Seq)
		if err != nil {
			return nil, nil, err
		}
		upd = &store.DBUpdate{Version: v, Changed: changed}
	} else {
		done := map[string]bool{}
		// Inventories stored while the update ran are matched in a second
		// pass; a third finds none in practice.
		for pass := 0; pass < 3; pass++ {
			keys, err := s.inventoriesToMatch(ctx, done)
			if err != nil {
				return nil, nil, err
			}
			if len(keys) == 0 {
				break
			}
			for _, k := range keys {
				if err := ctx.Err(); err != nil {
					return nil, nil, err
				}
				if err := s.rematchOne(ctx, src, k, v.Seq); err != nil {
					return nil, nil, err
				}
				done[k.Digest] = true
				matched++
				if h := s.o.hooks.rematched; h != nil {
					if err := h(matched); err != nil {
						return nil, nil, err
					}
				}
			}
		}
		upd, err = s.st.CommitDBVersion(ctx, v.Seq)
		if err != nil {
			return nil, nil, err
		}
		s.m.dbUpdates.WithLabelValues("committed").Inc()
	}
	affected, err := s.st.WorkloadsRunning(ctx, upd.Changed)
	if err != nil {
		return nil, nil, err
	}
	if v.State != store.DBCommitted || len(affected) > 0 {
		s.o.log.Info("database version committed", "database", info.ID, "images_rematched", matched, "images_changed", len(upd.Changed),
			"workloads_to_reassess", len(affected), "took", time.Since(t0).Round(time.Millisecond))
	}
	cause := assessPayload{Since: p.Since, Cause: "db:" + info.ID}
	if upd.Previous == 0 && v.State != store.DBCommitted {
		cause.Since = time.Time{} // the first version is no update
	}
	results := func(tx *store.Tx) error {
		if err := s.enqueueIn(ctx, tx, affected, cause); err != nil {
			return err
		}
		if len(upd.Changed) == 0 {
			return nil // no image's findings changed: no Subject's inputs did
		}
		b, _ := json.Marshal(cause)
		// Then everything, for the blast radii that pass through the
		// changed images: a background sweep, under a key of its own. Under
		// the resync's key it replaced the payload of a queued sweep of the
		// cluster (the leader's first, at start-up), which then ran in the
		// background too: the first assessment of 10,000 pods took 2
		// minutes instead of 10 s.
		_, err := tx.Enqueue(ctx, store.NewJob{Key: keyResyncDB, Kind: kindResync, Payload: b, RunAfter: tx.Now().Add(2 * s.o.debounce)})
		return err
	}
	after := func() {
		s.wakeUp()
		if len(upd.Unmatched) == 0 {
			return
		}
		// Images whose inventory appeared after the last pass: matched by a
		// scan job (the inventory is stored: no layer is read).
		m, err := s.latestModel(ctx)
		if err != nil {
			return
		}
		for _, d := range upd.Unmatched {
			for k := range m.groups {
				if slicesContainsDigest(m.refs[k], d) {
					_ = s.enqueueScan(ctx, m, d, k)
					break
				}
			}
		}
	}
	return results, after, nil
}

func slicesContainsDigest(refs []assess.ImageRef, d string) bool {
	for _, r := range refs {
		if r.Digest == d {
			return true
		}
	}
	return false
}

// inventoriesToMatch picks one stored inventory per digest not done yet:
// the current extractor set's for the default platform when there is one,
// else the newest.
func (s *Server) inventoriesToMatch(ctx context.Context, done map[string]bool) ([]assess.CacheKey, error) {
	invs, err := s.st.Inventories(ctx)
	if err != nil {
		return nil, err
	}
	ext := assess.ExtractorSet()
	best := map[string]store.InventoryInfo{}
	score := func(i store.InventoryInfo) int {
		n := 0
		if i.Key.Extractors == ext {
			n += 2
		}
		if i.Key.Platform == image.DefaultPlatform {
			n++
		}
		return n
	}
	for _, i := range invs {
		if done[i.Key.Digest] {
			continue
		}
		b, ok := best[i.Key.Digest]
		if !ok || score(i) > score(b) || (score(i) == score(b) && i.ScannedAt.After(b.ScannedAt)) {
			best[i.Key.Digest] = i
		}
	}
	out := make([]assess.CacheKey, 0, len(best))
	for _, i := range best {
		out = append(out, i.Key)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Digest < out[b].Digest })
	return out, nil
}

// rematchOne matches one stored inventory under version seq (no layer is
// read) and records the result.
func (s *Server) rematchOne(ctx context.Context, src match.Source, k assess.CacheKey, seq int64) error {
	ci, err := s.st.Get(ctx, k)
	if err != nil {
		return err
	}
	if ci == nil {
		return nil // pruned meanwhile
	}
	img, err := assess.MatchInventory(ctx, src, k.Digest, ci, assess.WithClock(s.o.clock), assess.WithPlatform(k.Platform))
	if err != nil {
		return err
	}
	s.m.imagesMatched.WithLabelValues("rematch").Inc()
	return s.st.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.RecordMatch(ctx, store.MatchOf(img, seq)); err != nil {
			return err
		}
		b, _ := json.Marshal(img.Inventory)
		return tx.SetValue(ctx, kvSummary+k.Digest, b)
	})
}
