-- The credence store, SQLite form. Times are Unix microseconds (INTEGER);
-- JSON documents are TEXT; inventories are zstd-compressed JSON (BLOB).
-- Keep in step with ../postgres/00001_store.sql: same tables, same columns.

-- +goose Up
CREATE TABLE inventories (
    digest     TEXT    NOT NULL,
    platform   TEXT    NOT NULL,
    extractors TEXT    NOT NULL,
    scanned_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    PRIMARY KEY (digest, platform, extractors)
);

CREATE TABLE db_versions (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL,
    built        INTEGER,
    data_as_of   INTEGER,
    detail       TEXT,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'committed', 'abandoned')),
    started_at   INTEGER NOT NULL,
    committed_at INTEGER
);
CREATE UNIQUE INDEX db_versions_one_pending ON db_versions (state) WHERE state = 'pending';

CREATE TABLE images (
    digest     TEXT    PRIMARY KEY,
    first_seen INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE image_matches (
    digest     TEXT    NOT NULL,
    db_seq     INTEGER NOT NULL,
    matched_at INTEGER NOT NULL,
    hash       TEXT    NOT NULL,
    findings   INTEGER NOT NULL,
    changed    INTEGER NOT NULL,
    detail     TEXT    NOT NULL,
    PRIMARY KEY (digest, db_seq)
);
CREATE INDEX image_matches_seq ON image_matches (db_seq, changed);

CREATE TABLE findings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    digest      TEXT    NOT NULL,
    fkey        TEXT    NOT NULL,
    finding_id  TEXT    NOT NULL,
    package     TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    kev         INTEGER NOT NULL,
    suppressed  INTEGER NOT NULL,
    fix_state   TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    data        TEXT    NOT NULL,
    from_seq    INTEGER NOT NULL,
    closed_seq  INTEGER,
    recorded_at INTEGER NOT NULL,
    valid_from  INTEGER,
    valid_to    INTEGER
);
CREATE INDEX findings_digest ON findings (digest, fkey);
CREATE INDEX findings_open ON findings (digest) WHERE valid_to IS NULL;
CREATE INDEX findings_from_seq ON findings (from_seq) WHERE valid_from IS NULL;
CREATE INDEX findings_closed_seq ON findings (closed_seq) WHERE valid_to IS NULL;

CREATE TABLE workloads (
    workload   TEXT    PRIMARY KEY,
    first_seen INTEGER NOT NULL,
    removed_at INTEGER
);

CREATE TABLE subjects (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    workload   TEXT    NOT NULL,
    namespace  TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    spec_hash  TEXT    NOT NULL,
    score      REAL    NOT NULL,
    unknown    INTEGER NOT NULL,
    why        TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_to   INTEGER,
    removed    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX subjects_current ON subjects (workload) WHERE valid_to IS NULL;
CREATE INDEX subjects_history ON subjects (workload, valid_from);
CREATE INDEX subjects_rank ON subjects (score DESC, workload) WHERE valid_to IS NULL;

CREATE TABLE subject_images (
    subject_id INTEGER NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    container  TEXT    NOT NULL,
    digest     TEXT    NOT NULL,
    PRIMARY KEY (subject_id, container)
);
CREATE INDEX subject_images_digest ON subject_images (digest);

CREATE TABLE decisions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    workload   TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    verdict    TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_to   INTEGER
);
CREATE UNIQUE INDEX decisions_current ON decisions (workload) WHERE valid_to IS NULL;
CREATE INDEX decisions_history ON decisions (workload, valid_from);

CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    jkey          TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL,
    payload       BLOB,
    state         TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    run_after     INTEGER NOT NULL,
    lease_owner   TEXT,
    lease_until   INTEGER,
    rerun         INTEGER NOT NULL DEFAULT 0,
    rerun_payload BLOB,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    done_at       INTEGER
);
CREATE INDEX jobs_ready ON jobs (state, run_after);

CREATE TABLE kv (
    k          TEXT    PRIMARY KEY,
    value      BLOB    NOT NULL,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE kv;
DROP TABLE jobs;
DROP TABLE decisions;
DROP TABLE subject_images;
DROP TABLE subjects;
DROP TABLE workloads;
DROP TABLE findings;
DROP TABLE image_matches;
DROP TABLE images;
DROP TABLE db_versions;
DROP TABLE inventories;
