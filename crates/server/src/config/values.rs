//! Parsing of single variable values: the lookup wrapper, URLs, numbers, booleans and lists.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

use super::{AuthProvider, ConfigError, LogFormat, MAX_SESSION_SECS, MIN_SECRET_CHARS};

/// A URL with an http or https scheme, no credentials, query or fragment; kept without a trailing slash.
#[derive(Clone, PartialEq, Eq)]
pub struct BaseUrl {
    url: Url,
    text: String,
}

impl BaseUrl {
    /// The URL as text without a trailing slash, e.g. `https://plans.example.com/team`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed URL (its path keeps the slash `url` adds to a bare host).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether the scheme is https.
    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// `self` followed by `/` and `path` (leading slashes of `path` are dropped), e.g. `join("auth/login")`.
    pub fn join(&self, path: &str) -> String {
        format!("{}/{}", self.text, path.trim_start_matches('/'))
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BaseUrl({:?})", self.text)
    }
}

/// Whether plain http is acceptable for a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HttpRule {
    /// http and https are both fine.
    Allowed,
    /// https only, except http for loopback hosts (local fakes in tests).
    LoopbackOnly,
}

/// Looks variables up through a function; trims values and treats empty ones as unset.
pub(super) struct Vars<F> {
    get: F,
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    pub(super) fn new(get: F) -> Self {
        Self { get }
    }

    /// The trimmed value, or `None` when unset, empty or whitespace-only.
    pub(super) fn get(&self, var: &str) -> Option<String> {
        (self.get)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The value, or an error `VAR: is required {detail}`.
    pub(super) fn required(&self, var: &'static str, detail: &str) -> Result<String, ConfigError> {
        self.get(var)
            .ok_or_else(|| ConfigError::new(var, format!("is required {detail}")))
    }

    /// A required secret of at least [`MIN_SECRET_CHARS`] characters.
    pub(super) fn secret_key(&self, var: &'static str) -> Result<String, ConfigError> {
        let hint = format!(
            "(at least {MIN_SECRET_CHARS} random characters, e.g. from `openssl rand -hex 32`)"
        );
        let value = self.required(var, &hint)?;
        check_secret_len(var, &value)?;
        Ok(value)
    }

    /// An optional secret that, when set, has at least [`MIN_SECRET_CHARS`] characters.
    pub(super) fn optional_secret(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        let value = self.get(var);
        if let Some(v) = &value {
            check_secret_len(var, v)?;
        }
        Ok(value)
    }

    /// An http(s) base URL; `default` is used when unset, `None` makes it required.
    pub(super) fn base_url(
        &self,
        var: &'static str,
        default: Option<&str>,
        rule: HttpRule,
    ) -> Result<BaseUrl, ConfigError> {
        let raw = match (self.get(var), default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.to_owned(),
            (None, None) => {
                return Err(ConfigError::new(
                    var,
                    "is required (the public URL of this server, e.g. https://plans.example.com)",
                ));
            }
        };
        let url = parse_http_url(var, &raw, rule, true)?;
        if url.query().is_some() {
            return Err(ConfigError::new(
                var,
                "must not contain a query string ('?…')",
            ));
        }
        if url.fragment().is_some() {
            return Err(ConfigError::new(var, "must not contain a fragment ('#…')"));
        }
        let text = url.as_str().trim_end_matches('/').to_owned();
        Ok(BaseUrl { url, text })
    }

    /// An optional http(s) redirect URI (no fragment), kept exactly as written.
    pub(super) fn redirect_uri(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(None);
        };
        let url = parse_http_url(var, &raw, HttpRule::Allowed, true)?;
        if url.fragment().is_some() {
            return Err(ConfigError::new(var, "must not contain a fragment ('#…')"));
        }
        Ok(Some(raw))
    }

    /// An optional Slack webhook URL: https (http only for loopback); the value is never echoed.
    /// A chat webhook URL (`SLACK_WEBHOOK_URL`, `TEAMS_WEBHOOK_URL`, `DISCORD_WEBHOOK_URL`).
    pub(super) fn slack_webhook(&self, var: &'static str) -> Result<Option<Url>, ConfigError> {
        self.get(var)
            .map(|raw| parse_http_url(var, &raw, HttpRule::LoopbackOnly, false))
            .transpose()
    }

    /// An IP address (default `0.0.0.0`); IPv6 may be written in brackets.
    pub(super) fn ip_addr(&self, var: &'static str) -> Result<IpAddr, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(IpAddr::from([0, 0, 0, 0]));
        };
        let inner = raw
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(&raw);
        inner.parse().map_err(|_| {
            ConfigError::new(
                var,
                format!(
                    "must be an IP address such as 0.0.0.0, 127.0.0.1 or :: (got {})",
                    quote(&raw)
                ),
            )
        })
    }

    /// An optional `address:port` to listen on (IPv6 in brackets: `[::1]:9100`).
    pub(super) fn socket_addr(
        &self,
        var: &'static str,
    ) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(None);
        };
        match raw.parse::<std::net::SocketAddr>() {
            Ok(a) if a.port() != 0 => Ok(Some(a)),
            _ => Err(ConfigError::new(
                var,
                format!(
                    "must be an IP address and a port such as 127.0.0.1:9100 or [::1]:9100 (got {})",
                    quote(&raw)
                ),
            )),
        }
    }

    /// A comma-separated list of earlier secret keys (each as long as `SECRET_KEY` must be, none
    /// equal to `current`); empty when unset.
    pub(super) fn previous_secret_keys(
        &self,
        var: &'static str,
        current: &str,
    ) -> Result<Vec<String>, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(Vec::new());
        };
        let mut keys: Vec<String> = Vec::new();
        for (i, key) in raw.split(',').map(str::trim).enumerate() {
            let which = format!("key {} of the list", i + 1);
            if key.is_empty() {
                return Err(ConfigError::new(var, format!("{which} is empty")));
            }
            if key.chars().count() < MIN_SECRET_CHARS {
                return Err(ConfigError::new(
                    var,
                    format!(
                        "{which} must be at least {MIN_SECRET_CHARS} characters (got {})",
                        key.chars().count()
                    ),
                ));
            }
            if key == current {
                return Err(ConfigError::new(
                    var,
                    format!("{which} is the current SECRET_KEY; list only earlier keys"),
                ));
            }
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_owned());
            }
        }
        Ok(keys)
    }

    /// A TCP port, 1..=65535 (default 3000).
    pub(super) fn port(&self, var: &'static str) -> Result<u16, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(super::DEFAULT_PORT);
        };
        parse_digits(&raw)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|&n| n >= 1)
            .ok_or_else(|| {
                ConfigError::new(
                    var,
                    format!(
                        "must be a port number from 1 to 65535 (got {})",
                        quote(&raw)
                    ),
                )
            })
    }

    /// `AUTH_PROVIDER` (default github), case-insensitive.
    pub(super) fn auth_provider(&self, var: &'static str) -> Result<AuthProvider, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(AuthProvider::Github);
        };
        match raw.to_ascii_lowercase().as_str() {
            "github" => Ok(AuthProvider::Github),
            "okta" => Ok(AuthProvider::Okta),
            "dev" => Ok(AuthProvider::Dev),
            _ => Err(ConfigError::new(
                var,
                format!(
                    "unknown provider {} (accepted: {})",
                    quote(&raw),
                    AuthProvider::ACCEPTED
                ),
            )),
        }
    }

    /// `LOG_FORMAT` (default text), case-insensitive.
    pub(super) fn log_format(&self, var: &'static str) -> Result<LogFormat, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(LogFormat::Text);
        };
        match raw.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(ConfigError::new(
                var,
                format!("unknown format {} (accepted: text, json)", quote(&raw)),
            )),
        }
    }

    /// A positive number of seconds, at most [`MAX_SESSION_SECS`].
    pub(super) fn seconds(&self, var: &'static str, default: u64) -> Result<u64, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(default);
        };
        match parse_digits(&raw) {
            Some(n) if (1..=MAX_SESSION_SECS).contains(&n) => Ok(n),
            Some(n) if n > MAX_SESSION_SECS => Err(ConfigError::new(
                var,
                format!("must be at most {MAX_SESSION_SECS} seconds (10 years) (got {n})"),
            )),
            _ => Err(ConfigError::new(
                var,
                format!(
                    "must be a positive whole number of seconds (got {})",
                    quote(&raw)
                ),
            )),
        }
    }

    /// A whole number of milliseconds within `range` (inclusive).
    pub(super) fn millis(
        &self,
        var: &'static str,
        default: u64,
        range: (u64, u64),
    ) -> Result<u64, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(default);
        };
        let (lo, hi) = range;
        match parse_digits(&raw) {
            Some(n) if (lo..=hi).contains(&n) => Ok(n),
            _ => Err(ConfigError::new(
                var,
                format!(
                    "must be a whole number of milliseconds from {lo} to {hi} (got {})",
                    quote(&raw)
                ),
            )),
        }
    }

    /// A whole number of days, at least 1.
    pub(super) fn retention_days(
        &self,
        var: &'static str,
        default: u32,
    ) -> Result<u32, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(default);
        };
        parse_digits(&raw)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n >= 1)
            .ok_or_else(|| {
                ConfigError::new(
                    var,
                    format!(
                        "must be a whole number of days, at least 1 (got {})",
                        quote(&raw)
                    ),
                )
            })
    }

    /// A boolean: true/false/1/0/yes/no, case-insensitive.
    /// A count between `min` and `max`, or `default` when unset.
    pub(super) fn count(
        &self,
        var: &'static str,
        default: usize,
        min: usize,
        max: usize,
    ) -> Result<usize, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(default);
        };
        parse_digits(&raw)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ConfigError::new(
                    var,
                    format!(
                        "must be a whole number from {min} to {max} (got {})",
                        quote(&raw)
                    ),
                )
            })
    }

    pub(super) fn boolean(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(default);
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(ConfigError::new(
                var,
                format!(
                    "must be one of true, false, 1, 0, yes, no (got {})",
                    quote(&raw)
                ),
            )),
        }
    }

    /// Comma-separated e-mail addresses; empty entries ignored; lower-cased and de-duplicated.
    pub(super) fn emails(&self, var: &'static str) -> Result<Vec<String>, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<String> = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let valid = match entry.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.is_empty()
                        && !domain.contains('@')
                        && !entry.chars().any(char::is_whitespace)
                }
                None => false,
            };
            if !valid {
                return Err(ConfigError::new(
                    var,
                    format!(
                        "{} is not an e-mail address (expected one '@' with text on both sides, no spaces)",
                        quote(entry)
                    ),
                ));
            }
            let email = entry.to_lowercase();
            if !out.contains(&email) {
                out.push(email);
            }
        }
        Ok(out)
    }
}

/// Checks a secret's length without ever echoing it.
fn check_secret_len(var: &'static str, value: &str) -> Result<(), ConfigError> {
    let got = value.chars().count();
    if got < MIN_SECRET_CHARS {
        return Err(ConfigError::new(
            var,
            format!("must be at least {MIN_SECRET_CHARS} characters (got {got})"),
        ));
    }
    Ok(())
}

/// Parses an absolute http(s) URL without credentials; `echo` puts the raw value in error messages.
fn parse_http_url(
    var: &'static str,
    raw: &str,
    rule: HttpRule,
    echo: bool,
) -> Result<Url, ConfigError> {
    let got = |what: String| {
        if echo {
            format!(" (got {what})")
        } else {
            String::new()
        }
    };
    let url = Url::parse(raw).map_err(|e| {
        ConfigError::new(
            var,
            format!("is not a valid absolute URL: {e}{}", got(quote(raw))),
        )
    })?;
    let wanted = match rule {
        HttpRule::Allowed => "an http:// or https:// URL",
        HttpRule::LoopbackOnly => "an https:// URL",
    };
    match url.scheme() {
        "https" => {}
        "http" if rule == HttpRule::Allowed || is_loopback_host(&url) => {}
        "http" => {
            return Err(ConfigError::new(
                var,
                format!(
                    "must use https:// (plain http:// is only allowed for loopback hosts such as localhost){}",
                    got(format!(
                        "host {}",
                        quote(url.host_str().unwrap_or_default())
                    ))
                ),
            ));
        }
        other => {
            return Err(ConfigError::new(
                var,
                format!("must be {wanted} (got scheme {})", quote(other)),
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(var, "must include a host name"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            var,
            "must not contain a user name or password",
        ));
    }
    Ok(url)
}

/// Validates `OKTA_ISSUER` (https, or http on loopback; no query or fragment) and returns it as written.
pub(super) fn check_issuer(var: &'static str, raw: &str) -> Result<String, ConfigError> {
    let url = parse_http_url(var, raw, HttpRule::LoopbackOnly, true)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            var,
            "must not contain a query string or fragment",
        ));
    }
    Ok(raw.to_owned())
}

/// Validates a GitHub organisation login: letters, digits, '-' and '_' only.
pub(super) fn check_github_org(var: &'static str, org: &str) -> Result<(), ConfigError> {
    if org
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Ok(());
    }
    Err(ConfigError::new(
        var,
        format!(
            "must be an organisation login (letters, digits, '-' or '_'), not a URL or path (got {})",
            quote(org)
        ),
    ))
}

/// Whether the URL's host is `localhost`, 127.0.0.0/8 or `[::1]`.
pub(super) fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses ASCII digits only (no sign, no spaces) into a `u64`.
fn parse_digits(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// Quotes a user-supplied value for an error message: escaped (so it stays on one line) and shortened.
pub(super) fn quote(value: &str) -> String {
    const MAX_CHARS: usize = 60;
    let mut shown: String = value.chars().take(MAX_CHARS).collect();
    if value.chars().count() > MAX_CHARS {
        shown.push('…');
    }
    format!("{shown:?}")
}
