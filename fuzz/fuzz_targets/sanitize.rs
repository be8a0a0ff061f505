//! Arbitrary HTML and Markdown through the sanitizer and the section index.
//!
//! Properties: nothing panics; sanitizing is a fixed point (re-parsing the output cannot turn it
//! into something else — the mutation-XSS shape); markup `is_settled` accepts (what `prepare`
//! keeps without a second sanitizer pass) is markup the sanitizer gives back unchanged, whether it
//! is the input itself or the sanitizer's output, and what `settled_form` writes without the
//! sanitizer (links given their `rel`) is what the sanitizer writes; no element keeps an event handler, a `style`
//! the allowlist did not vet, or a script-capable URL; anchors in the index are unique.
#![no_main]

use libfuzzer_sys::fuzz_target;
use planpush_document::{
    SanitizeOptions, is_settled, markdown_to_html, sanitize, section_index, settled_form,
};

/// Whether a browser would run `v` as script: the WHATWG URL parser strips leading and trailing C0
/// controls and spaces and removes tabs and newlines anywhere, then reads the scheme.
fn dangerous_url(v: &str) -> bool {
    let squashed: String = v
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect::<String>()
        .to_ascii_lowercase();
    ["javascript:", "vbscript:", "data:text/html", "livescript:"]
        .iter()
        .any(|s| squashed.starts_with(s))
}

fn check(html: &str) {
    let opts = SanitizeOptions::default();
    let once = sanitize(html, &opts);
    let twice = sanitize(&once, &opts);
    assert_eq!(once, twice, "sanitize is not a fixed point for {html:?}");
    for candidate in [html, once.as_str()] {
        if let Some(form) = settled_form(candidate, &opts) {
            assert_eq!(sanitize(candidate, &opts), form, "not the sanitizer's pass: {html:?}");
        }
        if is_settled(candidate, &opts) {
            assert_eq!(sanitize(candidate, &opts), candidate, "settled but changed: {html:?}");
        }
    }
    let doc = scraper::Html::parse_fragment(&once);
    for node in doc.tree.nodes() {
        let Some(el) = node.value().as_element() else {
            continue;
        };
        let name = el.name();
        assert!(
            !matches!(name, "script" | "iframe" | "object" | "embed" | "base" | "form" | "foreignobject" | "animate" | "set"),
            "<{name}> survived in {once:?}"
        );
        for (attr, value) in el.attrs() {
            let attr = attr.to_ascii_lowercase();
            assert!(!attr.starts_with("on"), "{attr} survived in {once:?}");
            if matches!(attr.as_str(), "href" | "src" | "xlink:href" | "action" | "formaction" | "srcset") {
                assert!(!dangerous_url(value), "{attr}={value:?} survived in {once:?}");
            }
        }
    }
    let index = section_index(&once);
    let mut seen = std::collections::HashSet::new();
    for e in index.entries() {
        assert!(seen.insert(e.anchor.clone()), "duplicate anchor {:?}", e.anchor);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(text);
    check(&markdown_to_html(text));
});
