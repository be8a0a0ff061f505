#![allow(clippy::unwrap_used)]

use super::*;

/// A renderer that fails on sources containing "bad" and reports "overlap" ones as drawn badly.
struct Fake;

impl DiagramRenderer for Fake {
    fn render_svg(&self, source: &str) -> Result<String, String> {
        if source.contains("bad") {
            Err("line 2: unexpected token".into())
        } else {
            Ok("<svg></svg>".into())
        }
    }

    fn check(&self, source: &str) -> Vec<(Severity, String)> {
        let mut out: Vec<(Severity, String)> = self
            .render_svg(source)
            .err()
            .map(|e| (Severity::Error, e))
            .into_iter()
            .collect();
        if source.contains("overlap") {
            out.push((Severity::Error, "labels \"a\" and \"b\" overlap".into()));
            out.push((
                Severity::Warning,
                "label \"a\" lies across the edge X → Y".into(),
            ));
        }
        out
    }
}

fn lines(problems: &[Problem]) -> Vec<(usize, Severity, String)> {
    problems
        .iter()
        .map(|p| (p.line, p.severity, p.message.clone()))
        .collect()
}

fn has(problems: &[Problem], line: usize, severity: Severity, needle: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.line == line && p.severity == severity && p.message.contains(needle)),
        "no {severity:?} on line {line} containing {needle:?} in {:#?}",
        lines(problems)
    );
}

#[test]
fn a_clean_document_has_no_problem() {
    let html = r##"<h1>Plan</h1>
<p class="pp-lead">Lead</p>
<section data-anchor="s1"><h2>One</h2>
<div class="pp-tabs"><a class="pp-tab" href="#pane-a">A</a></div>
<div class="pp-pane" id="pane-a" data-anchor="pane-a">x <a href="#s1">up</a></div>
<div class="pp-metrics"><div class="pp-metric" data-anchor="slo"><span class="pp-metric-value">p99 &lt; 5 s</span><span class="pp-metric-label">Push</span></div></div>
<figure data-anchor="flow"><pre class="mermaid">flowchart LR
  A --&gt; B</pre><figcaption>Figure 1</figcaption></figure>
<div class="pp-diagram"><svg viewBox="0 0 200 60" xmlns="http://www.w3.org/2000/svg">
<defs><marker id="arr" markerWidth="10" markerHeight="7" refX="9" refY="3.5" orient="auto"><polygon points="0 0, 10 3.5, 0 7" fill="currentColor"/></marker></defs>
<g data-anchor="node-a"><rect x="5" y="10" width="120" height="40"/><text x="65" y="35" font-size="14">Gateway</text></g>
<line x1="125" y1="30" x2="190" y2="30" stroke="currentColor" marker-end="url(#arr)"/>
</svg></div>
<pre><code class="language-sql">SELECT 1;</code></pre>
</section>"##;
    let problems = check(html, Some(&Fake));
    assert!(problems.is_empty(), "{:#?}", lines(&problems));
}

#[test]
fn anchors_ids_classes_and_references_are_reported_on_their_line() {
    let html = r##"<section data-anchor="s1">
<div data-anchor="s1">again</div>
<div data-anchor="-bad">x</div>
<div id="a"></div><div id="a"></div>
<div class="pp-card pp-fancy card">x</div>
<a href="#nowhere">x</a>
<div data-anchor="pp-sidebar" id="pp-x">x</div>
<svg viewBox="0 0 10 10"><path d="M0 0" marker-end="url(#missing)"/></svg>
<span class="mermaid">x</span>
</section>"##;
    let p = check(html, None);
    has(&p, 2, Severity::Error, "already used on line 1");
    has(&p, 3, Severity::Error, "not a valid anchor");
    has(&p, 4, Severity::Error, "id=\"a\" is already used on line 4");
    has(
        &p,
        5,
        Severity::Error,
        "class \"pp-fancy\" is not in the PlanPush vocabulary",
    );
    has(&p, 5, Severity::Error, "class \"card\"");
    assert!(
        !p.iter().any(|x| x.message.contains("\"pp-card\"")),
        "pp-card is vocabulary"
    );
    has(&p, 6, Severity::Error, "href=\"#nowhere\" points to no id");
    has(
        &p,
        7,
        Severity::Warning,
        "anchors starting with pp- belong to the page",
    );
    has(&p, 7, Severity::Warning, "ids starting with pp-");
    has(&p, 8, Severity::Error, "url(#missing) points to no id");
    has(
        &p,
        8,
        Severity::Warning,
        "not inside <div class=\"pp-diagram\">",
    );
    has(&p, 9, Severity::Error, "<pre class=\"mermaid\">");
    // Sorted by line.
    assert!(p.windows(2).all(|w| w[0].line <= w[1].line));
}

#[test]
fn what_the_sanitizer_drops_is_an_error() {
    let html = "<html><body>\n<script>alert(1)</script>\n<p style=\"color:red\" onclick=\"x()\">hi</p>\n<form><input type=\"text\"></form>\n<pre class=\"mermaid\" id=\"m\">flowchart LR\n A--&gt;B</pre>\n<img src=\"x.png\" loading=\"lazy\">\n</body></html>";
    let p = check(html, None);
    has(
        &p,
        1,
        Severity::Error,
        "<html> is removed by the server: a plan is an HTML fragment",
    );
    has(
        &p,
        2,
        Severity::Error,
        "<script> is removed by the server: no scripts",
    );
    has(&p, 3, Severity::Error, "style=");
    has(&p, 3, Severity::Error, "onclick=… is removed");
    has(
        &p,
        4,
        Severity::Error,
        "<form> is removed by the server: no form controls",
    );
    has(
        &p,
        4,
        Severity::Error,
        "<input> becomes a disabled checkbox",
    );
    has(
        &p,
        5,
        Severity::Error,
        "write Mermaid as exactly <pre class=\"mermaid\">",
    );
    has(&p, 7, Severity::Warning, "<img loading=…> is removed");
    // The script's content is not parsed as markup.
    assert!(!p.iter().any(|x| x.message.contains("alert")));
}

#[test]
fn hand_drawn_svg_rules() {
    let html = r#"<div class="pp-diagram"><svg xmlns="http://www.w3.org/2000/svg">
<defs><marker id="m" markerWidth="10" markerHeight="7"><polygon points="0 0, 10 3.5, 0 7"/></marker></defs>
<g font-size="10"><text x="1" y="1">tiny</text></g>
<g data-anchor="n1"><rect x="0" y="0" width="60" height="30"/><text x="30" y="20" font-size="14">Authentication Service</text></g>
<g data-anchor="n2"><rect x="0" y="0" width="200" height="30"/><text x="30" y="20" font-size="14"><tspan>Auth</tspan> <tspan>Service</tspan></text></g>
<line x1="0" y1="0" x2="5" y2="5" marker-end="url(#m)"/>
</svg></div>"#;
    let p = check(html, None);
    has(&p, 1, Severity::Warning, "has no viewBox");
    let wide = check(
        "<div class=\"pp-diagram\"><svg viewBox=\"0 0 2000 300\"></svg></div>",
        None,
    );
    has(&wide, 1, Severity::Warning, "is 2000 units wide");
    has(&wide, 1, Severity::Warning, "scaled to 50 %");
    has(
        &p,
        2,
        Severity::Warning,
        "arrowhead without fill=\"currentColor\"",
    );
    has(&p, 3, Severity::Warning, "text \"tiny\" has font-size 10");
    has(
        &p,
        4,
        Severity::Warning,
        "label \"Authentication Service\" needs about 185 units",
    );
    assert!(
        !p.iter().any(|x| x.line == 5),
        "a label that fits is fine: {:#?}",
        lines(&p)
    );
    assert!(
        p.iter().all(|x| x.severity == Severity::Warning),
        "{:#?}",
        lines(&p)
    );
}

#[test]
fn mermaid_blocks_are_drawn_and_their_problems_reported() {
    let html = "<h1>x</h1>\n<pre class=\"mermaid\">flowchart LR\n bad --&gt; B</pre>\n<pre class=\"mermaid\">stateDiagram-v2\n overlap</pre>\n<pre class=\"mermaid\">pie\n \"a\": 1</pre>";
    let p = check(html, Some(&Fake));
    has(&p, 2, Severity::Error, "Mermaid: line 2: unexpected token");
    has(
        &p,
        4,
        Severity::Error,
        "Mermaid: labels \"a\" and \"b\" overlap",
    );
    has(
        &p,
        4,
        Severity::Warning,
        "Mermaid: label \"a\" lies across the edge",
    );
    has(&p, 6, Severity::Warning, "kind \"pie\"");
    // Without a renderer only the static rules run.
    assert!(
        check(html, None)
            .iter()
            .all(|x| x.severity == Severity::Warning)
    );
}

#[test]
fn markdown_reports_mermaid_problems_on_their_fence() {
    let md = "# Plan\n\n## One\n\nText.\n\n```mermaid\nflowchart LR\n  bad --> B\n```\n\n<div class=\"nope\">x</div>\n";
    let p = check_markdown(md, Some(&Fake));
    has(&p, 7, Severity::Error, "Mermaid: line 2");
    has(&p, 0, Severity::Error, "class \"nope\"");
    // What Markdown itself generates is not the author's to fix: aligned tables, task lists, code.
    let md = "# T\n\n## A\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo\n\n```rust\nfn main() {}\n```\n\nSee [x](#a) and <span style=\"color:red\">this</span>.\n";
    let p = check_markdown(md, None);
    assert_eq!(p.len(), 1, "{:#?}", lines(&p));
    has(&p, 0, Severity::Error, "style=");
}
