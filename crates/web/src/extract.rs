//! Who is calling, and from where.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, web};
use planpush_app::{AuthMethod, Principal, SESSION_USER_KEY, session_user};

use crate::AppState;
use crate::error::ApiError;

/// The client's address: the socket peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy. A spoofed header from an
/// untrusted peer is ignored.
pub fn client_ip(req: &HttpRequest, state: &AppState) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    if !(state.settings.trusted_proxy)(peer) {
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    for hop in forwarded
        .rsplit(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        match hop.parse::<IpAddr>() {
            Ok(ip) if (state.settings.trusted_proxy)(ip) => continue,
            Ok(ip) => return Some(ip),
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("application state missing"))
}

/// Whether a state-changing request came from our own pages: `Origin` (or, failing that,
/// `Referer`) must be `BASE_URL`'s origin.
pub fn same_origin(req: &HttpRequest, base_url: &str) -> bool {
    let Ok(base) = url::Url::parse(base_url) else {
        return false;
    };
    let expected = base.origin().ascii_serialization();
    let headers = req.headers();
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        return origin == expected;
    }
    headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .is_some_and(|r| r.origin().ascii_serialization() == expected)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Resolves the caller from a Bearer token or the session cookie. `Ok(None)`: anonymous.
async fn resolve(req: &HttpRequest) -> Result<Option<Principal>, ApiError> {
    let state = state(req)?;
    let now = crate::clock::Now::of(req)?;
    if let Some(auth) = req.headers().get(header::AUTHORIZATION) {
        let value = auth
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::unauthorized("use Authorization: Bearer <token>"))?;
        return Ok(Some(state.tokens.authenticate(token.trim(), now).await?));
    }
    let session = req.get_session();
    let Some(user) = session_user(&session.entries()) else {
        return Ok(None);
    };
    match state
        .access
        .principal(user, AuthMethod::Session)
        .await
        .map_err(ApiError::internal)?
    {
        Some(p) => {
            if !is_safe(req.method()) && !same_origin(req, &state.settings.base_url) {
                return Err(ApiError::new(
                    actix_web::http::StatusCode::FORBIDDEN,
                    "cross_origin",
                    "cross-origin requests with a session cookie are refused",
                ));
            }
            Ok(Some(p))
        }
        None => {
            // Deactivated or deleted: the session is worthless.
            session.remove(SESSION_USER_KEY);
            session.purge();
            Ok(None)
        }
    }
}

/// An authenticated API caller; anonymous requests get `401` JSON.
pub struct ApiUser(pub Principal);

impl FromRequest for ApiUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match resolve(&req).await? {
                Some(p) => Ok(ApiUser(p)),
                None => Err(ApiError::unauthorized(
                    "sign in first: run `planpush login`, or sign in on the web",
                )),
            }
        })
    }
}

/// The caller of a page, if signed in (pages redirect anonymous visitors themselves).
pub struct MaybeUser(pub Option<Principal>);

impl FromRequest for MaybeUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(MaybeUser(resolve(&req).await?)) })
    }
}
