use std::collections::HashSet;

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd, html};

use crate::index::slugify;

/// Markdown (CommonMark, GFM tables, task lists, strikethrough) to HTML. Every `##` heading opens a
/// `<section data-anchor="…">` that runs to the next `##` (or the end), and every `###` heading gets
/// a `data-anchor` of its own, so Markdown plans are commentable. An explicit heading id
/// (`## Title {#my-anchor}`) is kept as the anchor, which lets authors keep anchors stable across
/// rewrites. The output still goes through [`crate::sanitize`].
pub fn markdown_to_html(md: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_HEADING_ATTRIBUTES;
    let events: Vec<Event<'_>> = Parser::new_ext(md, options).collect();
    let mut used = HashSet::new();
    let mut unique = |base: String| {
        let mut candidate = base.clone();
        let mut n = 2;
        while !used.insert(candidate.clone()) {
            candidate = format!("{base}-{n}");
            n += 1;
        }
        candidate
    };
    let mut out: Vec<Event<'_>> = Vec::with_capacity(events.len() + 8);
    let mut open_section = false;
    let mut i = 0;
    while i < events.len() {
        match &events[i] {
            Event::Start(Tag::Heading {
                level,
                id,
                classes,
                attrs,
            }) if matches!(level, HeadingLevel::H2 | HeadingLevel::H3) => {
                let text: String = events[i + 1..]
                    .iter()
                    .take_while(|e| !matches!(e, Event::End(TagEnd::Heading(_))))
                    .filter_map(|e| match e {
                        Event::Text(t) | Event::Code(t) => Some(t.as_ref()),
                        _ => None,
                    })
                    .collect();
                let anchor = unique(id.as_ref().map_or_else(|| slugify(&text), |i| slugify(i)));
                if *level == HeadingLevel::H2 {
                    if open_section {
                        out.push(Event::Html(CowStr::from("</section>\n")));
                    }
                    out.push(Event::Html(CowStr::from(format!(
                        "<section data-anchor=\"{anchor}\">\n"
                    ))));
                    open_section = true;
                    out.push(Event::Start(Tag::Heading {
                        level: *level,
                        id: None,
                        classes: classes.clone(),
                        attrs: attrs.clone(),
                    }));
                } else {
                    let mut attrs = attrs.clone();
                    attrs.push((CowStr::from("data-anchor"), Some(CowStr::from(anchor))));
                    out.push(Event::Start(Tag::Heading {
                        level: *level,
                        id: None,
                        classes: classes.clone(),
                        attrs,
                    }));
                }
            }
            // ```mermaid fences become <pre class="mermaid">, rendered to SVG at push time.
            Event::Start(Tag::CodeBlock(pulldown_cmark::CodeBlockKind::Fenced(lang)))
                if lang.as_ref() == "mermaid" =>
            {
                let mut source = String::new();
                i += 1;
                while i < events.len() && !matches!(events[i], Event::End(TagEnd::CodeBlock)) {
                    if let Event::Text(t) = &events[i] {
                        source.push_str(t);
                    }
                    i += 1;
                }
                let escaped = source
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;");
                out.push(Event::Html(CowStr::from(format!(
                    "<pre class=\"mermaid\">{escaped}</pre>\n"
                ))));
            }
            e => out.push(e.clone()),
        }
        i += 1;
    }
    if open_section {
        out.push(Event::Html(CowStr::from("</section>\n")));
    }
    let mut html_out = String::with_capacity(md.len() * 3 / 2);
    html::push_html(&mut html_out, out.into_iter());
    html_out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SanitizeOptions, sanitize, section_index};

    #[test]
    fn headings_become_sections_with_stable_anchors() {
        let md = "# Auth Service Redesign\n\nIntro.\n\n## Authentication Flow\n\nText.\n\n### Token Store\n\nMore.\n\n## Key Decisions {#decisions}\n\n- [x] JWT\n- [ ] Redis?\n\n## Authentication Flow\n\nAgain.\n\n| Field | Type |\n|---|---|\n| id | uuid |\n";
        let html = markdown_to_html(md);
        let clean = sanitize(&html, &SanitizeOptions::default());
        let idx = section_index(&clean);
        let anchors: Vec<&str> = idx.entries().iter().map(|e| e.anchor.as_str()).collect();
        assert_eq!(
            anchors,
            [
                "authentication-flow",
                "token-store",
                "decisions",
                "authentication-flow-2"
            ]
        );
        assert_eq!(idx.entries()[2].title, "Key Decisions");
        assert!(
            clean.contains("<table>") && clean.contains("<td>uuid</td>"),
            "{clean}"
        );
        assert!(
            clean.contains("type=\"checkbox\"") && clean.contains("disabled"),
            "{clean}"
        );
        assert_eq!(
            crate::title(&clean).as_deref(),
            Some("Auth Service Redesign")
        );
    }

    #[test]
    fn raw_html_in_markdown_is_still_sanitized() {
        let html = markdown_to_html(
            "## X\n\n<img src=x onerror=alert(1)> <script>alert(1)</script>\n\n[x](javascript:alert(1))\n",
        );
        let clean = sanitize(&html, &SanitizeOptions::default());
        assert!(
            !clean.contains("onerror")
                && !clean.contains("<script")
                && !clean.contains("javascript:"),
            "{clean}"
        );
    }
}
