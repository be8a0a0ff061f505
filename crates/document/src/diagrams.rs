//! Mermaid diagrams: found in the document as `<pre class="mermaid">source</pre>` (Markdown's
//! ```` ```mermaid ```` fences become exactly that), rendered to SVG by a [`DiagramRenderer`] at push
//! time, so readers need no JavaScript. The SVG then goes through the sanitizer like everything else.

use sha2::{Digest, Sha256};

/// Renders diagram source to SVG. Implemented by an adapter (it may read fonts from disk).
pub trait DiagramRenderer: Send + Sync {
    /// SVG markup, or a message saying why the source could not be rendered.
    fn render_svg(&self, source: &str) -> Result<String, String>;

    /// What is wrong with the drawing of `source` (`planpush check`): by default only a source that
    /// does not render (an error); an adapter that can measure its drawing adds overlapping or lost
    /// text (errors) and labels lying across other edges (warnings).
    fn check(&self, source: &str) -> Vec<(crate::Severity, String)> {
        self.render_svg(source)
            .err()
            .map(|e| (crate::Severity::Error, e))
            .into_iter()
            .collect()
    }
}

/// A diagram found in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagramSource {
    /// Byte range of the whole `<pre class="mermaid">…</pre>` element.
    pub span: std::ops::Range<usize>,
    /// The diagram source, entities decoded.
    pub source: String,
}

impl DiagramSource {
    /// The cache key: SHA-256 of the source, under the drawing's version (v2: labels moved off
    /// other text, ER aliases and link chains read as Mermaid does), so a drawing cached by an
    /// older renderer is drawn again.
    pub fn key(&self) -> String {
        format!("mermaid:v2:{}", hex_digest(&self.source))
    }
}

fn hex_digest(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Every `<pre class="mermaid">…</pre>` of the document, in order (tags matched in any case).
pub fn find_diagrams(html: &str) -> Vec<DiagramSource> {
    const OPEN: &str = "<pre class=\"mermaid\">";
    const CLOSE: &str = "</pre>";
    let mut out = vec![];
    let mut from = 0;
    while let Some(start) = find_ignoring_case(html, from, OPEN) {
        let body = start + OPEN.len();
        let Some(end) = find_ignoring_case(html, body, CLOSE) else {
            break;
        };
        out.push(DiagramSource {
            span: start..end + CLOSE.len(),
            source: unescape(&html[body..end]),
        });
        from = end;
    }
    out
}

/// Where `tag` (ASCII, starting with `<`) first occurs in `html` at or after `from`, in any case:
/// each `<` is compared in place (no lower-cased copy of the document).
fn find_ignoring_case(html: &str, from: usize, tag: &str) -> Option<usize> {
    let bytes = html.as_bytes();
    memchr::memchr_iter(b'<', bytes.get(from..)?)
        .map(|i| from + i)
        .find(|&start| {
            bytes
                .get(start..start + tag.len())
                .is_some_and(|candidate| candidate.eq_ignore_ascii_case(tag.as_bytes()))
        })
}

/// Replaces each diagram by its rendering: `rendered[i]` is the SVG (or error) for `diagrams[i]`. A
/// diagram that failed shows its source with the error; it never fails the push.
pub fn replace_diagrams(
    html: &str,
    diagrams: &[DiagramSource],
    rendered: &[Result<String, String>],
) -> String {
    let mut out = String::with_capacity(html.len());
    let mut last = 0;
    for (d, r) in diagrams.iter().zip(rendered) {
        out.push_str(&html[last..d.span.start]);
        match r {
            Ok(svg) => {
                out.push_str("<div class=\"pp-diagram\">");
                out.push_str(svg);
                out.push_str("</div>");
            }
            Err(e) => {
                out.push_str("<div class=\"pp-diagram pp-diagram-error\"><p>This diagram could not be rendered: ");
                out.push_str(&escape(e));
                out.push_str("</p><pre><code>");
                out.push_str(&escape(&d.source));
                out.push_str("</code></pre></div>");
            }
        }
        last = d.span.end;
    }
    out.push_str(&html[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_replaces_in_order() {
        let html = "<p>a</p><pre class=\"mermaid\">flowchart LR\n A --&gt; B</pre><p>b</p><PRE class=\"mermaid\">bad &amp; wrong</PRE>";
        let found = find_diagrams(html);
        assert_eq!(
            found.iter().map(|d| d.source.as_str()).collect::<Vec<_>>(),
            ["flowchart LR\n A --> B", "bad & wrong"]
        );
        assert_ne!(found[0].key(), found[1].key());
        let out = replace_diagrams(
            html,
            &found,
            &[Ok("<svg></svg>".into()), Err("line 1: <oops>".into())],
        );
        assert!(
            out.starts_with("<p>a</p><div class=\"pp-diagram\"><svg></svg></div><p>b</p>"),
            "{out}"
        );
        assert!(
            out.contains("line 1: &lt;oops&gt;") && out.contains("bad &amp; wrong"),
            "{out}"
        );
    }

    #[test]
    fn tags_are_found_between_multibyte_text_and_an_open_diagram_is_not_one() {
        let html =
            "<p>é — 🚀 <</p><Pre Class=\"MERMAID\">a</pRe><pre class=\"mermaid\">never closed";
        let found = find_diagrams(html);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].source, "a");
        assert_eq!(
            &html[found[0].span.clone()],
            "<Pre Class=\"MERMAID\">a</pRe>"
        );
        assert!(find_diagrams("<pre class=\"merm").is_empty());
        assert!(find_diagrams("").is_empty());
    }
}
