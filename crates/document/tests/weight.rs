//! The weight a remembered document's parts report (the push memo's budget is in these) against
//! the memory they really hold, counted by an allocator that records every allocation.

use std::alloc::System;
use std::sync::Arc;

use planpush_document::{Part, SanitizeOptions, prepare};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const FIXTURE: &str = include_str!("../../../fixtures/auth-service-redesign.html");

/// The parts of `doc`, and the bytes their allocations hold (requested, before malloc's rounding).
fn parts_and_bytes(doc: &str) -> (Vec<Arc<Part>>, usize) {
    let opts = SanitizeOptions::default();
    // Once first: interned names and other lazily built statics are not the parts' memory.
    drop(prepare(doc, &opts));
    let region = Region::new(GLOBAL);
    let prepared = prepare(doc, &opts);
    let parts = prepared.parts.clone();
    drop(prepared);
    let c = region.change();
    // A reallocation counts as allocating the new size and freeing the old one.
    (parts, c.bytes_allocated - c.bytes_deallocated)
}

/// The weight is at least what the parts hold, and not much more: with malloc's rounding and
/// headers, at most half as much again.
fn assert_weighs_what_it_holds(doc: &str, what: &str) {
    let (parts, held) = parts_and_bytes(doc);
    let weight: usize = parts.iter().map(|p| p.weight()).sum();
    assert!(
        weight >= held && weight <= held * 3 / 2,
        "{what}: weight {weight} for {held} bytes held"
    );
}

#[test]
fn a_remembered_document_weighs_what_it_holds() {
    assert_weighs_what_it_holds(FIXTURE, "the 12 KB fixture");
    let long = format!(
        "{FIXTURE}{}",
        FIXTURE
            .replace("<h1>", "<h2>")
            .replace("</h1>", "</h2>")
            .replace("data-anchor=\"", "data-anchor=\"copy-")
            .repeat(4)
    );
    assert_weighs_what_it_holds(&long, "the fixture five times");
    assert_weighs_what_it_holds(
        "<h1>Plan 7</h1><section data-anchor=\"a\"><h2>A</h2><p>7</p></section>",
        "a document of one line",
    );
}
