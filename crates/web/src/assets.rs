//! Static assets, embedded in the binary and served under content-hashed names with a year-long
//! immutable cache: a new build changes the name, so no client ever sees a stale stylesheet.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use base64::Engine;
use sha2::{Digest, Sha256, Sha384};

struct Asset {
    name: &'static str,
    ext: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "plan",
        ext: "css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../../assets/plan.css"),
    },
    Asset {
        name: "plan",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../assets/plan.js"),
    },
    Asset {
        name: "dashboard",
        ext: "css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../../assets/dashboard.css"),
    },
    Asset {
        name: "dashboard",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../assets/dashboard.js"),
    },
    Asset {
        name: "inbox",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../assets/inbox.js"),
    },
    Asset {
        name: "favicon",
        ext: "svg",
        content_type: "image/svg+xml",
        body: include_str!("../../../assets/favicon.svg"),
    },
];

/// An asset's URL path and its Subresource Integrity value.
struct Hashed {
    url: String,
    integrity: String,
    asset: &'static Asset,
}

/// Every asset, hashed once.
fn table() -> &'static Vec<Hashed> {
    static TABLE: OnceLock<Vec<Hashed>> = OnceLock::new();
    TABLE.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let hash = hex::encode(&Sha256::digest(a.body.as_bytes())[..6]);
                let sri = base64::engine::general_purpose::STANDARD
                    .encode(Sha384::digest(a.body.as_bytes()));
                Hashed {
                    url: format!("/assets/{}.{hash}.{}", a.name, a.ext),
                    integrity: format!("sha384-{sri}"),
                    asset: a,
                }
            })
            .collect()
    })
}

fn find(file: &str) -> Option<&'static Hashed> {
    table()
        .iter()
        .find(|h| format!("{}.{}", h.asset.name, h.asset.ext) == file)
}

/// The URL of an asset by its base name (`plan.css`).
pub fn url(file: &str) -> &'static str {
    find(file).map_or("/assets/missing", |h| h.url.as_str())
}

/// The `integrity` attribute value of an asset (`sha384-…`), for its `<script>` or `<link>` tag.
pub fn integrity(file: &str) -> &'static str {
    find(file).map_or("", |h| h.integrity.as_str())
}

/// An asset's content (`plan.css`), for documents that must carry it inline (exports).
pub fn body(file: &str) -> &'static str {
    find(file).map_or("", |h| h.asset.body)
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/{file}", web::get().to(serve))
        .route("/favicon.ico", web::get().to(favicon));
}

/// `/favicon.ico`, for clients that ask for it by that name (pages declare the hashed icon with
/// `<link rel="icon">`): the same SVG, cached for a day since this name never changes.
async fn favicon() -> HttpResponse {
    match find("favicon.svg") {
        Some(h) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, h.asset.content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
            .insert_header(("x-content-type-options", "nosniff"))
            .body(h.asset.body),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn serve(path: web::Path<String>) -> HttpResponse {
    let wanted = format!("/assets/{}", path.into_inner());
    match table().iter().find(|h| h.url == wanted).map(|h| h.asset) {
        Some(a) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, a.content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .insert_header(("x-content-type-options", "nosniff"))
            .body(a.body),
        None => HttpResponse::NotFound().finish(),
    }
}
