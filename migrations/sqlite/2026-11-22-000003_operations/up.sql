-- The audit log, the key/value cache and the notification outbox.
CREATE TABLE audit_log (
    id       TEXT PRIMARY KEY NOT NULL,
    at       TIMESTAMP NOT NULL,
    actor_id TEXT,
    action   TEXT NOT NULL,
    target   TEXT,
    ip       TEXT,
    details  TEXT NOT NULL
);
-- Keyset pagination newest-first, unfiltered and by each filter column.
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor_id, at DESC, id DESC);
CREATE INDEX audit_log_action ON audit_log (action, at DESC, id DESC);
CREATE INDEX audit_log_target ON audit_log (target, at DESC, id DESC);

CREATE TABLE kv (
    key        TEXT PRIMARY KEY NOT NULL,
    value      BLOB NOT NULL,
    expires_at TIMESTAMP
);
CREATE INDEX kv_expiry ON kv (expires_at);

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    channel         TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error      TEXT,
    delivered_at    TIMESTAMP,
    gave_up_at      TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, created_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;
