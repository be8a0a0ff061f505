-- Versions stored as chunks get their text back whole before the chunks go.
UPDATE versions v SET html = COALESCE((
    SELECT string_agg(c.body, '' ORDER BY i)
    FROM generate_series(0, length(v.html_chunks) / 32 - 1) AS i
    JOIN version_chunks c ON c.plan_id = v.plan_id AND c.hash = substr(v.html_chunks, i * 32 + 1, 32)), '')
WHERE html_chunks IS NOT NULL;
UPDATE versions v SET source = COALESCE((
    SELECT string_agg(c.body, '' ORDER BY i)
    FROM generate_series(0, length(v.source_chunks) / 32 - 1) AS i
    JOIN version_chunks c ON c.plan_id = v.plan_id AND c.hash = substr(v.source_chunks, i * 32 + 1, 32)), '')
WHERE source_chunks IS NOT NULL;
UPDATE versions v SET sections = COALESCE((
    SELECT string_agg(c.body, '' ORDER BY i)
    FROM generate_series(0, length(v.sections_chunks) / 32 - 1) AS i
    JOIN version_chunks c ON c.plan_id = v.plan_id AND c.hash = substr(v.sections_chunks, i * 32 + 1, 32)), '')
WHERE sections_chunks IS NOT NULL;
ALTER TABLE versions DROP COLUMN sections_chunks;
ALTER TABLE versions DROP COLUMN source_chunks;
ALTER TABLE versions DROP COLUMN html_chunks;
DROP TABLE version_chunks;
