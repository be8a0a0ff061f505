//! Mermaid → SVG at push time, in pure Rust, with `mermaid-rs-renderer`.
//!
//! Why this renderer: it drew the seed's authentication flow cleanly (a few KB of SVG using
//! presentation attributes only, so the sanitizer keeps it intact), renders a flowchart in well under
//! a millisecond once its font metrics are loaded (the first call loads system fonts: ~40 ms), and
//! builds in seconds; `merman` 0.10-alpha took over 30 minutes to build in release on the 2-core CI
//! machine. Rendered SVG is cached by source hash by the caller (`app::Push`).
//!
//! Architecture invariant: an adapter (it reads font files); domain crates see only the
//! `planpush_document::DiagramRenderer` port.

use planpush_document::DiagramRenderer;

/// The Mermaid renderer.
#[derive(Debug, Default, Clone, Copy)]
pub struct MermaidRenderer;

impl DiagramRenderer for MermaidRenderer {
    fn render_svg(&self, source: &str) -> Result<String, String> {
        // A malformed diagram must never take the push down, even if the renderer panics.
        match std::panic::catch_unwind(|| mermaid_rs_renderer::render(source)) {
            Ok(Ok(svg)) => Ok(svg),
            Ok(Err(e)) => Err(format!("{e:#}")
                .lines()
                .next()
                .unwrap_or("invalid diagram")
                .to_owned()),
            Err(_) => Err("the renderer failed on this diagram".to_owned()),
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
