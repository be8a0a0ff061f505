DROP TABLE plan_readers;
