-- E-mail notifications (docs/configuration.md, "E-mail"): each user's choice of immediate, daily
-- digest or off (no row: the default, immediate), and the cut-off of their previous digest (the
-- next one lists what came after it). Digests and single e-mails are outbox rows on the channel
-- `email`.
CREATE TABLE email_preferences (
    user_id        TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    mode           TEXT NOT NULL,
    last_digest_at TIMESTAMP,
    updated_at     TIMESTAMP NOT NULL
);
-- The digest job lists the `daily` users.
CREATE INDEX email_preferences_mode ON email_preferences (mode);
