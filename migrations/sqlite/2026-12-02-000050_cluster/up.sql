-- Several server processes on one PostgreSQL (docs/operations.md). The tables exist on SQLite too
-- (one schema), where one process needs none of them.
-- Live plan events for viewers on any process: each plan's last sequence number, and the events
-- retained for `Last-Event-ID` replay (swept after a day).
CREATE TABLE live_topics (
    plan_id TEXT PRIMARY KEY NOT NULL,
    seq     BIGINT NOT NULL
);
CREATE TABLE live_events (
    plan_id    TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (plan_id, seq)
);
CREATE INDEX live_events_created ON live_events (created_at);
-- Leases of background jobs that one process at a time should run (the expiry sweep).
CREATE TABLE job_leases (
    name   TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    until  TIMESTAMP NOT NULL
);
-- Rate-limit budgets counted for all processes together (GCRA: each key's theoretical arrival
-- time in Unix milliseconds; a row whose time has passed is a full budget and is swept).
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY NOT NULL,
    tat BIGINT NOT NULL
);
