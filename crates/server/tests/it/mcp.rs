//! `planpush mcp` as an agent meets it: a real MCP client session (the official Rust SDK's client)
//! over stdio with the real CLI binary, against the real server (dev sign-in) on 127.0.0.1 —
//! push, read back as text, a teammate's comments from the web, list, reply, resolve, and a push
//! that says which threads it addresses.

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use crate::cli::{User, cli_bin, ok};
use crate::support::{Running, dev_login, dev_server, free_port, raw};

type Client = RunningService<RoleClient, ()>;

/// `planpush mcp` started by an MCP client, as Claude Code or Codex would start it.
async fn connect(user: &User) -> Client {
    let mut cmd = tokio::process::Command::new(cli_bin());
    cmd.arg("mcp")
        .current_dir(user.project.path())
        .env_clear()
        .env("PLANPUSH_CONFIG_DIR", user.config.path())
        .env("PLANPUSH_NO_BROWSER", "1")
        .env("HOME", user.config.path());
    let transport = TokioChildProcess::new(cmd).unwrap();
    ().serve(transport).await.unwrap()
}

async fn call(client: &Client, tool: &'static str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments are an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(args))
        .await
        .unwrap()
}

fn text_of(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A successful tool call's JSON.
fn json_of(r: &CallToolResult) -> Value {
    assert_ne!(r.is_error, Some(true), "{}", text_of(r));
    r.structured_content
        .clone()
        .unwrap_or_else(|| serde_json::from_str(&text_of(r)).unwrap())
}

fn success(r: &CallToolResult) -> String {
    assert_ne!(r.is_error, Some(true), "{}", text_of(r));
    text_of(r)
}

/// A comment written in the browser: the session cookie, from the server's own origin.
fn web_comment(port: u16, cookie: &str, session_id: &str, anchor: &str, body: &str) -> String {
    let origin = format!("http://127.0.0.1:{port}");
    let (status, _, _, answer) = raw(
        port,
        "POST",
        &format!("/api/sessions/{session_id}/comments"),
        &[
            ("Origin", &origin),
            ("Cookie", cookie),
            ("Content-Type", "application/json"),
        ],
        &json!({"body": body, "anchor": anchor}).to_string(),
    );
    assert_eq!(status, 201, "{answer}");
    let c: Value = serde_json::from_str(&answer).unwrap();
    c["id"].as_str().unwrap().to_owned()
}

fn threads(port: u16, token: &str, session_id: &str) -> Vec<Value> {
    let auth = format!("Bearer {token}");
    let (status, _, _, body) = raw(
        port,
        "GET",
        &format!("/api/sessions/{session_id}/comments?state=all"),
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["comments"].as_array().unwrap().clone()
}

const V1: &str = "<h1>Auth redesign</h1>\n<p class=\"pp-lead\">Short-lived tokens.</p>\n<section data-anchor=\"goal\"><h2>Goal</h2><p>Short-lived access tokens, rotating refresh tokens.</p></section>\n<section data-anchor=\"risks\"><h2>Risks</h2><ul><li>Replay of a stolen refresh token.</li></ul></section>\n<section data-anchor=\"rollout\"><h2>Rollout</h2><p>Two phases.</p></section>\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_pushes_reads_and_closes_the_loop_over_mcp() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server: Running = dev_server(data.path(), port);

    // Without credentials every tool says how to sign in.
    let stranger = User::new(port);
    let client = connect(&stranger).await;
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "check_plan",
            "get_plan",
            "list_comments",
            "list_plans",
            "push_plan",
            "reply_to_comment",
            "resolve_comment",
            "review_status"
        ]
    );
    // Checking is local: it works without credentials, and reports problems by line.
    let checked = call(
        &client,
        "check_plan",
        json!({"document": "<h1>P</h1>\n<section data-anchor=\"a\"><div class=\"pp-nope\">x</div></section>\n<pre class=\"mermaid\">stateDiagram-v2\n  [*] --&gt; A\n  A --&gt; A: edit\n  A --&gt; [*]: done</pre>"}),
    )
    .await;
    assert_ne!(checked.is_error, Some(true), "{}", text_of(&checked));
    let report = checked.structured_content.clone().unwrap();
    assert_eq!(
        (report["errors"].clone(), report["warnings"].clone()),
        (json!(1), json!(0)),
        "{report}"
    );
    assert_eq!(report["problems"][0]["line"], 2, "{report}");
    assert!(
        report["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("pp-nope"),
        "{report}"
    );
    let refused = call(
        &client,
        "push_plan",
        json!({"document": V1, "name": "auth"}),
    )
    .await;
    assert_eq!(refused.is_error, Some(true));
    assert!(
        text_of(&refused).contains("planpush login"),
        "{}",
        text_of(&refused)
    );
    client.cancel().await.unwrap();

    // Ada signs in with the CLI once; the MCP server uses those credentials.
    let (ada_cookie, ada_token) = dev_login(port, "ada");
    let (bob_cookie, _) = dev_login(port, "bob");
    let ada = User::new(port);
    ok(&ada.login(port, &ada_cookie, "approve"));
    let client = connect(&ada).await;

    let first = json_of(
        &call(
            &client,
            "push_plan",
            json!({"document": V1, "name": "auth", "visibility": "published"}),
        )
        .await,
    );
    assert_eq!(first["version"], 1);
    assert_eq!(first["name"], "auth");
    assert_eq!(first["visibility"], "published");
    assert_eq!(first["url"], format!("{}/p/auth", ada.server));
    let id = first["session_id"].as_str().unwrap().to_owned();

    // Read back as text, per section, with anchors.
    let plan = success(&call(&client, "get_plan", json!({"name": "auth"})).await);
    assert!(plan.starts_with("# Auth redesign\n"), "{plan}");
    assert!(plan.contains("version 1 of 1"), "{plan}");
    assert!(
        plan.contains("<!-- anchor: risks -->\n## Risks\n- Replay of a stolen refresh token."),
        "{plan}"
    );

    // Bob comments from the web page.
    let replay = web_comment(
        port,
        &bob_cookie,
        &id,
        "risks",
        "What stops a replayed refresh token?",
    );
    let phases = web_comment(
        port,
        &bob_cookie,
        &id,
        "rollout",
        "Which phase flips the flag?",
    );

    let found = json_of(
        &call(
            &client,
            "list_plans",
            json!({"scope": "mine", "search": "AUTH redesign"}),
        )
        .await,
    );
    assert_eq!(found["plans"][0]["name"], "auth", "{found}");
    let none = json_of(&call(&client, "list_plans", json!({"search": "billing"})).await);
    assert_eq!(none["plans"], json!([]));
    // Words only in a plan's comments (or sections) find it through the server's search.
    let by_text = json_of(&call(&client, "list_plans", json!({"search": "replayed"})).await);
    assert_eq!(by_text["plans"][0]["name"], "auth", "{by_text}");
    assert_eq!(by_text["plans"].as_array().map(Vec::len), Some(1));

    let open = success(&call(&client, "list_comments", json!({"name": "auth"})).await);
    assert!(open.starts_with("2 open comments on auth:"), "{open}");
    assert!(
        open.contains(&format!("[risks] @bob on version 1 — open (id {replay})")),
        "{open}"
    );
    assert!(
        open.contains("What stops a replayed refresh token?"),
        "{open}"
    );
    let on_rollout = success(
        &call(
            &client,
            "list_comments",
            json!({"name": "auth", "anchor": "rollout"}),
        )
        .await,
    );
    assert!(
        on_rollout.starts_with("1 open comment on auth:"),
        "{on_rollout}"
    );

    // The next version addresses the replay thread and says so.
    let v2 = V1.replace(
        "<li>Replay of a stolen refresh token.</li>",
        "<li>Replay of a stolen refresh token — mitigated: reuse of a rotated token revokes the family.</li>",
    );
    let second = json_of(
        &call(
            &client,
            "push_plan",
            json!({"document": v2, "name": "auth", "addresses": [replay]}),
        )
        .await,
    );
    assert_eq!(second["version"], 2);
    assert_eq!(second["changes"]["changed"], json!(["risks"]));
    assert_eq!(second["addressed"], json!([replay]));
    // What changed in the plan's terms, each with its sentence.
    assert!(
        second["changes"]["typed"]
            .as_array()
            .is_some_and(|t| !t.is_empty() && t.iter().all(|c| c["text"].is_string())),
        "{second}"
    );
    let sign_off = success(&call(&client, "review_status", json!({"name": "auth"})).await);
    assert_eq!(sign_off, "auth v2: no review requested\n");
    let open = success(&call(&client, "list_comments", json!({"name": "auth"})).await);
    assert!(open.contains("addressed in v2"), "{open}");

    let replied = json_of(
        &call(
            &client,
            "reply_to_comment",
            json!({"name": "auth", "comment_id": replay, "body": "Added the mitigation under Risks: a reused refresh token revokes its family.", "resolve": true}),
        )
        .await,
    );
    assert_eq!(replied["thread_resolved"], true);
    assert_eq!(replied["reply"]["author"]["login"], "ada");
    let resolved = json_of(&call(&client, "resolve_comment", json!({"comment_id": phases})).await);
    assert_eq!(resolved["state"], "resolved");

    let left = success(&call(&client, "list_comments", json!({"name": "auth"})).await);
    assert_eq!(left, "No open comments on auth.\n");

    // What the team sees: the reply by ada, both threads resolved, the first addressed in v2.
    let all = threads(port, &ada_token, &id);
    let t = all.iter().find(|t| t["id"] == replay.as_str()).unwrap();
    assert_eq!(t["state"], "resolved");
    assert_eq!(t["addressed_in"], 2);
    assert_eq!(t["replies"][0]["author"]["login"], "ada");
    assert!(
        t["replies"][0]["body"]
            .as_str()
            .unwrap()
            .contains("revokes its family")
    );
    let t = all.iter().find(|t| t["id"] == phases.as_str()).unwrap();
    assert_eq!(t["state"], "resolved");
    assert_eq!(t["addressed_in"], Value::Null);

    // Bad input is a tool error the model can read, and nothing is written.
    let bad = call(
        &client,
        "reply_to_comment",
        json!({"name": "auth", "comment_id": "not an id", "body": "x"}),
    )
    .await;
    assert_eq!(bad.is_error, Some(true));
    assert!(
        text_of(&bad).contains("not a comment id"),
        "{}",
        text_of(&bad)
    );
    let missing = call(&client, "get_plan", json!({"name": "nope"})).await;
    assert_eq!(missing.is_error, Some(true));
    assert!(
        text_of(&missing).contains("no plan named `nope`"),
        "{}",
        text_of(&missing)
    );
    let neither = call(&client, "push_plan", json!({"name": "auth"})).await;
    assert_eq!(neither.is_error, Some(true));
    assert_eq!(threads(port, &ada_token, &id).len(), 2);
    client.cancel().await.unwrap();
}
