//! `cargo xtask bench typed`: the cost of a typed change set (`typed_changes`) between two
//! versions of the ~50 KB document — the Auth Service Redesign fixture repeated with its anchors
//! suffixed — where the second version changes a decision's status, a risk's level, an endpoint's
//! method, a field's type, a phase's status and a card's impact in every copy, and reorders two
//! sections. Prints a Markdown table (docs/benchmarks.md, section `typed`). Target: ≤ 2 ms.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use planpush_document::{
    SanitizeOptions, TypedIndex, diff, prepare, prepare_reusing, typed_changes, typed_diff,
};
use scraper::Html;

fn scaled(target: usize) -> String {
    let fixture = include_str!("../../../fixtures/auth-service-redesign.html");
    let mut out = String::new();
    let mut copy = 0;
    while out.len() < target {
        out.push_str(
            &fixture
                .replace("data-anchor=\"", &format!("data-anchor=\"c{copy}-"))
                .replace("id=\"pane-", &format!("id=\"c{copy}-pane-"))
                .replace("href=\"#pane-", &format!("href=\"#c{copy}-pane-")),
        );
        copy += 1;
    }
    out
}

fn edited(v1: &str) -> String {
    v1.replace(
        r#"<span class="pp-badge pp-open">Open</span> Redis vs PostgreSQL"#,
        r#"<span class="pp-badge pp-accepted">Accepted</span> Redis vs PostgreSQL"#,
    )
    .replace(
        r#"<strong>Old mobile builds</strong> <span class="pp-badge pp-low">Low</span>"#,
        r#"<strong>Old mobile builds</strong> <span class="pp-badge pp-high">High</span>"#,
    )
    .replace(
        r#"<span class="pp-method">GET</span><code>/api/auth/me</code>"#,
        r#"<span class="pp-method">POST</span><code>/api/auth/me</code>"#,
    )
    .replace("varchar(128)", "varchar(255)")
    .replace(r#"<li class="pp-current""#, r#"<li class="pp-done""#)
    .replace(
        r#"<span class="pp-badge pp-minor">Minor</span>"#,
        r#"<span class="pp-badge pp-moderate">Moderate</span>"#,
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let v1 = scaled(50_000);
    let v2 = edited(&v1);
    assert_ne!(v1, v2);
    let changes = typed_changes(&v1, &v2);
    assert!(changes.len() >= 6, "the edits are seen: {}", changes.len());
    let runs = 200;
    let time = |f: &dyn Fn()| {
        for _ in 0..10 {
            f();
        }
        let mut samples: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect();
        samples.sort();
        (percentile(&samples, 0.5), percentile(&samples, 0.99))
    };
    let (typed50, typed99) = time(&|| {
        std::hint::black_box(typed_changes(&v1, &v2));
    });
    let (diff50, diff99) = time(&|| {
        std::hint::black_box(diff(&v1, &v2));
    });
    // What a push does: the previous version's index is kept from its push, the new one is
    // stitched from the parts `prepare` parsed (each part walked once, while it is parsed).
    let opts = SanitizeOptions::default();
    let first = prepare(&v1, &opts);
    let second = prepare_reusing(&v2, &opts, &first.parts);
    let kept = first.typed_index();
    assert_eq!(
        typed_diff(&kept, &second.typed_index()),
        typed_changes(&first.html, &second.html)
    );
    let (push50, push99) = time(&|| {
        std::hint::black_box(typed_diff(&kept, &second.typed_index()));
    });
    let new_index = second.typed_index();
    let (cmp50, cmp99) = time(&|| {
        std::hint::black_box(typed_diff(&kept, &new_index));
    });
    // The walk `prepare` adds to its parse of every changed part, here of the whole document
    // (an upper bound: the edit touches every copy).
    let tree = Html::parse_fragment(&second.html);
    let (walk50, walk99) = time(&|| {
        std::hint::black_box(TypedIndex::of_doc(&tree));
    });
    println!(
        "Document: {} KB of HTML, {} typed changes.\n",
        v1.len() / 1024,
        changes.len()
    );
    println!("| computation | p50 | p99 | target |");
    println!("|---|---|---|---|");
    println!(
        "| **typed change set on push** (`typed_diff` of the kept index and the new one stitched from its parts) | **{}** | {} | ≤ 2 ms |",
        ms(push50),
        ms(push99)
    );
    println!(
        "| … of which the comparison alone (`typed_diff`) | {} | {} | |",
        ms(cmp50),
        ms(cmp99)
    );
    println!(
        "| walk of the parsed tree in `prepare` (`TypedIndex::of_doc`, whole document: upper bound) | {} | {} | |",
        ms(walk50),
        ms(walk99)
    );
    println!(
        "| from HTML, both parsed (`typed_changes`; diff pages, reviews) | {} | {} | |",
        ms(typed50),
        ms(typed99)
    );
    println!(
        "| section + word diff (`diff`, for comparison) | {} | {} | |",
        ms(diff50),
        ms(diff99)
    );
}
