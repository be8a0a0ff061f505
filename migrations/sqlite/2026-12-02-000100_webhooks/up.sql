-- Outgoing webhooks registered by admins (docs/api.md, "Webhooks"). `events` is a comma-separated
-- list of event names; `sealed_secret` is the signing secret sealed with a key derived from
-- SECRET_KEY (docs/security.md). Deliveries live in `outbox` on the channel `webhook:<id>`.
CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY NOT NULL,
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    created_by    TEXT,
    created_at    TIMESTAMP NOT NULL
);
-- A hook's delivery log reads its channel newest first.
CREATE INDEX outbox_channel_created ON outbox (channel, created_at);
