DROP TABLE device_grants;
DROP TABLE api_tokens;
DROP TABLE web_sessions;
DROP TABLE group_mappings;
DROP TABLE role_grants;
DROP TABLE identities;
DROP TABLE users;
