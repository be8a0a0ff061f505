use std::collections::HashSet;

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
    entries_knowing(doc, |_| None)
}

/// The hash of an element's markup with whitespace runs collapsed to one space and whitespace-only
/// text between tags removed: SHA-256 of `html.split_whitespace().join(" ").replace("> <", "><")`,
/// computed word by word without building that whole string (a separator is dropped where a word
/// ending in `>` meets one starting with `<`; such matches cannot overlap).
pub(crate) fn content_hash(html: &str) -> ContentHash {
    // The collapsed markup is hashed a buffer at a time: one `update` per word costs more than
    // the copy.
    let mut h = Sha256::new();
    let mut buf = Vec::with_capacity(html.len().min(16 * 1024));
    let mut last: Option<u8> = None;
    for word in html.split_whitespace() {
        if let Some(last) = last
            && !(last == b'>' && word.starts_with('<'))
        {
            buf.push(b' ');
        }
        buf.extend_from_slice(word.as_bytes());
        last = word.as_bytes().last().copied();
        if buf.len() >= 16 * 1024 {
            h.update(&buf);
            buf.clear();
        }
    }
    h.update(&buf);
    ContentHash::from_bytes(h.finalize().into())
}

/// [`entries_of`], taking the markup of the elements `known` has serialized already (the
/// outermost sections, serialized once for the diff) instead of serializing them again.
pub(crate) fn entries_knowing<'a>(
    doc: &Html,
    known: impl Fn(ego_tree::NodeId) -> Option<&'a str>,
) -> Vec<SectionEntry> {
    let Some(Selectors {
        anchored, headings, ..
    }) = selectors()
    else {
        return vec![];
    };
    let mut entries = vec![];
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
            Some(html) => content_hash(html),
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
