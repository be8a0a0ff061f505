DROP TABLE outbox;
DROP TABLE kv;
DROP TABLE audit_log;
