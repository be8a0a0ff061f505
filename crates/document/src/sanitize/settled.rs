//! Whether sanitized markup is a fixed point of the sanitizer, decided from one parse of it instead
//! of sanitizing it again.
//!
//! [`settled`] walks the parse of `html` — the tree a browser builds from it — and answers `true`
//! only when both hold:
//!
//! - every node is one the sanitizer keeps exactly as it is: an allowed element in the namespace
//!   its parent allows, each attribute allowed, with a URL of an allowed scheme where ammonia
//!   checks one, and left unchanged by the attribute filter; `<a>` ending with the `rel` the
//!   sanitizer writes last, `<input>` with the values it forces;
//! - the tree serializes back to `html` byte for byte, as html5ever's serializer writes it (the
//!   attributes in the order `html` gives them, since the parser keeps that order).
//!
//! Ammonia's `clean` is "parse, drop what is not allowed, serialize": on such a tree it drops
//! nothing, so it gives `html` back. Anything the walk does not recognise answers `false`, and the
//! caller sanitizes again as before; the rules here may be stricter than ammonia's, never looser.
//! The tests and the `sanitize` fuzz target hold the walk to that: whenever it answers `true`,
//! ammonia gives the input back unchanged. It also says something ammonia's second pass only
//! implies: the tree a browser builds from the stored markup holds nothing the allowlist did not
//! allow.
//!
//! [`settled_but_links`] is the same walk accepting one difference, links (`<a>`) without a
//! `rel`: ammonia keeps every node and attribute of such markup and appends its `rel` to each of
//! those links, so its pass is the markup with that `rel` written before each such `>`. `prepare`
//! writes that instead of running ammonia, then shows the result settled from its own parse like
//! any other sanitized part. The tests and the fuzz target hold it to ammonia's pass too.

use std::ops::Range;

use ego_tree::NodeId;
use ego_tree::iter::Edge;
use scraper::Html;
use scraper::node::{Element, Node};

use super::{
    GENERIC_ATTRIBUTE_PREFIX, GENERIC_ATTRIBUTES, HTML_TAGS, HTML_VOID, INPUT_VALUES, LINK_REL,
    SVG_TAGS, SanitizeOptions, URL_SCHEMES, filter, tag_attributes,
};
use crate::dom::attr;

const HTML_NS: &str = "http://www.w3.org/1999/xhtml";
const SVG_NS: &str = "http://www.w3.org/2000/svg";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// A void element as html5ever's serializer writes it (no end tag, no children). Only elements
/// [`kept`] allowed get here, so the vocabulary's void elements are the whole of its list that
/// matters.
fn is_void(el: &Element) -> bool {
    &*el.name.ns == HTML_NS && HTML_VOID.contains(&el.name())
}

/// What [`settled`] saw of markup it found settled.
pub(crate) struct Settled {
    /// Where the markup of each element with a `data-anchor` attribute is, when it is byte for
    /// byte the element's `html()`: when every start tag inside lists its attributes in the order
    /// the parse keeps them (scraper sorts them). In the order the elements end.
    pub(crate) spans: Vec<(NodeId, Range<usize>)>,
    /// Where the sanitizer adds its `rel` to a link that has none: before the `>` of each such
    /// `<a …>` (only from [`settled_but_links`]; the spans are then of the markup as it is).
    pub(crate) links: Vec<usize>,
}

/// Whether `html` (whose parse is `doc`) would come out of the sanitizer unchanged (`None` when
/// unsure), and where its anchored elements are. See the module's documentation.
pub(crate) fn settled(html: &str, doc: &Html, opts: &SanitizeOptions) -> Option<Settled> {
    walk(html, doc, opts, false)
}

/// [`settled`], except that links (`<a>`) without a `rel` are accepted, where they are recorded:
/// one sanitizer pass gives `html` back with its `rel` written into each of them, last, and
/// changes nothing else ([`with_rel`] writes that).
pub(crate) fn settled_but_links(html: &str, doc: &Html, opts: &SanitizeOptions) -> Option<Settled> {
    walk(html, doc, opts, true)
}

/// `html` with the sanitizer's `rel` written at each of `links` (from [`settled_but_links`]).
pub(crate) fn with_rel(html: &str, links: &[usize]) -> String {
    let rel = format!(" rel=\"{LINK_REL}\"");
    let mut out = String::with_capacity(html.len() + links.len() * rel.len());
    let mut from = 0;
    for &at in links {
        out.push_str(&html[from..at]);
        out.push_str(&rel);
        from = at;
    }
    out.push_str(&html[from..]);
    out
}

fn walk(html: &str, doc: &Html, opts: &SanitizeOptions, links: bool) -> Option<Settled> {
    // The sanitizer's `rel` passes its attribute filter unchanged (else no link is mended).
    let links = links && filter("a", "rel", LINK_REL, *opts).is_some_and(|v| v == LINK_REL);
    // A fragment's parse: the fragment root, one `html` element, the nodes under it.
    let mut tops = doc.tree.root().children();
    let (Some(root), None) = (tops.next(), tops.next()) else {
        return None;
    };
    if !root
        .value()
        .as_element()
        .is_some_and(|e| &*e.name.ns == HTML_NS && e.name() == "html")
    {
        return None;
    }
    let mut out = Expect {
        len: html.len(),
        rest: html.as_bytes(),
        unsorted: 0,
        links: links.then(Vec::new),
    };
    let at = |out: &Expect<'_>| out.at();
    let mut spans = vec![];
    // The anchored elements open: where each starts, and how many start tags were out of the
    // parse's order before it.
    let mut open = vec![];
    for edge in root.traverse() {
        match edge {
            Edge::Open(node) if node.id() == root.id() => {}
            Edge::Close(node) if node.id() == root.id() => {}
            Edge::Open(node) => {
                let ok = match node.value() {
                    Node::Text(text) => out.escaped(text, false),
                    Node::Element(el) => {
                        let parent = node.parent().and_then(|p| p.value().as_element());
                        if attr(el, "data-anchor").is_some() {
                            open.push((at(&out), out.unsorted));
                        }
                        parent.is_some_and(|parent| kept(el, parent, opts, links))
                            && !(is_void(el) && node.has_children())
                            && out.start_tag(el)
                    }
                    _ => false,
                };
                if !ok {
                    return None;
                }
            }
            Edge::Close(node) => {
                if let Node::Element(el) = node.value() {
                    if !is_void(el) && !out.end_tag(el) {
                        return None;
                    }
                    if attr(el, "data-anchor").is_some()
                        && let Some((start, unsorted)) = open.pop()
                        && unsorted == out.unsorted
                    {
                        spans.push((node.id(), start..at(&out)));
                    }
                }
            }
        }
    }
    out.rest.is_empty().then(|| Settled {
        spans,
        links: out.links.unwrap_or_default(),
    })
}

/// Whether the sanitizer keeps `el` (a child of `parent`) and every attribute of it unchanged
/// (but for the `rel` it adds to a link without one, when `links`).
fn kept(el: &Element, parent: &Element, opts: &SanitizeOptions, links: bool) -> bool {
    let tag = el.name();
    let allowed = match (&*parent.name.ns, &*el.name.ns) {
        (HTML_NS, HTML_NS) => HTML_TAGS.contains(&tag),
        // The only way into SVG is `<svg>`; there is no way back (`foreignObject` is not allowed).
        (HTML_NS, SVG_NS) => tag == "svg",
        (SVG_NS, SVG_NS) => SVG_TAGS.contains(&tag),
        _ => false,
    };
    if !allowed {
        return false;
    }
    let attrs_kept = el.attrs.iter().all(|(name, value)| {
        let (attr, value) = (&*name.local, &**value);
        let plain_name = match &*name.ns {
            "" => true,
            XMLNS_NS => attr == "xmlns",
            _ => false,
        };
        let listed = GENERIC_ATTRIBUTES.contains(&attr)
            || attr.starts_with(GENERIC_ATTRIBUTE_PREFIX)
            || tag_attributes(tag).contains(&attr)
            // Not allowed, but what the sanitizer writes (last: see `Expect::start_tag`).
            || (tag == "a" && attr == "rel" && value == LINK_REL);
        plain_name
            && listed
            && (!matches!(attr, "href" | "src") || url_kept(value))
            && filter(tag, attr, value, *opts).is_some_and(|kept| kept == value)
    });
    let forced = |values: &[(&str, &str)]| {
        values
            .iter()
            .all(|(name, value)| attr(el, name) == Some(value))
    };
    attrs_kept
        && match tag {
            "a" => forced(&[("rel", LINK_REL)]) || (links && attr(el, "rel").is_none()),
            "input" => forced(INPUT_VALUES),
            _ => true,
        }
}

/// Ammonia's test of a URL attribute, with relative URLs passed through.
fn url_kept(value: &str) -> bool {
    use ammonia::url::{ParseError, Url};
    match Url::parse(value) {
        Ok(url) => URL_SCHEMES.contains(&url.scheme()),
        Err(e) => e == ParseError::RelativeUrlWithoutBase,
    }
}

/// The markup not yet matched against the tree's serialization.
struct Expect<'a> {
    /// The length of the whole markup.
    len: usize,
    rest: &'a [u8],
    /// How many start tags so far listed their attributes out of the order the parse keeps them.
    unsorted: usize,
    /// Where links without a `rel` end their start tag, when those are accepted.
    links: Option<Vec<usize>>,
}

impl Expect<'_> {
    /// How far into the markup the match is.
    fn at(&self) -> usize {
        self.len - self.rest.len()
    }

    fn literal(&mut self, s: &[u8]) -> bool {
        match self.rest.strip_prefix(s) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// `text` as html5ever escapes it: `&`, `<`, `>` and U+00A0 always, `"` in attribute values.
    fn escaped(&mut self, text: &str, attribute: bool) -> bool {
        let bytes = text.as_bytes();
        let mut from = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let with = match b {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' if attribute => "&quot;",
                0xA0 if i > 0 && bytes[i - 1] == 0xC2 => "&nbsp;",
                _ => continue,
            };
            // U+00A0 is two bytes, both replaced.
            let end = if b == 0xA0 { i - 1 } else { i };
            if !self.literal(&bytes[from..end]) || !self.literal(with.as_bytes()) {
                return false;
            }
            from = i + 1;
        }
        self.literal(&bytes[from..])
    }

    /// `<tag name="value"…>`: each of `el`'s attributes once, in the order the markup has them
    /// (the order the parser kept), and for `<a>` the sanitizer's `rel` last.
    fn start_tag(&mut self, el: &Element) -> bool {
        if !self.literal(b"<") || !self.literal(el.name().as_bytes()) {
            return false;
        }
        let attrs = &el.attrs;
        if attrs.len() > 64 {
            return false;
        }
        let mut seen = 0u64;
        let mut last = None;
        let mut sorted = true;
        while !self.literal(b">") {
            if !self.literal(b" ") {
                return false;
            }
            let Some(len) = memchr::memchr(b'=', self.rest) else {
                return false;
            };
            let name = &self.rest[..len];
            self.rest = &self.rest[len..];
            let Some(i) = attrs
                .iter()
                .position(|(n, _)| n.local.as_bytes() == name)
                .filter(|i| seen & (1 << i) == 0)
            else {
                return false;
            };
            // The parse keeps attributes sorted: the markup's are in that order if the n-th
            // one is the n-th kept.
            sorted &= i == seen.count_ones() as usize;
            seen |= 1 << i;
            last = Some(name);
            if !self.literal(b"=\"") || !self.escaped(&attrs[i].1, true) || !self.literal(b"\"") {
                return false;
            }
        }
        self.unsorted += usize::from(!sorted);
        if seen.count_ones() as usize != attrs.len() {
            return false;
        }
        if el.name() != "a" || last == Some(b"rel") {
            return true;
        }
        // A link without a `rel` (`kept` saw to that): the sanitizer writes it before the `>`.
        let at = self.at() - 1;
        match &mut self.links {
            Some(links) if attr(el, "rel").is_none() => {
                links.push(at);
                true
            }
            _ => false,
        }
    }

    fn end_tag(&mut self, el: &Element) -> bool {
        self.literal(b"</") && self.literal(el.name().as_bytes()) && self.literal(b">")
    }
}
