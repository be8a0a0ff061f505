//! The HTTP adapter: actix-web routes, extractors and views over the `app` services.
//!
//! A handler is: extract → one `app` call → render (HTML or JSON). No SQL, no authorization logic.
//! JSON errors have one shape, `{"error": "snake_code", "message": "…"}` ([`error`]).
//!
//! Architecture invariant: the only crate that knows actix. It knows no database.

pub mod error;
mod health;

use actix_web::web;
use planpush_app::Health;

/// Everything the handlers need, shared across workers.
#[derive(Clone)]
pub struct AppState {
    pub health: Health,
}

/// Registers every route of the service.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state))
            .configure(health::routes);
    }
}
