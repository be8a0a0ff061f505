//! The headers every answer of this server carries, added in one place (a wrapper around every
//! route, installed by [`crate::configure`]) so that no page or route can forget them. A handler
//! that sets one of these headers itself keeps its own value (the plan page's
//! `Cache-Control: private, no-cache` for ETag revalidation, the assets' year-long cache).
//!
//! - every response: `X-Content-Type-Options: nosniff`;
//! - every HTML page: the Content-Security-Policy (with `frame-ancestors 'none'`),
//!   `X-Frame-Options: DENY` for browsers that predate `frame-ancestors`,
//!   `Referrer-Policy: same-origin`, and `Cache-Control: private, no-store` (pages show who is
//!   signed in, device codes, messages meant for one person);
//! - every JSON answer (`application/json`, `application/…+json` such as SCIM's):
//!   `Cache-Control: private, no-store` (plans, comments, the caller's profile, members,
//!   provisioned users: all of it is private);
//! - a `304 Not Modified`: `Cache-Control: private, no-cache`, so a shared cache never keeps it.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};

/// What a revalidated answer may be kept as: by the browser only, checked again (its ETag) before
/// each use. The plan page and every `304 Not Modified`.
pub(crate) const PRIVATE_NO_CACHE: HeaderValue = HeaderValue::from_static("private, no-cache");

/// The Content-Security-Policy of every page: only this server's own stylesheets, scripts and
/// images, no inline script at all, no plugins, no framing, no `<base>` tricks, forms only to
/// ourselves.
pub(crate) fn csp(remote_images: bool) -> String {
    let img = if remote_images {
        "img-src 'self' data: https:"
    } else {
        "img-src 'self' data:"
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; {img}; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
}

/// [`csp`] as a header value.
pub(crate) fn csp_value(remote_images: bool) -> HeaderValue {
    HeaderValue::from_str(&csp(remote_images))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"))
}

/// Whether the content type starts with `prefix` (lowercase), in any case.
fn content_type_is(headers: &HeaderMap, prefix: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().get(..prefix.len()))
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// `application/<something>+json` (SCIM's `application/scim+json`).
fn is_json_suffix(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().to_ascii_lowercase().ends_with("+json"))
}

/// Adds whatever of the headers above `headers` lacks.
pub(crate) fn secure(status: StatusCode, headers: &mut HeaderMap, csp: &HeaderValue) {
    if !headers.contains_key(header::X_CONTENT_TYPE_OPTIONS) {
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    if status == StatusCode::NOT_MODIFIED {
        if !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(header::CACHE_CONTROL, PRIVATE_NO_CACHE);
        }
        return;
    }
    if content_type_is(headers, "text/html") {
        for (name, value) in [
            (header::CONTENT_SECURITY_POLICY, csp.clone()),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ] {
            if !headers.contains_key(&name) {
                headers.insert(name, value);
            }
        }
    } else if (content_type_is(headers, "application/json") || is_json_suffix(headers))
        && !headers.contains_key(header::CACHE_CONTROL)
    {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: StatusCode, content_type: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(ct) = content_type {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        secure(status, &mut h, &csp_value(false));
        h
    }

    fn get(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
        h.get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn every_kind_of_answer_gets_its_headers() {
        let page = answer(StatusCode::OK, Some("text/html; charset=utf-8"));
        assert!(
            get(&page, header::CONTENT_SECURITY_POLICY)
                .is_some_and(|c| c.contains("frame-ancestors 'none'"))
        );
        assert_eq!(get(&page, header::X_FRAME_OPTIONS), Some("DENY"));
        assert_eq!(get(&page, header::CACHE_CONTROL), Some("private, no-store"));
        for ct in [
            "application/json",
            "application/scim+json",
            "application/scim+json; charset=utf-8",
        ] {
            let json = answer(StatusCode::OK, Some(ct));
            assert_eq!(
                get(&json, header::CACHE_CONTROL),
                Some("private, no-store"),
                "{ct}"
            );
            assert_eq!(get(&json, header::CONTENT_SECURITY_POLICY), None, "{ct}");
        }
        let not_modified = answer(StatusCode::NOT_MODIFIED, None);
        assert_eq!(
            get(&not_modified, header::CACHE_CONTROL),
            Some("private, no-cache")
        );
        for h in [page, not_modified, answer(StatusCode::OK, Some("text/css"))] {
            assert_eq!(get(&h, header::X_CONTENT_TYPE_OPTIONS), Some("nosniff"));
        }
    }

    #[test]
    fn a_handlers_own_choice_is_kept() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        secure(StatusCode::OK, &mut h, &csp_value(true));
        assert_eq!(get(&h, header::CACHE_CONTROL), Some("private, no-cache"));
        assert!(
            get(&h, header::CONTENT_SECURITY_POLICY)
                .is_some_and(|c| c.contains("img-src 'self' data: https:"))
        );
    }
}
