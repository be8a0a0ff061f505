use std::collections::HashSet;
use std::ops::Range;

use planpush_versions::{AnchorId, ContentHash, SectionEntry, SectionIndex};
use scraper::{ElementRef, Html, Selector};
use sha2::{Digest, Sha256};

use crate::dom::attr;

/// An anchor id from heading text: lower-case ASCII letters and digits, other runs become `-`.
pub fn slugify(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 64 {
            break;
        }
    }
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() {
        "section".into()
    } else {
        out
    }
}

/// The element's text, its words joined by one space (no word spans two text nodes).
fn text_of(e: ElementRef<'_>) -> String {
    let mut out = String::new();
    for word in e.text().flat_map(str::split_whitespace) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The selectors every push's walks use, parsed once per process.
pub(crate) struct Selectors {
    /// `[data-anchor]`
    pub anchored: Selector,
    /// Every heading level.
    pub headings: Selector,
    pub h1: Selector,
}

pub(crate) fn selectors() -> Option<&'static Selectors> {
    static SELECTORS: std::sync::OnceLock<Option<Selectors>> = std::sync::OnceLock::new();
    SELECTORS
        .get_or_init(|| {
            Some(Selectors {
                anchored: Selector::parse("[data-anchor]").ok()?,
                headings: Selector::parse("h1, h2, h3, h4, h5, h6").ok()?,
                h1: Selector::parse("h1").ok()?,
            })
        })
        .as_ref()
}

/// The document's title: the first `<h1>`'s text, if any.
pub fn title(html: &str) -> Option<String> {
    first_h1_of(&Html::parse_fragment(html))
}

/// [`title`] of a parsed document.
pub(crate) fn first_h1_of(doc: &Html) -> Option<String> {
    doc.select(&selectors()?.h1)
        .map(text_of)
        .find(|t| !t.is_empty())
}

/// Every element with a valid `data-anchor`, in document order, first occurrence winning: its title
/// (first heading inside, else a short excerpt of its text) and a hash of its normalized markup, so a
/// change anywhere inside — text, attributes, nested elements — changes the hash, while
/// re-indentation does not.
pub fn section_index(html: &str) -> SectionIndex {
    let mut seen = HashSet::new();
    let entries = entries_of(&Html::parse_fragment(html))
        .into_iter()
        .filter(|e| seen.insert(e.anchor.clone()))
        .collect();
    // Anchors are unique by construction.
    SectionIndex::new(entries).unwrap_or_default()
}

/// Every element of a parsed document with a valid `data-anchor`, in document order, duplicates
/// included (see [`section_index`]).
pub(crate) fn entries_of(doc: &Html) -> Vec<SectionEntry> {
    entries_knowing(doc, "", |_| None)
}

/// What each byte can start: a word, one ASCII whitespace character, or (a lead byte) a
/// multi-byte character that may be whitespace.
const WORD: u8 = 0;
const SPACE: u8 = 1;
const LEAD: u8 = 2;

static CLASS: [u8; 256] = {
    let mut class = [WORD; 256];
    let mut spaces = [b' ', b'\t', b'\n', 0x0b, 0x0c, b'\r'].as_slice();
    while let [b, rest @ ..] = spaces {
        class[*b as usize] = SPACE;
        spaces = rest;
    }
    // U+0085, U+00A0 (C2); U+1680 (E1); U+2000–U+200A, U+2028, U+2029, U+202F, U+205F (E2);
    // U+3000 (E3).
    class[0xc2] = LEAD;
    class[0xe1] = LEAD;
    class[0xe2] = LEAD;
    class[0xe3] = LEAD;
    class
};

/// The length of the whitespace character (`char::is_whitespace`) at byte `i` of `s`, 0 when
/// a word goes on there.
fn space_at(s: &[u8], i: usize) -> usize {
    match CLASS[usize::from(s[i])] {
        WORD => 0,
        SPACE => 1,
        _ => match (s[i], s.get(i + 1), s.get(i + 2)) {
            (0xc2, Some(0x85 | 0xa0), _) => 2,
            (0xe1, Some(0x9a), Some(0x80))
            | (0xe2, Some(0x80), Some(0x80..=0x8a | 0xa8 | 0xa9 | 0xaf))
            | (0xe2, Some(0x81), Some(0x9f))
            | (0xe3, Some(0x80), Some(0x80)) => 3,
            _ => 0,
        },
    }
}

/// Where the words of `s` are: `str::split_whitespace`, byte by byte instead of char by char.
fn words(s: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        loop {
            if i >= s.len() {
                return None;
            }
            match space_at(s, i) {
                0 => break,
                n => i += n,
            }
        }
        let start = i;
        while i < s.len() && space_at(s, i) == 0 {
            i += 1;
        }
        Some(start..i)
    })
}

/// Whether the collapsed markup has a space between a word ending in `last` and `word`: always,
/// except between `>` and `<`.
fn spaced(last: Option<u8>, word: &[u8]) -> bool {
    last.is_some_and(|last| !(last == b'>' && word.first() == Some(&b'<')))
}

/// The hash of an element's markup with whitespace runs collapsed to one space and whitespace-only
/// text between tags removed: SHA-256 of `html.split_whitespace().join(" ").replace("> <", "><")`,
/// computed word by word without building that whole string (a separator is dropped where a word
/// ending in `>` meets one starting with `<`; such matches cannot overlap).
pub(crate) fn content_hash(html: &str) -> ContentHash {
    // The collapsed markup is hashed a buffer at a time: one `update` per word costs more than
    // the copy.
    let html = html.as_bytes();
    let mut h = Sha256::new();
    let mut buf = Vec::with_capacity(html.len().min(16 * 1024));
    let mut last = None;
    for word in words(html) {
        let word = &html[word];
        if spaced(last, word) {
            buf.push(b' ');
        }
        buf.extend_from_slice(word);
        last = word.last().copied();
        if buf.len() >= 16 * 1024 {
            h.update(&buf);
            buf.clear();
        }
    }
    h.update(&buf);
    ContentHash::from_bytes(h.finalize().into())
}

/// An element's markup collapsed once (as [`content_hash`] collapses it), so that the anchored
/// elements inside it are hashed from slices of it instead of each collapsing its own markup
/// again. Collapsing is local — a whitespace run becomes one space, or nothing between `>` and
/// `<`, by the bytes on either side of it — so an element's collapsed markup is the slice from
/// where its first byte went to where its last went, since markup starts with `<` and ends with
/// `>`, neither of them whitespace.
struct Collapsed {
    /// The markup collapsed, as a range of the part's.
    range: Range<usize>,
    bytes: Vec<u8>,
    /// Where each word starts in the part's markup and in `bytes`.
    starts: Vec<(usize, usize)>,
}

impl Collapsed {
    fn of(html: &str, range: Range<usize>) -> Option<Self> {
        let markup = html.as_bytes().get(range.clone())?;
        let mut bytes = Vec::with_capacity(markup.len());
        let mut starts = vec![];
        let mut last = None;
        for word in words(markup) {
            let at = word.start;
            let word = &markup[word];
            if spaced(last, word) {
                bytes.push(b' ');
            }
            starts.push((range.start + at, bytes.len()));
            bytes.extend_from_slice(word);
            last = word.last().copied();
        }
        Some(Self {
            range,
            bytes,
            starts,
        })
    }

    /// Where the byte at `at` of the part's markup went (a byte of a word).
    fn to(&self, at: usize) -> usize {
        let i = self.starts.partition_point(|&(o, _)| o <= at) - 1;
        let (o, c) = self.starts[i];
        c + (at - o)
    }

    /// [`content_hash`] of the element whose markup is `range` of the part's `html`, if inside.
    fn hash(&self, html: &str, range: Range<usize>) -> Option<ContentHash> {
        let markup = html.as_bytes();
        if range.start < self.range.start
            || range.end > self.range.end
            || markup.get(range.start) != Some(&b'<')
            || markup.get(range.end.checked_sub(1)?) != Some(&b'>')
        {
            return None;
        }
        let slice = &self.bytes[self.to(range.start)..=self.to(range.end - 1)];
        Some(ContentHash::from_bytes(Sha256::digest(slice).into()))
    }
}

/// Where [`entries_knowing`] finds an element's markup: a range of the part's markup, or a copy.
pub(crate) enum Known<'a> {
    At(Range<usize>),
    Copy(&'a str),
}

/// [`entries_of`], taking the markup of the elements `known` has located already (where the part's
/// `html` holds it byte for byte, or a copy serialized once for the diff) instead of serializing
/// them again.
pub(crate) fn entries_knowing<'a>(
    doc: &Html,
    html: &str,
    known: impl Fn(ego_tree::NodeId) -> Option<Known<'a>>,
) -> Vec<SectionEntry> {
    let Some(Selectors {
        anchored, headings, ..
    }) = selectors()
    else {
        return vec![];
    };
    let mut entries = vec![];
    // The outermost located element so far, collapsed: the elements of a document come in order,
    // each after every element it is inside.
    let mut collapsed: Option<Collapsed> = None;
    for el in doc.select(anchored) {
        let Some(anchor) = attr(el.value(), "data-anchor").and_then(|a| AnchorId::parse(a).ok())
        else {
            continue;
        };
        let title = el
            .select(headings)
            .map(text_of)
            .find(|t| !t.is_empty())
            .unwrap_or_else(|| text_of(el).chars().take(80).collect());
        let hash = match known(el.id()) {
            Some(Known::At(range)) => {
                let inside = collapsed.as_ref().and_then(|c| c.hash(html, range.clone()));
                let hash = inside.or_else(|| {
                    collapsed = Collapsed::of(html, range.clone());
                    collapsed.as_ref()?.hash(html, range.clone())
                });
                let hash =
                    hash.unwrap_or_else(|| content_hash(html.get(range.clone()).unwrap_or("")));
                debug_assert_eq!(hash, content_hash(html.get(range).unwrap_or("")));
                hash
            }
            Some(Known::Copy(markup)) => content_hash(markup),
            None => content_hash(&el.html()),
        };
        entries.push(SectionEntry {
            anchor,
            title,
            hash,
        });
    }
    entries
}

/// The document's visible text, whitespace collapsed, and the byte range of every anchored element
/// in it (first occurrence of an anchor wins; nested anchors give nested ranges). What comments'
/// text quotes are matched against after a push.
pub fn anchored_text(html: &str) -> (String, Vec<(AnchorId, std::ops::Range<usize>)>) {
    use ego_tree::NodeRef;
    use scraper::Node;

    fn walk(
        node: NodeRef<'_, Node>,
        text: &mut String,
        spans: &mut Vec<(AnchorId, std::ops::Range<usize>)>,
        seen: &mut HashSet<AnchorId>,
    ) {
        match node.value() {
            Node::Text(t) => {
                let space = |text: &mut String| {
                    if !text.is_empty() && !text.ends_with(' ') {
                        text.push(' ');
                    }
                };
                if t.starts_with(char::is_whitespace) {
                    space(text);
                }
                for (i, word) in t.split_whitespace().enumerate() {
                    if i > 0 {
                        space(text);
                    }
                    text.push_str(word);
                }
                if t.ends_with(char::is_whitespace) && !text.is_empty() && !text.ends_with(' ') {
                    text.push(' ');
                }
            }
            Node::Element(e) => {
                let anchor = attr(e, "data-anchor")
                    .and_then(|a| AnchorId::parse(a).ok())
                    .filter(|a| seen.insert(a.clone()));
                // Block-ish boundaries separate words.
                if !text.is_empty() && !text.ends_with(' ') && !is_phrasing(e.name()) {
                    text.push(' ');
                }
                let start = text.len();
                let slot = anchor.map(|a| {
                    spans.push((a, start..start));
                    spans.len() - 1
                });
                for child in node.children() {
                    walk(child, text, spans, seen);
                }
                if let Some(i) = slot {
                    spans[i].1.end = text.trim_end().len().max(start);
                }
            }
            _ => {
                for child in node.children() {
                    walk(child, text, spans, seen);
                }
            }
        }
    }

    let doc = Html::parse_fragment(html);
    let mut text = String::new();
    let mut spans = vec![];
    walk(doc.tree.root(), &mut text, &mut spans, &mut HashSet::new());
    let len = text.trim_end().len();
    text.truncate(len);
    (text, spans)
}

/// Whether `tag` is phrasing content (text-level, inside a line) rather than a block: the one list
/// of the text walks (anchored and search text here, an agent's text, the Markdown export).
pub(crate) fn is_phrasing(tag: &str) -> bool {
    matches!(
        tag,
        "a" | "abbr"
            | "b"
            | "cite"
            | "code"
            | "del"
            | "dfn"
            | "em"
            | "i"
            | "ins"
            | "kbd"
            | "label"
            | "mark"
            | "q"
            | "s"
            | "samp"
            | "small"
            | "span"
            | "strong"
            | "sub"
            | "sup"
            | "time"
            | "u"
            | "var"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_content_hash_is_that_of_the_collapsed_markup() {
        for html in [
            "",
            "  ",
            "<p>a  b</p>\n <p>c</p>",
            "<b>x</b> <i>y</i>",
            "a> < b",
            "x> > <y",
            "<p> </p>\u{2003}<p>\u{a0}x\u{2003}y</p>",
            "> <> <",
        ] {
            let collapsed = html
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace("> <", "><");
            assert_eq!(
                content_hash(html),
                ContentHash::from_bytes(Sha256::digest(collapsed.as_bytes()).into()),
                "{html:?}"
            );
        }
    }

    #[test]
    fn whitespace_is_told_byte_by_byte_as_char_by_char() {
        let mut buf = [0u8; 4];
        for c in (0..=0x10_ffff).filter_map(char::from_u32) {
            let s = c.encode_utf8(&mut buf).as_bytes();
            let want = if c.is_whitespace() { s.len() } else { 0 };
            assert_eq!(space_at(s, 0), want, "{c:?}");
        }
        // Lead bytes of whitespace characters, cut short or followed by other bytes.
        for s in [
            &b"\xc2"[..],
            b"\xe2\x80",
            b"\xe2\x80\x8b",
            b"\xe1\x9a",
            b"\xe3\x80\x81",
        ] {
            assert_eq!(space_at(s, 0), 0, "{s:?}");
        }
    }

    /// Strings of words, markup and every kind of whitespace, from a seed.
    fn spaced_strings() -> impl Iterator<Item = String> {
        const PIECES: &[&str] = &[
            "a", "<p>", "</p>", ">", "<", " ", "  ", "\n", "\t", "\u{b}", "\u{85}", "\u{a0}",
            "\u{1680}", "\u{2003}", "\u{200b}", "\u{2028}", "\u{3000}", "é", "日", "x>", "<y",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        (0..2_000).map(move |_| {
            let mut s = String::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push_str(PIECES[(seed % PIECES.len() as u64) as usize]);
            }
            s
        })
    }

    #[test]
    fn words_are_those_of_split_whitespace() {
        for s in spaced_strings() {
            let found: Vec<&str> = words(s.as_bytes()).map(|w| &s[w]).collect();
            assert_eq!(found, s.split_whitespace().collect::<Vec<_>>(), "{s:?}");
        }
    }

    #[test]
    fn an_element_inside_hashes_from_the_collapse_of_the_one_around_it() {
        let outer = "<section data-anchor=\"a\">\n  <h2>A  title</h2> <p>x\u{a0} y</p>\n\
                     <div data-anchor=\"b\"> <p>one</p>\t<p>two\u{2003}three</p>  </div>x<b>z</b> </section>";
        let html = format!("  <p>before</p> {outer}\n<p>after</p>");
        let start = html.find("<section").unwrap();
        let collapsed = Collapsed::of(&html, start..start + outer.len()).unwrap();
        let mut elements = 0;
        for (open, _) in html
            .match_indices('<')
            .filter(|(i, _)| html[i + 1..].starts_with(char::is_alphabetic))
        {
            let name: String = html[open + 1..]
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            let close = format!("</{name}>");
            let end = open + html[open..].find(&close).unwrap() + close.len();
            let inside = (start..start + outer.len()).contains(&open);
            assert_eq!(
                collapsed.hash(&html, open..end),
                inside.then(|| content_hash(&html[open..end])),
                "{}",
                &html[open..end]
            );
            elements += usize::from(inside);
        }
        assert_eq!(elements, 7);
        // Not markup at both ends: not hashed from the collapse.
        assert_eq!(collapsed.hash(&html, start + 1..start + outer.len()), None);
    }

    use planpush_versions::ChangeSet;

    use super::*;

    #[test]
    fn anchored_text_ranges_cover_their_elements() {
        let html = r#"<h1>Plan</h1>
            <section data-anchor="flow"><h2>Flow</h2><p>Client  calls the <b>gateway</b>.</p>
              <div data-anchor="step">Gateway checks the token</div></section>
            <section data-anchor="risks"><h2>Risks</h2><p>Token theft</p></section>"#;
        let (text, spans) = anchored_text(html);
        assert_eq!(
            text,
            "Plan Flow Client calls the gateway. Gateway checks the token Risks Token theft"
        );
        let get = |a: &str| {
            let r = spans
                .iter()
                .find(|(x, _)| x.as_str() == a)
                .unwrap()
                .1
                .clone();
            &text[r]
        };
        assert_eq!(
            get("flow"),
            "Flow Client calls the gateway. Gateway checks the token"
        );
        assert_eq!(get("step"), "Gateway checks the token");
        assert_eq!(get("risks"), "Risks Token theft");
    }

    #[test]
    fn text_level_elements_do_not_split_words_in_any_text_walk() {
        // One rule for the anchored text, an agent's text and the Markdown export: a `<label>`,
        // `<del>` or `<cite>` inside a word is part of that word.
        let html = r#"<section data-anchor="s"><h2>S</h2><p>re<del>try</del>ing <label>on</label>ce <cite>x</cite>y</p></section>"#;
        assert_eq!(anchored_text(html).0, "S retrying once xy");
        assert_eq!(crate::plan_text(html)[0].text, "## S\nretrying once xy");
        assert!(
            crate::to_markdown(html, &[]).contains("re~~try~~ing once xy"),
            "{}",
            crate::to_markdown(html, &[])
        );
    }

    #[test]
    fn index_entries_titles_and_hashes() {
        let v1 = r#"<h1>Auth Service Redesign</h1>
            <section data-anchor="flow"><h2>Authentication Flow</h2><p>Client → Gateway</p></section>
            <section data-anchor="decisions"><h2>Key Decisions</h2><div data-anchor="d1">JWT + refresh</div></section>
            <section data-anchor="flow"><h2>Duplicate</h2></section>
            <div data-anchor="bad anchor">ignored</div>"#;
        let idx = section_index(v1);
        let anchors: Vec<&str> = idx.entries().iter().map(|e| e.anchor.as_str()).collect();
        assert_eq!(anchors, ["flow", "decisions", "d1"]);
        assert_eq!(idx.entries()[0].title, "Authentication Flow");
        assert_eq!(idx.entries()[2].title, "JWT + refresh");
        assert_eq!(title(v1).as_deref(), Some("Auth Service Redesign"));

        let reindented = v1.replace("<p>", "\n      <p>");
        assert_eq!(section_index(&reindented), idx, "whitespace does not count");
        let v2 = v1.replace("JWT + refresh", "Opaque tokens");
        let cs = ChangeSet::between(Some(&idx), &section_index(&v2));
        let changed: Vec<&str> = cs.changed.iter().map(AnchorId::as_str).collect();
        assert_eq!(
            changed,
            ["decisions", "d1"],
            "a nested change changes its ancestors too"
        );
        assert_eq!(
            cs.unchanged
                .iter()
                .map(AnchorId::as_str)
                .collect::<Vec<_>>(),
            ["flow"]
        );
    }

    #[test]
    fn slugs() {
        for (text, want) in [
            ("Authentication Flow", "authentication-flow"),
            ("  API / Gateway  ", "api-gateway"),
            ("日本", "section"),
            ("Q&A: v2.0", "q-a-v2-0"),
        ] {
            assert_eq!(slugify(text), want);
        }
    }
}
