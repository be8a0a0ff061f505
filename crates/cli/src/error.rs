//! What can go wrong, said so a person knows what to do next, each with its own exit code.
//!
//! Exit codes are a contract for scripts (and the Claude Code plugin): they are listed in
//! `docs/cli.md` and never reused for another meaning. clap's usage errors exit with 2.

use std::path::PathBuf;

use thiserror::Error;

/// Every failure the CLI reports.
#[derive(Debug, Error)]
pub enum CliError {
    /// The server could not be reached at all (DNS, refused connection, TLS, timeout).
    #[error(
        "cannot reach the PlanPush server at {server}: {detail}\nIs the server running, and is the URL right?"
    )]
    Unreachable { server: String, detail: String },

    /// No credentials for this server (or no server known at all).
    #[error("{}", not_signed_in(.server.as_deref()))]
    NotSignedIn { server: Option<String> },

    /// The stored credentials were refused: the refresh token expired or was revoked.
    #[error(
        "your session on {server} has expired or was revoked.\nSign in again with `planpush login --server {server}`"
    )]
    SessionExpired { server: String },

    /// Someone else's plan holds this name.
    #[error(
        "the name `{name}` is taken by someone else's plan.\nPush under another name, for example `--name {suggestion}`"
    )]
    NameTaken { name: String, suggestion: String },

    /// The document is over the server's limit; checked before sending.
    #[error(
        "{} is {:.1} MB; the server accepts documents up to 4 MB.\nShrink inline SVG or images, or split the plan",
        .path.display(),
        *.bytes as f64 / 1_048_576.0
    )]
    TooLarge { path: PathBuf, bytes: u64 },

    /// Not a document the server takes: unknown extension, not UTF-8, empty, refused content type.
    #[error("{0}")]
    WrongFormat(String),

    /// The plan does not exist, or the caller may not see it.
    #[error("{0}")]
    NotFound(String),

    /// Signed in, but not allowed (role may not push, not the plan's owner).
    #[error("{0}")]
    Forbidden(String),

    /// The device login did not complete: denied, or the code expired.
    #[error("{0}")]
    LoginFailed(String),

    /// A local file could not be read or written.
    #[error("{what} {}: {source}", .path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Bad input caught before any request (an invalid server URL, a bad name).
    #[error("{0}")]
    Invalid(String),

    /// `planpush check` found errors (or warnings, with `--strict`); the problems are on stdout.
    #[error(
        "{}: {errors} error(s), {warnings} warning(s); fix them before pushing (docs/plan-format.md)",
        .path.display()
    )]
    CheckFailed {
        path: PathBuf,
        errors: usize,
        warnings: usize,
    },

    /// Anything else the server answered, with its code and message.
    #[error("the server answered {status} {code}: {message}")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
}

fn not_signed_in(server: Option<&str>) -> String {
    match server {
        Some(s) => format!("not signed in to {s}.\nRun `planpush login --server {s}` first"),
        None => "not signed in.\nRun `planpush login --server https://your-planpush-server` first"
            .to_owned(),
    }
}

impl CliError {
    /// The process exit code (documented in `docs/cli.md`).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Server { .. } => 1,
            CliError::Invalid(_) => 2,
            CliError::Unreachable { .. } => 3,
            CliError::NotSignedIn { .. } => 4,
            CliError::SessionExpired { .. } => 5,
            CliError::NameTaken { .. } => 6,
            CliError::TooLarge { .. } => 7,
            CliError::WrongFormat(_) => 8,
            CliError::NotFound(_) => 9,
            CliError::Forbidden(_) => 10,
            CliError::LoginFailed(_) => 11,
            CliError::File { .. } => 12,
            CliError::CheckFailed { .. } => 13,
        }
    }

    /// A stable snake_case name, used in `--json` error output.
    pub fn code(&self) -> &str {
        match self {
            CliError::Server { code, .. } => code,
            CliError::Invalid(_) => "invalid_input",
            CliError::Unreachable { .. } => "server_unreachable",
            CliError::NotSignedIn { .. } => "not_signed_in",
            CliError::SessionExpired { .. } => "session_expired",
            CliError::NameTaken { .. } => "session_name_taken",
            CliError::TooLarge { .. } => "document_too_large",
            CliError::WrongFormat(_) => "wrong_format",
            CliError::NotFound(_) => "not_found",
            CliError::Forbidden(_) => "forbidden",
            CliError::LoginFailed(_) => "login_failed",
            CliError::File { .. } => "file_error",
            CliError::CheckFailed { .. } => "check_failed",
        }
    }

    /// Maps a server error answer (`{"error","message",…}`) to what the person should be told.
    /// 401 is handled by the caller (it refreshes first), so here it means "sign in again".
    pub fn from_answer(server: &str, status: u16, body: &serde_json::Value) -> CliError {
        let code = body["error"].as_str().unwrap_or("").to_owned();
        let message = body["message"]
            .as_str()
            .or_else(|| body["error_description"].as_str())
            .unwrap_or("")
            .to_owned();
        let message = if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        };
        match (status, code.as_str()) {
            (401, _) => CliError::SessionExpired {
                server: server.to_owned(),
            },
            (409, "session_name_taken") => CliError::NameTaken {
                name: body["name"].as_str().unwrap_or("").to_owned(),
                suggestion: body["suggestion"]
                    .as_str()
                    .unwrap_or("another-name")
                    .to_owned(),
            },
            (413, _) | (_, "document_too_large") => CliError::WrongFormat(format!(
                "the server refused the document as too large: {message}"
            )),
            (
                _,
                "unsupported_media_type" | "empty_document" | "invalid_encoding" | "invalid_body",
            ) => CliError::WrongFormat(message),
            (_, "invalid_session_name") => CliError::Invalid(format!("invalid name: {message}")),
            (404, _) => CliError::NotFound(message),
            (403, _) => CliError::Forbidden(message),
            _ => CliError::Server {
                status,
                code: if code.is_empty() {
                    "http_error".to_owned()
                } else {
                    code
                },
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const S: &str = "http://127.0.0.1:8080";

    #[test]
    fn every_failure_has_its_own_exit_code() {
        let all = [
            CliError::Server {
                status: 500,
                code: "internal_error".into(),
                message: "x".into(),
            },
            CliError::Invalid("x".into()),
            CliError::Unreachable {
                server: S.into(),
                detail: "refused".into(),
            },
            CliError::NotSignedIn { server: None },
            CliError::SessionExpired { server: S.into() },
            CliError::NameTaken {
                name: "a".into(),
                suggestion: "a-2".into(),
            },
            CliError::TooLarge {
                path: "p".into(),
                bytes: 5 << 20,
            },
            CliError::WrongFormat("x".into()),
            CliError::NotFound("x".into()),
            CliError::Forbidden("x".into()),
            CliError::LoginFailed("x".into()),
            CliError::File {
                what: "cannot read",
                path: "p".into(),
                source: std::io::Error::other("x"),
            },
            CliError::CheckFailed {
                path: "p".into(),
                errors: 1,
                warnings: 0,
            },
        ];
        let mut codes: Vec<u8> = all.iter().map(CliError::exit_code).collect();
        codes.sort_unstable();
        assert_eq!(codes, (1..=13).collect::<Vec<u8>>());
        assert!(all.iter().all(|e| !e.code().is_empty()));
    }

    #[test]
    fn a_taken_name_carries_the_servers_suggestion() {
        let e = CliError::from_answer(
            S,
            409,
            &json!({"error": "session_name_taken", "message": "the name auth is taken; try auth-2", "suggestion": "auth-2"}),
        );
        assert_eq!(e.exit_code(), 6);
        assert!(e.to_string().contains("--name auth-2"), "{e}");
    }

    #[test]
    fn server_errors_become_what_a_person_can_act_on() {
        let case = |status, body| CliError::from_answer(S, status, &body);
        let e = case(401, json!({"error": "unauthorized", "message": "sign in"}));
        assert!(matches!(e, CliError::SessionExpired { .. }));
        assert!(
            e.to_string()
                .contains("planpush login --server http://127.0.0.1:8080")
        );
        assert!(matches!(
            case(
                415,
                json!({"error": "unsupported_media_type", "message": "send text/html"})
            ),
            CliError::WrongFormat(_)
        ));
        assert!(matches!(
            case(
                400,
                json!({"error": "empty_document", "message": "the document is empty"})
            ),
            CliError::WrongFormat(_)
        ));
        assert!(matches!(
            case(
                413,
                json!({"error": "document_too_large", "message": "big"})
            ),
            CliError::WrongFormat(_)
        ));
        assert!(matches!(
            case(
                404,
                json!({"error": "session_not_found", "message": "no such plan"})
            ),
            CliError::NotFound(m) if m == "no such plan"
        ));
        assert!(matches!(
            case(
                403,
                json!({"error": "forbidden", "message": "QA may not push"})
            ),
            CliError::Forbidden(_)
        ));
        let e = case(
            500,
            json!({"error": "internal_error", "message": "quote ref 42"}),
        );
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.code(), "internal_error");
        assert!(e.to_string().contains("quote ref 42"));
        // A body that is not PlanPush JSON (a proxy's error page) still says what happened.
        let e = case(502, serde_json::Value::Null);
        assert_eq!(
            e.to_string(),
            "the server answered 502 http_error: HTTP 502"
        );
    }

    #[test]
    fn not_signed_in_names_the_login_command() {
        let e = CliError::NotSignedIn {
            server: Some(S.into()),
        };
        assert!(
            e.to_string()
                .contains("planpush login --server http://127.0.0.1:8080")
        );
        assert!(
            CliError::NotSignedIn { server: None }
                .to_string()
                .contains("planpush login --server")
        );
    }

    #[test]
    fn too_large_says_the_size_and_the_limit() {
        let e = CliError::TooLarge {
            path: "plan.html".into(),
            bytes: 5 * 1_048_576,
        };
        assert_eq!(e.exit_code(), 7);
        assert!(e.to_string().starts_with("plan.html is 5.0 MB"), "{e}");
    }
}
