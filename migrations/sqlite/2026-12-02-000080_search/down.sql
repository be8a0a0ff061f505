DROP TRIGGER search_entries_au;
DROP TRIGGER search_entries_ad;
DROP TRIGGER search_entries_ai;
DROP TABLE search_fts;
DROP INDEX search_entries_comment;
DROP INDEX search_entries_plan;
DROP TABLE search_entries;
