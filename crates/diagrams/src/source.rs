//! What the renderer does not read from a Mermaid source as the official renderer does, mended
//! around it, and the text of a source that its drawing must show.
//!
//! - ER entity aliases, `p[Person]` (or `p["Person"]`): the renderer takes `p[Person]` for another
//!   entity than the `p` of the relationships, so the drawn `p` had no attributes. The alias is
//!   taken out of the source and put back as the entity's title.
//! - ER relationship labels in quotes (`: "signs in with"`) are drawn without the quotes.

use mermaid_rs_renderer::{DiagramKind, Graph};

/// A source ready for the renderer, and what to put back into its graph.
pub struct Prepared {
    pub text: String,
    aliases: Vec<(String, String)>,
}

fn kind_word(source: &str) -> &str {
    source
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("%%") && !l.starts_with("---"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("")
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-'))
}

/// `p[Person]` → (`p`, `Person`).
fn split_alias(token: &str) -> Option<(&str, &str)> {
    let (id, rest) = token.split_once('[')?;
    let label = rest.strip_suffix(']')?.trim().trim_matches('"').trim();
    (is_ident(id) && !label.is_empty()).then_some((id, label))
}

/// The byte ranges of a flowchart line's links (`-->`, `-.->`, `==>`, `---`, with a `|label|`
/// after it), outside brackets and quotes.
fn links(line: &str) -> Vec<std::ops::Range<usize>> {
    let b = line.as_bytes();
    let mut out = vec![];
    let (mut depth, mut quoted) = (0i32, false);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => quoted = !quoted,
            b'[' | b'(' | b'{' if !quoted => depth += 1,
            b']' | b')' | b'}' if !quoted => depth -= 1,
            b'-' | b'=' | b'<' if !quoted && depth == 0 => {
                let start = i;
                let mut j = i;
                while j < b.len() && matches!(b[j], b'-' | b'=' | b'.' | b'<' | b'>') {
                    j += 1;
                }
                let arrow = &line[start..j];
                if arrow.len() >= 2
                    && (arrow.contains("--") || arrow.contains("==") || arrow.contains("-."))
                {
                    let rest = &line[j..];
                    if let Some(after) = rest.strip_prefix('|')
                        && let Some(k) = after.find('|')
                    {
                        j += k + 2;
                    }
                    out.push(start..j);
                }
                i = j.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// `A --> B -->|x| C` as `A --> B` and `B -->|x| C`: the renderer reads a chain of more than one
/// link wrongly (it drew a node named `>|x| C`).
fn split_chains(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        let found = links(line);
        if found.len() < 2 || line.contains('&') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let indent = &line[..line.len() - line.trim_start().len()];
        let mut nodes = vec![];
        let mut from = 0;
        for r in &found {
            nodes.push(line[from..r.start].trim());
            from = r.end;
        }
        nodes.push(line[from..].trim());
        for (k, r) in found.iter().enumerate() {
            out.push_str(indent);
            out.push_str(nodes[k]);
            out.push(' ');
            out.push_str(&line[r.clone()]);
            out.push(' ');
            out.push_str(nodes[k + 1]);
            out.push('\n');
        }
    }
    out
}

/// Takes ER aliases out of `source`, splits flowchart chains.
pub fn prepare(source: &str) -> Prepared {
    if matches!(kind_word(source), "flowchart" | "graph") {
        return Prepared {
            text: split_chains(source),
            aliases: vec![],
        };
    }
    if kind_word(source) != "erDiagram" {
        return Prepared {
            text: source.to_owned(),
            aliases: vec![],
        };
    }
    let mut aliases: Vec<(String, String)> = vec![];
    let mut text = String::with_capacity(source.len());
    for line in source.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        // An entity declaration: `p[Person] {` or `p[Person]` alone on its line.
        let head = trimmed.trim_end().trim_end_matches('{').trim_end();
        if let Some((id, label)) = split_alias(head) {
            aliases.push((id.to_owned(), label.to_owned()));
            text.push_str(indent);
            text.push_str(id);
            text.push_str(&trimmed[head.len()..]);
        } else {
            text.push_str(line);
        }
        text.push('\n');
    }
    Prepared { text, aliases }
}

impl Prepared {
    /// Puts the aliases back as titles and unquotes ER relationship labels.
    pub fn apply(&self, graph: &mut Graph) {
        if graph.kind != DiagramKind::Er {
            return;
        }
        for (id, label) in &self.aliases {
            if let Some(node) = graph.nodes.get_mut(id) {
                node.label = match node.label.split_once('\n') {
                    Some((_, rest)) => format!("{label}\n{rest}"),
                    None => label.clone(),
                };
            }
        }
        // An attribute's comment (`uuid owner_id FK "the owner"`) is drawn after its name in
        // parentheses, not in quotes.
        for node in graph.nodes.values_mut() {
            if let Some((title, body)) = node.label.split_once('\n') {
                let body: Vec<String> = body.lines().map(unquote_comment).collect();
                node.label = format!("{title}\n{}", body.join("\n"));
            }
        }
        for edge in &mut graph.edges {
            if let Some(l) = &mut edge.label {
                let t = l.trim();
                if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
                    *l = t[1..t.len() - 1].to_owned();
                }
            }
        }
    }
}

/// `uuid owner_id FK "the owner"` → `uuid owner_id FK (the owner)`.
fn unquote_comment(line: &str) -> String {
    let t = line.trim_end();
    match t
        .strip_suffix('"')
        .and_then(|head| head.rfind('"').map(|i| (head, i)))
    {
        Some((head, i)) if !head[..i].trim().is_empty() => {
            format!("{}({})", &head[..i], &head[i + 1..])
        }
        _ => line.to_owned(),
    }
}

/// The words of every `<text>` in an SVG, entities decoded.
pub fn svg_words(svg: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = svg;
    while let Some(i) = rest.find("<text") {
        rest = &rest[i..];
        let end = rest.find("</text>").unwrap_or(rest.len());
        let inner = &rest[..end];
        let mut text = String::new();
        let mut in_tag = false;
        for c in inner.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    text.push(' ');
                }
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        let text = text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&");
        out.extend(words(&text));
        rest = &rest[end.min(rest.len())..];
        if rest.is_empty() {
            break;
        }
        rest = &rest[1..];
    }
    out
}

/// Words, without quotes, commas, a class member's visibility (`+`, `-`, `#`, `~`) or the brackets
/// and parentheses a loop's label or an attribute's comment is drawn in.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '"' | ','))
        .map(|w| {
            w.trim_start_matches(['+', '-', '#', '~', '[', '('])
                .trim_end_matches([']', ')'])
        })
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Text of the source a reader must find in the drawing: ER entities (or their aliases), every
/// attribute's type, name, keys and comment, and relationship labels; state and flowchart edge
/// labels; state names; sequence messages and notes; class members; Gantt tasks and sections.
pub fn expected_text(source: &str) -> Vec<String> {
    let kind = kind_word(source);
    let mut out = vec![];
    let mut in_block = false;
    for raw in source.lines().skip_while(|l| l.trim().is_empty()).skip(1) {
        let line = raw.trim();
        if line.is_empty() || line.starts_with("%%") {
            continue;
        }
        match kind {
            "erDiagram" => {
                if in_block {
                    if line.starts_with('}') {
                        in_block = false;
                    } else {
                        out.push(line.to_owned());
                    }
                } else if let Some(head) = line.strip_suffix('{') {
                    in_block = true;
                    let head = head.trim();
                    out.push(split_alias(head).map_or(head, |(_, l)| l).to_owned());
                } else if let Some((_, label)) = line.split_once(':') {
                    out.push(label.trim().to_owned());
                }
            }
            "stateDiagram-v2" | "stateDiagram" => {
                if let Some((_, label)) = line.split_once(':') {
                    out.push(label.trim().to_owned());
                }
                for part in line.split("-->") {
                    let name = part.split(':').next().unwrap_or("").trim();
                    let name = name.strip_prefix("state ").unwrap_or(name);
                    let name = name.trim_end_matches('{').trim();
                    if is_ident(name) {
                        out.push(name.to_owned());
                    }
                }
            }
            "sequenceDiagram" => {
                if let Some((_, text)) = line.split_once(':') {
                    out.push(text.trim().to_owned());
                } else if let Some(rest) = ["loop ", "alt ", "opt ", "par ", "else "]
                    .iter()
                    .find_map(|k| line.strip_prefix(k))
                {
                    out.push(rest.trim().to_owned());
                }
            }
            "flowchart" | "graph" => {
                for (open, close) in [('[', ']'), ('|', '|'), ('(', ')'), ('{', '}')] {
                    let mut rest = line;
                    while let Some(i) = rest.find(open) {
                        let after = &rest[i + 1..];
                        let Some(j) = after.find(close) else { break };
                        let inner = after[..j].trim_matches(['[', ']', '(', ')', '"']).trim();
                        if !inner.is_empty() {
                            out.push(inner.to_owned());
                        }
                        rest = &after[j + 1..];
                    }
                }
                if let Some(title) = line.strip_prefix("subgraph ") {
                    out.push(title.trim().to_owned());
                }
            }
            "classDiagram" => {
                if in_block {
                    if line.starts_with('}') {
                        in_block = false;
                    } else {
                        out.push(line.trim_start_matches(['+', '-', '#', '~']).to_owned());
                    }
                } else if line.starts_with("class ") && line.ends_with('{') {
                    in_block = true;
                } else if let Some((_, label)) = line.split_once(" : ") {
                    out.push(label.trim().to_owned());
                }
            }
            "gantt" => {
                if let Some(title) = line.strip_prefix("title ") {
                    out.push(title.trim().to_owned());
                } else if let Some(section) = line.strip_prefix("section ") {
                    out.push(section.trim().to_owned());
                } else if let Some((task, _)) = line.split_once(':') {
                    out.push(task.trim().to_owned());
                }
            }
            _ => {}
        }
    }
    out.retain(|t| !t.is_empty());
    out
}

/// Source text missing from the drawing, one message per piece (a word-wise comparison, so text
/// the renderer wrapped onto several lines still counts).
pub fn missing_text(source: &str, svg: &str) -> Vec<String> {
    let drawn = svg_words(svg);
    expected_text(source)
        .into_iter()
        .filter(|t| words(t).iter().any(|w| !drawn.iter().any(|d| d == w)))
        .map(|t| format!("\"{t}\" is not in the drawing"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn er_aliases_are_taken_out_and_text_is_listed() {
        let src = "erDiagram\n  p[Person] {\n    uuid id PK\n  }\n  p ||--o{ S : \"signs in\"\n";
        let p = prepare(src);
        assert!(p.text.contains("\n  p {\n"), "{}", p.text);
        assert_eq!(p.aliases, [("p".to_owned(), "Person".to_owned())]);
        assert_eq!(
            unquote_comment("uuid id FK \"the owner\""),
            "uuid id FK (the owner)"
        );
        assert_eq!(unquote_comment("string name"), "string name");
        assert_eq!(expected_text(src), ["Person", "uuid id PK", "\"signs in\""]);
        assert_eq!(
            svg_words(
                "<svg><text x=\"1\"><tspan>a &amp; b</tspan><tspan>c</tspan></text><rect/></svg>"
            ),
            ["a", "&", "b", "c"]
        );
        assert_eq!(
            missing_text(
                src,
                "<svg><text>Person uuid id</text><text>signs in</text></svg>"
            ),
            ["\"uuid id PK\" is not in the drawing"]
        );
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[test]
    fn chains_are_split_into_single_links() {
        assert_eq!(
            split_chains("flowchart LR\n  A[a -- b] --> B -->|x y| C[(c)] -.-> D\n  E --> F\n"),
            "flowchart LR\n  A[a -- b] --> B\n  B -->|x y| C[(c)]\n  C[(c)] -.-> D\n  E --> F\n"
        );
        let src = "flowchart LR\n  Client[Client App] --> Gateway[API Gateway] -->|JWT 15m| Auth[Auth Service] -->|Refresh 30d| Store[(Token Store)]\n";
        let svg = crate::MermaidRenderer.draw(src).unwrap().svg;
        assert_eq!(missing_text(src, &svg), Vec::<String>::new());
    }
}
