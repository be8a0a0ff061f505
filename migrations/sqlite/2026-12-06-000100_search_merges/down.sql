-- FTS5's defaults again: set through FTS5 (so that open connections read them again), then the
-- rows removed, as before the migration (a missing setting is its default).
INSERT INTO search_fts (search_fts, rank) VALUES ('automerge', 4);
INSERT INTO search_fts (search_fts, rank) VALUES ('crisismerge', 16);
DELETE FROM search_fts_config WHERE k IN ('automerge', 'crisismerge');
