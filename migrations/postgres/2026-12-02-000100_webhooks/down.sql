DROP INDEX outbox_channel_created;
DROP TABLE webhooks;
