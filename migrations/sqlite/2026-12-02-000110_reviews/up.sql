-- Sign-off per version: one row per plan and reviewer — the request (by whom, of which version,
-- optionally scoped to anchors, a JSON array) and the reviewer's latest decision on a version.
CREATE TABLE plan_reviews (
    plan_id           TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    reviewer_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    requested_by      TEXT NOT NULL,
    requested_version INTEGER NOT NULL,
    scope             TEXT NOT NULL,
    requested_at      TIMESTAMP NOT NULL,
    verdict           TEXT,
    verdict_version   INTEGER,
    verdict_comment   TEXT,
    decided_at        TIMESTAMP,
    PRIMARY KEY (plan_id, reviewer_id)
);
CREATE INDEX plan_reviews_reviewer ON plan_reviews (reviewer_id);
