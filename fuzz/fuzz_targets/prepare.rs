//! Arbitrary HTML and Markdown through `prepare`, whole and stitched from parts.
//!
//! Properties: nothing panics; `prepare` (which cuts the document into top-level parts and
//! sanitizes them alone) gives byte for byte what `sanitize` makes of the whole document, with the
//! same section index, title, searchable text, outermost sections and typed index; a second document made by editing one part, prepared re-using
//! the first one's parts, equals the same document prepared from scratch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use planpush_document::{
    SanitizeOptions, TypedIndex, borrowed, markdown_to_html, prepare, prepare_reusing, sanitize,
    section_index, text_units, title, top_sections,
};

fn check(raw: &str, edited: &str) {
    let opts = SanitizeOptions::default();
    let prepared = prepare(raw, &opts);
    let whole = sanitize(raw, &opts);
    assert_eq!(prepared.html, whole, "stitched differs from whole for {raw:?}");
    assert_eq!(prepared.sections, section_index(&whole), "index differs for {raw:?}");
    assert_eq!(prepared.title, title(&whole), "title differs for {raw:?}");
    assert_eq!(prepared.text_units(), text_units(&whole), "text differs for {raw:?}");
    let tops = top_sections(&whole);
    assert_eq!(prepared.top_sections(), borrowed(&tops), "sections differ for {raw:?}");
    assert_eq!(prepared.typed_index(), TypedIndex::of_html(&whole), "typed differs for {raw:?}");
    let again = prepare_reusing(edited, &opts, &prepared.parts);
    assert_eq!(again.html, sanitize(edited, &opts), "reused parts differ for {edited:?}");
    assert_eq!(again.sections, section_index(&again.html));
    assert_eq!(again.text_units(), text_units(&again.html));
    let tops = top_sections(&again.html);
    assert_eq!(again.top_sections(), borrowed(&tops));
    assert_eq!(again.typed_index(), TypedIndex::of_html(&again.html));
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The input's second half, appended as one more section, is the "next push".
    let cut = (0..=text.len() / 2).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    let edited = format!("{text}<section data-anchor=\"tail\"><p>{}</p></section>", &text[cut..]);
    check(text, &edited);
    let md = markdown_to_html(text);
    check(&md, &format!("{md}<section data-anchor=\"more\">x</section>"));
});
