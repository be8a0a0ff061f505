//! The real `planpush` binary against the real `planpush-server` (dev sign-in) on 127.0.0.1:
//! device login approved over HTTP, pushes that update the same plan, comments, token refresh,
//! logout, and every error a person can meet, each with its exit code.
//!
//! The CLI binary is found next to the server binary (`cargo nextest run --workspace` builds both;
//! for `-p planpush-server` alone, `cargo build -p planpush-cli` first).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::{BIN, Running, dev_login, dev_server, dev_server_with, free_port, push, raw};

pub(crate) fn cli_bin() -> PathBuf {
    let bin = Path::new(BIN).with_file_name(format!("planpush{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p planpush-cli` (cargo nextest run --workspace does)",
        bin.display()
    );
    bin
}

/// A person at a terminal: their own config dir and project dir.
pub(crate) struct User {
    pub(crate) config: tempfile::TempDir,
    pub(crate) project: tempfile::TempDir,
    pub(crate) server: String,
}

impl User {
    pub(crate) fn new(port: u16) -> User {
        let project = tempfile::tempdir().unwrap();
        std::fs::create_dir(project.path().join(".git")).unwrap();
        User {
            config: tempfile::tempdir().unwrap(),
            project,
            server: format!("http://127.0.0.1:{port}"),
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(cli_bin());
        c.args(args)
            .current_dir(self.project.path())
            .env_clear()
            .env("PLANPUSH_CONFIG_DIR", self.config.path())
            .env("PLANPUSH_NO_BROWSER", "1")
            .env("HOME", self.config.path());
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> String {
        let path = self.project.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        name.to_owned()
    }

    fn credentials(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.config.path().join("credentials.json")).unwrap())
            .unwrap()
    }

    /// `planpush login`, with the code approved (or denied) by `cookie`'s user over HTTP.
    pub(crate) fn login(&self, port: u16, cookie: &str, action: &str) -> Output {
        let mut child = self
            .command(&["login", "--server", &self.server])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let child_stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(child_stderr).lines();
        let mut shown = String::new();
        let code = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("the CLI ended without a code: {shown}"))
                .unwrap();
            shown.push_str(&line);
            shown.push('\n');
            let t = line.trim();
            if t.len() == 9
                && t.as_bytes()[4] == b'-'
                && t.chars().all(|c| c == '-' || c.is_ascii_uppercase())
            {
                break t.to_owned();
            }
        };
        assert!(
            shown.contains(&format!("{}/activate", self.server)),
            "{shown}"
        );
        let origin = self.server.clone();
        let (status, _, _, page) = raw(
            port,
            "POST",
            "/activate",
            &[
                ("Origin", &origin),
                ("Cookie", cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            &format!("user_code={code}&action={action}&confirm=yes"),
        );
        assert_eq!(status, 200, "{page}");
        let rest: String = lines.map_while(Result::ok).collect::<Vec<_>>().join("\n");
        let mut out = child.wait_with_output().unwrap();
        out.stderr = format!("{shown}{rest}").into_bytes();
        out
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn fails(out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

fn comment(port: u16, token: &str, session_id: &str, anchor: &str, body: &str) {
    let auth = format!("Bearer {token}");
    let (status, _, _, answer) = raw(
        port,
        "POST",
        &format!("/api/sessions/{session_id}/comments"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &serde_json::json!({"body": body, "anchor": anchor}).to_string(),
    );
    assert_eq!(status, 201, "{answer}");
}

const MD: &str =
    "# Auth redesign\n\n## Goal {#goal}\n\nShort-lived tokens.\n\n## Risks {#risks}\n\nReplay.\n";
const HTML: &str = "<h1>Auth redesign</h1>\n<section data-anchor=\"goal\"><h2>Goal</h2><p>Short-lived tokens.</p></section>\n<section data-anchor=\"risks\"><h2>Risks</h2><p>Replay, and rate limits.</p></section>\n<section data-anchor=\"rollout\"><h2>Rollout</h2><p>Two phases.</p></section>\n";

#[test]
fn login_push_comments_refresh_and_logout_through_the_real_binary() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server: Running = dev_server(data.path(), port);
    let (cookie, token) = dev_login(port, "ada");
    let ada = User::new(port);

    // Not signed in yet: the error names the login command.
    ada.write("plan.md", MD);
    let err = fails(&ada.run(&["push", "plan.md", "--name", "auth"]), 4);
    assert!(err.contains("planpush login --server"), "{err}");

    let out = ada.login(port, &cookie, "approve");
    assert!(ok(&out).contains(&format!("Signed in to {} as ada", ada.server)));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ada.config.path().join("credentials.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "credentials readable by the user only");
    }
    assert!(ok(&ada.run(&["whoami"])).starts_with("ada on http://127.0.0.1:"));

    // Markdown first: a new plan, remembered in the project.
    let first = ok(&ada.run(&["push", "plan.md", "--name", "auth"]));
    assert!(
        first.starts_with("Created auth version 1 (published)."),
        "{first}"
    );
    assert!(first.contains(&format!("{}/p/auth", ada.server)), "{first}");
    let memory: Value = serde_json::from_slice(
        &std::fs::read(ada.project.path().join(".planpush/sessions.json")).unwrap(),
    )
    .unwrap();
    let id = memory["sessions"]["auth"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(memory["sessions"]["auth"]["file"], "plan.md");

    // HTML under the same name, from a subdirectory: the same plan, version 2, with its changes.
    ada.write("docs/plan.html", HTML);
    let out = ada
        .command(&["push", "plan.html", "--name", "auth", "--json"])
        .current_dir(ada.project.path().join("docs"))
        .output()
        .unwrap();
    let answer: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(answer["session_id"], id.as_str());
    assert_eq!(answer["version"], 2);
    assert_eq!(answer["changes"]["added"], serde_json::json!(["rollout"]));
    assert_eq!(answer["changes"]["changed"], serde_json::json!(["risks"]));

    // The same document again creates nothing; without --name the file finds its plan.
    let same = ok(&ada.run(&["push", "docs/plan.html"]));
    assert!(
        same.starts_with("No changes: auth is still at version 2"),
        "{same}"
    );

    // A comment through the API, read back by the CLI as text and JSON.
    comment(port, &token, &id, "risks", "What about token replay?");
    let listed = ok(&ada.run(&["comments", "auth"]));
    assert!(listed.starts_with("1 open comment on auth:"), "{listed}");
    assert!(
        listed.contains("[risks] @ada on version 2 — open"),
        "{listed}"
    );
    assert!(listed.contains("  What about token replay?"), "{listed}");
    let json: Value =
        serde_json::from_str(&ok(&ada.run(&["comments", "auth", "--format", "json"]))).unwrap();
    assert_eq!(json["comments"][0]["body"], "What about token replay?");
    assert!(
        ok(&ada.run(&["comments", "auth", "--state", "resolved"]))
            .starts_with("No resolved comments")
    );

    // An expired access token is refreshed on the next call, and the rotated pair is saved.
    let before = ada.credentials();
    let server_key = ada.server.clone();
    let mut expired = before.clone();
    expired["servers"][&server_key]["access_expires_at"] = 0.into();
    std::fs::write(
        ada.config.path().join("credentials.json"),
        serde_json::to_vec(&expired).unwrap(),
    )
    .unwrap();
    ok(&ada.run(&["whoami"]));
    let after = ada.credentials();
    let old_refresh = before["servers"][&server_key]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(
        after["servers"][&server_key]["refresh_token"]
            .as_str()
            .unwrap(),
        old_refresh
    );
    assert!(
        after["servers"][&server_key]["access_expires_at"]
            .as_u64()
            .unwrap()
            > 0
    );

    // The next version through the refreshed token shows the change set.
    ada.write(
        "docs/plan.html",
        &HTML.replace("Two phases.", "Three phases, with a canary."),
    );
    let third = ok(&ada.run(&["push", "docs/plan.html", "--name", "auth"]));
    assert!(
        third.starts_with("Pushed auth version 3 (published)."),
        "{third}"
    );
    assert!(third.contains("Changed: rollout"), "{third}");

    // `open` prints the URL and does not fail without a browser.
    assert_eq!(
        ok(&ada.run(&["open", "auth"])).trim(),
        format!("{}/p/auth", ada.server)
    );

    // Logout revokes the family on the server: the current refresh token no longer works.
    let current = ada.credentials()["servers"][&server_key]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(ok(&ada.run(&["logout"])).starts_with("Signed out of"));
    let (status, _, _, body) = raw(
        port,
        "POST",
        "/api/auth/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("refresh_token={current}"),
    );
    assert_eq!(status, 400, "{body}");
    assert!(ada.credentials()["servers"].as_object().unwrap().is_empty());
    let err = fails(&ada.run(&["push", "plan.md", "--name", "auth"]), 4);
    assert!(err.contains("planpush login --server"), "{err}");
}

#[test]
fn every_error_a_person_meets_has_its_message_and_exit_code() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server: Running = dev_server(data.path(), port);
    let (cookie, ada_token) = dev_login(port, "ada");
    let (_, bob_token) = dev_login(port, "bob");
    let ada = User::new(port);
    let with_token = |args: &[&str], token: &str| {
        ada.command(args)
            .env("PLANPUSH_SERVER", &ada.server)
            .env("PLANPUSH_TOKEN", token)
            .output()
            .unwrap()
    };
    ada.write("plan.md", MD);

    // Server unreachable.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let err = fails(&ada.run(&["login", "--server", &dead]), 3);
    assert!(
        err.contains(&format!("cannot reach the PlanPush server at {dead}")),
        "{err}"
    );

    // Name taken by someone else's plan, with the server's suggestion.
    push(port, &bob_token, "text/markdown", "taken", MD);
    let err = fails(
        &with_token(&["push", "plan.md", "--name", "taken"], &ada_token),
        6,
    );
    assert!(
        err.contains("`taken` is taken") && err.contains("--name taken-2"),
        "{err}"
    );
    let out = with_token(
        &["push", "plan.md", "--name", "taken", "--json"],
        &ada_token,
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["error"], "session_name_taken");
    assert_eq!(json["exit_code"], 6);

    // Too large, checked before sending; wrong format; not found.
    ada.write("big.html", &"<p>x</p>".repeat(600_000));
    let err = fails(&with_token(&["push", "big.html"], &ada_token), 7);
    assert!(err.contains("up to 4 MB"), "{err}");
    ada.write("notes.txt", "# hi");
    let err = fails(&with_token(&["push", "notes.txt"], &ada_token), 8);
    assert!(err.contains("--format html|markdown"), "{err}");
    let err = fails(&with_token(&["comments", "nope"], &ada_token), 9);
    assert!(err.contains("no plan named `nope`"), "{err}");
    let err = fails(
        &with_token(&["push", "plan.md", "--name", "Bad Name!"], &ada_token),
        2,
    );
    assert!(err.contains("invalid name"), "{err}");

    // A session the server no longer accepts: sign in again.
    std::fs::write(
        ada.config.path().join("credentials.json"),
        serde_json::json!({"default_server": ada.server, "servers": {ada.server.clone(): {
            "login": "ada", "access_token": "pp_at_bogus", "access_expires_at": 0, "refresh_token": "pp_rt_bogus"}}})
        .to_string(),
    )
    .unwrap();
    let err = fails(&ada.run(&["whoami"]), 5);
    assert!(
        err.contains("expired or was revoked") && err.contains("planpush login --server"),
        "{err}"
    );

    // A login denied in the browser signs nothing in.
    let out = ada.login(port, &cookie, "deny");
    let err = fails(&out, 11);
    assert!(err.contains("denied"), "{err}");
    assert!(ada.credentials()["servers"].as_object().unwrap().is_empty());
}

/// `planpush search` and `planpush export` through the real binary (with a personal token).
#[test]
fn search_and_export_through_the_real_binary() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server: Running = dev_server(data.path(), port);
    let (_, token) = dev_login(port, "ada");
    let ada = User::new(port);
    push(port, &token, "text/markdown", "auth", MD);
    let with_token = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", ada.server.as_str()]);
        ada.command(&all)
            .env("PLANPUSH_TOKEN", &token)
            .output()
            .unwrap()
    };
    let word = "tokens";
    let out = ok(&with_token(&["search", word]));
    assert!(out.contains("for \""), "{out}");
    assert!(out.contains(&format!("{}/p/auth", ada.server)), "{out}");
    assert!(
        out.contains('«') && out.contains('»'),
        "matches marked: {out}"
    );
    let json: Value =
        serde_json::from_str(&ok(&with_token(&["search", word, "--format", "json"]))).unwrap();
    assert!(!json["results"].as_array().unwrap().is_empty(), "{json}");
    assert!(ok(&with_token(&["search", "zzzqqqxxx"])).starts_with("Nothing found"));

    // Export: Markdown to a file is the pushed source; HTML to stdout is a whole page.
    let out = with_token(&["export", "auth", "--format", "md", "-o", "auth.md"]);
    ok(&out);
    assert_eq!(
        std::fs::read_to_string(ada.project.path().join("auth.md")).unwrap(),
        MD
    );
    let html = ok(&with_token(&["export", "auth", "-v", "1"]));
    assert!(
        html.starts_with("<!DOCTYPE html>") && !html.contains("<script"),
        "{html}"
    );
    fails(&with_token(&["export", "nope"]), 9);
    fails(&with_token(&["export", "auth", "-v", "7"]), 9);
}

#[test]
fn reply_resolve_and_a_push_that_addresses_threads() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server: Running = dev_server(data.path(), port);
    let (_, ada_token) = dev_login(port, "ada");
    let (_, bob_token) = dev_login(port, "bob");
    let ada = User::new(port);
    let run = |args: &[&str]| {
        ada.command(args)
            .env("PLANPUSH_SERVER", &ada.server)
            .env("PLANPUSH_TOKEN", &ada_token)
            .output()
            .unwrap()
    };
    ada.write("plan.html", HTML);
    let first: Value = serde_json::from_str(&ok(&run(&[
        "push",
        "plan.html",
        "--name",
        "auth",
        "--json",
    ])))
    .unwrap();
    let id = first["session_id"].as_str().unwrap().to_owned();
    comment(port, &bob_token, &id, "risks", "What about token replay?");
    comment(port, &bob_token, &id, "rollout", "How many phases?");
    let listed: Value =
        serde_json::from_str(&ok(&run(&["comments", "auth", "--format", "json"]))).unwrap();
    let ids: Vec<String> = listed["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let (replay, phases) = (&ids[0], &ids[1]);
    let text = ok(&run(&["comments", "auth"]));
    assert!(text.contains(&format!("(id {replay})")), "{text}");

    // A malformed X-Addresses is refused before anything is written.
    let err = fails(
        &run(&[
            "push",
            "plan.html",
            "--name",
            "auth",
            "--addresses",
            "nope!",
        ]),
        2,
    );
    assert!(err.contains("not a comment id"), "{err}");
    let auth = format!("Bearer {ada_token}");
    let (status, _, _, body) = raw(
        port,
        "POST",
        "/api/push",
        &[
            ("Authorization", &auth),
            ("Content-Type", "text/html"),
            ("X-Session-Id", &id),
            ("X-Addresses", "not-a-uuid"),
        ],
        &HTML.replace("Two phases.", "Three phases."),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_addresses"), "{body}");
    let info = |token: &str| {
        let auth = format!("Bearer {token}");
        let (_, _, _, body) = raw(
            port,
            "GET",
            &format!("/api/sessions/{id}"),
            &[("Authorization", &auth)],
            "",
        );
        serde_json::from_str::<Value>(&body).unwrap()
    };
    assert_eq!(info(&ada_token)["version"], 1, "nothing was pushed");

    // The next version addresses the replay thread; an unknown id is reported, not fatal.
    ada.write(
        "plan.html",
        &HTML.replace(
            "Replay, and rate limits.",
            "Replay (mitigated by rotation), and rate limits.",
        ),
    );
    let stranger = "00000000-0000-4000-8000-000000000000";
    let out = run(&[
        "push",
        "plan.html",
        "--name",
        "auth",
        "--addresses",
        &format!("{replay},{stranger}"),
        "--json",
    ]);
    let second: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(second["version"], 2);
    assert_eq!(second["addressed"], serde_json::json!([replay]));
    assert_eq!(second["addresses_ignored"], serde_json::json!([stranger]));
    let text = ok(&run(&["comments", "auth"]));
    assert!(text.contains("addressed in v2"), "{text}");

    // Reply (and resolve in the same command), resolve, reopen.
    let out = ok(&run(&[
        "reply",
        "auth",
        replay,
        "Added the mitigation under Risks.",
        "--resolve",
    ]));
    assert!(
        out.contains(&format!("Replied on {replay}"))
            && out.contains(&format!("Resolved {replay}.")),
        "{out}"
    );
    assert!(ok(&run(&["resolve", phases])).contains(&format!("Resolved {phases}.")));
    assert!(ok(&run(&["comments", "auth"])).starts_with("No open comments on auth."));
    assert!(ok(&run(&["resolve", phases, "--reopen"])).contains(&format!("Reopened {phases}.")));
    let all: Value = serde_json::from_str(&ok(&run(&[
        "comments", "auth", "--state", "all", "--format", "json",
    ])))
    .unwrap();
    let replay_thread = &all["comments"][0];
    assert_eq!(replay_thread["state"], "resolved");
    assert_eq!(replay_thread["addressed_in"], 2);
    assert_eq!(
        replay_thread["replies"][0]["body"],
        "Added the mitigation under Risks."
    );
    assert_eq!(replay_thread["replies"][0]["author"]["login"], "ada");
    assert_eq!(all["comments"][1]["state"], "open");

    // Errors: not an id, an unknown thread, an empty reply, a reply to a reply.
    fails(&run(&["resolve", "bogus!"]), 2);
    let err = fails(&run(&["resolve", stranger]), 9);
    assert!(err.contains(stranger), "{err}");
    fails(&run(&["reply", "auth", phases, "  "]), 2);
    let reply_id = replay_thread["replies"][0]["id"].as_str().unwrap();
    let err = fails(&run(&["reply", "auth", reply_id, "nested?"]), 1);
    assert!(err.contains("nested_reply"), "{err}");
}

#[test]
fn default_visibility_and_the_publish_and_private_flags() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server: Running = dev_server_with(data.path(), port, &[("DEFAULT_VISIBILITY", "private")]);
    let (_, token) = dev_login(port, "ada");
    let ada = User::new(port);
    let run = |args: &[&str]| {
        ada.command(args)
            .env("PLANPUSH_SERVER", &ada.server)
            .env("PLANPUSH_TOKEN", &token)
            .output()
            .unwrap()
    };
    ada.write("plan.md", MD);
    // This instance chose private: a push without a flag creates a private plan.
    let out = ok(&run(&["push", "plan.md", "--name", "quiet"]));
    assert!(
        out.starts_with("Created quiet version 1 (private)."),
        "{out}"
    );
    // --publish creates a published plan, and publishes an existing private one on its next push.
    let out = ok(&run(&["push", "plan.md", "--name", "loud", "--publish"]));
    assert!(
        out.starts_with("Created loud version 1 (published)."),
        "{out}"
    );
    ada.write("plan.md", &MD.replace("Replay.", "Replay and theft."));
    let out = ok(&run(&["push", "plan.md", "--name", "quiet", "--publish"]));
    assert!(
        out.starts_with("Pushed quiet version 2 (published)."),
        "{out}"
    );
    // --private on this instance is the default anyway; both flags at once are refused.
    let out = ok(&run(&["push", "plan.md", "--name", "hidden", "--private"]));
    assert!(out.contains("(private)"), "{out}");
    let err = fails(&run(&["push", "plan.md", "--publish", "--private"]), 2);
    assert!(err.contains("cannot be used with"), "{err}");
    // Through the API without a header: the instance default.
    let created = push(port, &token, "text/markdown", "api-default", MD);
    assert_eq!(created["visibility"], "private");
}
