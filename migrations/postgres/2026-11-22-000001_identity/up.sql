-- People, how they sign in, what they may do.
CREATE TABLE users (
    id             TEXT PRIMARY KEY NOT NULL,
    login          TEXT NOT NULL,
    name           TEXT,
    email          TEXT,
    avatar_url     TEXT,
    created_at     TIMESTAMP NOT NULL,
    last_login_at  TIMESTAMP,
    deactivated_at TIMESTAMP
);
CREATE INDEX users_email ON users (email);
CREATE INDEX users_created ON users (created_at, id);

CREATE TABLE identities (
    provider   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX identities_user ON identities (user_id);

CREATE TABLE role_grants (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    origin     TEXT NOT NULL,
    granted_at TIMESTAMP NOT NULL,
    granted_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (user_id, role, origin)
);
CREATE INDEX role_grants_role ON role_grants (role);

CREATE TABLE group_mappings (
    group_name TEXT NOT NULL,
    role       TEXT NOT NULL,
    PRIMARY KEY (group_name, role)
);

CREATE TABLE web_sessions (
    key_hash     TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    data         TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    label        TEXT,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP,
    last_used_at TIMESTAMP,
    used_at      TIMESTAMP,
    revoked_at   TIMESTAMP
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, kind, created_at);
CREATE INDEX api_tokens_family ON api_tokens (family_id);
CREATE INDEX api_tokens_expiry ON api_tokens (expires_at);

CREATE TABLE device_grants (
    id               TEXT PRIMARY KEY NOT NULL,
    device_code_hash TEXT NOT NULL UNIQUE,
    user_code        TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    interval_secs    INTEGER NOT NULL,
    last_polled_at   TIMESTAMP,
    status           TEXT NOT NULL,
    user_id          TEXT REFERENCES users (id) ON DELETE CASCADE,
    decided_at       TIMESTAMP
);
CREATE INDEX device_grants_user_code ON device_grants (user_code, created_at);
CREATE INDEX device_grants_expiry ON device_grants (expires_at);
