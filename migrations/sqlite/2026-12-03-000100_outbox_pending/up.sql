-- The delivery worker claims the oldest due message (ORDER BY created_at, id LIMIT 1). Ordered by
-- due time first, the old index made every claim sort all due messages: with a backlog of
-- thousands (a push burst), each claim cost more than a push. Ordered by creation, a claim walks
-- from the oldest pending message and stops at the first due one; next_attempt_at is in the index
-- so that messages not yet due are skipped without reading their rows.
DROP INDEX outbox_due;
CREATE INDEX outbox_pending ON outbox (created_at, id, next_attempt_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;
