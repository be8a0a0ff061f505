//! Table-driven tests of `Config::from_vars`; they never touch the process environment.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const KEY: &str = "0123456789abcdef0123456789abcdef";
const SCIM: &str = "scim-token-0123456789abcdef-0123456789";

/// A minimal valid GitHub configuration.
fn base() -> HashMap<String, String> {
    [
        ("SECRET_KEY", KEY),
        ("BASE_URL", "https://plans.example.com/"),
        ("GITHUB_CLIENT_ID", "Iv1.abc"),
        ("GITHUB_CLIENT_SECRET", "gh-secret-value"),
        ("GITHUB_ORG", "acme"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Loads `base()` with `overrides` applied (an override of `""` unsets, like an empty variable does).
fn load(overrides: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut vars = base();
    for &(k, v) in overrides {
        vars.insert(k.to_owned(), v.to_owned());
    }
    Config::from_vars(|k| vars.get(k).cloned())
}

fn ok(overrides: &[(&str, &str)]) -> Config {
    load(overrides).unwrap_or_else(|e| panic!("{overrides:?} should load, got: {e}"))
}

const OKTA: &[(&str, &str)] = &[
    ("AUTH_PROVIDER", "okta"),
    ("OKTA_ISSUER", "https://acme.okta.com/oauth2/default"),
    ("OKTA_CLIENT_ID", "0oa123"),
    ("OKTA_CLIENT_SECRET", "okta-secret-value"),
];
const DEV: &[(&str, &str)] = &[
    ("AUTH_PROVIDER", "dev"),
    ("BIND_ADDR", "127.0.0.1"),
    ("BASE_URL", "http://localhost:3000"),
];

fn with<'a>(
    preset: &[(&'a str, &'a str)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    preset.iter().chain(extra).copied().collect()
}

#[test]
fn defaults() {
    let c = ok(&[]);
    assert_eq!(c.secret_key.expose(), KEY);
    assert_eq!(c.base_url.as_str(), "https://plans.example.com");
    assert!(c.cookie_secure);
    assert_eq!(c.auth_provider(), AuthProvider::Github);
    let AuthConfig::Github(gh) = &c.auth else {
        panic!("expected github, got {:?}", c.auth)
    };
    assert_eq!(gh.client_id, "Iv1.abc");
    assert_eq!(gh.client_secret.expose(), "gh-secret-value");
    assert_eq!(gh.org, "acme");
    assert_eq!(gh.url.as_str(), "https://github.com");
    assert_eq!(gh.api_url.as_str(), "https://api.github.com");
    assert!(c.initial_admin_emails.is_empty());
    assert_eq!(c.post_logout_redirect_uri, "https://plans.example.com");
    assert_eq!(c.session_idle_timeout, Duration::from_secs(28_800));
    assert_eq!(c.session_max_age, Duration::from_secs(604_800));
    assert!(c.scim_auth_token.is_none());
    assert_eq!(c.bind_addr, IpAddr::from([0, 0, 0, 0]));
    assert_eq!(c.port, 3000);
    assert_eq!(c.socket_addr().to_string(), "0.0.0.0:3000");
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(
        c.database,
        DatabaseUrl::Sqlite(PathBuf::from("./data/planpush.db"))
    );
    assert!(c.slack_webhook_url.is_none());
    assert!(c.trusted_proxies.is_empty());
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.version_retention_days, 90);
    assert!(!c.allow_remote_images);
}

#[test]
fn every_value_set() {
    let c = ok(&[
        ("BASE_URL", "  http://Plans.Example.com:8080/team//  "),
        ("GITHUB_URL", "https://ghe.example.com/"),
        ("GITHUB_API_URL", "https://ghe.example.com/api/v3/"),
        (
            "INITIAL_ADMIN_EMAILS",
            " Ann@Example.com, ,bob@example.com,ann@example.com,",
        ),
        (
            "POST_LOGOUT_REDIRECT_URI",
            "https://plans.example.com/bye?x=1",
        ),
        ("SESSION_IDLE_TIMEOUT", "60"),
        ("SESSION_MAX_AGE", "60"),
        ("SCIM_AUTH_TOKEN", SCIM),
        ("PORT", "8443"),
        ("BIND_ADDR", "[::1]"),
        ("DATA_DIR", "/var/lib/planpush"),
        ("DATABASE_URL", "postgresql://app:pw@db/planpush"),
        (
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T/B/X",
        ),
        ("TRUSTED_PROXIES", "10.0.0.0/8, ::1/128"),
        ("LOG_FORMAT", "JSON"),
        ("VERSION_RETENTION_DAYS", "1"),
        ("ALLOW_REMOTE_IMAGES", "Yes"),
    ]);
    assert_eq!(c.base_url.as_str(), "http://plans.example.com:8080/team");
    assert_eq!(
        c.base_url.join("/auth/login"),
        "http://plans.example.com:8080/team/auth/login"
    );
    assert!(!c.cookie_secure);
    let AuthConfig::Github(gh) = &c.auth else {
        panic!("expected github")
    };
    assert_eq!(gh.url.as_str(), "https://ghe.example.com");
    assert_eq!(
        gh.api_url.join("user"),
        "https://ghe.example.com/api/v3/user"
    );
    assert_eq!(
        c.initial_admin_emails,
        ["ann@example.com", "bob@example.com"]
    );
    assert_eq!(
        c.post_logout_redirect_uri,
        "https://plans.example.com/bye?x=1"
    );
    assert_eq!(c.session_idle_timeout, c.session_max_age);
    assert_eq!(
        c.scim_auth_token.as_ref().map(|t| t.expose().as_str()),
        Some(SCIM)
    );
    assert_eq!(c.socket_addr().to_string(), "[::1]:8443");
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/planpush"));
    assert_eq!(
        c.database,
        DatabaseUrl::Postgres("postgresql://app:pw@db/planpush".into())
    );
    assert_eq!(
        c.slack_webhook_url.as_ref().map(|u| u.expose().as_str()),
        Some("https://hooks.slack.com/services/T/B/X")
    );
    assert!(c.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
    assert!(c.trusted_proxies.contains("::1".parse().unwrap()));
    assert!(!c.trusted_proxies.contains("192.168.0.1".parse().unwrap()));
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.version_retention_days, 1);
    assert!(c.allow_remote_images);
}

#[test]
fn okta_and_dev_providers_load() {
    let c = ok(&with(
        OKTA,
        &[("GITHUB_CLIENT_ID", ""), ("GITHUB_URL", "not a url")],
    ));
    let AuthConfig::Okta(okta) = &c.auth else {
        panic!("expected okta, got {:?}", c.auth)
    };
    assert_eq!(okta.issuer, "https://acme.okta.com/oauth2/default");
    assert_eq!(
        okta.discovery_url(),
        "https://acme.okta.com/oauth2/default/.well-known/openid-configuration"
    );
    assert_eq!(okta.client_id, "0oa123");
    assert_eq!(okta.client_secret.expose(), "okta-secret-value");

    let c = ok(&with(OKTA, &[("OKTA_ISSUER", "http://127.0.0.1:9999/")]));
    let AuthConfig::Okta(okta) = &c.auth else {
        panic!("expected okta")
    };
    assert_eq!(
        okta.issuer, "http://127.0.0.1:9999/",
        "issuer kept exactly as written"
    );

    let c = ok(&with(DEV, &[("GITHUB_ORG", "")]));
    assert_eq!(c.auth_provider(), AuthProvider::Dev);
    assert!(!c.cookie_secure);
}

#[test]
fn dev_provider_requires_loopback_bind_and_base_url() {
    // (BIND_ADDR, BASE_URL, accepted?, expected text in the message)
    let cases = [
        ("127.0.0.1", "http://localhost:3000", true, ""),
        ("127.1.2.3", "http://127.0.0.1:3000", true, ""),
        ("::1", "http://[::1]:3000", true, ""),
        ("127.0.0.1", "https://LOCALHOST", true, ""),
        (
            "0.0.0.0",
            "http://localhost:3000",
            false,
            "(got BIND_ADDR=0.0.0.0)",
        ),
        (
            "",
            "http://localhost:3000",
            false,
            "(got BIND_ADDR=0.0.0.0)",
        ),
        ("::", "http://localhost:3000", false, "(got BIND_ADDR=::)"),
        (
            "192.168.1.10",
            "http://localhost",
            false,
            "(got BIND_ADDR=192.168.1.10)",
        ),
        (
            "127.0.0.1",
            "https://plans.example.com",
            false,
            "(got BASE_URL=https://plans.example.com)",
        ),
        (
            "127.0.0.1",
            "http://localhost.example.com",
            false,
            "BASE_URL=http://localhost.example.com",
        ),
        ("127.0.0.1", "http://[::2]", false, "BASE_URL=http://[::2]"),
        (
            "10.0.0.1",
            "https://x.example",
            false,
            "(got BIND_ADDR=10.0.0.1, BASE_URL=https://x.example)",
        ),
    ];
    for (bind, base_url, accepted, want) in cases {
        let result = load(&[
            ("AUTH_PROVIDER", "dev"),
            ("BIND_ADDR", bind),
            ("BASE_URL", base_url),
        ]);
        match result {
            Ok(c) => {
                assert!(accepted, "{bind} {base_url} should be refused");
                assert_eq!(c.auth_provider(), AuthProvider::Dev);
            }
            Err(e) => {
                assert!(!accepted, "{bind} {base_url} should load, got: {e}");
                assert_eq!(e.var, "AUTH_PROVIDER");
                let line = e.to_string();
                assert!(
                    line.starts_with(
                        "AUTH_PROVIDER: dev sign-in is only allowed when BIND_ADDR and BASE_URL are loopback"
                    ),
                    "{line}"
                );
                assert!(line.contains(want), "{line} should contain {want}");
            }
        }
    }
}

/// (overrides, variable reported, text expected in the message)
type BadCase<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

#[test]
fn bad_values_name_the_variable_on_one_line() {
    let cases: &[BadCase<'_>] = &[
        // SECRET_KEY
        (&[("SECRET_KEY", "")], "SECRET_KEY", "is required"),
        (&[("SECRET_KEY", "   ")], "SECRET_KEY", "is required"),
        (
            &[("SECRET_KEY", "short-secret")],
            "SECRET_KEY",
            "must be at least 32 characters (got 12)",
        ),
        // BASE_URL
        (&[("BASE_URL", "")], "BASE_URL", "is required"),
        (
            &[("BASE_URL", "plans.example.com")],
            "BASE_URL",
            "not a valid absolute URL",
        ),
        (
            &[("BASE_URL", "localhost:3000")],
            "BASE_URL",
            "must be an http:// or https:// URL (got scheme \"localhost\")",
        ),
        (
            &[("BASE_URL", "ftp://plans.example.com")],
            "BASE_URL",
            "got scheme \"ftp\"",
        ),
        (
            &[("BASE_URL", "https://plans.example.com/?a=1")],
            "BASE_URL",
            "query",
        ),
        (
            &[("BASE_URL", "https://plans.example.com/#top")],
            "BASE_URL",
            "fragment",
        ),
        (
            &[("BASE_URL", "https://u:p@plans.example.com")],
            "BASE_URL",
            "user name or password",
        ),
        (
            &[("BASE_URL", "https://exa mple.com")],
            "BASE_URL",
            "not a valid absolute URL",
        ),
        // AUTH_PROVIDER
        (
            &[("AUTH_PROVIDER", "gitlab")],
            "AUTH_PROVIDER",
            "unknown provider \"gitlab\" (accepted: github, okta, dev)",
        ),
        // GITHUB_*
        (
            &[("GITHUB_CLIENT_ID", "")],
            "GITHUB_CLIENT_ID",
            "is required when AUTH_PROVIDER=github",
        ),
        (
            &[("GITHUB_CLIENT_SECRET", "")],
            "GITHUB_CLIENT_SECRET",
            "is required when AUTH_PROVIDER=github",
        ),
        (
            &[("GITHUB_ORG", "")],
            "GITHUB_ORG",
            "is required when AUTH_PROVIDER=github",
        ),
        (
            &[("GITHUB_ORG", "https://github.com/acme")],
            "GITHUB_ORG",
            "organisation login",
        ),
        (
            &[("GITHUB_URL", "github.com")],
            "GITHUB_URL",
            "not a valid absolute URL",
        ),
        (
            &[("GITHUB_URL", "http://ghe.example.com")],
            "GITHUB_URL",
            "must use https://",
        ),
        (
            &[("GITHUB_API_URL", "https://api.github.com/?x")],
            "GITHUB_API_URL",
            "query",
        ),
        (
            &[("GITHUB_API_URL", "file:///etc/passwd")],
            "GITHUB_API_URL",
            "must be an https:// URL",
        ),
        // OKTA_*
        (
            &[("AUTH_PROVIDER", "okta"), ("OKTA_ISSUER", "")],
            "OKTA_ISSUER",
            "is required when AUTH_PROVIDER=okta",
        ),
        // INITIAL_ADMIN_EMAILS
        (
            &[("INITIAL_ADMIN_EMAILS", "ann@example.com,bob")],
            "INITIAL_ADMIN_EMAILS",
            "\"bob\" is not an e-mail address",
        ),
        (
            &[("INITIAL_ADMIN_EMAILS", "@example.com")],
            "INITIAL_ADMIN_EMAILS",
            "not an e-mail address",
        ),
        (
            &[("INITIAL_ADMIN_EMAILS", "ann@")],
            "INITIAL_ADMIN_EMAILS",
            "not an e-mail address",
        ),
        (
            &[("INITIAL_ADMIN_EMAILS", "a@b@c")],
            "INITIAL_ADMIN_EMAILS",
            "not an e-mail address",
        ),
        (
            &[("INITIAL_ADMIN_EMAILS", "ann smith@example.com")],
            "INITIAL_ADMIN_EMAILS",
            "not an e-mail address",
        ),
        // POST_LOGOUT_REDIRECT_URI
        (
            &[("POST_LOGOUT_REDIRECT_URI", "/logged-out")],
            "POST_LOGOUT_REDIRECT_URI",
            "not a valid absolute URL",
        ),
        (
            &[("POST_LOGOUT_REDIRECT_URI", "javascript:alert(1)")],
            "POST_LOGOUT_REDIRECT_URI",
            "got scheme",
        ),
        (
            &[("POST_LOGOUT_REDIRECT_URI", "https://x.example/#f")],
            "POST_LOGOUT_REDIRECT_URI",
            "fragment",
        ),
        // SESSION_*
        (
            &[("SESSION_IDLE_TIMEOUT", "0")],
            "SESSION_IDLE_TIMEOUT",
            "positive whole number of seconds (got \"0\")",
        ),
        (
            &[("SESSION_IDLE_TIMEOUT", "8h")],
            "SESSION_IDLE_TIMEOUT",
            "positive whole number of seconds",
        ),
        (
            &[("SESSION_IDLE_TIMEOUT", "-5")],
            "SESSION_IDLE_TIMEOUT",
            "positive whole number of seconds",
        ),
        (
            &[("SESSION_MAX_AGE", "1.5")],
            "SESSION_MAX_AGE",
            "positive whole number of seconds",
        ),
        (
            &[("SESSION_MAX_AGE", "999999999999")],
            "SESSION_MAX_AGE",
            "at most 315360000 seconds",
        ),
        (
            &[("SESSION_MAX_AGE", "99999999999999999999999")],
            "SESSION_MAX_AGE",
            "positive whole number",
        ),
        (
            &[
                ("SESSION_IDLE_TIMEOUT", "7200"),
                ("SESSION_MAX_AGE", "3600"),
            ],
            "SESSION_IDLE_TIMEOUT",
            "must not be longer than SESSION_MAX_AGE (7200 > 3600 seconds)",
        ),
        (
            &[("SESSION_MAX_AGE", "3600")],
            "SESSION_IDLE_TIMEOUT",
            "must not be longer than SESSION_MAX_AGE",
        ),
        // SCIM_AUTH_TOKEN
        (
            &[("SCIM_AUTH_TOKEN", "tooshort")],
            "SCIM_AUTH_TOKEN",
            "must be at least 32 characters (got 8)",
        ),
        (
            &[("SCIM_AUTH_TOKEN", "scim token with spaces 0123456789abcdef")],
            "SCIM_AUTH_TOKEN",
            "may contain only letters, digits and - . _ ~ + / = (it is sent as a bearer token)",
        ),
        // PORT
        (&[("PORT", "0")], "PORT", "from 1 to 65535 (got \"0\")"),
        (&[("PORT", "65536")], "PORT", "from 1 to 65535"),
        (&[("PORT", "http")], "PORT", "from 1 to 65535"),
        (&[("PORT", "+80")], "PORT", "from 1 to 65535"),
        // BIND_ADDR
        (
            &[("BIND_ADDR", "localhost")],
            "BIND_ADDR",
            "must be an IP address",
        ),
        (
            &[("BIND_ADDR", "0.0.0.0:3000")],
            "BIND_ADDR",
            "must be an IP address",
        ),
        // DATABASE_URL
        (
            &[("DATABASE_URL", "mysql://root:pw@db/x")],
            "DATABASE_URL",
            "unsupported scheme \"mysql:\" (accepted: postgres://",
        ),
        (
            &[("DATABASE_URL", "sqlite://")],
            "DATABASE_URL",
            "needs a file path",
        ),
        (
            &[("DATABASE_URL", "postgres://u@[oops/db")],
            "DATABASE_URL",
            "not a valid PostgreSQL URL",
        ),
        // SLACK_WEBHOOK_URL
        (
            &[("SLACK_WEBHOOK_URL", "http://hooks.slack.com/services/T/B/X")],
            "SLACK_WEBHOOK_URL",
            "must use https://",
        ),
        (
            &[("SLACK_WEBHOOK_URL", "hooks.slack.com/services/T/B/X")],
            "SLACK_WEBHOOK_URL",
            "not a valid absolute URL",
        ),
        (
            &[("SLACK_WEBHOOK_URL", "ftp://hooks.slack.com/x")],
            "SLACK_WEBHOOK_URL",
            "must be an https:// URL",
        ),
        // TEAMS_WEBHOOK_URL, DISCORD_WEBHOOK_URL: the same rule as Slack's
        (
            &[("TEAMS_WEBHOOK_URL", "http://example.webhook.office.com/x")],
            "TEAMS_WEBHOOK_URL",
            "must use https://",
        ),
        (
            &[("DISCORD_WEBHOOK_URL", "discord.com/api/webhooks/1/x")],
            "DISCORD_WEBHOOK_URL",
            "not a valid absolute URL",
        ),
        // delivery tuning
        (
            &[("SLACK_TIMEOUT_MS", "50")],
            "SLACK_TIMEOUT_MS",
            "must be a whole number of milliseconds from 100 to 60000 (got \"50\")",
        ),
        (
            &[("OUTBOX_POLL_INTERVAL_MS", "1s")],
            "OUTBOX_POLL_INTERVAL_MS",
            "must be a whole number of milliseconds from 10 to 3600000",
        ),
        (
            &[("OUTBOX_RETRY_BASE_MS", "0")],
            "OUTBOX_RETRY_BASE_MS",
            "must be a whole number of milliseconds from 10 to 3600000",
        ),
        // TRUSTED_PROXIES
        (
            &[("TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")],
            "TRUSTED_PROXIES",
            "\"proxy.internal\" is not an IP address or CIDR range",
        ),
        (
            &[("TRUSTED_PROXIES", "10.0.0.1/8")],
            "TRUSTED_PROXIES",
            "did you mean 10.0.0.0/8?",
        ),
        (
            &[("TRUSTED_PROXIES", "::1/200")],
            "TRUSTED_PROXIES",
            "longer than 128",
        ),
        // LOG_FORMAT
        (
            &[("LOG_FORMAT", "xml")],
            "LOG_FORMAT",
            "unknown format \"xml\" (accepted: text, json)",
        ),
        // VERSION_RETENTION_DAYS
        (
            &[("VERSION_RETENTION_DAYS", "0")],
            "VERSION_RETENTION_DAYS",
            "at least 1 (got \"0\")",
        ),
        (
            &[("VERSION_RETENTION_DAYS", "ninety")],
            "VERSION_RETENTION_DAYS",
            "whole number of days",
        ),
        (
            &[("VERSION_RETENTION_DAYS", "4294967296")],
            "VERSION_RETENTION_DAYS",
            "whole number of days",
        ),
        // ALLOW_REMOTE_IMAGES
        (
            &[("ALLOW_REMOTE_IMAGES", "maybe")],
            "ALLOW_REMOTE_IMAGES",
            "one of true, false, 1, 0, yes, no (got \"maybe\")",
        ),
        // Multi-line values are escaped, so the message stays on one line.
        (&[("PORT", "80\n81")], "PORT", "(got \"80\\n81\")"),
    ];
    assert_bad(&[], cases);

    // Okta's variables, on top of an otherwise valid Okta configuration.
    let okta_cases: &[BadCase<'_>] = &[
        (
            &[("OKTA_ISSUER", "http://acme.okta.com")],
            "OKTA_ISSUER",
            "must use https://",
        ),
        (
            &[("OKTA_ISSUER", "https://acme.okta.com?x=1")],
            "OKTA_ISSUER",
            "query",
        ),
        (
            &[("OKTA_ISSUER", "acme.okta.com")],
            "OKTA_ISSUER",
            "not a valid absolute URL",
        ),
        (
            &[("OKTA_ISSUER", "https://u:p@acme.okta.com")],
            "OKTA_ISSUER",
            "user name or password",
        ),
        (
            &[("OKTA_CLIENT_ID", "")],
            "OKTA_CLIENT_ID",
            "is required when AUTH_PROVIDER=okta",
        ),
        (
            &[("OKTA_CLIENT_SECRET", "")],
            "OKTA_CLIENT_SECRET",
            "is required when AUTH_PROVIDER=okta",
        ),
    ];
    assert_bad(OKTA, okta_cases);
}

/// Asserts each case is refused, naming the expected variable, on one line.
fn assert_bad(preset: &[(&str, &str)], cases: &[BadCase<'_>]) {
    for &(extra, var, want) in cases {
        let overrides = with(preset, extra);
        let err = match load(&overrides) {
            Ok(_) => panic!("{overrides:?} should be refused"),
            Err(e) => e,
        };
        let line = err.to_string();
        assert_eq!(err.var, var, "{overrides:?} reported {line}");
        assert!(line.starts_with(&format!("{var}: ")), "{line}");
        assert!(
            line.contains(want),
            "{overrides:?}: {line:?} should contain {want:?}"
        );
        assert!(!line.contains(['\n', '\r']), "not one line: {line:?}");
    }
}

#[test]
fn secrets_never_appear_in_errors_or_debug() {
    let err = load(&[("SECRET_KEY", "hunter2hunter2")]).unwrap_err();
    assert!(!err.to_string().contains("hunter2"));
    let err = load(&[(
        "SLACK_WEBHOOK_URL",
        "http://hooks.slack.com/services/T/B/hunter2",
    )])
    .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = load(&[("DATABASE_URL", "mysql://root:hunter2@db/x")]).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let c = ok(&[
        ("SECRET_KEY", "hunter2-hunter2-hunter2-hunter2-hunter2"),
        ("GITHUB_CLIENT_SECRET", "hunter2"),
        ("SCIM_AUTH_TOKEN", "hunter2-hunter2-hunter2-hunter2-hunter2"),
        ("DATABASE_URL", "postgres://app:hunter2@db/planpush"),
        (
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T/B/hunter2",
        ),
        ("TEAMS_WEBHOOK_URL", "https://example.com/teams/hunter2"),
        (
            "DISCORD_WEBHOOK_URL",
            "https://discord.com/api/webhooks/1/hunter2",
        ),
    ]);
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("Secret(<redacted>)"));
    let okta = ok(&with(OKTA, &[("OKTA_CLIENT_SECRET", "hunter2")]));
    assert!(!format!("{okta:?}").contains("hunter2"));
}

#[test]
fn loopback_http_is_allowed_for_fakes() {
    let c = ok(&[
        ("GITHUB_URL", "http://127.0.0.1:4000"),
        ("GITHUB_API_URL", "http://localhost:4000/api/v3"),
        ("SLACK_WEBHOOK_URL", "http://[::1]:4001/hook"),
        ("TEAMS_WEBHOOK_URL", "http://127.0.0.1:4002/teams"),
        (
            "DISCORD_WEBHOOK_URL",
            "https://discord.com/api/webhooks/1/x",
        ),
    ]);
    let AuthConfig::Github(gh) = &c.auth else {
        panic!("expected github")
    };
    assert_eq!(gh.url.as_str(), "http://127.0.0.1:4000");
    assert_eq!(gh.api_url.as_str(), "http://localhost:4000/api/v3");
    assert!(c.slack_webhook_url.is_some());
    assert_eq!(
        c.teams_webhook_url.as_ref().map(|u| u.expose().as_str()),
        Some("http://127.0.0.1:4002/teams")
    );
    assert_eq!(
        c.discord_webhook_url.as_ref().map(|u| u.expose().as_str()),
        Some("https://discord.com/api/webhooks/1/x")
    );
}

#[test]
fn delivery_tuning_defaults_and_overrides() {
    let c = ok(&[]);
    assert_eq!(
        c.outbox,
        OutboxConfig {
            slack_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            retry_base: Duration::from_secs(5),
            burst_window: Duration::from_secs(30),
            resolve_window: Duration::from_secs(600),
        }
    );
    assert_eq!(c.outbox.lease(), Duration::from_secs(20));
    assert_eq!(
        ok(&[("NOTIFY_BURST_WINDOW_MS", "0")]).outbox.burst_window,
        Duration::ZERO
    );
    assert_eq!(
        ok(&[("NOTIFY_RESOLVE_WINDOW_MS", "0")])
            .outbox
            .resolve_window,
        Duration::ZERO
    );
    assert!(
        load(&[("NOTIFY_RESOLVE_WINDOW_MS", "86400001")])
            .unwrap_err()
            .to_string()
            .starts_with("NOTIFY_RESOLVE_WINDOW_MS")
    );
    assert!(
        load(&[("NOTIFY_BURST_WINDOW_MS", "soon")])
            .unwrap_err()
            .to_string()
            .starts_with("NOTIFY_BURST_WINDOW_MS: must be a whole number of milliseconds")
    );
    let c = ok(&[
        ("SLACK_TIMEOUT_MS", "300"),
        ("OUTBOX_POLL_INTERVAL_MS", "50"),
        ("OUTBOX_RETRY_BASE_MS", "200"),
    ]);
    assert_eq!(
        (
            c.outbox.slack_timeout,
            c.outbox.poll_interval,
            c.outbox.retry_base
        ),
        (
            Duration::from_millis(300),
            Duration::from_millis(50),
            Duration::from_millis(200)
        )
    );
    assert_eq!(
        c.outbox.lease(),
        Duration::from_secs(1),
        "at least a second"
    );
}

#[test]
fn database_url_forms() {
    let cases = [
        (
            "",
            "/srv/pp",
            DatabaseUrl::Sqlite(PathBuf::from("/srv/pp/planpush.db")),
        ),
        (
            "sqlite:///tmp/x.db",
            "",
            DatabaseUrl::Sqlite(PathBuf::from("/tmp/x.db")),
        ),
        (
            "data/x.db",
            "",
            DatabaseUrl::Sqlite(PathBuf::from("data/x.db")),
        ),
        (
            "postgres://db/pp",
            "",
            DatabaseUrl::Postgres("postgres://db/pp".into()),
        ),
    ];
    for (url, dir, want) in cases {
        let c = ok(&[("DATABASE_URL", url), ("DATA_DIR", dir)]);
        assert_eq!(c.database, want, "DATABASE_URL={url:?} DATA_DIR={dir:?}");
    }
}

#[test]
fn booleans() {
    for (raw, want) in [
        ("true", true),
        ("1", true),
        ("YES", true),
        ("false", false),
        ("0", false),
        ("No", false),
        ("", false),
    ] {
        assert_eq!(
            ok(&[("ALLOW_REMOTE_IMAGES", raw)]).allow_remote_images,
            want,
            "{raw}"
        );
    }
}

#[test]
fn first_problem_in_validation_order_is_reported() {
    let err = Config::from_vars(|_| None).unwrap_err();
    assert_eq!(err.to_string().split(':').next(), Some("SECRET_KEY"));
    let err = load(&[("BASE_URL", ""), ("PORT", "0")]).unwrap_err();
    assert_eq!(err.var, "BASE_URL");
}

#[test]
fn docs_and_env_example_list_every_variable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let env_example = std::fs::read_to_string(root.join(".env.example")).unwrap();
    let docs = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
    for var in VARIABLES {
        assert!(
            env_example.lines().any(|l| l
                .trim_start_matches(['#', ' '])
                .starts_with(&format!("{var}="))),
            ".env.example lacks {var}"
        );
        assert!(
            docs.contains(&format!("| `{var}` |")),
            "docs/configuration.md lacks a row for {var}"
        );
    }
}

#[test]
fn documented_example_messages_are_exact() {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .unwrap();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("SECRET_KEY", "short-secret")],
            "SECRET_KEY: must be at least 32 characters (got 12)",
        ),
        (
            &[("BASE_URL", "")],
            "BASE_URL: is required (the public URL of this server, e.g. https://plans.example.com)",
        ),
        (
            &[("AUTH_PROVIDER", "gitlab")],
            "AUTH_PROVIDER: unknown provider \"gitlab\" (accepted: github, okta, dev)",
        ),
        (
            &[("GITHUB_ORG", "")],
            "GITHUB_ORG: is required when AUTH_PROVIDER=github",
        ),
        (
            &[
                ("AUTH_PROVIDER", "okta"),
                ("OKTA_ISSUER", "http://acme.okta.com"),
                ("OKTA_CLIENT_ID", "a"),
                ("OKTA_CLIENT_SECRET", "b"),
            ],
            "OKTA_ISSUER: must use https:// (plain http:// is only allowed for loopback hosts such as localhost) (got host \"acme.okta.com\")",
        ),
        (
            &[
                ("SESSION_IDLE_TIMEOUT", "7200"),
                ("SESSION_MAX_AGE", "3600"),
            ],
            "SESSION_IDLE_TIMEOUT: must not be longer than SESSION_MAX_AGE (7200 > 3600 seconds)",
        ),
        (
            &[("DATABASE_URL", "mysql://root:pw@db/x")],
            "DATABASE_URL: unsupported scheme \"mysql:\" (accepted: postgres://…, postgresql://…, sqlite://PATH or a plain file path)",
        ),
        (
            &[("TRUSTED_PROXIES", "10.0.0.1/8")],
            "TRUSTED_PROXIES: \"10.0.0.1/8\": has host bits set (did you mean 10.0.0.0/8?)",
        ),
        (
            &[
                ("AUTH_PROVIDER", "dev"),
                ("BASE_URL", "http://localhost:3000"),
            ],
            "AUTH_PROVIDER: dev sign-in is only allowed when BIND_ADDR and BASE_URL are loopback (got BIND_ADDR=0.0.0.0)",
        ),
    ];
    for &(overrides, line) in cases {
        let err = load(overrides).unwrap_err();
        assert_eq!(err.to_string(), line);
        assert!(
            docs.lines().any(|l| l == line),
            "docs/configuration.md should show: {line}"
        );
    }
}

#[test]
fn default_visibility_is_published_unless_the_instance_chooses_private() {
    use planpush_plans::Visibility;
    assert_eq!(ok(&[]).default_visibility, Visibility::Published);
    for (raw, want) in [
        ("private", Visibility::Private),
        ("Private", Visibility::Private),
        ("published", Visibility::Published),
        ("public", Visibility::Published),
        (" ", Visibility::Published),
    ] {
        assert_eq!(
            ok(&[("DEFAULT_VISIBILITY", raw)]).default_visibility,
            want,
            "{raw:?}"
        );
    }
    let err = load(&[("DEFAULT_VISIBILITY", "hidden")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "DEFAULT_VISIBILITY: must be published or private, not \"hidden\""
    );
}

#[test]
fn metrics_addr_is_a_separate_listener() {
    assert_eq!(ok(&[]).metrics_addr, None);
    let c = ok(&[("METRICS_ADDR", "127.0.0.1:9100")]);
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9100".parse().unwrap()));
    let c = ok(&[("METRICS_ADDR", "[::]:9100")]);
    assert_eq!(c.metrics_addr, Some("[::]:9100".parse().unwrap()));
    let cases: &[BadCase<'_>] = &[
        (
            &[("METRICS_ADDR", "9100")],
            "METRICS_ADDR",
            "must be an IP address and a port such as 127.0.0.1:9100",
        ),
        (
            &[("METRICS_ADDR", "localhost:9100")],
            "METRICS_ADDR",
            "(got \"localhost:9100\")",
        ),
        (&[("METRICS_ADDR", "127.0.0.1:0")], "METRICS_ADDR", "a port"),
        (
            &[
                ("BIND_ADDR", "127.0.0.1"),
                ("METRICS_ADDR", "127.0.0.1:3000"),
            ],
            "METRICS_ADDR",
            "must differ from BIND_ADDR:PORT",
        ),
    ];
    assert_bad(&[], cases);
}

#[test]
fn previous_secret_keys_are_read_only_extras() {
    assert!(ok(&[]).previous_secret_keys.is_empty());
    let old1 = "old-key-one-0123456789abcdef-0123456789";
    let old2 = "old-key-two-0123456789abcdef-0123456789";
    let list = format!(" {old1} , {old2},{old1}");
    let c = ok(&[("SECRET_KEY_PREVIOUS", &list)]);
    let got: Vec<&str> = c
        .previous_secret_keys
        .iter()
        .map(|k| k.expose().as_str())
        .collect();
    assert_eq!(got, [old1, old2], "trimmed, in order, without repeats");
    let with_current = format!("{old1},{KEY}");
    let with_empty = format!("{old1},,{old2}");
    let cases: &[BadCase<'_>] = &[
        (
            &[("SECRET_KEY_PREVIOUS", "short-hunter2")],
            "SECRET_KEY_PREVIOUS",
            "key 1 of the list must be at least 32 characters (got 13)",
        ),
        (
            &[("SECRET_KEY_PREVIOUS", &with_current)],
            "SECRET_KEY_PREVIOUS",
            "key 2 of the list is the current SECRET_KEY",
        ),
        (
            &[("SECRET_KEY_PREVIOUS", &with_empty)],
            "SECRET_KEY_PREVIOUS",
            "key 2 of the list is empty",
        ),
    ];
    assert_bad(&[], cases);
    // Never echoed, not even in Debug.
    let err = load(&[("SECRET_KEY_PREVIOUS", "short-hunter2")]).unwrap_err();
    assert!(!err.to_string().contains("hunter2"));
    let c = ok(&[(
        "SECRET_KEY_PREVIOUS",
        "hunter2-hunter2-hunter2-hunter2-hunter2",
    )]);
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn smtp_is_off_by_default_and_needs_a_sender() {
    assert!(ok(&[]).smtp.is_none());
    let c = ok(&[
        (
            "SMTP_URL",
            "smtps://planpush%40example.com:hunter2@smtp.example.com:465",
        ),
        ("SMTP_FROM", "PlanPush <planpush@example.com>"),
    ]);
    let smtp = c.smtp.as_ref().unwrap();
    assert_eq!(smtp.from, "PlanPush <planpush@example.com>");
    assert!(
        !format!("{c:?}").contains("hunter2"),
        "the URL's password stays secret"
    );
    assert!(
        ok(&[
            ("SMTP_URL", "smtp://127.0.0.1:2525?tls=required"),
            ("SMTP_FROM", "pp@example.com")
        ])
        .smtp
        .is_some()
    );

    let err = load(&[("SMTP_URL", "smtp://127.0.0.1:2525")]).unwrap_err();
    assert_eq!(err.var, "SMTP_FROM", "{err}");
    let err = load(&[
        ("SMTP_URL", "smtp://127.0.0.1:2525"),
        ("SMTP_FROM", "not an address"),
    ])
    .unwrap_err();
    assert_eq!(err.var, "SMTP_FROM", "{err}");
    for bad in [
        "https://user:hunter2@mail.example.com",
        "smtp://",
        "hunter2",
    ] {
        let err = load(&[("SMTP_URL", bad), ("SMTP_FROM", "pp@example.com")]).unwrap_err();
        assert_eq!(err.var, "SMTP_URL", "{bad}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[test]
fn database_connections_default_by_backend_and_are_bounded() {
    assert_eq!(ok(&[]).database_max_connections, 4);
    assert_eq!(
        ok(&[("DATABASE_URL", "postgres://u@db/pp")]).database_max_connections,
        8
    );
    assert_eq!(
        ok(&[("DATABASE_MAX_CONNECTIONS", "4")]).database_max_connections,
        4
    );
    let cases: &[BadCase<'_>] = &[
        (
            &[("DATABASE_MAX_CONNECTIONS", "1")],
            "DATABASE_MAX_CONNECTIONS",
            "must be a whole number from 2 to 1000 (got \"1\")",
        ),
        (
            &[("DATABASE_MAX_CONNECTIONS", "many")],
            "DATABASE_MAX_CONNECTIONS",
            "must be a whole number from 2 to 1000",
        ),
    ];
    assert_bad(&[], cases);
}
