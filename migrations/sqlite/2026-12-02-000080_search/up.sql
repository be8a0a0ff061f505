-- Full-text search (crates/app/src/search.rs). One row per searchable entry of a plan's current
-- version (kind 'plan': its title and the text above its first section; 'section') and per live
-- comment ('comment'), written in the same transaction as the version or comment. Visibility is
-- not copied here: queries join `plans`.
CREATE TABLE search_entries (
    id         INTEGER PRIMARY KEY,
    plan_id    TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    anchor     TEXT,
    comment_id TEXT,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX search_entries_plan ON search_entries (plan_id, kind);
CREATE UNIQUE INDEX search_entries_comment ON search_entries (comment_id) WHERE comment_id IS NOT NULL;
-- FTS5 over it as an external-content table, kept in step by triggers.
CREATE VIRTUAL TABLE search_fts USING fts5 (
    title, body,
    content = 'search_entries', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER search_entries_ai AFTER INSERT ON search_entries BEGIN
    INSERT INTO search_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;
CREATE TRIGGER search_entries_ad AFTER DELETE ON search_entries BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;
CREATE TRIGGER search_entries_au AFTER UPDATE ON search_entries BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
    INSERT INTO search_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;
-- Comments are indexed here; plans' text needs the HTML parsed, so the server indexes plans
-- without entries at start-up (`Store::index_missing_plans`).
INSERT INTO search_entries (plan_id, kind, anchor, comment_id, title, body)
SELECT plan_id, 'comment', anchor, id, '', body FROM comments WHERE deleted_at IS NULL;
