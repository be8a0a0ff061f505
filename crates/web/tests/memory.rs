//! Memory the web layer takes, counted by an allocator that records every allocation: what
//! compressing a page allocates (a page is compressed once per change, and every byte its encoder
//! takes is resident meanwhile), and what recording request metrics keeps.
//! (Its own test binary: the counting allocator is global, and other tests would add to it; the
//! tests here take turns for the same reason.)

use std::alloc::System;
use std::sync::Mutex;

use planpush_web::compress::{brotli, gzip};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Held by each test while it counts.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const FIXTURE: &str = include_str!("../../../fixtures/auth-service-redesign.html");

/// A page of about `bytes` bytes of plan HTML.
fn page(bytes: usize) -> Vec<u8> {
    FIXTURE.repeat(bytes / FIXTURE.len() + 1).as_bytes()[..bytes].to_vec()
}

/// The output of `compress` and every byte it allocated on the way (freed or not).
fn allocated(compress: fn(&[u8]) -> Vec<u8>, data: &[u8]) -> (Vec<u8>, usize) {
    let region = Region::new(GLOBAL);
    let out = compress(data);
    (out, region.change().bytes_allocated)
}

#[test]
fn compressing_a_page_allocates_a_few_megabytes_at_most() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const MB: usize = 1024 * 1024;
    // 1 KB to 300 KB, small pages especially: most plans are under 64 KB, where a 16-bit window
    // made brotli allocate 32 MB per page. (What is counted is every allocation, an upper bound
    // of what is held at once: growing buffers are counted at each size they grow through.)
    for size in [1_000, 15_000, 23_000, 64_000, 65_537, 114_000, 300_000] {
        let data = page(size);
        let (br, br_bytes) = allocated(brotli, &data);
        let mut back = Vec::new();
        ::brotli::BrotliDecompress(&mut &br[..], &mut back).unwrap();
        assert_eq!(back, data, "{size} bytes: brotli round trip");
        // The encoder's buffers grow with its window (the page's size rounded up to a power of
        // two), so the bound does too: ~1.5 MB for small pages, ~5 MB for 300 KB.
        let bound = 2 * MB + 12 * size.next_power_of_two();
        assert!(
            br_bytes <= bound,
            "{size} bytes: brotli allocated {br_bytes} bytes (at most {bound})"
        );
        let (gz, gz_bytes) = allocated(gzip, &data);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
        assert_eq!(back, data, "{size} bytes: gzip round trip");
        assert!(
            gz_bytes <= MB + 2 * size,
            "{size} bytes: gzip allocated {gz_bytes} bytes"
        );
    }
}

#[test]
fn request_metrics_keep_no_sample_per_request() {
    use planpush_web::metrics::{UPKEEP_EVERY, handle, observe_request};
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    assert!(handle().is_some(), "the recorder is installed");
    let routes = ["/p/{slug}", "/api/push", "/healthz"];
    let observe = |n: u64| {
        for i in 0..n {
            let route = routes[(i % 3) as usize];
            observe_request("GET", route, 200, 0.000_3 * (i % 7) as f64);
        }
    };
    // The first requests create the series (names, labels, buckets): that is kept, once.
    observe(3 * UPKEEP_EVERY);
    let region = Region::new(GLOBAL);
    observe(200_000);
    let c = region.change();
    // A reallocation counts its growth (or shrinking) only.
    let kept = c.bytes_allocated as isize + c.bytes_reallocated - c.bytes_deallocated as isize;
    // Every sample kept until /metrics is rendered would be 1.6 MB here (8 bytes each).
    assert!(
        kept < 64 * 1024,
        "200,000 requests left {kept} bytes allocated"
    );
    // The samples were folded into the buckets, not lost.
    let text = handle().unwrap().render();
    let count: f64 = text
        .lines()
        .filter(|l| l.starts_with("planpush_http_request_duration_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(count >= 200_000.0, "{count} requests in the histograms");
}
