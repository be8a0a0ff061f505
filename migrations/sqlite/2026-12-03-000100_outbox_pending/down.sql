DROP INDEX outbox_pending;
CREATE INDEX outbox_due ON outbox (next_attempt_at, created_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;
