//! Mermaid → SVG at push time, in pure Rust, with `mermaid-rs-renderer`.
//!
//! Why this renderer: it drew the seed's authentication flow cleanly (a few KB of SVG using
//! presentation attributes only, so the sanitizer keeps it intact), renders a flowchart in well under
//! a millisecond once its font metrics are loaded (the first call loads system fonts: ~40 ms), and
//! builds in seconds; `merman` 0.10-alpha took over 30 minutes to build in release on the 2-core CI
//! machine. Rendered SVG is cached by source hash by the caller (`app::Push`).
//!
//! Between the renderer's layout and its SVG, [`labels::repair`] moves edge labels off other text
//! and off other edges (the renderer left a state diagram's self-loop and terminal labels on top of
//! each other); [`MermaidRenderer::check`] reports what is still wrong (`planpush check`). The
//! corpus in `fixtures/mermaid/` is drawn by the tests and compared with the official renderer in
//! `docs/plan-format.md`.
//!
//! Architecture invariant: an adapter (it reads font files); domain crates see only the
//! `planpush_document::DiagramRenderer` port.

pub mod labels;
mod source;

pub use source::{expected_text, missing_text};

use mermaid_rs_renderer::{
    Direction, Layout, RenderOptions, compute_layout, parse_mermaid_strict, render_svg,
};
use planpush_document::DiagramRenderer;

/// Node and rank spacings tried in turn, as multiples of the renderer's default (50).
const SPACINGS: [f32; 4] = [1.0, 1.5, 2.0, 3.0];

/// The Mermaid renderer.
#[derive(Debug, Default, Clone, Copy)]
pub struct MermaidRenderer;

/// A source laid out (labels repaired) and drawn.
pub struct Drawing {
    pub layout: Layout,
    pub svg: String,
}

fn first_line(e: impl std::fmt::Display) -> String {
    format!("{e:#}")
        .lines()
        .next()
        .unwrap_or("invalid diagram")
        .to_owned()
}

impl MermaidRenderer {
    /// Parses, lays out, repairs the labels and draws `source`.
    pub fn draw(&self, source: &str) -> Result<Drawing, String> {
        // A malformed diagram must never take the push down, even if the renderer panics.
        let drawn = std::panic::catch_unwind(|| {
            let source = source::prepare(source);
            let mut parsed = parse_mermaid_strict(&source.text).map_err(first_line)?;
            source.apply(&mut parsed.graph);
            // A cramped layout leaves no free spot for a label: space it out and try again, and
            // keep the first drawing whose text is clear (or else the last, the roomiest).
            // If no spacing clears it, the other direction (top-down ↔ left-right) is tried too.
            let mut drawing = None;
            let given = parsed.graph.direction;
            let turned = match given {
                Direction::TopDown | Direction::BottomTop => Direction::LeftRight,
                Direction::LeftRight | Direction::RightLeft => Direction::TopDown,
            };
            'tries: for direction in [given, turned] {
                parsed.graph.direction = direction;
                for spacing in SPACINGS {
                    let options = RenderOptions::default()
                        .with_node_spacing(50.0 * spacing)
                        .with_rank_spacing(50.0 * spacing);
                    let mut layout = compute_layout(&parsed.graph, &options.theme, &options.layout);
                    labels::repair(&mut layout);
                    let clear = labels::problems(&layout).is_empty();
                    if drawing.is_none() || clear {
                        drawing = Some((layout, options));
                    }
                    if clear {
                        break 'tries;
                    }
                }
            }
            let (layout, options) = drawing.ok_or_else(|| "no layout".to_owned())?;
            let svg = render_svg(&layout, &options.theme, &options.layout);
            Ok(Drawing { layout, svg })
        });
        drawn.unwrap_or_else(|_| Err("the renderer failed on this diagram".to_owned()))
    }
}

impl DiagramRenderer for MermaidRenderer {
    fn render_svg(&self, source: &str) -> Result<String, String> {
        self.draw(source).map(|d| d.svg)
    }

    /// Does not render, or renders with text on text / across edges, or loses text of the source.
    fn check(&self, source: &str) -> Vec<String> {
        match self.draw(source) {
            Err(e) => vec![e],
            Ok(d) => {
                let mut out = labels::problems(&d.layout);
                out.extend(source::missing_text(source, &d.svg));
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_flowchart_and_reports_errors() {
        let svg = MermaidRenderer.render_svg("flowchart LR\n  Client[Client App] --> Gateway[API Gateway] --> Auth[Auth Service]").unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("API Gateway"),
            "{svg}"
        );
        assert!(
            !svg.contains("<script") && !svg.contains("<foreignObject"),
            "nothing the sanitizer would have to drop"
        );
        assert!(
            MermaidRenderer
                .render_svg("this is not a diagram ((((")
                .is_err()
        );
        assert_eq!(MermaidRenderer.check("this is not a diagram ((((").len(), 1);
    }

    #[test]
    fn the_sanitizer_keeps_the_drawing() {
        let svg = MermaidRenderer
            .render_svg("flowchart LR\n A[Alpha] --> B[Beta]")
            .unwrap();
        let clean =
            planpush_document::sanitize(&svg, &planpush_document::SanitizeOptions::default());
        for keep in ["<svg", "viewBox", "<marker", "<path", "Alpha", "Beta"] {
            assert!(clean.contains(keep), "{keep} lost: {clean}");
        }
    }
}
