//! `planpush-server demo`: a working PlanPush on this machine in one command.
//!
//! SQLite in a data directory, a secret generated once and kept there (mode 0600), development
//! sign-in on loopback, and the "Auth Service Redesign" plan in three versions with comments from
//! three demo people: one thread resolved, one whose section a later version changed, one on quoted
//! text, one reply. Running it again reuses the directory and seeds nothing twice.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::{Duration, Utc};
use planpush_app::{
    AccessCache, AuthMethod, CommentChange, Comments, NewComment, Ports, Principal, Push,
    PushRequest, SignIn, VerifiedProfile,
};
use planpush_identity::{ExternalIdentity, Provider};
use planpush_plans::Slug;
use planpush_versions::SourceFormat;

/// The demo plan's name.
pub const SLUG: &str = "auth-service-redesign";

const FIXTURE: &str = include_str!("../../../fixtures/auth-service-redesign.html");

/// The configuration variables the demo sets (anything else comes from the environment).
pub fn vars(dir: &Path, port: u16) -> anyhow::Result<HashMap<&'static str, String>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let secret = secret(&dir.join("secret.key"))?;
    Ok(HashMap::from([
        ("AUTH_PROVIDER", "dev".to_owned()),
        ("BIND_ADDR", "127.0.0.1".to_owned()),
        ("PORT", port.to_string()),
        ("BASE_URL", format!("http://127.0.0.1:{port}")),
        ("DATA_DIR", dir.display().to_string()),
        (
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("planpush.db").display()),
        ),
        ("SECRET_KEY", secret),
    ]))
}

/// The secret kept in the data directory, made on first use (readable by this user only).
fn secret(path: &PathBuf) -> anyhow::Result<String> {
    if let Ok(s) = std::fs::read_to_string(path) {
        let s = s.trim().to_owned();
        if s.len() >= 32 {
            return Ok(s);
        }
    }
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let s = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(s.as_bytes())?;
    Ok(s)
}

/// The three versions: v1 without the risks and with an early token-store and rollout plan, v2 with
/// risks, v3 the finished document.
fn versions() -> [String; 3] {
    let risks_start = FIXTURE
        .find("<section data-anchor=\"risks\">")
        .unwrap_or(FIXTURE.len());
    let risks_end = FIXTURE[risks_start..]
        .find("</section>")
        .map_or(FIXTURE.len(), |i| risks_start + i + "</section>".len());
    let early_rollout = |s: &str| s.replace("JWT behind a flag", "JWT for everyone at once");
    let v1 = early_rollout(
        &format!("{}{}", &FIXTURE[..risks_start], &FIXTURE[risks_end..]).replace(
            "Redis vs PostgreSQL for token store — perf testing needed",
            "Redis for the token store",
        ),
    );
    let v2 = early_rollout(FIXTURE);
    [v1, v2, FIXTURE.to_owned()]
}

async fn person(
    sign_in: &SignIn,
    access: &AccessCache,
    login: &str,
    name: &str,
) -> anyhow::Result<Principal> {
    let id = sign_in
        .sign_in(
            VerifiedProfile {
                identity: ExternalIdentity::new(Provider::Dev, login)?,
                login: login.to_owned(),
                name: Some(name.to_owned()),
                email: None,
                avatar_url: None,
                groups: vec![],
                logout_hint: None,
            },
            None,
            Utc::now(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    access
        .principal(id, AuthMethod::Session)
        .await?
        .context("the demo user is not active")
}

/// Seeds the demo plan unless it exists. Returns whether anything was written.
pub async fn seed(
    ports: Ports,
    diagrams: Arc<dyn planpush_document::DiagramRenderer>,
) -> anyhow::Result<bool> {
    if ports
        .plans
        .find_by_slug(&Slug::parse(SLUG)?)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let access = Arc::new(AccessCache::new(ports.clone()));
    let sign_in = SignIn::new(ports.clone(), access.clone());
    // The first person to sign in becomes the admin.
    let ada = person(&sign_in, &access, "ada", "Ada Lovelace").await?;
    let ben = person(&sign_in, &access, "ben", "Ben Ortiz").await?;
    let cleo = person(&sign_in, &access, "cleo", "Cleo Park").await?;
    let push = Push::new(
        ports.clone(),
        planpush_document::SanitizeOptions::default(),
        diagrams,
    );
    let comments = Comments::new(ports.clone());
    let start = Utc::now() - Duration::days(3);
    let [v1, v2, v3] = versions();

    let push_as = async |who: &Principal, body: String, at| {
        push.push(
            who,
            PushRequest {
                body,
                format: SourceFormat::Html,
                name: Some(SLUG.to_owned()),
                session_id: None,
                visibility: None,
            },
            None,
            at,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
    };
    let comment = async |who: &Principal, plan, input: NewComment, at| {
        comments
            .create(who, plan, input, None, at)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    let quote = |exact: &str, prefix: &str, suffix: &str| {
        Some((exact.to_owned(), prefix.to_owned(), suffix.to_owned()))
    };

    let plan = push_as(&ada, v1, start).await?.plan.id();
    let token_store = comment(
        &cleo,
        plan,
        NewComment {
            body: "Why Redis? We already run PostgreSQL; one fewer system to operate.".into(),
            anchor: Some("d-token-store".into()),
            ..NewComment::default()
        },
        start + Duration::hours(2),
    )
    .await?;
    let rollout = comment(
        &ben,
        plan,
        NewComment {
            body: "Can we put this **behind a flag** first, so we can roll back without a deploy?"
                .into(),
            anchor: Some("phase-2".into()),
            quote: quote("JWT for everyone at once", "Phase 2 ", ""),
            ..NewComment::default()
        },
        start + Duration::hours(3),
    )
    .await?;

    push_as(&ada, v2, start + Duration::days(1)).await?;
    comments
        .update(
            &ada,
            &token_store.comment.id().to_string(),
            CommentChange {
                resolved: Some(true),
                body: None,
            },
            None,
            start + Duration::days(1) + Duration::hours(1),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    comment(
        &ben,
        plan,
        NewComment {
            body: "Do we alert when a whole token family gets revoked? That is a theft signal."
                .into(),
            anchor: Some("risk-revocation".into()),
            quote: quote(
                "rotation on every use",
                "Mitigation: ",
                ", reuse revokes the family.",
            ),
            ..NewComment::default()
        },
        start + Duration::days(1) + Duration::hours(4),
    )
    .await?;

    push_as(&ada, v3, start + Duration::days(2)).await?;
    comment(
        &ada,
        plan,
        NewComment {
            body: "Done in v3: phase 2 ships behind the `jwt_auth` flag.".into(),
            parent_id: Some(rollout.comment.id().to_string()),
            ..NewComment::default()
        },
        start + Duration::days(2) + Duration::hours(1),
    )
    .await?;
    comment(
        &cleo,
        plan,
        NewComment {
            body: "Is `/auth/refresh` rate limited? QA would like a number to test against.".into(),
            anchor: Some("api-surface".into()),
            ..NewComment::default()
        },
        start + Duration::days(2) + Duration::hours(3),
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_distinct_versions_each_a_valid_document() {
        let [v1, v2, v3] = versions();
        assert!(!v1.contains("data-anchor=\"risks\"") && v2.contains("data-anchor=\"risks\""));
        assert!(v1.contains("JWT for everyone at once") && v2.contains("JWT for everyone at once"));
        assert_eq!(v3, FIXTURE);
        assert!(v1 != v2 && v2 != v3);
    }

    #[test]
    fn the_secret_is_made_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = vars(dir.path(), 8080).unwrap();
        let b = vars(dir.path(), 8081).unwrap();
        assert_eq!(a["SECRET_KEY"], b["SECRET_KEY"]);
        assert!(a["SECRET_KEY"].len() >= 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secret.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
