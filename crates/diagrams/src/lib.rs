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
use planpush_document::{DiagramRenderer, Severity};

/// The page column a diagram is shown in (px), and the smallest scale a drawing may be shown at
/// before `check` warns that its text gets too small (the reference's sizing guidance).
const COLUMN_WIDTH: f32 = 1000.0;
const MIN_SCALE: f32 = 0.75;

/// Node and rank spacings tried in turn, as multiples of the renderer's defaults. The renderer
/// narrows its spacing to half a node's average size (at least its `min_spacing`, 24), so a wider
/// try raises that floor too: without it, small state boxes were laid out alike at every try.
const SPACINGS: [f32; 5] = [1.0, 1.4, 1.8, 2.6, 3.4];

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
    ///
    /// A cramped layout leaves no free spot for a label: it is spaced out step by step in its own
    /// direction and turned (top-down ↔ left-right), each until its labels are clear; the drawing
    /// kept has the fewest overlaps, then crossings, then fits the column, then is the smallest
    /// (at most ten layouts; the first is kept at once when its labels are clear). An attempt on which
    /// the renderer panics is skipped; a diagram must never take the push down.
    pub fn draw(&self, source: &str) -> Result<Drawing, String> {
        use std::panic::{AssertUnwindSafe, catch_unwind};
        let prepared = source::prepare(source);
        let mut parsed = catch_unwind(|| parse_mermaid_strict(&prepared.text))
            .map_err(|_| "the renderer failed on this diagram".to_owned())?
            .map_err(first_line)?;
        prepared.apply(&mut parsed.graph);
        let graph_kind = labels::is_graph(parsed.graph.kind);
        let given = parsed.graph.direction;
        let turned = match given {
            Direction::TopDown | Direction::BottomTop => Direction::LeftRight,
            Direction::LeftRight | Direction::RightLeft => Direction::TopDown,
        };
        // Fewest overlaps, then crossings; then a drawing that fits the column; then the smallest.
        type Score = (usize, usize, bool, u64);
        let score_of = |layout: &Layout| -> Score {
            (
                labels::overlaps(layout).len(),
                labels::crossings(layout).len(),
                COLUMN_WIDTH / layout.width < MIN_SCALE,
                (layout.width * layout.height) as u64,
            )
        };
        let mut best: Option<(Score, Layout, RenderOptions)> = None;
        'tries: for direction in [given, turned] {
            parsed.graph.direction = direction;
            for spacing in SPACINGS {
                let graph = &parsed.graph;
                let mut options = RenderOptions::default()
                    .with_node_spacing(50.0 * spacing)
                    .with_rank_spacing(50.0 * spacing);
                options.layout.flowchart.auto_spacing.min_spacing *= spacing;
                let attempt = catch_unwind(AssertUnwindSafe(|| {
                    let mut layout = compute_layout(graph, &options.theme, &options.layout);
                    labels::repair(&mut layout);
                    (score_of(&layout), layout)
                }));
                let Ok((score, layout)) = attempt else {
                    continue;
                };
                let first = best.is_none();
                let clear = score.0 == 0 && score.1 == 0;
                if best.as_ref().is_none_or(|(b, _, _)| score < *b) {
                    best = Some((score, layout, options));
                }
                // The author's drawing as given is kept when it is clear; a clear drawing ends
                // the spacing of this direction (wider ones are only larger).
                if !graph_kind || (first && clear) {
                    break 'tries;
                }
                if clear {
                    break;
                }
            }
        }
        let (_, layout, options) =
            best.ok_or_else(|| "the renderer failed on this diagram".to_owned())?;
        let svg = catch_unwind(AssertUnwindSafe(|| {
            render_svg(&layout, &options.theme, &options.layout)
        }))
        .map_err(|_| "the renderer failed on this diagram".to_owned())?;
        Ok(Drawing { layout, svg })
    }
}

impl DiagramRenderer for MermaidRenderer {
    fn render_svg(&self, source: &str) -> Result<String, String> {
        self.draw(source).map(|d| d.svg)
    }

    /// Errors: does not render, text on text, text of the source missing from the drawing.
    /// Warnings: a label lying across another edge.
    fn check(&self, source: &str) -> Vec<(Severity, String)> {
        match self.draw(source) {
            Err(e) => vec![(Severity::Error, e)],
            Ok(d) => {
                let errors = labels::overlaps(&d.layout)
                    .into_iter()
                    .chain(source::missing_text(source, &d.svg))
                    .map(|m| (Severity::Error, m));
                let warnings = labels::crossings(&d.layout).into_iter().map(|m| {
                    (
                        Severity::Warning,
                        format!("{m} (shorten the labels or split the diagram)"),
                    )
                });
                let scale = COLUMN_WIDTH / d.layout.width;
                let too_wide = (scale < MIN_SCALE).then(|| {
                    (
                        Severity::Warning,
                        format!(
                            "drawn {:.0} px wide for a column of about {COLUMN_WIDTH:.0}: shown at {:.0} %, text included; split it, shorten its labels or change its direction",
                            d.layout.width,
                            scale * 100.0
                        ),
                    )
                });
                errors.chain(warnings).chain(too_wide).collect()
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
