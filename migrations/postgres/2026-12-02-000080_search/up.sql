-- Full-text search (crates/app/src/search.rs). One row per searchable entry of a plan's current
-- version (kind 'plan': its title and the text above its first section; 'section') and per live
-- comment ('comment'), written in the same transaction as the version or comment. Visibility is
-- not copied here: queries join `plans`. The `simple` configuration (no stemming, no stop words)
-- and the punctuation rule below match SQLite FTS5's unicode61 tokenizer, so both backends find the
-- same words.
CREATE TABLE search_entries (
    id         BIGSERIAL PRIMARY KEY,
    plan_id    TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    anchor     TEXT,
    comment_id TEXT,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    -- ASCII punctuation becomes a space first: PostgreSQL's parser would otherwise keep
    -- `/api/push`, `foo-bar` or `a.example` as single tokens and drop what is inside `<script>`,
    -- while FTS5 (and the query's terms) split on every non-alphanumeric character.
    tsv        tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', regexp_replace(title, '[[:space:]!-/:-@[-`{-~]+', ' ', 'g')), 'A') ||
        setweight(to_tsvector('simple', regexp_replace(body, '[[:space:]!-/:-@[-`{-~]+', ' ', 'g')), 'B')
    ) STORED
);
CREATE INDEX search_entries_plan ON search_entries (plan_id, kind);
CREATE UNIQUE INDEX search_entries_comment ON search_entries (comment_id) WHERE comment_id IS NOT NULL;
CREATE INDEX search_entries_tsv ON search_entries USING GIN (tsv);
-- Comments are indexed here; plans' text needs the HTML parsed, so the server indexes plans
-- without entries at start-up (`Store::index_missing_plans`).
INSERT INTO search_entries (plan_id, kind, anchor, comment_id, title, body)
SELECT plan_id, 'comment', anchor, id, '', body FROM comments WHERE deleted_at IS NULL;
