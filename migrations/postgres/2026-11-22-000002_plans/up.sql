-- Plans, their versions, comments and who looked at what.
CREATE TABLE plans (
    id              TEXT PRIMARY KEY NOT NULL,
    slug            TEXT NOT NULL,
    title           TEXT NOT NULL,
    owner_id        TEXT NOT NULL REFERENCES users (id),
    visibility      TEXT NOT NULL,
    current_version INTEGER NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    published_at    TIMESTAMP,
    archived_at     TIMESTAMP,
    deleted_at      TIMESTAMP
);
-- A slug belongs to at most one live plan; deleting a plan frees it.
CREATE UNIQUE INDEX plans_live_slug ON plans (slug) WHERE deleted_at IS NULL;
CREATE INDEX plans_updated ON plans (updated_at, id);
CREATE INDEX plans_owner ON plans (owner_id);

CREATE TABLE versions (
    plan_id   TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    number    INTEGER NOT NULL,
    title     TEXT NOT NULL,
    format    TEXT NOT NULL,
    source    TEXT,
    html      TEXT,
    sections  TEXT,
    changes   TEXT NOT NULL,
    pushed_by TEXT NOT NULL REFERENCES users (id),
    pushed_at TIMESTAMP NOT NULL,
    purged_at TIMESTAMP,
    PRIMARY KEY (plan_id, number)
);
CREATE INDEX versions_pushed ON versions (pushed_at) WHERE purged_at IS NULL;

CREATE TABLE comments (
    id           TEXT PRIMARY KEY NOT NULL,
    plan_id      TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    parent_id    TEXT REFERENCES comments (id) ON DELETE CASCADE,
    author_id    TEXT NOT NULL REFERENCES users (id),
    made_on      INTEGER NOT NULL,
    anchor       TEXT NOT NULL,
    quote_exact  TEXT,
    quote_prefix TEXT,
    quote_suffix TEXT,
    body         TEXT NOT NULL,
    state        TEXT NOT NULL,
    moved_to     TEXT,
    created_at   TIMESTAMP NOT NULL,
    edited_at    TIMESTAMP,
    deleted_at   TIMESTAMP,
    resolved_by  TEXT REFERENCES users (id),
    resolved_at  TIMESTAMP
);
CREATE INDEX comments_plan ON comments (plan_id, created_at, id);
CREATE INDEX comments_parent ON comments (parent_id);

CREATE TABLE plan_views (
    plan_id   TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version   INTEGER NOT NULL,
    viewed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (plan_id, user_id)
);
CREATE INDEX plan_views_user ON plan_views (user_id);
