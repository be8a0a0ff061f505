DROP INDEX audit_log_actor_action;
DROP INDEX comments_open_threads;
DROP INDEX comments_author;
