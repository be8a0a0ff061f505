//! The HTTP client: blocking `ureq` over rustls, one agent per process.
//!
//! [`Api`] speaks to one server without credentials (device flow, refresh); [`Authed`] adds the
//! Bearer token, refreshing it before it runs out and once more on a `401`, saving every rotated
//! refresh token.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::config::{Session, Store, now};
use crate::error::CliError;

/// One answer: status and body (JSON when the server sent JSON, else `Null`).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// The answer as text (`body` is `Null` when it is not JSON, e.g. an export).
    pub text: String,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Whether `url`'s host is this machine: exactly `localhost`, an address in `127.0.0.0/8`, or
/// `::1`. A name that merely starts like one (`localhost.evil.example`, `127.0.0.1.nip.io`) is not.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A server URL as typed by a person, normalised: scheme added (`https://`, or `http://` for
/// loopback), trailing slash dropped. Plain `http://` is refused for anything but loopback: the
/// CLI sends tokens to this server.
pub fn normalize_server(raw: &str) -> Result<String, CliError> {
    let raw = raw.trim();
    let invalid =
        |e: &dyn std::fmt::Display| CliError::Invalid(format!("invalid server URL {raw:?}: {e}"));
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        let probe = url::Url::parse(&format!("https://{raw}")).map_err(|e| invalid(&e))?;
        if is_loopback(&probe) {
            format!("http://{raw}")
        } else {
            format!("https://{raw}")
        }
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| invalid(&e))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(&"use http(s)://host[:port]"));
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(invalid(
            &"plain http is only for this machine (localhost, 127.0.0.0/8, ::1); use https://",
        ));
    }
    Ok(with_scheme.trim_end_matches('/').to_owned())
}

/// A request body.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    None,
    Form(&'a [(&'a str, &'a str)]),
    Text {
        content_type: &'a str,
        text: &'a str,
    },
}

/// Unauthenticated calls to one server.
#[derive(Clone)]
pub struct Api {
    pub server: String,
    agent: ureq::Agent,
}

impl Api {
    pub fn new(server: &str) -> Api {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("planpush-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Api {
            server: server.to_owned(),
            agent,
        }
    }

    /// Sends one request; only a transport failure is an error, every HTTP status is a [`Reply`].
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Reply, CliError> {
        let mut req = self
            .agent
            .request(method, &format!("{}{path}", self.server))
            .set("Accept", "application/json");
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Body::None => req.call(),
            Body::Form(fields) => req.send_form(fields),
            Body::Text { content_type, text } => {
                req.set("Content-Type", content_type).send_string(text)
            }
        };
        let resp = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                return Err(CliError::Unreachable {
                    server: self.server.clone(),
                    detail: transport_detail(&t),
                });
            }
        };
        let status = resp.status();
        let text = resp.into_string().map_err(|e| CliError::Unreachable {
            server: self.server.clone(),
            detail: format!("the answer could not be read: {e}"),
        })?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { status, body, text })
    }

    /// `POST` a form, answering the parsed type on 2xx or the mapped error.
    pub fn post_form<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<Result<T, Reply>, CliError> {
        let reply = self.send("POST", path, &[], Body::Form(fields))?;
        if reply.ok() {
            Ok(Ok(self.parse(reply.body)?))
        } else {
            Ok(Err(reply))
        }
    }

    pub fn parse<T: for<'de> Deserialize<'de>>(&self, body: Value) -> Result<T, CliError> {
        serde_json::from_value(body).map_err(|e| CliError::Server {
            status: 200,
            code: "unexpected_answer".into(),
            message: format!(
                "{} answered something this CLI does not understand: {e}",
                self.server
            ),
        })
    }

    /// The mapped error for a failed reply.
    pub fn error(&self, reply: &Reply) -> CliError {
        CliError::from_answer(&self.server, reply.status, &reply.body)
    }
}

fn transport_detail(t: &ureq::Transport) -> String {
    let mut detail = t.kind().to_string();
    if let Some(m) = t.message() {
        detail = format!("{detail}: {m}");
    }
    let mut source = std::error::Error::source(t);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    detail
}

/// A device-flow or refresh answer.
#[derive(Debug, Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

/// How requests are authenticated.
enum Credential {
    /// `PLANPUSH_TOKEN`: a personal API token; never refreshed.
    Personal(String),
    /// The stored device-flow session.
    Stored(Session),
}

/// Authenticated calls to one server.
pub struct Authed {
    pub api: Api,
    store: Store,
    credential: Credential,
}

impl Authed {
    /// Credentials for `server`: `PLANPUSH_TOKEN` if set, else the stored session.
    pub fn new(api: Api, store: Store, personal: Option<String>) -> Result<Authed, CliError> {
        let credential = match personal {
            Some(token) => Credential::Personal(token),
            None => match store.load()?.servers.remove(&api.server) {
                Some(session) => Credential::Stored(session),
                None => {
                    return Err(CliError::NotSignedIn {
                        server: Some(api.server.clone()),
                    });
                }
            },
        };
        Ok(Authed {
            api,
            store,
            credential,
        })
    }

    /// The login the credentials were stored for (unknown for a personal token).
    pub fn login(&self) -> Option<&str> {
        match &self.credential {
            Credential::Stored(s) => Some(&s.login),
            Credential::Personal(_) => None,
        }
    }

    fn token(&self) -> &str {
        match &self.credential {
            Credential::Personal(t) => t,
            Credential::Stored(s) => &s.access_token,
        }
    }

    /// Sends with `Authorization: Bearer`, refreshing first when the access token ran out and
    /// once more (then retrying) when the server answers `401`.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Reply, CliError> {
        if let Credential::Stored(s) = &self.credential
            && s.access_expired(now())
        {
            self.refresh()?;
        }
        let reply = self.send_once(method, path, headers, body)?;
        if reply.status != 401 {
            return Ok(reply);
        }
        match self.credential {
            Credential::Personal(_) => Err(CliError::Invalid(format!(
                "{} refused PLANPUSH_TOKEN (revoked, expired or mistyped); create a new token or unset it",
                self.api.server
            ))),
            Credential::Stored(_) => {
                self.refresh()?;
                let reply = self.send_once(method, path, headers, body)?;
                if reply.status == 401 {
                    return Err(CliError::SessionExpired {
                        server: self.api.server.clone(),
                    });
                }
                Ok(reply)
            }
        }
    }

    fn send_once(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Reply, CliError> {
        let auth = format!("Bearer {}", self.token());
        let mut all = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        self.api.send(method, path, &all, body)
    }

    /// Rotates the refresh token under the credentials lock. If another process rotated it
    /// meanwhile, its fresh tokens are used instead of spending ours (which would revoke all).
    fn refresh(&mut self) -> Result<(), CliError> {
        let Credential::Stored(mine) = &self.credential else {
            return Ok(());
        };
        let _lock = self.store.lock()?;
        let mut creds = self.store.load()?;
        let Some(current) = creds.servers.get(&self.api.server).cloned() else {
            return Err(CliError::NotSignedIn {
                server: Some(self.api.server.clone()),
            });
        };
        if current.refresh_token != mine.refresh_token && !current.access_expired(now()) {
            self.credential = Credential::Stored(current);
            return Ok(());
        }
        let pair: TokenPair = match self.api.post_form(
            "/api/auth/token",
            &[("refresh_token", &current.refresh_token)],
        )? {
            Ok(pair) => pair,
            Err(reply) if reply.status == 400 || reply.status == 401 => {
                creds.servers.remove(&self.api.server);
                self.store.save(&creds)?;
                return Err(CliError::SessionExpired {
                    server: self.api.server.clone(),
                });
            }
            Err(reply) => return Err(self.api.error(&reply)),
        };
        let session = Session {
            login: current.login,
            access_token: pair.access_token,
            access_expires_at: now() + pair.expires_in,
            refresh_token: pair.refresh_token,
        };
        creds
            .servers
            .insert(self.api.server.clone(), session.clone());
        self.store.save(&creds)?;
        self.credential = Credential::Stored(session);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_normalised() {
        assert_eq!(
            normalize_server("https://pp.example.com/").unwrap(),
            "https://pp.example.com"
        );
        assert_eq!(
            normalize_server("pp.example.com").unwrap(),
            "https://pp.example.com"
        );
        assert_eq!(
            normalize_server("localhost:8080").unwrap(),
            "http://localhost:8080"
        );
        assert_eq!(
            normalize_server("127.0.0.1:9").unwrap(),
            "http://127.0.0.1:9"
        );
        assert!(normalize_server("ftp://x").is_err());
        assert!(normalize_server("http://").is_err());
    }

    #[test]
    fn only_exact_loopback_hosts_get_plain_http() {
        for (raw, want) in [
            ("localhost.evil.com", "https://localhost.evil.com"),
            ("localhost.evil.com:8080", "https://localhost.evil.com:8080"),
            ("127.0.0.1.nip.io", "https://127.0.0.1.nip.io"),
            ("localhostile.com", "https://localhostile.com"),
            ("LOCALHOST:3000", "http://LOCALHOST:3000"),
            ("127.8.9.10:80", "http://127.8.9.10:80"),
            ("[::1]:8080", "http://[::1]:8080"),
            ("http://localhost:1", "http://localhost:1"),
            ("http://127.0.0.2", "http://127.0.0.2"),
            ("https://localhost.evil.com", "https://localhost.evil.com"),
        ] {
            assert_eq!(normalize_server(raw).unwrap(), want, "{raw}");
        }
        for raw in [
            "http://localhost.evil.com",
            "http://pp.example.com",
            "http://10.0.0.1:8080",
            "http://[::2]",
            "http://128.0.0.1",
        ] {
            let e = normalize_server(raw).unwrap_err();
            assert!(e.to_string().contains("https://"), "{raw}: {e}");
        }
    }

    #[test]
    fn an_unreachable_server_is_named() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let api = Api::new(&format!("http://127.0.0.1:{port}"));
        let e = api.send("GET", "/healthz", &[], Body::None).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    }
}
