// Package store keeps credence's results and their history: inventories once
// per image digest, findings per vulnerability-database version, Subjects and
// decisions as versioned rows, timelines derived from them, a small job queue
// and a key/value table; in one embedded SQLite file (the default, one
// writer) or in PostgreSQL (several replicas), with one schema and one API.
//
// # History
//
// Findings, Subjects and decisions are never updated in place. Each row has a
// content hash and a validity interval [valid_from, valid_to): a write whose
// content equals the current row's writes nothing (idempotent re-evaluation),
// a different one closes the current row and opens a new one, and a read "as
// of" a time returns the rows valid then. Timelines are derived from these
// rows (Timeline).
//
// # Database versions
//
// Findings are written against a vulnerability-database version. A new
// version is begun (BeginDBVersion), the stored inventories re-matched under
// it, and committed (CommitDBVersion): until the commit, rows written under
// it are invisible and the current version does not change, so an update that
// fails halfway leaves the store's view exactly as it was (AbandonDBVersion,
// or beginning another version, discards what it wrote).
//
// # Jobs
//
// A job row per key: Enqueue is idempotent by key, Claim leases a job
// (SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL; the single writer on
// SQLite), a lease that expires (a replica killed mid-job) makes the job
// claimable again, and Complete writes the job's results in the same
// transaction as the completion, guarded by the lease owner and attempt, so a
// job is done in effect once.
package store
