//! GitHub OAuth web flow (github.com or GitHub Enterprise Server).
//!
//! 1. `authorize`: `{web}/login/oauth/authorize?client_id&redirect_uri&scope&state`.
//! 2. `complete`: `POST {web}/login/oauth/access_token` (code → token; GitHub answers 200 with an
//!    `error` field for bad codes), then `GET {api}/user`, `GET {api}/user/emails` (the verified
//!    primary address) and `GET {api}/user/memberships/orgs/{org}` (`state: active` admits).
//!
//! Identities key on GitHub's numeric user id, never the login (logins can be renamed).

use std::time::Duration;

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use planpush_app::{AuthorizationRequest, IdentityProvider, ProviderError, VerifiedProfile};
use planpush_identity::{Email, ExternalIdentity};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, USER_AGENT};
use serde::Deserialize;
use url::Url;

/// What the GitHub provider needs from the configuration.
#[derive(Clone)]
pub struct GithubSettings {
    pub client_id: String,
    pub client_secret: String,
    /// Only members of this organization may sign in.
    pub org: String,
    /// `https://github.com`, or the GHES root.
    pub web_url: String,
    /// `https://api.github.com`, or `https://ghes.example.com/api/v3`.
    pub api_url: String,
    /// `BASE_URL/auth/callback`.
    pub redirect_uri: String,
}

impl std::fmt::Debug for GithubSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubSettings")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("org", &self.org)
            .field("web_url", &self.web_url)
            .field("api_url", &self.api_url)
            .finish()
    }
}

/// The scopes asked for: profile, e-mail addresses, organization membership.
pub const SCOPES: &str = "read:user user:email read:org";

pub struct GithubProvider {
    settings: GithubSettings,
    authorize_url: Url,
    token_url: Url,
    api: Url,
    http: reqwest::Client,
}

/// Joins `path` under `base`, keeping any path prefix of `base` (GHES's `/api/v3`).
fn under(base: &str, path: &str) -> anyhow::Result<Url> {
    let mut base = Url::parse(base).with_context(|| format!("invalid URL {base:?}"))?;
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    base.join(path.trim_start_matches('/'))
        .with_context(|| format!("cannot join {path:?} to {base}"))
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct GithubUser {
    id: u64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

#[derive(Deserialize)]
struct Membership {
    state: String,
}

impl GithubProvider {
    pub fn new(settings: GithubSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            authorize_url: under(&settings.web_url, "login/oauth/authorize")?,
            token_url: under(&settings.web_url, "login/oauth/access_token")?,
            api: under(&settings.api_url, "")?,
            settings,
            http,
        })
    }

    fn api_url(&self, path: &str) -> Result<Url, ProviderError> {
        self.api
            .join(path)
            .map_err(|e| ProviderError::Unavailable(anyhow!("bad API path {path}: {e}")))
    }

    async fn exchange(&self, code: &str) -> Result<String, ProviderError> {
        let res = self
            .http
            .post(self.token_url.clone())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, "planpush")
            .form(&[
                ("client_id", self.settings.client_id.as_str()),
                ("client_secret", self.settings.client_secret.as_str()),
                ("code", code),
                ("redirect_uri", self.settings.redirect_uri.as_str()),
            ])
            .send()
            .await
            .map_err(|e| {
                ProviderError::Unavailable(anyhow!("GitHub token endpoint unreachable: {e}"))
            })?;
        let status = res.status();
        let answer: TokenAnswer = res.json().await.map_err(|e| {
            ProviderError::Unavailable(anyhow!(
                "GitHub token endpoint answered {status} with no JSON: {e}"
            ))
        })?;
        match (answer.access_token, answer.error) {
            (Some(token), None) if status.is_success() => Ok(token),
            (_, Some(error)) => Err(ProviderError::Rejected(format!(
                "{error}: {}",
                answer.error_description.unwrap_or_default()
            ))),
            _ => Err(ProviderError::Unavailable(anyhow!(
                "GitHub token endpoint answered {status} without a token"
            ))),
        }
    }

    async fn get(&self, token: &str, path: &str) -> Result<reqwest::Response, ProviderError> {
        self.http
            .get(self.api_url(path)?)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(ACCEPT, "application/vnd.github+json")
            .header(USER_AGENT, "planpush")
            .send()
            .await
            .map_err(|e| {
                ProviderError::Unavailable(anyhow!("GitHub API unreachable ({path}): {e}"))
            })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        path: &str,
    ) -> Result<T, ProviderError> {
        let res = self.get(token, path).await?;
        let status = res.status();
        if !status.is_success() {
            return Err(ProviderError::Unavailable(anyhow!(
                "GitHub API {path} answered {status}"
            )));
        }
        res.json().await.map_err(|e| {
            ProviderError::Unavailable(anyhow!("GitHub API {path}: unexpected answer: {e}"))
        })
    }

    fn not_member(&self) -> ProviderError {
        ProviderError::NotAllowed(format!(
            "You are not a member of the {} organization on GitHub, so you cannot sign in here. Ask an owner of {} to invite you, accept the invitation, then sign in again.",
            self.settings.org, self.settings.org
        ))
    }
}

#[async_trait]
impl IdentityProvider for GithubProvider {
    fn authorize(&self, state: &str) -> AuthorizationRequest {
        let mut url = self.authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.settings.redirect_uri)
            .append_pair("scope", SCOPES)
            .append_pair("state", state)
            .append_pair("allow_signup", "false");
        AuthorizationRequest {
            url: url.into(),
            verifier: String::new(),
        }
    }

    async fn complete(
        &self,
        code: &str,
        _verifier: &str,
    ) -> Result<VerifiedProfile, ProviderError> {
        let token = self.exchange(code).await?;
        let user: GithubUser = self.get_json(&token, "user").await?;
        let membership = self
            .get(
                &token,
                &format!("user/memberships/orgs/{}", self.settings.org),
            )
            .await?;
        match membership.status() {
            StatusCode::OK => {
                let m: Membership = membership.json().await.map_err(|e| {
                    ProviderError::Unavailable(anyhow!("GitHub membership answer: {e}"))
                })?;
                if m.state != "active" {
                    return Err(self.not_member());
                }
            }
            StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => return Err(self.not_member()),
            s => {
                return Err(ProviderError::Unavailable(anyhow!(
                    "GitHub membership check answered {s}"
                )));
            }
        }
        let emails: Vec<GithubEmail> = self.get_json(&token, "user/emails").await?;
        let email = emails
            .iter()
            .find(|e| e.primary && e.verified)
            .and_then(|e| Email::parse(&e.email).ok());
        tracing::info!(github_id = user.id, login = %user.login, "GitHub sign-in verified");
        Ok(VerifiedProfile {
            identity: ExternalIdentity::github(user.id),
            login: user.login,
            name: user.name.filter(|n| !n.trim().is_empty()),
            email,
            avatar_url: user.avatar_url,
            groups: vec![],
            logout_hint: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::under;

    #[test]
    fn api_paths_keep_their_prefix() {
        assert_eq!(
            under("https://api.github.com", "user").unwrap().as_str(),
            "https://api.github.com/user"
        );
        assert_eq!(
            under("https://ghe.example.com/api/v3", "user/emails")
                .unwrap()
                .as_str(),
            "https://ghe.example.com/api/v3/user/emails"
        );
        assert_eq!(
            under("https://ghe.example.com/api/v3/", "/user")
                .unwrap()
                .as_str(),
            "https://ghe.example.com/api/v3/user"
        );
        assert!(under("not a url", "x").is_err());
    }
}
