-- Recorded events: what happened to a workload or an image that no
-- versioned row says (a runtime alert and the blast radius it was answered
-- with). Timelines merge them with the derived events.
-- Keep in step with ../postgres/00002_events.sql: same tables, same columns.

-- +goose Up
CREATE TABLE events (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    ekey TEXT    NOT NULL UNIQUE,
    ref  TEXT    NOT NULL,
    kind TEXT    NOT NULL,
    at   INTEGER NOT NULL,
    data TEXT    NOT NULL
);
CREATE INDEX events_ref ON events (ref, at);

-- +goose Down
DROP TABLE events;
