package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// JobState is where a job is in its life.
type JobState string

// Job states.
const (
	JobQueued  JobState = "queued"  // waiting to be claimed (from RunAfter)
	JobRunning JobState = "running" // claimed, under a lease
	JobDone    JobState = "done"    // completed
	JobDead    JobState = "dead"    // failed MaxAttempts times
)

// Job is one unit of the server's work, one row per key.
type Job struct {
	ID   int64  `json:"id"`
	Key  string `json:"key"`  // what the job is about: "assess:shop/Deployment/web"; unique
	Kind string `json:"kind"` // which handler runs it
	// Payload is the handler's input (opaque to the store).
	Payload     []byte    `json:"payload,omitempty"`
	State       JobState  `json:"state"`
	Attempt     int       `json:"attempt"` // attempts so far (this one included, while running)
	MaxAttempts int       `json:"maxAttempts"`
	RunAfter    time.Time `json:"runAfter"`
	// LeaseOwner and LeaseUntil: who holds a running job, until when.
	LeaseOwner string    `json:"leaseOwner,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitzero"`
	LastError  string    `json:"lastError,omitempty"`
	// Rerun: enqueued again while running; it is queued again when done.
	Rerun bool      `json:"rerun,omitempty"`
	Done  time.Time `json:"done,omitzero"`
}

// NewJob is what Enqueue takes.
type NewJob struct {
	Key     string
	Kind    string
	Payload []byte
	// RunAfter delays the job (zero: now). MaxAttempts defaults to 5.
	RunAfter    time.Time
	MaxAttempts int
}

// Enqueued says what Enqueue did.
type Enqueued string

// Enqueue outcomes.
const (
	// Created: no row for the key; a new job was queued.
	Created Enqueued = "created"
	// Requeued: the key's job was done or dead; it is queued again.
	Requeued Enqueued = "requeued"
	// Merged: the key's job was already queued; its payload is replaced
	// (the newest wins) and it runs once.
	Merged Enqueued = "merged"
	// Deferred: the key's job is running; it runs again once it is done,
	// with the new payload.
	Deferred Enqueued = "deferred"
)

// Enqueue queues a job (see Tx.Enqueue).
func (s *Store) Enqueue(ctx context.Context, j NewJob) (Enqueued, error) {
	var e Enqueued
	err := s.Update(ctx, func(t *Tx) error {
		var err error
		e, err = t.Enqueue(ctx, j)
		return err
	})
	return e, err
}

// Enqueue queues a job, idempotent by key: enqueueing a key that is queued
// merges into it, one that is running marks it to run once more after, one
// that is done queues it again. A job can be enqueued in the same
// transaction as the results that call for it.
func (t *Tx) Enqueue(ctx context.Context, j NewJob) (Enqueued, error) {
	if j.Key == "" || j.Kind == "" {
		return "", errors.New("store: job without a key or kind")
	}
	if j.MaxAttempts <= 0 {
		j.MaxAttempts = 5
	}
	run := j.RunAfter
	if run.IsZero() {
		run = t.now
	}
	now := us(t.now)
	var state JobState
	err := t.row(ctx, `SELECT state FROM jobs WHERE jkey = ?`+t.s.forUpdate(), j.Key).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		r, err := t.exec(ctx, `INSERT INTO jobs (jkey, kind, payload, state, max_attempts, run_after, created_at, updated_at)
			VALUES (?, ?, ?, 'queued', ?, ?, ?, ?) ON CONFLICT (jkey) DO NOTHING`, j.Key, j.Kind, j.Payload, j.MaxAttempts, us(run), now, now)
		if err != nil {
			return "", err
		}
		if n, _ := r.RowsAffected(); n == 1 {
			return Created, nil
		}
		// A concurrent Enqueue created it first: merge into it.
		err = t.row(ctx, `SELECT state FROM jobs WHERE jkey = ?`+t.s.forUpdate(), j.Key).Scan(&state)
	}
	if err != nil {
		return "", classify(err)
	}
	switch state {
	case JobQueued:
		_, err = t.exec(ctx, `UPDATE jobs SET kind = ?, payload = ?, max_attempts = ?, run_after = CASE WHEN run_after < CAST(? AS BIGINT) THEN run_after ELSE CAST(? AS BIGINT) END, updated_at = ? WHERE jkey = ?`,
			j.Kind, j.Payload, j.MaxAttempts, us(run), us(run), now, j.Key)
		return Merged, err
	case JobRunning:
		_, err = t.exec(ctx, `UPDATE jobs SET rerun = 1, rerun_payload = ?, updated_at = ? WHERE jkey = ?`, j.Payload, now, j.Key)
		return Deferred, err
	default:
		_, err = t.exec(ctx, `UPDATE jobs SET kind = ?, payload = ?, state = 'queued', attempts = 0, max_attempts = ?, run_after = ?,
			lease_owner = NULL, lease_until = NULL, last_error = NULL, rerun = 0, rerun_payload = NULL, done_at = NULL, updated_at = ? WHERE jkey = ?`,
			j.Kind, j.Payload, j.MaxAttempts, us(run), now, j.Key)
		return Requeued, err
	}
}

const jobCols = `id, jkey, kind, payload, state, attempts, max_attempts, run_after, lease_owner, lease_until, last_error, rerun, done_at`

func scanJob(sc interface{ Scan(...any) error }) (*Job, error) {
	var j Job
	var run int64
	var owner, lastErr sql.NullString
	var until, done sql.NullInt64
	var rerun int64
	if err := sc.Scan(&j.ID, &j.Key, &j.Kind, &j.Payload, &j.State, &j.Attempt, &j.MaxAttempts, &run, &owner, &until, &lastErr, &rerun, &done); err != nil {
		return nil, err
	}
	j.RunAfter, j.LeaseUntil, j.Done = fromUS(run), fromNullUS(until), fromNullUS(done)
	j.LeaseOwner, j.LastError, j.Rerun = owner.String, lastErr.String, rerun != 0
	return &j, nil
}

// Claim leases the next job that is due, or whose lease expired (a worker
// that died), to owner for lease; kinds limits the kinds (none: any). It
// returns nil, nil when there is nothing to do. On PostgreSQL concurrent
// claimers skip each other's locked rows (FOR UPDATE SKIP LOCKED); on
// SQLite the one writer claims.
func (s *Store) Claim(ctx context.Context, owner string, lease time.Duration, kinds ...string) (*Job, error) {
	if owner == "" || lease <= 0 {
		return nil, errors.New("store: claim needs an owner and a lease")
	}
	var job *Job
	err := s.Update(ctx, func(t *Tx) error {
		now := us(t.now)
		// Jobs whose last lease expired with no attempt left are dead.
		if _, err := t.exec(ctx, `UPDATE jobs SET state = 'dead', last_error = 'lease expired: the worker stopped (attempt ' || attempts || ' of ' || max_attempts || ')',
			lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE state = 'running' AND lease_until < ? AND attempts >= max_attempts`, now, now); err != nil {
			return err
		}
		kindWhere, args := "", []any{now, now}
		if len(kinds) > 0 {
			kindWhere = ` AND kind IN (` + placeholders(len(kinds)) + `)`
			args = append(args, anys(kinds)...)
		}
		skip := ""
		if s.t.backend == Postgres {
			skip = ` FOR UPDATE SKIP LOCKED`
		}
		var id int64
		err := t.row(ctx, `SELECT id FROM jobs WHERE ((state = 'queued' AND run_after <= ?) OR (state = 'running' AND lease_until < ?))`+kindWhere+
			` ORDER BY run_after, id LIMIT 1`+skip, args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return classify(err)
		}
		job, err = scanJob(t.row(ctx, `UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?, lease_until = ?, updated_at = ?
			WHERE id = ? RETURNING `+jobCols, owner, us(t.now.Add(lease)), now, id))
		return classify(err)
	})
	if err != nil {
		return nil, err
	}
	return job, nil
}

// guard locks the job's row if j still holds its lease: the same owner and
// attempt, still running. Otherwise ErrLeaseLost.
func (t *Tx) guard(ctx context.Context, j *Job) error {
	var id int64
	err := t.row(ctx, `SELECT id FROM jobs WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempts = ?`+t.s.forUpdate(),
		j.ID, j.LeaseOwner, j.Attempt).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("job %s attempt %d: %w", j.Key, j.Attempt, ErrLeaseLost)
	}
	return classify(err)
}

// Heartbeat extends a running job's lease (ErrLeaseLost if it passed on).
func (s *Store) Heartbeat(ctx context.Context, j *Job, lease time.Duration) error {
	return s.Update(ctx, func(t *Tx) error {
		if err := t.guard(ctx, j); err != nil {
			return err
		}
		until := t.now.Add(lease)
		if _, err := t.exec(ctx, `UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ?`, us(until), us(t.now), j.ID); err != nil {
			return err
		}
		j.LeaseUntil = until
		return nil
	})
}

// Complete marks a claimed job done and runs results in the same
// transaction: the job's writes and its completion commit together, only if
// this worker still holds the lease (same owner, same attempt). A worker
// whose lease passed to another gets ErrLeaseLost and writes nothing, so a
// job is done in effect once. A job enqueued again while it ran is queued
// again.
func (s *Store) Complete(ctx context.Context, j *Job, results func(*Tx) error) error {
	return s.Update(ctx, func(t *Tx) error {
		if err := t.guard(ctx, j); err != nil {
			return err
		}
		if results != nil {
			if err := results(t); err != nil {
				return err
			}
		}
		_, err := t.exec(ctx, `UPDATE jobs SET
			state = CASE WHEN rerun = 1 THEN 'queued' ELSE 'done' END,
			payload = CASE WHEN rerun = 1 THEN rerun_payload ELSE payload END,
			attempts = CASE WHEN rerun = 1 THEN 0 ELSE attempts END,
			run_after = ?, rerun = 0, rerun_payload = NULL, lease_owner = NULL, lease_until = NULL,
			last_error = NULL, done_at = ?, updated_at = ? WHERE id = ?`, us(t.now), us(t.now), us(t.now), j.ID)
		return err
	})
}

// Fail records a failed attempt: the job is queued again after a back-off
// (exponential from 1 s, at most 10 min, with jitter), or dead after
// MaxAttempts; a job enqueued again while it ran is queued at once with its
// new payload and fresh attempts. ErrLeaseLost if the lease passed on.
func (s *Store) Fail(ctx context.Context, j *Job, cause error) error {
	msg := "failed"
	if cause != nil {
		msg = cause.Error()
	}
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	return s.Update(ctx, func(t *Tx) error {
		if err := t.guard(ctx, j); err != nil {
			return err
		}
		next := t.now.Add(Backoff(j.Attempt))
		_, err := t.exec(ctx, `UPDATE jobs SET
			state = CASE WHEN rerun = 1 OR attempts < max_attempts THEN 'queued' ELSE 'dead' END,
			payload = CASE WHEN rerun = 1 THEN rerun_payload ELSE payload END,
			attempts = CASE WHEN rerun = 1 THEN 0 ELSE attempts END,
			run_after = CASE WHEN rerun = 1 THEN CAST(? AS BIGINT) ELSE CAST(? AS BIGINT) END,
			rerun = 0, rerun_payload = NULL, lease_owner = NULL, lease_until = NULL, last_error = ?, updated_at = ? WHERE id = ?`,
			us(t.now), us(next), msg, us(t.now), j.ID)
		return err
	})
}

// Backoff is the delay before attempt+1 of a job that failed attempt
// times: 1 s doubling, at most 10 min, plus up to 20% jitter so replicas
// that failed together do not retry together.
func Backoff(attempt int) time.Duration {
	d := time.Second
	for i := 1; i < attempt && d < 10*time.Minute; i++ {
		d *= 2
	}
	d = min(d, 10*time.Minute)
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// GetJob returns the job of a key (ErrNotFound).
func (s *Store) GetJob(ctx context.Context, key string) (*Job, error) {
	j, err := scanJob(s.row(ctx, s.r, `SELECT `+jobCols+` FROM jobs WHERE jkey = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("job %s: %w", key, ErrNotFound)
	}
	return j, classify(err)
}

// JobCounts counts jobs by state (for metrics and readiness).
func (s *Store) JobCounts(ctx context.Context) (map[JobState]int, error) {
	rows, err := s.query(ctx, s.r, `SELECT state, count(*) FROM jobs GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[JobState]int{}
	for rows.Next() {
		var st JobState
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, classify(err)
		}
		out[st] = n
	}
	return out, classify(rows.Err())
}

// PruneJobs removes jobs done before the time (dead ones stay for a person
// to look at).
func (s *Store) PruneJobs(ctx context.Context, doneBefore time.Time) (int64, error) {
	var n int64
	err := s.Update(ctx, func(t *Tx) error {
		r, err := t.exec(ctx, `DELETE FROM jobs WHERE state = 'done' AND done_at < ?`, us(doneBefore))
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	return n, err
}
