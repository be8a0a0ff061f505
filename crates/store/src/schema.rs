//! The one portable schema, shared by SQLite and PostgreSQL. UUIDs are text, times are UTC
//! `TIMESTAMP`s, JSON documents are text. Keep in step with `migrations/{sqlite,postgres}`.

diesel::table! {
    users (id) {
        id -> Text,
        login -> Text,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        created_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
        deactivated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    identities (provider, subject) {
        provider -> Text,
        subject -> Text,
        user_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    role_grants (user_id, role, origin) {
        user_id -> Text,
        role -> Text,
        origin -> Text,
        granted_at -> Timestamp,
        granted_by -> Nullable<Text>,
    }
}

diesel::table! {
    group_mappings (group_name, role) {
        group_name -> Text,
        role -> Text,
    }
}

diesel::table! {
    user_groups (user_id, group_name) {
        user_id -> Text,
        group_name -> Text,
    }
}

diesel::table! {
    web_sessions (key_hash) {
        key_hash -> Text,
        user_id -> Nullable<Text>,
        data -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        family_id -> Text,
        kind -> Text,
        token_hash -> Text,
        label -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    device_grants (id) {
        id -> Text,
        device_code_hash -> Text,
        user_code -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        interval_secs -> Integer,
        last_polled_at -> Nullable<Timestamp>,
        status -> Text,
        user_id -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    plans (id) {
        id -> Text,
        slug -> Text,
        title -> Text,
        owner_id -> Text,
        visibility -> Text,
        current_version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
        archived_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    versions (plan_id, number) {
        plan_id -> Text,
        number -> Integer,
        title -> Text,
        format -> Text,
        source -> Nullable<Text>,
        html -> Nullable<Text>,
        sections -> Nullable<Text>,
        changes -> Text,
        pushed_by -> Text,
        pushed_at -> Timestamp,
        purged_at -> Nullable<Timestamp>,
        html_chunks -> Nullable<Text>,
        source_chunks -> Nullable<Text>,
        sections_chunks -> Nullable<Text>,
    }
}

diesel::table! {
    version_chunks (plan_id, hash) {
        plan_id -> Text,
        hash -> Text,
        body -> Text,
    }
}

diesel::table! {
    comments (id) {
        id -> Text,
        plan_id -> Text,
        parent_id -> Nullable<Text>,
        author_id -> Text,
        made_on -> Integer,
        anchor -> Text,
        quote_exact -> Nullable<Text>,
        quote_prefix -> Nullable<Text>,
        quote_suffix -> Nullable<Text>,
        body -> Text,
        state -> Text,
        moved_to -> Nullable<Text>,
        created_at -> Timestamp,
        edited_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
        resolved_by -> Nullable<Text>,
        resolved_at -> Nullable<Timestamp>,
        moved_by -> Nullable<Text>,
        addressed_in -> Nullable<Integer>,
    }
}

diesel::table! {
    plan_views (plan_id, user_id) {
        plan_id -> Text,
        user_id -> Text,
        version -> Integer,
        viewed_at -> Timestamp,
    }
}

diesel::table! {
    plan_reviews (plan_id, reviewer_id) {
        plan_id -> Text,
        reviewer_id -> Text,
        requested_by -> Text,
        requested_version -> Integer,
        scope -> Text,
        requested_at -> Timestamp,
        verdict -> Nullable<Text>,
        verdict_version -> Nullable<Integer>,
        verdict_comment -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    plan_readers (reader_id) {
        reader_id -> Text,
        plan_id -> Text,
        user_id -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        action -> Text,
        target -> Nullable<Text>,
        ip -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    kv (key) {
        key -> Text,
        value -> Binary,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        channel -> Text,
        payload -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        gave_up_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(identities -> users (user_id));
diesel::joinable!(user_groups -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(plans -> users (owner_id));
diesel::joinable!(versions -> plans (plan_id));
diesel::joinable!(comments -> plans (plan_id));
diesel::joinable!(plan_views -> plans (plan_id));
diesel::joinable!(plan_reviews -> plans (plan_id));
diesel::joinable!(plan_readers -> plans (plan_id));

diesel::table! {
    notifications (id) {
        id -> Text,
        recipient_id -> Text,
        kind -> Text,
        plan_id -> Text,
        comment_id -> Nullable<Text>,
        version -> Nullable<Integer>,
        actor_id -> Nullable<Text>,
        excerpt -> Text,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    plan_follows (user_id, plan_id) {
        user_id -> Text,
        plan_id -> Text,
        state -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(notifications -> plans (plan_id));
diesel::joinable!(plan_follows -> plans (plan_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    identities,
    role_grants,
    group_mappings,
    user_groups,
    web_sessions,
    api_tokens,
    device_grants,
    plans,
    versions,
    comments,
    plan_views,
    plan_reviews,
    plan_readers,
    notifications,
    plan_follows,
    audit_log,
    kv,
    outbox,
);

diesel::table! {
    scim_users (user_id) {
        user_id -> Text,
        user_name -> Text,
        user_name_key -> Text,
        external_id -> Nullable<Text>,
        resource -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    scim_groups (id) {
        id -> Text,
        display_name -> Text,
        display_name_key -> Text,
        external_id -> Nullable<Text>,
        resource -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    scim_group_members (group_id, user_id) {
        group_id -> Text,
        user_id -> Text,
        position -> BigInt,
    }
}

diesel::table! {
    search_entries (id) {
        id -> BigInt,
        plan_id -> Text,
        kind -> Text,
        anchor -> Nullable<Text>,
        comment_id -> Nullable<Text>,
        title -> Text,
        body -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(plans, search_entries);

diesel::table! {
    webhooks (id) {
        id -> Text,
        url -> Text,
        events -> Text,
        sealed_secret -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    email_preferences (user_id) {
        user_id -> Text,
        mode -> Text,
        last_digest_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}
