package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxEventData bounds one recorded event's data.
const maxEventData = 256 << 10

// AddEvent records an event that no versioned row implies (a runtime alert
// and the blast radius it was answered with) on the timeline of ev.Workload
// (or, without one, of ev.Digest). key makes it idempotent: an event whose
// key was recorded before is not recorded again (added false), so a request
// retried after a lost answer leaves one entry.
func (s *Store) AddEvent(ctx context.Context, key string, ev Event) (added bool, err error) {
	err = s.Update(ctx, func(t *Tx) error {
		var err error
		added, err = t.AddEvent(ctx, key, ev)
		return err
	})
	return added, err
}

// AddEvent records an event within the transaction (see Store.AddEvent).
func (t *Tx) AddEvent(ctx context.Context, key string, ev Event) (bool, error) {
	ref := ev.Workload
	if ref == "" {
		ref = ev.Digest
	}
	switch {
	case key == "":
		return false, errors.New("store: event without a key")
	case ref == "":
		return false, errors.New("store: event about no workload and no image")
	case ev.Kind == "":
		return false, errors.New("store: event without a kind")
	}
	if ev.At.IsZero() {
		ev.At = t.now
	}
	if ev.Basis == "" {
		ev.Basis = Observed
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	if len(data) > maxEventData {
		return false, fmt.Errorf("store: event %s is %d bytes (limit %d)", key, len(data), maxEventData)
	}
	r, err := t.exec(ctx, `INSERT INTO events (ekey, ref, kind, at, data) VALUES (?, ?, ?, ?, ?) ON CONFLICT (ekey) DO NOTHING`,
		key, ref, string(ev.Kind), us(ev.At), string(data))
	if err != nil {
		return false, err
	}
	n, err := r.RowsAffected()
	return n == 1, classify(err)
}

// RecordedEvents returns the events recorded about ref (a workload key or
// a digest) since a time (zero: all), oldest first, at most limit (default
// 1,000).
func (s *Store) RecordedEvents(ctx context.Context, ref string, since time.Time, limit int) ([]Event, error) {
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	rows, err := s.query(ctx, s.r, `SELECT ekey, data FROM events WHERE ref = ? AND at >= ? ORDER BY at, id LIMIT ?`, ref, us(since), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var key, data string
		if err := rows.Scan(&key, &data); err != nil {
			return nil, classify(err)
		}
		var ev Event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return nil, fmt.Errorf("event %s: %w: %v", key, ErrCorrupt, err)
		}
		out = append(out, ev)
	}
	return out, classify(rows.Err())
}

// recordedFor adds the recorded events of ref to a timeline.
func (s *Store) recordedFor(ctx context.Context, ev []Event, ref string) ([]Event, error) {
	if strings.TrimSpace(ref) == "" {
		return ev, nil
	}
	rec, err := s.RecordedEvents(ctx, ref, time.Time{}, 10000)
	if err != nil {
		return nil, err
	}
	return append(ev, rec...), nil
}
