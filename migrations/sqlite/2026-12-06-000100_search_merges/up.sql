-- Push cost (issue 16): FTS5 merges its index's segments as it writes them, and with its defaults
-- (a level merged once it holds 4 segments) those merges were ~12% of the server's CPU per first
-- push of the 61 KB benchmark document (perf, 900 plans indexed): the merge work FTS5 does per
-- page it writes grows with the number of levels, which is the logarithm of the index's size in
-- the merge width. Merged 16 at a time, there are half as many levels. A reader then walks up to
-- 15 segments per level instead of 3 (docs/benchmarks.md, "Search", measures what that costs);
-- the forced merge of a level is moved from 16 to 64 segments so it does not come first.
-- PostgreSQL's GIN index has no such setting to change.
INSERT INTO search_fts (search_fts, rank) VALUES ('automerge', 16);
INSERT INTO search_fts (search_fts, rank) VALUES ('crisismerge', 64);
