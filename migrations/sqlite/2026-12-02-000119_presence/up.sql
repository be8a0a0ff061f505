-- Presence: one row per open live-update stream (a reader) of a plan, refreshed at every keep-alive
-- and removed when the stream closes. `expires_at` makes a killed process's readers disappear.
CREATE TABLE plan_readers (
    reader_id  TEXT PRIMARY KEY NOT NULL,
    plan_id    TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX plan_readers_plan ON plan_readers (plan_id, expires_at);
