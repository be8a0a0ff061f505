//! The latest version of each plan page, rendered once and kept in memory three ways: as is, gzip
//! and brotli.
//!
//! A plan page holds nothing that depends on who reads it or on the clock (relative times are
//! written by `plan.js` from `<time datetime>`; what a reader may do is fetched by the script), so
//! its bytes are the same for every reader allowed to see it. Authorization still runs on every
//! request, against the cached [`Plan`] through `planpush_app::can_see`; only the rendering and the
//! compression are shared. See docs/architecture.md, "Serving plan pages".
//!
//! Entries are dropped when this process changes the plan (push, publish, archive, delete, comments)
//! and in any case after [`PAGE_TTL`], which bounds how stale a page can be when another server
//! process changed it.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::web::Bytes;
use planpush_plans::Plan;
use sha2::{Digest, Sha256};

/// How long a rendered page may be served before it is rendered again.
pub const PAGE_TTL: Duration = Duration::from_secs(10);

/// At most this many bytes of rendered pages (all three encodings) are kept.
const CAPACITY_BYTES: u64 = 24 * 1024 * 1024;

/// One rendered page.
pub struct CachedPage {
    /// The plan as it was when rendered: what `can_see` is asked about.
    pub plan: Plan,
    /// A strong validator for `If-None-Match`, quoted.
    pub etag: String,
    pub identity: Bytes,
    pub gzip: Bytes,
    pub brotli: Bytes,
}

impl CachedPage {
    /// Renders once, compresses twice.
    pub fn new(plan: Plan, html: String) -> Self {
        let identity = Bytes::from(html);
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&identity)[..12]));
        let gzip = Bytes::from(gzip(&identity));
        let brotli = Bytes::from(brotli(&identity));
        Self {
            plan,
            etag,
            identity,
            gzip,
            brotli,
        }
    }

    /// The body for `encoding`.
    pub fn body(&self, encoding: Encoding) -> Bytes {
        match encoding {
            Encoding::Brotli => self.brotli.clone(),
            Encoding::Gzip => self.gzip.clone(),
            Encoding::Identity => self.identity.clone(),
        }
    }

    fn weight(&self) -> u32 {
        u32::try_from(self.identity.len() + self.gzip.len() + self.brotli.len()).unwrap_or(u32::MAX)
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::new(6),
    );
    // Writing to a Vec cannot fail.
    let _ = out.write_all(data);
    out.finish().unwrap_or_default()
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 5);
    let params = brotli::enc::BrotliEncoderParams {
        quality: 6,
        lgwin: 22,
        ..Default::default()
    };
    let _ = brotli::BrotliCompress(&mut &data[..], &mut out, &params);
    out
}

/// A content coding the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl Encoding {
    /// The best coding of ours that `Accept-Encoding` allows: brotli, then gzip, else none.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Identity;
        };
        let allows = |name: &str| {
            accept.split(',').any(|item| {
                let mut parts = item.split(';');
                let coding = parts.next().unwrap_or("").trim();
                let q_zero = parts.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                (coding.eq_ignore_ascii_case(name) || coding == "*") && !q_zero
            })
        };
        if allows("br") {
            Self::Brotli
        } else if allows("gzip") {
            Self::Gzip
        } else {
            Self::Identity
        }
    }

    /// The `Content-Encoding` value.
    pub fn header(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
            Self::Identity => "identity",
        }
    }
}

/// Rendered latest pages by plan name.
pub struct PageCache {
    pages: moka::sync::Cache<String, Arc<CachedPage>>,
    /// Bumped by every `forget`: a page rendered from data read before a change is not kept.
    generation: AtomicU64,
}

impl Default for PageCache {
    fn default() -> Self {
        Self::new(PAGE_TTL)
    }
}

impl PageCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            pages: moka::sync::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(CAPACITY_BYTES)
                .weigher(|_, page: &Arc<CachedPage>| page.weight())
                .build(),
            generation: AtomicU64::new(0),
        }
    }

    pub fn get(&self, slug: &str) -> Option<Arc<CachedPage>> {
        self.pages.get(slug)
    }

    /// Read before loading the data a page is rendered from; pass it to [`Self::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `page` unless something was forgotten since `generation` was read (the page may then
    /// show data from before that change).
    pub fn insert(&self, slug: &str, page: Arc<CachedPage>, generation: u64) {
        if self.generation() == generation {
            self.pages.insert(slug.to_owned(), page);
        }
    }

    /// Forgets one plan's page (it was pushed to, published, archived or commented on).
    pub fn forget(&self, slug: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.pages.invalidate(slug);
    }

    /// Forgets the page of the plan with this id (its comments changed).
    pub fn forget_plan(&self, id: planpush_plans::PlanId) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for (slug, page) in &self.pages {
            if page.plan.id() == id {
                self.pages.invalidate(slug.as_str());
            }
        }
    }

    /// Forgets every page (a plan was deleted; its name may be reused at once).
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.pages.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::Encoding;

    #[test]
    fn accept_encoding_is_negotiated() {
        let cases = [
            (None, Encoding::Identity),
            (Some(""), Encoding::Identity),
            (Some("gzip, deflate, br, zstd"), Encoding::Brotli),
            (Some("gzip"), Encoding::Gzip),
            (Some("GZIP"), Encoding::Gzip),
            (Some("br;q=0, gzip;q=0.5"), Encoding::Gzip),
            (Some("br;q=0.0, gzip;q=0"), Encoding::Identity),
            (Some("deflate"), Encoding::Identity),
            (Some("*"), Encoding::Brotli),
            (Some("identity"), Encoding::Identity),
        ];
        for (accept, want) in cases {
            assert_eq!(Encoding::negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn compressed_bodies_decompress_to_the_page() {
        use std::io::Read;
        let html = "<p>plan</p>".repeat(2000);
        let plan = planpush_plans::Plan::new(
            planpush_plans::Slug::parse("plan").unwrap(),
            "Plan",
            planpush_identity::UserId::new(),
            planpush_plans::Visibility::Published,
            chrono::Utc::now(),
        )
        .unwrap();
        let page = super::CachedPage::new(plan, html.clone());
        let mut out = String::new();
        flate2::read::GzDecoder::new(&page.gzip[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, html);
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &page.brotli[..], &mut out).unwrap();
        assert_eq!(out, html.as_bytes());
        assert!(page.brotli.len() < html.len() / 10);
    }
}
