//! `planpush check FILE`: the document's problems, found locally before anything is pushed —
//! anchors, ids and classes against the vocabulary, what the server's sanitizer would drop, the
//! hand-drawn SVG rules, and every Mermaid block drawn with the server's own renderer (so a diagram
//! that does not render, or whose labels overlap, is caught here). No server, no credentials.

use std::path::Path;

use planpush_diagrams::MermaidRenderer;
use planpush_document::{Problem, Severity, check, check_markdown};

use crate::commands::{Format, read_document};
use crate::error::CliError;

/// What `planpush check` found: the problems, already formatted as `FILE:LINE: severity: message`.
#[derive(Debug)]
pub struct Report {
    pub lines: Vec<String>,
    pub errors: usize,
    pub warnings: usize,
}

/// Checks the file (HTML or Markdown, as `planpush push` reads it).
pub fn check_file(path: &Path, format: Option<Format>) -> Result<Report, CliError> {
    let (text, format) = read_document(path, format)?;
    Ok(report(
        &path.display().to_string(),
        &check_text(&text, format),
    ))
}

/// Checks a document's text, Mermaid drawn with the server's renderer (also `check_plan` in MCP).
pub fn check_text(text: &str, format: Format) -> Vec<Problem> {
    let renderer = MermaidRenderer;
    match format {
        Format::Html => check(text, Some(&renderer)),
        Format::Markdown => check_markdown(text, Some(&renderer)),
    }
}

fn report(file: &str, problems: &[Problem]) -> Report {
    let lines = problems
        .iter()
        .map(|p| {
            let severity = match p.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            match p.line {
                0 => format!("{file}: {severity}: {}", p.message),
                n => format!("{file}:{n}: {severity}: {}", p.message),
            }
        })
        .collect();
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    Report {
        lines,
        errors,
        warnings: problems.len() - errors,
    }
}

/// `planpush check FILE [--strict]`: prints each problem on stdout; fails (exit 13) on an error, or
/// on a warning too with `--strict`.
pub fn run(path: &Path, format: Option<Format>, strict: bool) -> Result<(), CliError> {
    let r = check_file(path, format)?;
    for line in &r.lines {
        println!("{line}");
    }
    if r.errors > 0 || (strict && r.warnings > 0) {
        return Err(CliError::CheckFailed {
            path: path.to_path_buf(),
            errors: r.errors,
            warnings: r.warnings,
        });
    }
    if r.warnings > 0 {
        eprintln!(
            "{}: {} warning(s), no error: the server takes it as it is",
            path.display(),
            r.warnings
        );
    } else {
        eprintln!("{}: no problem found", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_clean_plan_passes_and_problems_come_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let ok = write(
            &dir,
            "ok.html",
            "<h1>Plan</h1>\n<section data-anchor=\"flow\"><h2>Flow</h2>\n<figure data-anchor=\"f\"><pre class=\"mermaid\">flowchart LR\n  A[Client] --&gt; B[Server]</pre><figcaption>Flow</figcaption></figure>\n</section>\n",
        );
        let r = check_file(&ok, None).unwrap();
        assert_eq!((r.errors, r.warnings), (0, 0), "{:?}", r.lines);
        assert!(run(&ok, None, true).is_ok());

        let bad = write(
            &dir,
            "bad.html",
            "<h1>Plan</h1>\n<section data-anchor=\"a\">\n<div class=\"pp-cardz\" data-anchor=\"a\">x</div>\n<pre class=\"mermaid\">this is not a diagram ((((</pre>\n</section>\n",
        );
        let r = check_file(&bad, None).unwrap();
        let file = bad.display().to_string();
        assert!(
            r.lines
                .iter()
                .any(|l| l.starts_with(&format!("{file}:3: error: class \"pp-cardz\""))),
            "{:#?}",
            r.lines
        );
        assert!(
            r.lines.iter().any(|l| l.starts_with(&format!(
                "{file}:3: error: data-anchor=\"a\" is already used on line 2"
            ))),
            "{:#?}",
            r.lines
        );
        assert!(
            r.lines
                .iter()
                .any(|l| l.starts_with(&format!("{file}:4: error: Mermaid: "))),
            "the renderer's error is reported on the diagram's line: {:#?}",
            r.lines
        );
        let e = run(&bad, None, false).unwrap_err();
        assert_eq!(e.exit_code(), 13);
        assert!(e.to_string().contains("3 error(s)"), "{e}");
    }

    #[test]
    fn warnings_fail_only_with_strict_and_markdown_is_checked_too() {
        let dir = tempfile::tempdir().unwrap();
        let md = write(
            &dir,
            "plan.md",
            "# Plan\n\n## Flow\n\n```mermaid\npie\n  \"a\" : 1\n```\n",
        );
        let r = check_file(&md, None).unwrap();
        assert_eq!(r.errors, 0, "{:?}", r.lines);
        assert!(
            r.lines
                .iter()
                .any(|l| l.contains("plan.md:5: warning: Mermaid diagram of kind \"pie\"")),
            "{:#?}",
            r.lines
        );
        assert!(run(&md, None, false).is_ok());
        assert_eq!(run(&md, None, true).unwrap_err().exit_code(), 13);
        // Unreadable input is the usual file error, not a check failure.
        let missing = dir.path().join("nope.html");
        assert_eq!(run(&missing, None, false).unwrap_err().exit_code(), 12);
    }
}
