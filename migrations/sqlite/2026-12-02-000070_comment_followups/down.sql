ALTER TABLE comments DROP COLUMN addressed_in;
ALTER TABLE comments DROP COLUMN moved_by;
