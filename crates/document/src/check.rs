//! `planpush check`: what the server would drop or misplace in a document, found before it is
//! pushed, each problem with the line it is on. Anchors and ids (well formed, unique, not the page's
//! reserved `pp-`), classes against the [vocabulary](crate::vocabulary), tags and attributes against
//! the sanitizer's allow-list, same-document references, the hand-drawn SVG rules of the plugin's
//! reference (inside `.pp-diagram`, a `viewBox`, text of at least 12, labels that fit their box,
//! arrowheads in `currentColor`), and every Mermaid block through a [`DiagramRenderer`].

use std::collections::HashMap;

use planpush_versions::AnchorId;

use crate::diagrams::{DiagramRenderer, find_diagrams};
use crate::sanitize::{
    GENERIC_ATTRIBUTES, HTML_TAGS, RESERVED_ID_PREFIX, SVG_TAGS, tag_attributes,
};
use crate::vocabulary::{MERMAID_CLASS, MERMAID_KINDS, class_allowed};

/// How bad a problem is: an error changes what readers see (something is dropped, a link or a
/// comment anchor breaks); a warning is a rule of the reference that the page survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a checked document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the checked text; 0 when the problem has no single line.
    pub line: usize,
    pub severity: Severity,
    pub message: String,
}

/// The smallest font size hand-drawn SVG text should have (SVG user units, which are CSS pixels
/// when the drawing is shown at its natural width).
pub const MIN_SVG_FONT_SIZE: f64 = 12.0;

/// The widest hand-drawn SVG (viewBox units) shown at its natural size in the page's column.
pub const MAX_SVG_WIDTH: f64 = 1000.0;

/// The average advance of a character of the page's sans-serif font, as a fraction of the font
/// size: the plugin reference's text-width rule (a label needs `characters × 0.6 × font-size`).
pub const CHAR_WIDTH_EM: f64 = 0.6;

/// SVG text's font size when neither it nor a parent says (the page's 16 px).
const DEFAULT_FONT_SIZE: f64 = 16.0;

/// Room a label keeps from its box's edges, on each side together.
const LABEL_PADDING: f64 = 8.0;

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Elements whose content is dropped along with them (and not parsed as markup).
const RAW_TEXT: &[&str] = &["script", "style", "textarea", "xmp", "noembed", "noframes"];

#[derive(Debug)]
struct Element {
    tag: String,
    attrs: Vec<(String, String)>,
    line: usize,
    parent: Option<usize>,
    /// Text directly inside (entities left as written).
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn classes(&self) -> impl Iterator<Item = &str> {
        self.attr("class").unwrap_or("").split_ascii_whitespace()
    }
}

fn line_at(text: &str, byte: usize) -> usize {
    text[..byte].bytes().filter(|&b| b == b'\n').count() + 1
}

/// A forgiving tokenizer for author HTML: start and end tags with their attributes and line, text
/// between them; comments, doctypes and raw-text element content skipped.
fn parse(html: &str) -> Vec<Element> {
    let bytes = html.as_bytes();
    let mut out: Vec<Element> = vec![];
    let mut stack: Vec<usize> = vec![];
    let mut i = 0;
    let mut text_from = 0;
    let flush_text = |out: &mut Vec<Element>, stack: &[usize], from: usize, to: usize| {
        if let Some(&top) = stack.last()
            && to > from
        {
            out[top].text.push_str(&html[from..to]);
        }
    };
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &html[i..];
        if rest.starts_with("<!--") {
            flush_text(&mut out, &stack, text_from, i);
            i = rest.find("-->").map_or(bytes.len(), |e| i + e + 3);
            text_from = i;
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            flush_text(&mut out, &stack, text_from, i);
            i = rest.find('>').map_or(bytes.len(), |e| i + e + 1);
            text_from = i;
            continue;
        }
        let closing = rest.starts_with("</");
        let name_from = i + if closing { 2 } else { 1 };
        let name_len = html[name_from..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b':')
            .count();
        if name_len == 0 || !bytes[name_from].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        flush_text(&mut out, &stack, text_from, i);
        let tag = html[name_from..name_from + name_len].to_ascii_lowercase();
        let (attrs, end, self_closing) = attributes(html, name_from + name_len);
        if closing {
            if let Some(pos) = stack.iter().rposition(|&e| out[e].tag == tag) {
                stack.truncate(pos);
            }
            i = end;
            text_from = i;
            continue;
        }
        out.push(Element {
            tag: tag.clone(),
            attrs,
            line: line_at(html, i),
            parent: stack.last().copied(),
            text: String::new(),
        });
        i = end;
        if RAW_TEXT.contains(&tag.as_str()) {
            let close = format!("</{tag}");
            i = html[i..]
                .to_ascii_lowercase()
                .find(&close)
                .map_or(bytes.len(), |e| i + e);
        } else if !self_closing && !VOID.contains(&tag.as_str()) {
            stack.push(out.len() - 1);
        }
        text_from = i;
    }
    out
}

/// The attributes of a tag whose name ends at `from`: (name lowercased, value), the byte after
/// the tag's `>`, and whether it ended with `/>`.
fn attributes(html: &str, mut i: usize) -> (Vec<(String, String)>, usize, bool) {
    let b = html.as_bytes();
    let mut attrs = vec![];
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            if b[i] == b'/' && b.get(i + 1) == Some(&b'>') {
                return (attrs, i + 2, true);
            }
            i += 1;
        }
        if i >= b.len() {
            return (attrs, i, false);
        }
        if b[i] == b'>' {
            return (attrs, i + 1, false);
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = html[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if b.get(i) == Some(&b'=') {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            match b.get(i) {
                Some(&q) if q == b'"' || q == b'\'' => {
                    let end = html[i + 1..].find(q as char).map_or(b.len(), |e| i + 1 + e);
                    value = html[i + 1..end].to_owned();
                    i = (end + 1).min(b.len());
                }
                _ => {
                    let start = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    value = html[start..i].to_owned();
                }
            }
        }
        if !name.is_empty() {
            attrs.push((name, decode(&value)));
        }
    }
}

fn decode(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn is_allowed_tag(tag: &str) -> bool {
    HTML_TAGS.contains(&tag) || SVG_TAGS.iter().any(|t| t.eq_ignore_ascii_case(tag))
}

/// The allow-list's own spelling of a tag (`lineargradient` → `linearGradient`).
fn canonical_tag(tag: &str) -> &str {
    SVG_TAGS
        .iter()
        .find(|t| t.eq_ignore_ascii_case(tag))
        .copied()
        .unwrap_or(tag)
}

fn is_allowed_attribute(tag: &str, attr: &str) -> bool {
    GENERIC_ATTRIBUTES.contains(&attr)
        || attr.starts_with("data-pp-")
        || tag_attributes(canonical_tag(tag))
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attr))
}

fn ancestors<'a>(els: &'a [Element], at: usize) -> impl Iterator<Item = &'a Element> + 'a {
    std::iter::successors(els[at].parent, move |&p| els[p].parent).map(move |p| &els[p])
}

/// A number at the start of an SVG length (`14`, `14px`, `1.2e1`); `None` for `em`, `%`, words.
fn svg_number(value: &str) -> Option<f64> {
    let v = value.trim().trim_end_matches("px");
    v.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn font_size(els: &[Element], at: usize) -> f64 {
    std::iter::once(&els[at])
        .chain(ancestors(els, at))
        .take_while(|e| e.tag != "div")
        .find_map(|e| e.attr("font-size").and_then(svg_number))
        .unwrap_or(DEFAULT_FONT_SIZE)
}

/// The text of an element and its descendants (for SVG `text` with `tspan`s).
fn deep_text(els: &[Element], at: usize) -> String {
    let mut out = els[at].text.clone();
    for (i, e) in els.iter().enumerate().skip(at + 1) {
        if std::iter::successors(e.parent, |&p| els[p].parent).any(|p| p == at) {
            out.push(' ');
            out.push_str(&els[i].text);
        } else {
            break;
        }
    }
    decode(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks an HTML document (the file as written, before sanitizing). Mermaid blocks are drawn with
/// `renderer` when one is given. Problems come sorted by line.
pub fn check(html: &str, renderer: Option<&dyn DiagramRenderer>) -> Vec<Problem> {
    let els = parse(html);
    let mut problems = vec![];
    let mut report = |line: usize, severity: Severity, message: String| {
        problems.push(Problem {
            line,
            severity,
            message,
        });
    };
    use Severity::{Error, Warning};

    let mut anchors: HashMap<&str, usize> = HashMap::new();
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for e in &els {
        if let Some(a) = e.attr("data-anchor") {
            if AnchorId::parse(a).is_err() {
                report(
                    e.line,
                    Error,
                    format!(
                        "data-anchor=\"{a}\" is not a valid anchor: 1–128 of A-Z a-z 0-9 - _ . :, starting with a letter or digit"
                    ),
                );
            } else if let Some(first) = anchors.get(a) {
                report(
                    e.line,
                    Error,
                    format!(
                        "data-anchor=\"{a}\" is already used on line {first}: only the first is commentable"
                    ),
                );
            } else {
                anchors.insert(a, e.line);
            }
            if a.starts_with(RESERVED_ID_PREFIX) {
                report(
                    e.line,
                    Warning,
                    format!(
                        "data-anchor=\"{a}\": anchors starting with {RESERVED_ID_PREFIX} belong to the page; it becomes doc-{a}"
                    ),
                );
            }
        }
        if let Some(id) = e.attr("id") {
            if let Some(first) = ids.get(id) {
                report(
                    e.line,
                    Error,
                    format!(
                        "id=\"{id}\" is already used on line {first}: ids are unique in the document"
                    ),
                );
            } else {
                ids.insert(id, e.line);
            }
            if id.starts_with(RESERVED_ID_PREFIX) {
                report(
                    e.line,
                    Warning,
                    format!(
                        "id=\"{id}\": ids starting with {RESERVED_ID_PREFIX} belong to the page; it becomes doc-{id}"
                    ),
                );
            }
        }
    }

    let in_svg = |at: usize| ancestors(&els, at).any(|a| a.tag == "svg");
    for (at, e) in els.iter().enumerate() {
        let tag = e.tag.as_str();
        if !is_allowed_tag(tag) {
            let why = match tag {
                "html" | "head" | "body" | "meta" | "link" | "title" if !in_svg(at) => {
                    "a plan is an HTML fragment: start with <h1>, no <html>, <head> or <body>"
                }
                "script" => "no scripts",
                "style" => "no <style>: the stylesheet's classes style everything",
                "form" | "button" | "select" | "textarea" | "option" | "label" => {
                    "no form controls: draw them with pp-mock-btn, pp-mock-input, pp-mock-check, pp-mock-toggle"
                }
                "iframe" | "object" | "embed" | "frame" => "no embedded content",
                "foreignobject" | "image" | "animate" | "set" | "animatetransform"
                | "animatemotion" | "style " => "not in the SVG subset",
                _ => "not in the allow-list (docs/plan-format.md, What is allowed)",
            };
            report(
                e.line,
                Error,
                format!("<{tag}> is removed by the server: {why}"),
            );
            continue;
        }
        if tag == "input"
            && e.attr("type")
                .is_some_and(|t| !t.eq_ignore_ascii_case("checkbox"))
        {
            report(
                e.line,
                Error,
                "<input> becomes a disabled checkbox: no form controls; in a mockup draw pp-mock-input or pp-mock-check".to_owned(),
            );
        }
        for (name, value) in &e.attrs {
            let name = name.as_str();
            if name.starts_with("on") {
                report(
                    e.line,
                    Error,
                    format!("{name}=… is removed: no event handlers"),
                );
            } else if name == "style" {
                report(
                    e.line,
                    Error,
                    "style=\"…\" is removed: use the vocabulary's classes".to_owned(),
                );
            } else if !is_allowed_attribute(tag, name) && name != "xmlns:xlink" {
                report(
                    e.line,
                    Warning,
                    format!("<{tag} {name}=…> is removed by the server (not in the allow-list)"),
                );
            }
            // Same-document references reach an element of this document.
            for piece in value.split("url(").skip(1) {
                let inner = piece.trim_start_matches([' ', '"', '\'']);
                if let Some(target) = inner.strip_prefix('#') {
                    let target = target.split([')', '"', '\'', ' ']).next().unwrap_or("");
                    if !ids.contains_key(target) {
                        report(
                            e.line,
                            Error,
                            format!(
                                "{name}=\"{value}\": url(#{target}) points to no id in the document"
                            ),
                        );
                    }
                }
            }
            if name == "href"
                && let Some(target) = value.trim().strip_prefix('#')
                && !target.is_empty()
                && !ids.contains_key(target)
                && !(tag == "a" && anchors.contains_key(target))
            {
                report(
                    e.line,
                    Error,
                    format!(
                        "href=\"{value}\" points to no id{} in the document",
                        if tag == "a" { " or data-anchor" } else { "" }
                    ),
                );
            }
        }
        for class in e.classes() {
            if !class_allowed(tag, class) {
                let hint = if class == MERMAID_CLASS {
                    ": Mermaid is written as <pre class=\"mermaid\">"
                } else {
                    ": the stylesheet styles nothing else (docs/plan-format.md, Components)"
                };
                report(
                    e.line,
                    Error,
                    format!("class \"{class}\" is not in the PlanPush vocabulary{hint}"),
                );
            }
        }
        if tag == "pre" && e.classes().any(|c| c == MERMAID_CLASS) && e.attrs.len() != 1 {
            report(
                e.line,
                Error,
                "write Mermaid as exactly <pre class=\"mermaid\"> (no other attribute): otherwise it is shown as code".to_owned(),
            );
        }
        if tag == "svg" && !in_svg(at) {
            let label = e.attr("aria-label").unwrap_or("");
            let what = if label.is_empty() {
                String::new()
            } else {
                format!(" \"{label}\"")
            };
            if !ancestors(&els, at).any(|a| a.classes().any(|c| c == "pp-diagram")) {
                report(
                    e.line,
                    Warning,
                    format!(
                        "<svg>{what} is not inside <div class=\"pp-diagram\">: drawings get their light paper (and stay visible in dark mode) there"
                    ),
                );
            }
            match e.attr("viewbox").map(|v| {
                v.split([' ', ','])
                    .filter(|p| !p.is_empty())
                    .filter_map(svg_number)
                    .collect::<Vec<f64>>()
            }) {
                None => report(
                    e.line,
                    Warning,
                    format!("<svg>{what} has no viewBox: it cannot scale to the page's width"),
                ),
                Some(v) if v.len() == 4 && v[2] > MAX_SVG_WIDTH => report(
                    e.line,
                    Warning,
                    format!(
                        "<svg>{what} is {} units wide: the page column is about {MAX_SVG_WIDTH}, so it is scaled to {:.0} % and its text with it; redraw it at most {MAX_SVG_WIDTH} wide",
                        v[2],
                        MAX_SVG_WIDTH / v[2] * 100.0
                    ),
                ),
                _ => {}
            }
        }
        if tag == "text" {
            let size = font_size(&els, at);
            let label = deep_text(&els, at);
            if size < MIN_SVG_FONT_SIZE {
                report(
                    e.line,
                    Warning,
                    format!(
                        "text \"{label}\" has font-size {size}: use at least {MIN_SVG_FONT_SIZE} (14 for box labels)"
                    ),
                );
            }
            // The text-width rule: a label in a box fits the box.
            if let Some(parent) = e.parent
                && els[parent].tag == "g"
            {
                let rects: Vec<&Element> = els
                    .iter()
                    .filter(|r| r.parent == Some(parent) && r.tag == "rect")
                    .collect();
                if let [rect] = rects.as_slice()
                    && let Some(width) = rect.attr("width").and_then(svg_number)
                {
                    let need = label.chars().count() as f64 * CHAR_WIDTH_EM * size;
                    if need + LABEL_PADDING > width {
                        report(
                            e.line,
                            Warning,
                            format!(
                                "label \"{label}\" needs about {need:.0} units at font-size {size} ({} characters × {CHAR_WIDTH_EM} × {size}) but its box is {width} wide: widen the box to {:.0}, shorten the label or break it into <tspan> lines",
                                label.chars().count(),
                                need + LABEL_PADDING
                            ),
                        );
                    }
                }
            }
        }
        if matches!(
            tag,
            "path" | "polygon" | "polyline" | "circle" | "rect" | "ellipse" | "line"
        ) && ancestors(&els, at).any(|a| a.tag == "marker")
        {
            let fill = e.attr("fill").unwrap_or("");
            let stroke_only = fill.eq_ignore_ascii_case("none")
                && e.attr("stroke")
                    .is_some_and(|s| s.eq_ignore_ascii_case("currentcolor"));
            if !fill.eq_ignore_ascii_case("currentcolor") && !stroke_only {
                report(
                    e.line,
                    Warning,
                    "arrowhead without fill=\"currentColor\": it is drawn in black whatever the theme, and its color does not follow the lines'".to_owned(),
                );
            }
        }
    }

    // Mermaid: the kinds the reference suggests, and a drawing.
    for d in find_diagrams(html) {
        let line = line_at(html, d.span.start);
        let kind = d.source.split_whitespace().next().unwrap_or("");
        if !MERMAID_KINDS.contains(&kind) {
            report(
                line,
                Warning,
                format!(
                    "Mermaid diagram of kind \"{kind}\": the reference suggests {}",
                    MERMAID_KINDS.join(", ")
                ),
            );
        }
        if let Some(r) = renderer {
            for (severity, message) in r.check(&d.source) {
                report(line, severity, format!("Mermaid: {message}"));
            }
        }
    }

    problems.sort_by_key(|p| (p.line, p.severity));
    problems
}

/// Checks a Markdown document: its HTML (as the server converts it) is checked, and a problem in
/// a Mermaid block is reported on the line of its ```` ```mermaid ```` fence. Other problems carry
/// no line (line 0): they come from HTML written inside the Markdown.
pub fn check_markdown(md: &str, renderer: Option<&dyn DiagramRenderer>) -> Vec<Problem> {
    // A table column's alignment (`|:--|`) comes out as `style="text-align: …"`, which the server
    // drops: the author did not write that style, so it is not theirs to fix.
    let html = ["left", "center", "right"]
        .iter()
        .fold(crate::markdown_to_html(md), |h, a| {
            h.replace(&format!(" style=\"text-align: {a}\""), "")
        });
    let fences: Vec<usize> = md
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            (t.starts_with("```") || t.starts_with("~~~"))
                && t.trim_start_matches(['`', '~'])
                    .trim()
                    .starts_with("mermaid")
        })
        .map(|(i, _)| i + 1)
        .collect();
    let diagram_lines: Vec<usize> = find_diagrams(&html)
        .iter()
        .map(|d| line_at(&html, d.span.start))
        .collect();
    let mut problems = check(&html, renderer);
    for p in &mut problems {
        p.line = diagram_lines
            .iter()
            .position(|&l| l == p.line && p.message.starts_with("Mermaid"))
            .and_then(|n| fences.get(n).copied())
            .unwrap_or(0);
    }
    problems.sort_by_key(|p| (p.line, p.severity));
    problems
}

#[cfg(test)]
mod tests;
