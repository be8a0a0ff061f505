DROP INDEX email_preferences_mode;
DROP TABLE email_preferences;
