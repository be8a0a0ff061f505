//! `DATABASE_URL`: which backend to use and where it is.

use std::fmt;
use std::path::PathBuf;

use url::Url;

use super::values::quote;

/// The database to connect to; reachability is checked later, when the server connects.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file (`sqlite://PATH`, a plain path, or `DATA_DIR/planpush.db` by default).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://…` or `postgresql://…`), as written.
    Postgres(String),
}

const ACCEPTED: &str = "postgres://…, postgresql://…, sqlite://PATH or a plain file path";

impl DatabaseUrl {
    /// `DATABASE_MAX_CONNECTIONS` when it is unset. SQLite: 4. Its writers take turns anyway,
    /// and readers rarely wait on two cores. Each connection has its own thread and page cache;
    /// measured at c=8 pushes, 4 connections peak 2.5-4 MB lower than 8, at the same pushes per
    /// second. PostgreSQL: 8, since its calls wait on the network as well.
    pub fn default_connections(&self) -> usize {
        match self {
            Self::Sqlite(_) => 4,
            Self::Postgres(_) => 8,
        }
    }

    /// Parses a `DATABASE_URL` value; the error message never contains the value's credentials.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let Some(scheme) = scheme_of(raw) else {
            return Ok(Self::Sqlite(PathBuf::from(raw)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" if raw[scheme.len()..].starts_with("://") => {
                Url::parse(raw).map_err(|e| format!("is not a valid PostgreSQL URL: {e}"))?;
                Ok(Self::Postgres(raw.to_owned()))
            }
            "sqlite" if raw[scheme.len()..].starts_with("://") => {
                let path = &raw[scheme.len() + 3..];
                if path.is_empty() {
                    return Err(
                        "needs a file path after sqlite:// (e.g. sqlite://./data/planpush.db)"
                            .into(),
                    );
                }
                Ok(Self::Sqlite(PathBuf::from(path)))
            }
            _ => Err(format!(
                "unsupported scheme {} (accepted: {ACCEPTED})",
                quote(&format!("{scheme}:"))
            )),
        }
    }

    /// Whether this is SQLite.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, Self::Sqlite(_))
    }

    /// A form safe to log: the SQLite path, or the PostgreSQL URL without user, password or query.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(raw) => match Url::parse(raw) {
                Ok(url) => {
                    let host = url.host_str().unwrap_or_default();
                    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                    format!("{}://{host}{port}{}", url.scheme(), url.path())
                }
                Err(_) => "postgres://<unparsable>".to_owned(),
            },
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(_) => f.debug_tuple("Postgres").field(&self.redacted()).finish(),
        }
    }
}

/// The URL scheme of `raw`, if it starts like `scheme:` with a scheme of at least two characters
/// (a single letter is a Windows drive, e.g. `C:\data\planpush.db`).
fn scheme_of(raw: &str) -> Option<&str> {
    let (scheme, _) = raw.split_once(':')?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok && scheme.len() >= 2).then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let cases = [
            (
                "postgres://u:p@db:5432/planpush",
                DatabaseUrl::Postgres("postgres://u:p@db:5432/planpush".into()),
            ),
            (
                "postgresql://db/planpush?sslmode=require",
                DatabaseUrl::Postgres("postgresql://db/planpush?sslmode=require".into()),
            ),
            (
                "sqlite:///var/lib/planpush/p.db",
                DatabaseUrl::Sqlite("/var/lib/planpush/p.db".into()),
            ),
            (
                "sqlite://data/p.db",
                DatabaseUrl::Sqlite("data/p.db".into()),
            ),
            ("/srv/p.db", DatabaseUrl::Sqlite("/srv/p.db".into())),
            ("./p.db", DatabaseUrl::Sqlite("./p.db".into())),
            (
                "C:\\data\\p.db",
                DatabaseUrl::Sqlite("C:\\data\\p.db".into()),
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(DatabaseUrl::parse(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn rejected_forms_name_the_accepted_ones_without_leaking_secrets() {
        for raw in [
            "mysql://root:hunter2@db/x",
            "sqlite:p.db",
            "postgres:hunter2@db",
            "http://x",
        ] {
            let err = DatabaseUrl::parse(raw).unwrap_err();
            assert!(err.contains("accepted: postgres://"), "{raw}: {err}");
            assert!(!err.contains("hunter2"), "{raw}: {err}");
        }
        assert!(
            DatabaseUrl::parse("sqlite://")
                .unwrap_err()
                .contains("needs a file path")
        );
        let err = DatabaseUrl::parse("postgres://u:hunter2@[bad/db").unwrap_err();
        assert!(
            err.contains("not a valid PostgreSQL URL") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn debug_and_redacted_hide_credentials() {
        let db =
            DatabaseUrl::parse("postgres://app:hunter2@db.internal:6543/plans?password=hunter2")
                .unwrap();
        assert_eq!(db.redacted(), "postgres://db.internal:6543/plans");
        assert!(!format!("{db:?}").contains("hunter2"));
        assert!(!db.is_sqlite());
    }
}
