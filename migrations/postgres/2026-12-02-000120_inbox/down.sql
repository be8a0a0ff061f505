DROP TABLE plan_follows;
DROP TABLE notifications;
