//! The web layer's clock: the one place a request's time comes from.
//!
//! `app` and the domain crates never read the clock; handlers pass them `now`. Every request reads
//! it once, through the [`Now`] extractor over the [`Clock`] held by `AppState`; the caller
//! resolution and the handler of one request see the same instant. Tests hold a [`ShiftedClock`]
//! and move time forward instead of sleeping.

use std::future::{Ready, ready};
use std::sync::atomic::{AtomicI64, Ordering};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::{DateTime, Duration, Utc};

use crate::AppState;
use crate::error::ApiError;

/// Where the time comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock moved by an adjustable offset: time still passes (so events keep their
/// order), and a test can jump ahead — past an expiry, a poll interval — without sleeping.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_ms: AtomicI64,
}

impl ShiftedClock {
    /// Moves this clock `by` into the future (or the past, if negative).
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

/// The request's time, read once from `AppState`'s clock and kept in the request's extensions,
/// so every extractor and the handler of one request agree on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now(pub DateTime<Utc>);

impl Now {
    /// The request's time (read from the clock the first time it is asked for).
    pub fn of(req: &HttpRequest) -> Result<DateTime<Utc>, ApiError> {
        if let Some(Now(t)) = req.extensions().get::<Now>() {
            return Ok(*t);
        }
        let state = req
            .app_data::<web::Data<AppState>>()
            .ok_or_else(|| ApiError::internal("application state missing"))?;
        let t = state.clock.now();
        req.extensions_mut().insert(Now(t));
        Ok(t)
    }
}

impl FromRequest for Now {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Now::of(req).map(Now))
    }
}
