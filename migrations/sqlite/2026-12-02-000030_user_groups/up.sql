-- The identity-provider groups each user was last seen in (the OIDC `groups` claim at sign-in, or
-- SCIM group membership), so a group → role mapping change can re-reconcile signed-in users' `sso`
-- grants at once instead of at their next sign-in.
CREATE TABLE user_groups (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_name TEXT NOT NULL,
    PRIMARY KEY (user_id, group_name)
);
CREATE INDEX user_groups_group ON user_groups (group_name);
