-- A version's HTML, source and section index as lists of content-addressed chunks of its plan (see
-- crates/store/src/repos/chunks.rs): a push that changes one section writes the chunks around the
-- change, not the whole document twice. Versions written before keep their texts in html/source/sections.
CREATE TABLE version_chunks (
    plan_id TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    hash    TEXT NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (plan_id, hash)
);
ALTER TABLE versions ADD COLUMN html_chunks TEXT;
ALTER TABLE versions ADD COLUMN source_chunks TEXT;
ALTER TABLE versions ADD COLUMN sections_chunks TEXT;
