-- Versions stored as chunks get their text back whole before the chunks go.
WITH RECURSIVE joined (plan_id, number, rest, acc) AS (
    SELECT plan_id, number, html_chunks, '' FROM versions WHERE html_chunks IS NOT NULL
    UNION ALL
    SELECT j.plan_id, j.number, substr(j.rest, 33), j.acc || (
        SELECT c.body FROM version_chunks c WHERE c.plan_id = j.plan_id AND c.hash = substr(j.rest, 1, 32))
    FROM joined j WHERE j.rest <> ''
)
UPDATE versions SET html = (
    SELECT acc FROM joined WHERE joined.plan_id = versions.plan_id AND joined.number = versions.number AND joined.rest = '')
WHERE html_chunks IS NOT NULL;
WITH RECURSIVE joined (plan_id, number, rest, acc) AS (
    SELECT plan_id, number, source_chunks, '' FROM versions WHERE source_chunks IS NOT NULL
    UNION ALL
    SELECT j.plan_id, j.number, substr(j.rest, 33), j.acc || (
        SELECT c.body FROM version_chunks c WHERE c.plan_id = j.plan_id AND c.hash = substr(j.rest, 1, 32))
    FROM joined j WHERE j.rest <> ''
)
UPDATE versions SET source = (
    SELECT acc FROM joined WHERE joined.plan_id = versions.plan_id AND joined.number = versions.number AND joined.rest = '')
WHERE source_chunks IS NOT NULL;
WITH RECURSIVE joined (plan_id, number, rest, acc) AS (
    SELECT plan_id, number, sections_chunks, '' FROM versions WHERE sections_chunks IS NOT NULL
    UNION ALL
    SELECT j.plan_id, j.number, substr(j.rest, 33), j.acc || (
        SELECT c.body FROM version_chunks c WHERE c.plan_id = j.plan_id AND c.hash = substr(j.rest, 1, 32))
    FROM joined j WHERE j.rest <> ''
)
UPDATE versions SET sections = (
    SELECT acc FROM joined WHERE joined.plan_id = versions.plan_id AND joined.number = versions.number AND joined.rest = '')
WHERE sections_chunks IS NOT NULL;
ALTER TABLE versions DROP COLUMN sections_chunks;
ALTER TABLE versions DROP COLUMN source_chunks;
ALTER TABLE versions DROP COLUMN html_chunks;
DROP TABLE version_chunks;
