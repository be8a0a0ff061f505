#![allow(clippy::unwrap_used)]
//! `planpush check` as the plugin runs it: the real binary, no server and no credentials (even a
//! corrupt credentials file does not stop it), problems on stdout with file and line, exit 13.

use std::path::Path;
use std::process::Command;

fn planpush(args: &[&str], config_dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_planpush"))
        .args(args)
        .env("PLANPUSH_CONFIG_DIR", config_dir)
        .env_remove("PLANPUSH_SERVER")
        .env_remove("PLANPUSH_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_fixture_passes_and_a_broken_plan_fails_with_lines() {
    let dir = tempfile::tempdir().unwrap();
    // A credentials file that would make every server command fail.
    std::fs::write(dir.path().join("credentials.json"), "{ not json").unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/auth-service-redesign.html");
    let (code, stdout, stderr) = planpush(
        &["check", fixture.to_str().unwrap(), "--strict"],
        dir.path(),
    );
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    assert!(stderr.contains("no problem found"), "{stderr}");

    let plan = dir.path().join("plan.html");
    std::fs::write(
        &plan,
        "<h1>Plan</h1>\n<section data-anchor=\"flow\">\n<div class=\"pp-widget\">x</div>\n<pre class=\"mermaid\">stateDiagram-v2\n  [*] --&gt; Draft\n  Draft --&gt; Draft: edit\n  Draft --&gt; [*]: discard\n</pre>\n<pre class=\"mermaid\">not a diagram ((((</pre>\n</section>\n",
    )
    .unwrap();
    let (code, stdout, stderr) = planpush(&["check", plan.to_str().unwrap()], dir.path());
    assert_eq!(code, 13, "{stdout}{stderr}");
    let file = plan.display().to_string();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.contains(&format!("{file}:3: error: class \"pp-widget\" is not in the PlanPush vocabulary: the stylesheet styles nothing else (docs/plan-format.md, Components)").as_str()),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{file}:9: error: Mermaid: "))),
        "{stdout}"
    );
    assert!(
        !lines.iter().any(|l| l.contains(":4:")),
        "the state diagram with a self-loop and a terminal transition draws cleanly: {stdout}"
    );
    assert!(stderr.contains("2 error(s)"), "{stderr}");
}
