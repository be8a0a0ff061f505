-- The dashboard's Comments tab: threads a user wrote, newest first.
CREATE INDEX comments_author ON comments (author_id, created_at DESC, id DESC);
-- Open-comment counts for every plan in one scan of open threads only.
CREATE INDEX comments_open_threads ON comments (plan_id) WHERE parent_id IS NULL AND resolved_at IS NULL AND deleted_at IS NULL;
-- The audit log filtered by actor and action together (each alone has its own index).
CREATE INDEX audit_log_actor_action ON audit_log (actor_id, action, at DESC, id DESC);
