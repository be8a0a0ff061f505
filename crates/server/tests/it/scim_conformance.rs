//! The independent SCIM 2.0 conformance suite (PyPI `scim2-tester`, run by
//! `crates/server/tests/scim/conformance.py`) against the real binary with SCIM on.
//!
//! The suite's Python comes from `PLANPUSH_SCIM_PYTHON` (`.ci/run` installs it in a venv). Without
//! it the test is skipped with a warning, and fails under `CI=true`.

use std::process::{Command, Stdio};

use crate::support::{BIN, Running, free_port, python_with, wait_for};

const TOKEN: &str = "conformance-scim-token-0123456789abcdef0123";

#[test]
fn scim_conformance_suite_passes_against_the_server() {
    let Some(py) = python_with(
        "PLANPUSH_SCIM_PYTHON",
        "scim2_tester, httpx2",
        "scim2-tester",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .envs([
            ("SECRET_KEY", "k".repeat(40)),
            ("BASE_URL", format!("http://127.0.0.1:{port}")),
            ("AUTH_PROVIDER", "dev".into()),
            ("BIND_ADDR", "127.0.0.1".into()),
            ("PORT", port.to_string()),
            ("SCIM_AUTH_TOKEN", TOKEN.into()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Running(child);
    wait_for(port);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scim/conformance.py");
    let out = Command::new(&py)
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}/scim/v2"))
        .arg(TOKEN)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scim2-tester found violations:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("checks, 0 failed"), "{report}");
}
