-- How a moved thread was found (quote, same_content, similar_content; NULL: rows moved before
-- this column existed, all by quote), and the version said to address a thread (X-Addresses).
ALTER TABLE comments ADD COLUMN moved_by TEXT;
ALTER TABLE comments ADD COLUMN addressed_in INTEGER;
