//! One pass over a pushed document: sanitized HTML, title, section index and outermost sections
//! from a single parse of the sanitized output, part by part, re-using the parts of the previous
//! version whose source did not change.
//!
//! The document is cut into top-level parts where the parser's state is provably back at the
//! start (see `split`). Each part is sanitized alone and kept only if a second pass would change
//! nothing, so the stored form is a fixed point of the sanitizer part by part (shown from the
//! parse below, `sanitize::settled`, or by that second pass where the parse cannot show it), and
//! its sanitized output must itself cut cleanly. Under those two conditions the concatenation of the
//! parts is byte for byte what [`crate::sanitize`] makes of the whole document (the unit tests
//! over the fixtures and the `prepare` fuzz target compare both paths). When either condition
//! fails for any part, the whole document goes through [`crate::sanitize`] as one part.
//!
//! A part whose source the parse shows settled is its own sanitized form, and one lacking only
//! its links' `rel` gets it written in: neither goes through ammonia (see [`sanitize_part`]).
//!
//! A part is keyed by the SHA-256 of its source and the options: a later push that changes one
//! section of forty sanitizes and parses one part and takes the other 39 from the previous
//! [`Prepared`].

use foldhash::{HashSet, HashSetExt};
use std::ops::Range;
use std::sync::Arc;

use ego_tree::NodeId;

use planpush_versions::{AnchorId, SectionEntry, SectionIndex};
use scraper::{ElementRef, Html};
use sha2::{Digest, Sha256};

use crate::diff::{SectionRef, top_elements_of};
use crate::index::{Known, entries_knowing, first_h1_of};
use crate::sanitize::{
    SanitizeOptions, clean_once, cleaner, sanitize, settled, settled_but_links, with_rel,
};
use crate::split::top_level_parts;
use crate::text::{TextUnit, loose_text_of, stitch, unit_of};
use crate::typed::TypedIndex;

/// One top-level part of a document, sanitized, with what the version needs to know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// SHA-256 of the part's source and the sanitizer options.
    source: [u8; 32],
    html: String,
    /// Every valid anchor inside, in order (duplicates kept: the document decides who wins).
    entries: Vec<SectionEntry>,
    /// The first non-empty `<h1>` text inside.
    h1: Option<String>,
    /// Where the markup of each outermost anchored element inside is; its anchor and title are
    /// those of its unit in `text` (one per element, in the same order).
    top: Vec<Markup>,
    /// Its vocabulary elements and sections, for typed change sets.
    typed: TypedIndex,
    /// Its text outside every anchored element, and its sections' searchable text.
    loose: String,
    text: Vec<TextUnit>,
    /// [`Part::weight`], counted once when the part is made (a memo is weighed on every push).
    weight: usize,
}

impl Part {
    /// The part's sanitized markup.
    pub fn html(&self) -> &str {
        &self.html
    }

    /// Its outermost anchored elements (duplicates kept: the document decides who wins).
    pub fn top_sections(&self) -> impl Iterator<Item = SectionRef<'_>> {
        self.top
            .iter()
            .zip(&self.text)
            .filter_map(|(m, u)| Some((u.anchor.as_ref()?, u.title.as_str(), m.of(&self.html))))
    }

    /// Bytes held, as the allocator counts them (for cache budgets): the part behind its `Arc`
    /// and every heap block it owns.
    pub fn weight(&self) -> usize {
        self.weight
    }

    fn count_weight(&self) -> usize {
        use crate::held::{anchor, block, each, string};
        block(std::mem::size_of::<Self>() + 16)
            + string(&self.html)
            + self.h1.as_ref().map_or(0, string)
            + each(&self.top, Markup::weight)
            + each(&self.entries, |e| anchor(&e.anchor) + string(&e.title))
            + self.typed.weight()
            + string(&self.loose)
            + each(&self.text, |u| {
                u.anchor.as_ref().map_or(0, anchor) + string(&u.title) + string(&u.text)
            })
    }

    /// The part whose sanitized markup is `html` and `doc` its parse: the index, title, outermost
    /// sections and text, all from that one parse. `spans` (from [`settled`]) says where anchored
    /// elements' markup is, where it is byte for byte the element's serialization.
    fn new(source: [u8; 32], html: String, doc: &Html, spans: &[(NodeId, Range<usize>)]) -> Self {
        let tops = top_elements_of(doc);
        let span = |id: NodeId| {
            let (_, range) = spans.iter().find(|(at, _)| *at == id)?;
            debug_assert_eq!(
                html.get(range.clone()),
                doc.tree
                    .get(id)
                    .and_then(ElementRef::wrap)
                    .map(|el| el.html())
                    .as_deref()
            );
            Some(range.clone())
        };
        // Each element's markup is where the walk saw it, or else looked for in the part's own,
        // after the previous one's: found unless the parser's serialization differs from the
        // sanitizer's (scraper writes attributes sorted), in which case it is kept as a copy.
        let mut from = 0;
        let top: Vec<Markup> = tops
            .iter()
            .map(|(_, _, el)| match span(el.id()) {
                Some(range) => {
                    from = range.end;
                    Markup::In(range)
                }
                None => Markup::find(&html, &mut from, el.html()),
            })
            .collect();
        let entries = entries_knowing(doc, &html, |id| match span(id) {
            Some(range) => html.get(range.clone()).map(|_| Known::At(range)),
            None => tops
                .iter()
                .position(|(_, _, el)| el.id() == id)
                .map(|i| match &top[i] {
                    Markup::In(range) => Known::At(range.clone()),
                    Markup::Own(markup) => Known::Copy(markup),
                }),
        });
        let mut part = Self {
            weight: 0,
            source,
            entries,
            h1: first_h1_of(doc),
            top,
            text: tops
                .iter()
                .map(|(anchor, title, el)| {
                    let unit = unit_of(anchor, title, *el);
                    TextUnit {
                        text: fitted(unit.text),
                        ..unit
                    }
                })
                .collect(),
            loose: fitted(loose_text_of(doc)),
            typed: TypedIndex::of_doc(doc),
            html,
        };
        drop(tops);
        part.weight = part.count_weight();
        part
    }
}

/// Where an outermost element's markup is: a range of its part's markup, or its own copy when the
/// element does not serialize as it appears there (attributes out of scraper's sorted order).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Markup {
    In(std::ops::Range<usize>),
    Own(String),
}

impl Markup {
    /// `markup` found in `html` at or after `from` (which moves past it), else kept as a copy.
    fn find(html: &str, from: &mut usize, markup: String) -> Self {
        match html.get(*from..).and_then(|rest| find_long(rest, &markup)) {
            Some(at) => {
                let start = *from + at;
                *from = start + markup.len();
                Markup::In(start..*from)
            }
            None => Markup::Own(fitted(markup)),
        }
    }

    fn of<'a>(&'a self, html: &'a str) -> &'a str {
        match self {
            Markup::In(range) => html.get(range.clone()).unwrap_or_default(),
            Markup::Own(s) => s,
        }
    }

    fn weight(&self) -> usize {
        match self {
            Markup::In(_) => 0,
            Markup::Own(s) => crate::held::string(s),
        }
    }
}

/// Where `needle` (a section's markup, often kilobytes long) first is in `hay`: its first bytes
/// are looked for and the rest compared where they are found, since `str::find` would first spend
/// as long on the whole needle as on the search.
fn find_long(hay: &str, needle: &str) -> Option<usize> {
    let mut head = needle.len().min(32);
    while !needle.is_char_boundary(head) {
        head -= 1;
    }
    let head = &needle[..head];
    let step = head.chars().next().map_or(1, char::len_utf8);
    let mut at = 0;
    loop {
        let start = at + hay.get(at..)?.find(head)?;
        if hay[start..].starts_with(needle) {
            return Some(start);
        }
        at = start + step;
    }
}

/// `s` trimmed to its length. A part lives in the push memo until the plan's next push, and strings
/// grown while serializing have up to twice the room they need.
fn fitted(mut s: String) -> String {
    s.shrink_to_fit();
    s
}

/// A pushed document made ready to store: [`prepare`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The sanitized HTML that is served (a fixed point of [`crate::sanitize`]).
    pub html: String,
    /// The first `<h1>`'s text, if any.
    pub title: Option<String>,
    pub sections: SectionIndex,
    /// The parts, to be handed to the next push's [`prepare_reusing`].
    pub parts: Vec<Arc<Part>>,
    /// How many parts were taken from the previous version instead of being sanitized again.
    pub reused: usize,
}

impl Prepared {
    /// A digest of the source this was prepared from (and the options): SHA-256 over its parts'
    /// keys in order. Each key is the SHA-256 of its part's source and the parts tile the source,
    /// so another source has another digest; the same source is cut the same way, so it has the
    /// same digest, without a second pass over its bytes.
    pub fn source_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in &self.parts {
            h.update(part.source);
        }
        h.finalize().into()
    }

    /// The outermost anchored elements (first occurrence of an anchor winning), for diffs.
    pub fn top_sections(&self) -> Vec<SectionRef<'_>> {
        top_sections_in(&self.parts)
    }

    /// The document's [`TypedIndex`], from its parts' (no parse; parsed again only in the rare case
    /// of an anchor repeated in two parts).
    pub fn typed_index(&self) -> TypedIndex {
        typed_index_of(&self.parts)
    }

    /// The visible text and anchored ranges re-anchoring matches quotes against
    /// ([`crate::anchored_text`]); computed on demand, since only a push with threads on changed
    /// sections needs it.
    pub fn anchored_text(&self) -> (String, Vec<(AnchorId, std::ops::Range<usize>)>) {
        crate::anchored_text(&self.html)
    }

    /// The searchable text of the document ([`crate::text_units`]), from its parts' (no parse).
    pub fn text_units(&self) -> Vec<TextUnit> {
        stitch(
            self.parts.iter().map(|p| p.loose.as_str()),
            self.parts.iter().flat_map(|p| p.text.iter()),
        )
    }

    /// Bytes held by the parts (for cache budgets).
    pub fn weight(&self) -> usize {
        self.parts.iter().map(|p| p.weight()).sum()
    }

    fn from_parts(parts: Vec<Arc<Part>>, reused: usize) -> Self {
        let mut html = String::with_capacity(parts.iter().map(|p| p.html.len()).sum());
        for p in &parts {
            html.push_str(&p.html);
        }
        Self {
            html,
            title: parts.iter().find_map(|p| p.h1.clone()),
            sections: section_index_in(&parts),
            parts,
            reused,
        }
    }
}

/// The section index of the document made of `parts` (first occurrence of an anchor winning).
fn section_index_in(parts: &[Arc<Part>]) -> SectionIndex {
    let mut seen = HashSet::new();
    let entries: Vec<SectionEntry> = parts
        .iter()
        .flat_map(|p| p.entries.iter())
        .filter(|e| seen.insert(&e.anchor))
        .cloned()
        .collect();
    // Anchors are unique by construction.
    SectionIndex::new(entries).unwrap_or_default()
}

/// The outermost anchored elements of the document made of `parts` (first occurrence of an anchor
/// winning), borrowed from them.
pub fn top_sections_in(parts: &[Arc<Part>]) -> Vec<SectionRef<'_>> {
    let mut seen = HashSet::new();
    parts
        .iter()
        .flat_map(|p| p.top_sections())
        .filter(|(a, _, _)| seen.insert(*a))
        .collect()
}

/// The [`TypedIndex`] of the document made of `parts` (a previous [`Prepared::parts`]).
fn typed_index_of(parts: &[Arc<Part>]) -> TypedIndex {
    TypedIndex::stitch(parts.iter().map(|p| &p.typed)).unwrap_or_else(|| {
        TypedIndex::of_html(&parts.iter().map(|p| p.html.as_str()).collect::<String>())
    })
}

fn source_key(raw: &str, opts: &SanitizeOptions) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([u8::from(opts.allow_remote_images)]);
    h.update(raw.as_bytes());
    h.finalize().into()
}

/// Sanitizes `raw` (Markdown already rendered, diagrams already replaced) and derives the title and
/// the section index from the same parse.
pub fn prepare(raw: &str, opts: &SanitizeOptions) -> Prepared {
    prepare_reusing(raw, opts, &[])
}

/// [`prepare`], taking the parts of `previous` (the previous version's [`Prepared::parts`]) whose
/// source is unchanged instead of sanitizing them again. The result is the same with or without
/// `previous`.
pub fn prepare_reusing(raw: &str, opts: &SanitizeOptions, previous: &[Arc<Part>]) -> Prepared {
    match cut(raw, opts, previous) {
        Ok(cut) => {
            let done = sanitize_fresh(raw, &cut.fresh, opts);
            cut.assemble(raw, opts, done)
        }
        Err(whole) => whole,
    }
}

/// [`prepare_reusing`] in steps, so that the new parts of a long document can be sanitized on
/// several threads: [`cut`] it, [`sanitize_fresh`] the [`Cut::fresh`] parts (in any grouping), then
/// [`Cut::assemble`] — the same [`Prepared`] as [`prepare_reusing`] gives.
#[derive(Debug)]
pub struct Cut {
    /// Each part in order: re-used, or `None` until sanitized.
    slots: Vec<Option<Arc<Part>>>,
    /// The parts to sanitize.
    pub fresh: Vec<FreshPart>,
    reused: usize,
}

/// A part of a [`Cut`] that is not in the previous version.
#[derive(Debug, Clone)]
pub struct FreshPart {
    slot: usize,
    key: [u8; 32],
    range: std::ops::Range<usize>,
}

impl FreshPart {
    /// Bytes of source (to share work out evenly).
    pub fn len(&self) -> usize {
        self.range.len()
    }

    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }
}

/// A sanitized [`FreshPart`]: `None` when it is not a fixed point of the sanitizer on its own (the
/// whole document is then sanitized as one part).
pub type SanitizedPart = (usize, Option<Arc<Part>>);

/// Cuts `raw` into top-level parts, taking those of `previous` whose source is unchanged. `Err`
/// holds the finished result when the document cannot be cut (sanitized whole, or taken whole from
/// `previous` when it was not cut either and is unchanged).
pub fn cut(raw: &str, opts: &SanitizeOptions, previous: &[Arc<Part>]) -> Result<Cut, Prepared> {
    let find = |key: &[u8; 32]| previous.iter().find(|p| p.source == *key).cloned();
    let Some(ranges) = top_level_parts(raw) else {
        return Err(whole(raw, opts, find(&source_key(raw, opts))));
    };
    let mut cut = Cut {
        slots: Vec::with_capacity(ranges.len()),
        fresh: vec![],
        reused: 0,
    };
    for range in ranges {
        let key = source_key(&raw[range.clone()], opts);
        let found = find(&key);
        if found.is_some() {
            cut.reused += 1;
        } else {
            cut.fresh.push(FreshPart {
                slot: cut.slots.len(),
                key,
                range,
            });
        }
        cut.slots.push(found);
    }
    Ok(cut)
}

/// Sanitizes `parts` of `raw` (the document [`cut`] was given): each alone, kept only if its
/// output cuts cleanly too and is a fixed point of the sanitizer — shown from the parse the part
/// is made from (`sanitize::settled`), or else by sanitizing it a second time.
pub fn sanitize_fresh(
    raw: &str,
    parts: &[FreshPart],
    opts: &SanitizeOptions,
) -> Vec<SanitizedPart> {
    let clean = cleaner(opts);
    parts
        .iter()
        .map(|f| {
            let part = sanitize_part(clean, f.key, &raw[f.range.clone()], opts);
            (f.slot, part.map(Arc::new))
        })
        .collect()
}

/// One part of source `source` (a part [`cut`] found) sanitized (see [`sanitize_fresh`]).
///
/// Markup already written as the sanitizer writes it — what an assistant following the
/// vocabulary mostly sends, and what a document re-pushed from its stored form is — is taken as
/// it is: when its parse shows it [`settled`], ammonia would give it back unchanged, so its
/// sanitized form is the source and that one parse serves the part. When all it lacks is the `rel`
/// the sanitizer gives links, that pass is written without ammonia ([`with_rel`]). Any other part
/// pays for the parse it wasted and is sanitized as before.
fn sanitize_part(
    clean: &ammonia::Builder<'static>,
    key: [u8; 32],
    source: &str,
    opts: &SanitizeOptions,
) -> Option<Part> {
    // The scan's state is back at its start where it cuts, so a part cuts cleanly alone too: as
    // sent, it is a fixed point that cuts cleanly when the walk shows it settled.
    debug_assert!(top_level_parts(source).is_some());
    let doc = Html::parse_fragment(source);
    let seen = settled_but_links(source, &doc, opts);
    if let Some(seen) = seen.as_ref().filter(|seen| seen.links.is_empty()) {
        return Some(Part::new(key, source.to_owned(), &doc, &seen.spans));
    }
    // The source's parse is not kept through the sanitizer's own.
    drop(doc);
    let once = match seen {
        Some(seen) => with_rel(source, &seen.links),
        None => fitted(clean_once(clean, source)),
    };
    top_level_parts(&once)?;
    let doc = Html::parse_fragment(&once);
    match settled(&once, &doc, opts) {
        Some(seen) => Some(Part::new(key, once, &doc, &seen.spans)),
        None => (clean_once(clean, &once) == once).then(|| Part::new(key, once, &doc, &[])),
    }
}

impl Cut {
    /// The document from its re-used parts and `done` (every fresh part, sanitized by
    /// [`sanitize_fresh`]); sanitized whole if any part was not a fixed point on its own.
    pub fn assemble(
        mut self,
        raw: &str,
        opts: &SanitizeOptions,
        done: Vec<SanitizedPart>,
    ) -> Prepared {
        for (slot, part) in done {
            match (part, self.slots.get_mut(slot)) {
                (Some(part), Some(place)) => *place = Some(part),
                _ => return whole(raw, opts, None),
            }
        }
        match self.slots.into_iter().collect::<Option<Vec<_>>>() {
            Some(parts) => Prepared::from_parts(parts, self.reused),
            // A fresh part was left out of `done`.
            None => whole(raw, opts, None),
        }
    }
}

/// The whole document as one part (the scan could not cut it, or a part was not a fixed point).
fn whole(raw: &str, opts: &SanitizeOptions, cached: Option<Arc<Part>>) -> Prepared {
    if let Some(p) = cached {
        return Prepared::from_parts(vec![p], 1);
    }
    let key = source_key(raw, opts);
    // `sanitize` settles its output itself: taken as it is.
    let html = fitted(sanitize(raw, opts));
    let doc = Html::parse_fragment(&html);
    let part = Part::new(key, html, &doc, &[]);
    Prepared::from_parts(vec![Arc::new(part)], 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{section_index, title};

    const HTML: &str = include_str!("../../../fixtures/auth-service-redesign.html");
    const MD: &str = include_str!("../../../fixtures/auth-service-redesign.md");

    #[test]
    fn a_long_needle_is_found_where_str_find_finds_it() {
        let long = format!("<section data-anchor=\"é\">{}</section>", "x".repeat(100));
        let near = format!("{}y", &long[..long.len() - 1]);
        for (hay, needle) in [
            (format!("ab{near}{long}cd"), long.as_str()),
            (format!("{near}{near}"), long.as_str()),
            (format!("éé{long}"), long.as_str()),
            ("<p>é</p><p>é</p>".to_owned(), "é</p>"),
            ("abc".to_owned(), ""),
            (String::new(), "a"),
            ("ééé".to_owned(), "éé"),
        ] {
            assert_eq!(
                find_long(&hay, needle),
                hay.find(needle),
                "{needle} in {hay}"
            );
        }
    }

    /// The stitched path and the whole-document path agree on everything.
    fn same_as_whole(raw: &str) -> Prepared {
        let opts = SanitizeOptions::default();
        let p = prepare(raw, &opts);
        let whole = sanitize(raw, &opts);
        assert_eq!(p.html, whole, "stitched output differs from sanitize()");
        assert_eq!(p.sections, section_index(&whole));
        assert_eq!(p.title, title(&whole));
        let tops = crate::diff::top_sections(&whole);
        assert_eq!(p.top_sections(), crate::diff::borrowed(&tops));
        assert_eq!(p.typed_index(), TypedIndex::of_html(&whole));
        assert_eq!(p.text_units(), crate::text_units(&whole));
        p
    }

    #[test]
    fn the_fixtures_stitch_to_the_whole_document() {
        let p = same_as_whole(HTML);
        assert!(
            p.parts.len() > 5,
            "the HTML fixture is cut ({})",
            p.parts.len()
        );
        let md = crate::markdown_to_html(MD);
        let p = same_as_whole(&md);
        assert!(
            p.parts.len() > 5,
            "the Markdown fixture is cut ({})",
            p.parts.len()
        );
        // A fixture repeated with renamed anchors, as the benchmark pushes it.
        let mut big = HTML.to_owned();
        for n in 2..5 {
            big.push_str(
                &HTML
                    .replace("<h1>", "<h2>")
                    .replace("</h1>", "</h2>")
                    .replace("data-anchor=\"", &format!("data-anchor=\"c{n}-")),
            );
        }
        same_as_whole(&big);
    }

    #[test]
    fn hostile_and_unusual_documents_agree_with_the_whole_path() {
        for raw in [
            "",
            "text only",
            "<p>unclosed <section data-anchor=\"a\"><h2>A</h2></section>",
            "<section data-anchor=\"a\"><h2>A</h2></section><section data-anchor=\"a\"><h2>dup</h2></section>",
            "<section data-anchor=\"pp-x\"><a href=\"#pp-x\">x</a></section><p>y</p>",
            "<div><script>alert(1)</script></div><p onclick=\"x\">y</p>",
            "<svg><style><img src=x onerror=alert(1)></style></svg><p>x</p>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
            "<table><tr><td>a</td></tr></table><p>b</p><table><div>c</div></table>",
            "<p><b><div>x</div></b></p><h2><h3>y</h3></h2><li><li>z</li></li>",
            "<a href=\"java&#x09;script:alert(1)\">x</a><p>&amp</p><p>&lt;</p>",
            "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
            "<h1> </h1><h1>Second</h1><section data-anchor=\"s\">x</section>",
            "<pre>\n\nx</pre><pre>\ny</pre>",
            "<svg><a href=\"javascript:alert(1)\"><text>x</text></a></svg><p>z</p>",
            "<input type=text value=x><p>y</p><img src=\"data:image/png;base64,AA\">",
        ] {
            same_as_whole(raw);
        }
    }

    /// The steps, with the fresh parts sanitized in any grouping and order, give what
    /// `prepare_reusing` gives.
    #[test]
    fn parts_sanitized_in_groups_assemble_to_the_same_document() {
        let opts = SanitizeOptions::default();
        let hostile = "<p>x</p><form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)><p>y</p>";
        for raw in [HTML, hostile, "plain", ""] {
            let expected = prepare(raw, &opts);
            let Ok(cut) = cut(raw, &opts, &[]) else {
                continue;
            };
            let mid = cut.fresh.len() / 2;
            let (a, b) = cut.fresh.split_at(mid);
            let mut done = sanitize_fresh(raw, b, &opts);
            done.extend(sanitize_fresh(raw, a, &opts));
            assert_eq!(cut.assemble(raw, &opts, done), expected, "{raw:?}");
        }
        // A fresh part left out is never assembled as missing: the document is sanitized whole.
        let cut = cut(HTML, &opts, &[]).unwrap();
        let partial = sanitize_fresh(HTML, &cut.fresh[1..], &opts);
        assert_eq!(
            cut.assemble(HTML, &opts, partial).html,
            sanitize(HTML, &opts)
        );
    }

    /// Counted, not timed: a part already in the sanitizer's form, or lacking only its links'
    /// `rel`, costs no ammonia pass; any other costs one (two when its output cannot be shown
    /// settled from its parse).
    #[test]
    fn parts_sent_settled_are_not_sanitized() {
        use crate::sanitize::tests::passes_of;
        let opts = SanitizeOptions::default();
        let (p, passes) = passes_of(|| prepare(HTML, &opts));
        let as_sent = p
            .parts
            .iter()
            .filter(|part| HTML.contains(part.html()))
            .count();
        assert!(
            as_sent > 5,
            "most of the fixture is sent settled ({as_sent})"
        );
        assert!(as_sent < p.parts.len(), "one part has links without rel");
        assert_eq!(passes, 0, "links are given their rel without a pass");
        // The stored form re-pushed: nothing to sanitize.
        let (again, passes) = passes_of(|| prepare(&p.html, &opts));
        assert_eq!((again.html, passes), (p.html.clone(), 0));
        // Markup that is safe but not as the sanitizer writes it is sanitized.
        let raw = "<section data-anchor=\"a\"><p>x<br/></p></section>\n<section data-anchor=\"b\"><p>y</p></section>";
        let (p, passes) = passes_of(|| prepare(raw, &opts));
        assert_eq!(p.html, sanitize(raw, &opts));
        assert_eq!(passes, 1, "the first part only");
    }

    #[test]
    fn a_changed_section_reuses_every_other_part() {
        let opts = SanitizeOptions::default();
        let first = prepare(HTML, &opts);
        assert_eq!(first.reused, 0);
        let n = first.parts.len();
        // The bench's edit: one section's text changes.
        let edited = HTML.replacen("Client", "Browser", 1);
        assert_ne!(edited, HTML);
        let second = prepare_reusing(&edited, &opts, &first.parts);
        assert_eq!(
            second.reused,
            n - 1,
            "only the changed part is sanitized again"
        );
        let fresh = prepare(&edited, &opts);
        assert_eq!(second.html, fresh.html);
        assert_eq!(second.sections, fresh.sections);
        assert_eq!(second.title, fresh.title);
        assert_eq!(second.top_sections(), fresh.top_sections());
        assert_eq!(second.typed_index(), TypedIndex::of_html(&fresh.html));
        assert_eq!(second.text_units(), crate::text_units(&fresh.html));
        assert_eq!(second.parts.len(), fresh.parts.len());
        // A section added at the end: every old part is reused but the last (the fixture's final
        // newline, which now opens the new section's part).
        let added = format!("{HTML}<section data-anchor=\"tail\"><h2>Tail</h2></section>");
        let third = prepare_reusing(&added, &opts, &first.parts);
        assert_eq!(third.reused, n - 1);
        assert_eq!(third.html, sanitize(&added, &opts));
        // Other options never take parts made under different ones.
        let remote = SanitizeOptions {
            allow_remote_images: true,
        };
        assert_eq!(prepare_reusing(HTML, &remote, &first.parts).reused, 0);
    }

    /// What tells a push of the same source: one digest for one source however its parts were
    /// come by; another for any other source, a part more or less, or other options.
    #[test]
    fn the_source_digest_is_the_sources() {
        let opts = SanitizeOptions::default();
        let first = prepare(HTML, &opts);
        assert!(first.parts.len() > 1);
        let again = prepare_reusing(HTML, &opts, &first.parts);
        assert_eq!(again.reused, first.parts.len());
        assert_eq!(again.source_digest(), first.source_digest());
        let edited = HTML.replacen("Client", "Browser", 1);
        let second = prepare_reusing(&edited, &opts, &first.parts);
        assert_ne!(second.source_digest(), first.source_digest());
        assert_eq!(
            second.source_digest(),
            prepare(&edited, &opts).source_digest()
        );
        let remote = SanitizeOptions {
            allow_remote_images: true,
        };
        assert_ne!(
            prepare(HTML, &remote).source_digest(),
            first.source_digest()
        );
        let (a, b) = ("<p>a</p>", "<p>b</p>");
        assert_ne!(
            prepare(&format!("{a}{b}"), &opts).source_digest(),
            prepare(a, &opts).source_digest()
        );
        assert_eq!(prepare(&format!("{a}{b}"), &opts).parts.len(), 2);
    }
}
