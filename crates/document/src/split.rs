//! Where a document can be cut into top-level parts that an HTML parser reads exactly as it reads
//! them inside the whole document.
//!
//! The HTML parser carries state from one token to the next (open elements, active formatting
//! elements, the tokenizer's state, foreign content). At a point where every element opened so
//! far has been closed by its own end tag, in order, and nothing exotic was met, that state is
//! back to where a fresh fragment parser starts: the rest of the document parses the same alone.
//! This module finds such points with a conservative lexical scan. Anything it is not sure about —
//! comments, doctypes, raw-text elements (`script`, `style`, `title`, `textarea` …), tags outside
//! the sanitizer's vocabulary, HTML inside SVG, a self-closing non-void element, an end tag that
//! does not close the innermost open element, attributes it cannot read plainly, `NUL` or a byte
//! order mark — and it answers `None`: the caller then treats the document as one part.
//!
//! The claim "parsing the parts alone and concatenating equals parsing the whole" is what
//! `prepare`'s stitched output rests on; it is checked by the unit tests over the fixtures and by
//! the `prepare` fuzz target, which compares both paths byte for byte.

use std::ops::Range;

use std::sync::LazyLock;

use foldhash::{HashMap, HashMapExt};

use crate::sanitize::{HTML_TAGS, HTML_VOID, SVG_TAGS};

/// What the scan knows of a tag name, looked up once per tag.
#[derive(Clone, Copy, Default)]
struct Class {
    /// An HTML element with start and end tags that the scan follows: the sanitizer's vocabulary
    /// ([`HTML_TAGS`]), less the void elements — one list, so a tag the sanitizer gains is
    /// followed here.
    container: bool,
    /// A void element ([`HTML_VOID`]).
    void: bool,
    /// An SVG element (compared lower-cased) that the scan follows inside `<svg>`: the
    /// sanitizer's [`SVG_TAGS`] but `svg` itself. `title` and `desc` are HTML integration points
    /// but hold plain text in what we accept (no tag inside them).
    svg_child: bool,
}

/// Every name the scan follows, with its [`Class`]; other names are not followed.
static CLASSES: LazyLock<HashMap<Name, Class>> = LazyLock::new(|| {
    let mut map: HashMap<Name, Class> = HashMap::new();
    // A name longer than [`Name`] holds is never met by the scan: it has no entry.
    let name = |tag: &str| Name::of(tag.to_ascii_lowercase().as_bytes());
    for tag in HTML_TAGS.iter().filter(|t| !HTML_VOID.contains(t)) {
        if let Some(n) = name(tag) {
            map.entry(n).or_default().container = true;
        }
    }
    // Every void element, in the vocabulary or not (`wbr` is not: the sanitizer drops it, and
    // it opens nothing either way).
    for tag in HTML_VOID {
        if let Some(n) = name(tag) {
            map.entry(n).or_default().void = true;
        }
    }
    for tag in SVG_TAGS.iter().filter(|t| **t != "svg") {
        if let Some(n) = name(tag) {
            map.entry(n).or_default().svg_child = true;
        }
    }
    map
});

impl Name {
    fn class(&self) -> Class {
        CLASSES.get(self).copied().unwrap_or_default()
    }

    fn is(&self, name: &str) -> bool {
        &self.bytes[..usize::from(self.len)] == name.as_bytes()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ns {
    Html,
    Svg,
}

struct Open {
    name: Name,
    ns: Ns,
}

/// A tag name, lower-cased, on the stack: no name the scan follows is longer than 16 bytes, so a
/// longer one is not followed (`None`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Name {
    bytes: [u8; 16],
    len: u8,
}

impl Name {
    /// `raw` holds name characters only (ASCII letters, digits and `-`).
    fn of(raw: &[u8]) -> Option<Self> {
        let len = u8::try_from(raw.len()).ok().filter(|l| *l <= 16)?;
        let mut bytes = [0; 16];
        for (to, from) in bytes.iter_mut().zip(raw) {
            *to = from.to_ascii_lowercase();
        }
        Some(Self { bytes, len })
    }
}

fn name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// Reads a start tag's attributes from `i` (just after its name) to its `>`. Returns the index
/// after `>` and whether it ended with `/>`; `None` when anything is unusual.
fn attributes(bytes: &[u8], mut i: usize) -> Option<(usize, bool)> {
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match *bytes.get(i)? {
            b'>' => return Some((i + 1, false)),
            b'/' => {
                return (bytes.get(i + 1) == Some(&b'>')).then_some((i + 2, true));
            }
            _ => {}
        }
        // A name: letters, digits, `-`, `_`, `:`, `.`
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'-' | b'_' | b':' | b'.'))
        {
            i += 1;
        }
        if i == start {
            return None;
        }
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match *bytes.get(i)? {
            q @ (b'"' | b'\'') => {
                let end = memchr::memchr(q, &bytes[i + 1..])? + i + 1;
                i = end + 1;
                // `a="x"b="y"`: the tokenizer wants whitespace between attributes; be strict.
                if !matches!(
                    bytes.get(i),
                    Some(b'>' | b'/') | Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
                ) {
                    return None;
                }
            }
            _ => {
                let start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    if matches!(bytes[i], b'"' | b'\'' | b'<' | b'=' | b'`' | b'/') {
                        return None;
                    }
                    i += 1;
                }
                if i == start {
                    return None;
                }
            }
        }
    }
}

/// The byte ranges of `html`'s top-level parts, in order, covering it exactly; each part but the
/// last ends with the end tag that closed its last top-level element. `None`: the scan is not
/// sure the document can be cut (see the module documentation).
pub(crate) fn top_level_parts(html: &str) -> Option<Vec<Range<usize>>> {
    let bytes = html.as_bytes();
    if bytes.contains(&0) || html.contains('\u{feff}') {
        return None;
    }
    let mut stack: Vec<Open> = vec![];
    let mut parts = vec![];
    let mut part_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // On to the next `<`.
        let Some(at) = memchr::memchr(b'<', &bytes[i..]) else {
            break;
        };
        i += at;
        match bytes.get(i + 1) {
            Some(b'/') => {
                let start = i + 2;
                let mut j = start;
                while j < bytes.len() && name_char(bytes[j]) {
                    j += 1;
                }
                if j == start {
                    return None;
                }
                let name = Name::of(&bytes[start..j])?;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if bytes.get(j) != Some(&b'>') {
                    return None;
                }
                let open = stack.pop()?;
                if open.name != name {
                    return None;
                }
                i = j + 1;
                if stack.is_empty() {
                    parts.push(part_start..i);
                    part_start = i;
                }
            }
            Some(b) if b.is_ascii_alphabetic() => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && name_char(bytes[j]) {
                    j += 1;
                }
                // `<a"`, `<a<`: names end at whitespace, `/` or `>` only.
                if !matches!(
                    bytes.get(j),
                    Some(b'>' | b'/') | Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
                ) {
                    return None;
                }
                let name = Name::of(&bytes[start..j])?;
                let (after, self_closing) = attributes(bytes, j)?;
                let ns = stack.last().map_or(Ns::Html, |o| o.ns);
                let svg = name.is("svg");
                let self_closed_svg = svg && self_closing;
                let class = name.class();
                match ns {
                    Ns::Html if svg => {
                        if !self_closing {
                            stack.push(Open { name, ns: Ns::Svg });
                        }
                    }
                    Ns::Html if class.void => {}
                    // `<div/>` opens a div: the slash is ignored on HTML elements.
                    Ns::Html if class.container && !self_closing => {
                        stack.push(Open { name, ns: Ns::Html });
                    }
                    Ns::Svg
                        if class.svg_child
                            && !stack
                                .last()
                                .is_some_and(|o| o.name.is("title") || o.name.is("desc")) =>
                    {
                        if !self_closing {
                            stack.push(Open { name, ns: Ns::Svg });
                        }
                    }
                    _ => return None,
                }
                i = after;
                if stack.is_empty() && self_closed_svg {
                    // A self-closed top-level `<svg/>`.
                    parts.push(part_start..i);
                    part_start = i;
                }
            }
            // `<!--`, `<!doctype`, `<?`: not followed.
            Some(b'!' | b'?') => return None,
            // A `<` that starts no tag is text.
            _ => i += 1,
        }
    }
    if !stack.is_empty() {
        return None;
    }
    if part_start < bytes.len() || parts.is_empty() {
        parts.push(part_start..bytes.len());
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::top_level_parts;

    fn cut(html: &str) -> Option<Vec<&str>> {
        top_level_parts(html).map(|r| r.into_iter().map(|r| &html[r]).collect())
    }

    #[test]
    fn plain_documents_are_cut_after_each_top_level_element() {
        assert_eq!(
            cut("<h1>T</h1>\n<section data-anchor=\"a\"><p>x<br>y</p></section>\ntail"),
            Some(vec![
                "<h1>T</h1>",
                "\n<section data-anchor=\"a\"><p>x<br>y</p></section>",
                "\ntail"
            ])
        );
        assert_eq!(
            cut("<svg viewBox=\"0 0 1 1\"><path d=\"M0 0\"/><text>a &lt; b</text></svg><p>x</p>"),
            Some(vec![
                "<svg viewBox=\"0 0 1 1\"><path d=\"M0 0\"/><text>a &lt; b</text></svg>",
                "<p>x</p>"
            ])
        );
        assert_eq!(cut("just text"), Some(vec!["just text"]));
        assert_eq!(cut(""), Some(vec![""]));
        assert_eq!(cut("a < b <p>c</p>"), Some(vec!["a < b <p>c</p>"]));
    }

    /// Every void element opens nothing, the vocabulary's and the others (`wbr`).
    /// What `prepare` relies on to take a part as sent without scanning it again: the scan is
    /// back at its start where it cuts, so each part cuts cleanly alone.
    #[test]
    fn every_part_cuts_cleanly_alone() {
        let md =
            crate::markdown_to_html(include_str!("../../../fixtures/auth-service-redesign.md"));
        for doc in [
            include_str!("../../../fixtures/auth-service-redesign.html"),
            md.as_str(),
            "<h1>T</h1>\n<section data-anchor=\"a\"><p>x<br>y</p></section>\ntail",
        ] {
            let parts = top_level_parts(doc).expect("cut");
            assert!(parts.len() > 1, "{doc}");
            for part in parts {
                assert!(
                    top_level_parts(&doc[part.clone()]).is_some(),
                    "{:?}",
                    &doc[part]
                );
            }
        }
    }

    #[test]
    fn void_elements_open_nothing() {
        assert_eq!(
            cut("<p>a<wbr>b<br>c</p><p>d</p>"),
            Some(vec!["<p>a<wbr>b<br>c</p>", "<p>d</p>"])
        );
    }

    #[test]
    fn anything_unusual_is_not_cut() {
        for html in [
            "<p>unclosed",
            "<p><b>x</p></b>",
            "<div/><p>x</p>",
            "<!-- c --><p>x</p>",
            "<script>x</script>",
            "<style>p{}</style>",
            "<title>x</title>",
            "<textarea>x</textarea>",
            "<svg><p>x</p></svg>",
            "<svg><title><b>x</b></title></svg>",
            "<math><mi>x</mi></math>",
            "<p a=\"x\"b=\"y\">x</p>",
            "<p a=x\"y>x</p>",
            "</p>",
            "<p>\0</p>",
            "<select><option>x</option></select>",
            "<template><p>x</p></template>",
        ] {
            assert_eq!(top_level_parts(html), None, "{html}");
        }
    }
}
