//! The latest version of each plan page, rendered once and kept in memory three ways: as is, gzip
//! and brotli (compressed right after the render, off the async workers; readers who come in
//! between get the bytes as they are rather than wait for the compressor).
//!
//! A plan page holds nothing that depends on who reads it or on the clock (relative times are
//! written by `plan.js` from `<time datetime>`; what a reader may do is fetched by the script), so
//! its bytes are the same for every reader allowed to see it. Authorization still runs on every
//! request, against the cached [`Plan`] through `planpush_app::can_see`; only the rendering and the
//! compression are shared. See docs/architecture.md, "Serving plan pages".
//!
//! The caches are `planpush_app::GenerationCache`s scoped by plan: every change to a plan
//! publishes a live event after it commits, and the bus is wrapped once (in `AppState`) so that
//! each event bumps its plan's generation here first — no handler forgets a plan's page by hand.
//! A render that raced a change is never served after it, and concurrent misses of one page
//! render it once. Entries also expire after [`PAGE_TTL`], which bounds how stale a page can be
//! when another server process changed it.
//!
//! Older versions (`?v=N`) and diffs (`?v=N&diff=M`) are cached too, per version (pair), bounded
//! by bytes ([`RENDERED_BYTES`]): a reader repeating one diff of two large versions renders it
//! once, and the renders a reader can cause by asking for new pairs are rate-limited per user
//! (`ratelimit::Budget::Render`).

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;
use planpush_app::{CacheLimits, CpuPool, GenerationCache, Generations};
use planpush_plans::{Plan, PlanId};
use sha2::{Digest, Sha256};

use crate::compress;

/// How long a rendered page may be served before it is rendered again.
pub const PAGE_TTL: Duration = Duration::from_secs(10);

/// At most this many bytes of rendered pages (all three encodings) are kept.
const CAPACITY_BYTES: u64 = 24 * 1024 * 1024;

/// At most this many bytes of older versions and diffs are kept.
pub const RENDERED_BYTES: u64 = 16 * 1024 * 1024;

/// How long an older version or diff may be served before it is rendered again.
pub const RENDERED_TTL: Duration = Duration::from_secs(300);

/// One rendered page.
///
/// The uncompressed bytes exist as soon as the page is rendered; the gzip and brotli bodies are
/// filled in afterwards by [`CachedPage::compress`] (off the async workers). A reader that comes
/// in between gets the bytes as they are (`identity` is always an acceptable coding), so that
/// after a change nobody waits for the compressor: only for the one render.
pub struct CachedPage {
    /// The plan as it was when rendered: what `can_see` is asked about.
    pub plan: Plan,
    /// A strong validator for `If-None-Match`, quoted (of the page, whatever its coding).
    pub etag: HeaderValue,
    pub identity: Bytes,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
}

impl CachedPage {
    /// A rendered page, not yet compressed.
    pub fn new(plan: Plan, html: String) -> Self {
        let identity = Bytes::from(html);
        let etag = HeaderValue::from_str(&format!(
            "\"{}\"",
            hex::encode(&Sha256::digest(&identity)[..12])
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
        Self {
            plan,
            etag,
            identity,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
        }
    }

    /// Compresses the page both ways (CPU work: call it on a blocking thread). Readers get the
    /// compressed bodies from then on.
    pub fn compress(&self) {
        self.gzip
            .get_or_init(|| Bytes::from(compress::gzip(&self.identity)));
        self.brotli
            .get_or_init(|| Bytes::from(compress::brotli(&self.identity)));
    }

    /// Has `page` compressed (see [`CachedPage::compress`]) on `compressor` (one thread in the
    /// server: [`AppState::compressor`](crate::AppState)), if the page is still cached when its
    /// turn comes. Pages are compressed one at a time, in the order they were rendered, so a flood
    /// of changes holds one brotli encoder's memory (~3.5 MB for a 100 KB page) rather than one
    /// per page rendered meanwhile; a page replaced while it waited is skipped. Returns at once;
    /// when the compressor's queue is full the page stays uncompressed until it is rendered again.
    pub fn compress_later(page: Weak<CachedPage>, compressor: &CpuPool) {
        let queued = compressor.spawn(move || {
            if let Some(page) = page.upgrade() {
                page.compress();
            }
        });
        if queued.is_err() {
            tracing::debug!("page compressor busy: the page is served uncompressed");
        }
    }

    /// The body for a reader who accepts `wanted`, and the coding it is in: `wanted` once the
    /// page is compressed, the uncompressed bytes until then.
    pub fn body(&self, wanted: Encoding) -> (Encoding, Bytes) {
        let ready = match wanted {
            Encoding::Brotli => self.brotli.get(),
            Encoding::Gzip => self.gzip.get(),
            Encoding::Identity => None,
        };
        match ready {
            Some(bytes) => (wanted, bytes.clone()),
            None => (Encoding::Identity, self.identity.clone()),
        }
    }

    /// What the page will weigh once compressed (weights are fixed when an entry is cached): the
    /// bytes plus a quarter for both compressed bodies (HTML compresses ten to twenty times).
    fn weight(&self) -> u32 {
        let len = self.identity.len();
        u32::try_from(len + len / 4).unwrap_or(u32::MAX)
    }
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
    pub fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
            Self::Identity => "identity",
        })
    }
}

/// Which render of a plan: an older version, or a diff between two versions (`None`: latest).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RenderKey {
    pub slug: String,
    pub v: Option<u32>,
    pub diff: Option<u32>,
}

/// An older version or a diff, rendered: the same bytes for every reader allowed to see the plan.
pub struct Rendered {
    /// The plan as it was when rendered: what `can_see` is asked about.
    pub plan: Plan,
    /// The version shown (for "seen").
    pub shown: u32,
    pub html: String,
}

/// Rendered pages by plan name, voided per plan.
pub struct PageCache {
    latest: GenerationCache<String, Arc<CachedPage>, PlanId>,
    rendered: GenerationCache<RenderKey, Arc<Rendered>, PlanId>,
}

impl Default for PageCache {
    fn default() -> Self {
        Self::new(PAGE_TTL)
    }
}

impl PageCache {
    pub fn new(ttl: Duration) -> Self {
        let generations = Arc::new(Generations::new());
        Self {
            latest: GenerationCache::new(
                generations.clone(),
                |page: &Arc<CachedPage>| Some(page.plan.id()),
                CacheLimits {
                    capacity: CAPACITY_BYTES,
                    ttl,
                    weigher: Some(|page: &Arc<CachedPage>| page.weight()),
                },
            ),
            rendered: GenerationCache::new(
                generations,
                |r: &Arc<Rendered>| Some(r.plan.id()),
                CacheLimits {
                    capacity: RENDERED_BYTES,
                    ttl: RENDERED_TTL,
                    weigher: Some(|r: &Arc<Rendered>| {
                        u32::try_from(r.html.len()).unwrap_or(u32::MAX)
                    }),
                },
            ),
        }
    }

    /// The latest page of `slug`: cached, or rendered by `load` once for concurrent misses.
    pub async fn latest<E, F, Fut>(&self, slug: &str, load: F) -> Result<Option<Arc<CachedPage>>, E>
    where
        E: Send + Sync + 'static,
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<Arc<CachedPage>>, E>>,
    {
        let missed = std::sync::atomic::AtomicBool::new(false);
        let page = self
            .latest
            .get_or_load(&slug.to_owned(), || {
                missed.store(true, std::sync::atomic::Ordering::Relaxed);
                load()
            })
            .await;
        crate::metrics::count_page_lookup(missed.into_inner());
        page
    }

    /// An older version or a diff: cached, or rendered by `load` once for concurrent misses.
    pub async fn rendered<E, F, Fut>(
        &self,
        key: &RenderKey,
        load: F,
    ) -> Result<Option<Arc<Rendered>>, E>
    where
        E: Send + Sync + 'static,
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<Arc<Rendered>>, E>>,
    {
        let missed = std::sync::atomic::AtomicBool::new(false);
        let page = self
            .rendered
            .get_or_load(key, || {
                missed.store(true, std::sync::atomic::Ordering::Relaxed);
                load()
            })
            .await;
        crate::metrics::count_page_lookup(missed.into_inner());
        page
    }

    /// Voids every page of the plan (it was pushed to, published, archived, deleted or commented
    /// on). Called by the bus decorator for every event, before it is published.
    pub fn forget_plan(&self, id: PlanId) {
        self.latest.generations().bump(id);
    }

    /// Voids every page (another process may have changed any plan while its news was lost).
    pub fn forget_all(&self) {
        self.latest.generations().bump_all();
    }

    /// The plan generations both caches obey.
    #[cfg(test)]
    pub fn generations(&self) -> &Arc<Generations<PlanId>> {
        self.latest.generations()
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

    fn page(html: &str) -> super::CachedPage {
        let plan = planpush_plans::Plan::new(
            planpush_plans::Slug::parse("plan").unwrap(),
            "Plan",
            planpush_identity::UserId::new(),
            planpush_plans::Visibility::Published,
            chrono::Utc::now(),
        )
        .unwrap();
        super::CachedPage::new(plan, html.to_owned())
    }

    #[test]
    fn pages_still_cached_are_compressed_later_and_replaced_ones_skipped() {
        use std::sync::Arc;
        use std::time::{Duration, Instant};
        let html = "<p>plan</p>".repeat(2000);
        // A page dropped (replaced in the cache) before its turn: skipped, nothing kept alive.
        let gone = Arc::new(page(&html));
        let weak = Arc::downgrade(&gone);
        drop(gone);
        let compressor = planpush_app::CpuPool::new(1, 8).unwrap();
        super::CachedPage::compress_later(weak.clone(), &compressor);
        // Pages still cached, handed over from several threads at once: each gets compressed.
        let pages: Vec<_> = (0..4).map(|_| Arc::new(page(&html))).collect();
        std::thread::scope(|s| {
            for p in &pages {
                let weak = Arc::downgrade(p);
                let compressor = &compressor;
                s.spawn(move || super::CachedPage::compress_later(weak, compressor));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        for p in &pages {
            while p.body(Encoding::Gzip).0 != Encoding::Gzip {
                assert!(Instant::now() < deadline, "not compressed within 10 s");
                std::thread::sleep(Duration::from_millis(5));
            }
            while p.body(Encoding::Brotli).0 != Encoding::Brotli {
                assert!(Instant::now() < deadline, "not compressed within 10 s");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn compressed_bodies_decompress_to_the_page() {
        use std::io::Read;
        let html = "<p>plan</p>".repeat(2000);
        let page = page(&html);
        // Before compressing, every reader gets the bytes as they are, and is told so.
        for wanted in [Encoding::Brotli, Encoding::Gzip, Encoding::Identity] {
            let (coding, body) = page.body(wanted);
            assert_eq!(coding, Encoding::Identity);
            assert_eq!(&body[..], html.as_bytes());
        }
        page.compress();
        let (coding, gzip) = page.body(Encoding::Gzip);
        assert_eq!(coding, Encoding::Gzip);
        let (coding, br) = page.body(Encoding::Brotli);
        assert_eq!(coding, Encoding::Brotli);
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, html);
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut out).unwrap();
        assert_eq!(out, html.as_bytes());
        assert!(br.len() < html.len() / 10);
        assert_eq!(page.body(Encoding::Identity).0, Encoding::Identity);
    }
}
