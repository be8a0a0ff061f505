DROP TABLE rate_limits;
DROP TABLE job_leases;
DROP INDEX live_events_created;
DROP TABLE live_events;
DROP TABLE live_topics;
