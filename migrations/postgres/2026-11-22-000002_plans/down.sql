DROP TABLE plan_views;
DROP TABLE comments;
DROP TABLE versions;
DROP TABLE plans;
