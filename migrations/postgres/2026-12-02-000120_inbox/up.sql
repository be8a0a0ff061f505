-- The notification inbox: one row per notification and recipient (a mention, a reply, a new
-- thread, a new version of a followed plan), written in the transaction of the comment or push
-- that causes it; `read_at` is set when the recipient marks it read.
CREATE TABLE notifications (
    id           TEXT PRIMARY KEY NOT NULL,
    recipient_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    plan_id      TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    comment_id   TEXT REFERENCES comments (id) ON DELETE CASCADE,
    version      INTEGER,
    actor_id     TEXT REFERENCES users (id) ON DELETE SET NULL,
    excerpt      TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    read_at      TIMESTAMP
);
CREATE INDEX notifications_recipient ON notifications (recipient_id, created_at, id);
CREATE INDEX notifications_unread ON notifications (recipient_id, read_at);

-- A person's explicit choice for one plan: 'following' (the Follow button) or 'muted' (no
-- notifications from it at all). No row: they follow plans they own or commented on.
CREATE TABLE plan_follows (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    plan_id    TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    state      TEXT NOT NULL CHECK (state IN ('following', 'muted')),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, plan_id)
);
CREATE INDEX plan_follows_plan ON plan_follows (plan_id);
