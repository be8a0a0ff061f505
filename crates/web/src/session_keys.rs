//! Rotating `SECRET_KEY` without signing anyone out.
//!
//! `SECRET_KEY` seals one thing: the session cookie (`planpush_session`), which actix-session
//! encrypts and authenticates (AES-256-GCM under a key derived from `SECRET_KEY`). The cookie holds
//! a random session key; the database row holds only its hash, so nothing stored in the database
//! depends on `SECRET_KEY` and nothing there needs re-encrypting. Tokens, device codes and SCIM
//! credentials are hashed without a key.
//!
//! [`SessionCookies`] wraps actix-session's middleware. A cookie that the current key does not
//! open but one of `SECRET_KEY_PREVIOUS` does is re-sealed under the current key before
//! actix-session reads it (so the request is signed in), and the response carries the re-sealed
//! cookie (unless the session middleware sets or removes the cookie itself), so the browser moves
//! to the current key on its first request. A cookie no key opens is left alone: actix-session
//! ignores it, as before. Nothing is ever sealed under a previous key.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderValue};

use crate::DbSessionStore;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "planpush_session";

/// The current key and the earlier ones, with the attributes a re-sealed cookie gets.
pub(crate) struct SessionKeys {
    current: Key,
    previous: Vec<Key>,
    secure: bool,
    max_age: actix_web::cookie::time::Duration,
}

impl SessionKeys {
    pub(crate) fn new(
        current: &[u8],
        previous: &[Vec<u8>],
        secure: bool,
        max_age: actix_web::cookie::time::Duration,
    ) -> Self {
        Self {
            current: Key::derive_from(current),
            previous: previous.iter().map(|k| Key::derive_from(k)).collect(),
            secure,
            max_age,
        }
    }

    pub(crate) fn current(&self) -> &Key {
        &self.current
    }

    /// The cookie's value sealed under the current key, when only a previous key opens it;
    /// `None` when the current key opens it or no key does.
    fn reseal(&self, sealed: &str) -> Option<String> {
        let open = |key: &Key| {
            let mut jar = CookieJar::new();
            jar.add_original(Cookie::new(COOKIE, sealed.to_owned()));
            jar.private(key).get(COOKIE)
        };
        if open(&self.current).is_some() {
            return None;
        }
        let plain = self.previous.iter().find_map(open)?;
        let mut jar = CookieJar::new();
        jar.private_mut(&self.current)
            .add(Cookie::new(COOKIE, plain.value().to_owned()));
        jar.get(COOKIE).map(|c| c.value().to_owned())
    }

    /// Rewrites the request's `Cookie` headers with the session cookie re-sealed under the
    /// current key; returns the new sealed value when it did.
    fn reseal_request(&self, headers: &mut header::HeaderMap) -> Option<String> {
        let mut resealed = None;
        let mut pairs = Vec::new();
        for value in headers.get_all(header::COOKIE) {
            let Ok(text) = value.to_str() else {
                return None;
            };
            for piece in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                match Cookie::parse_encoded(piece) {
                    Ok(c) if c.name() == COOKIE && resealed.is_none() => {
                        match self.reseal(c.value()) {
                            Some(new) => {
                                pairs.push(Cookie::new(COOKIE, new.clone()).encoded().to_string());
                                resealed = Some(new);
                            }
                            None => pairs.push(piece.to_owned()),
                        }
                    }
                    _ => pairs.push(piece.to_owned()),
                }
            }
        }
        let new = resealed?;
        let joined = HeaderValue::from_str(&pairs.join("; ")).ok()?;
        headers.remove(header::COOKIE);
        headers.insert(header::COOKIE, joined);
        Some(new)
    }

    /// The `Set-Cookie` of a re-sealed session: the attributes actix-session gives it.
    fn set_cookie(&self, sealed: String) -> Option<HeaderValue> {
        let cookie = Cookie::build(COOKIE, sealed)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(self.max_age)
            .finish();
        HeaderValue::from_str(&cookie.encoded().to_string()).ok()
    }
}

/// actix-session's middleware behind the re-sealing of cookies made under a previous key.
pub struct SessionCookies {
    pub(crate) session: SessionMiddleware<DbSessionStore>,
    pub(crate) keys: Arc<SessionKeys>,
}

impl<S, B> Transform<S, ServiceRequest> for SessionCookies
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = SessionCookiesService<
        <SessionMiddleware<DbSessionStore> as Transform<S, ServiceRequest>>::Transform,
    >;
    type InitError = ();
    type Future = Pin<Box<dyn Future<Output = Result<Self::Transform, ()>>>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let inner = self.session.new_transform(service);
        let keys = self.keys.clone();
        Box::pin(async move {
            Ok(SessionCookiesService {
                inner: Rc::new(inner.await?),
                keys,
            })
        })
    }
}

pub struct SessionCookiesService<S> {
    inner: Rc<S>,
    keys: Arc<SessionKeys>,
}

impl<S, B> Service<ServiceRequest> for SessionCookiesService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<ServiceResponse<B>, actix_web::Error>>>>;

    forward_ready!(inner);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let resealed = if self.keys.previous.is_empty() {
            None
        } else {
            self.keys.reseal_request(req.headers_mut())
        };
        let answer = self.inner.call(req);
        let keys = self.keys.clone();
        Box::pin(async move {
            let mut res = answer.await?;
            if let Some(sealed) = resealed {
                let set_by_session = res.response().cookies().any(|c| c.name() == COOKIE);
                if !set_by_session && let Some(value) = keys.set_cookie(sealed) {
                    res.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            Ok(res)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(current: u8, previous: &[u8]) -> SessionKeys {
        SessionKeys::new(
            &[current; 64],
            &previous.iter().map(|&b| vec![b; 64]).collect::<Vec<_>>(),
            true,
            actix_web::cookie::time::Duration::days(7),
        )
    }

    fn seal(key: u8, value: &str) -> String {
        let mut jar = CookieJar::new();
        jar.private_mut(&Key::derive_from(&[key; 64]))
            .add(Cookie::new(COOKIE, value.to_owned()));
        jar.get(COOKIE).unwrap().value().to_owned()
    }

    fn open(key: u8, sealed: &str) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(COOKIE, sealed.to_owned()));
        jar.private(&Key::derive_from(&[key; 64]))
            .get(COOKIE)
            .map(|c| c.value().to_owned())
    }

    #[test]
    fn only_cookies_of_a_previous_key_are_resealed_under_the_current_one() {
        let k = keys(1, &[2, 3]);
        assert_eq!(k.reseal(&seal(1, "sid")), None, "current: left alone");
        let new = k.reseal(&seal(3, "sid")).unwrap();
        assert_eq!(open(1, &new).as_deref(), Some("sid"));
        assert_eq!(open(3, &new), None, "never sealed under an old key");
        assert_eq!(k.reseal(&seal(9, "sid")), None, "unknown key: not opened");
        assert_eq!(k.reseal("garbage"), None);
    }

    #[test]
    fn the_request_header_is_rewritten_in_place() {
        let k = keys(1, &[2]);
        let old = Cookie::new(COOKIE, seal(2, "sid")).encoded().to_string();
        let mut headers = header::HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; {old}; other=1")).unwrap(),
        );
        let new = k.reseal_request(&mut headers).unwrap();
        let text = headers.get(header::COOKIE).unwrap().to_str().unwrap();
        assert!(text.starts_with("theme=dark; planpush_session="), "{text}");
        assert!(text.ends_with("; other=1"), "{text}");
        let sent = Cookie::parse_encoded(text.split("; ").nth(1).unwrap().to_owned()).unwrap();
        assert_eq!(sent.value(), new);
        assert_eq!(open(1, &new).as_deref(), Some("sid"));

        let set = k.set_cookie(new).unwrap();
        let set = set.to_str().unwrap();
        for attr in [
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=604800",
        ] {
            assert!(set.contains(attr), "{set}");
        }
    }
}
