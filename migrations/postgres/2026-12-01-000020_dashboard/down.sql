DROP INDEX comments_open_threads;
DROP INDEX comments_author;
