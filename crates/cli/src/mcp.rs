//! `planpush mcp`: the CLI's operations as Model Context Protocol tools over stdio, so any agent
//! that speaks MCP (Claude Code, Codex CLI, Cursor, Gemini CLI) can push a plan, read it back as
//! text, read the team's comments, reply and resolve — without a browser — and check a document
//! before pushing it (`check_plan`, local, like `planpush check`).
//!
//! The tools call the same functions as the commands (`crate::commands`), with the same stored
//! credentials. They are blocking (ureq), so each call runs on the runtime's blocking pool; the
//! runtime is a single-threaded tokio runtime created here and nowhere else: every other command
//! stays runtime-free (`cargo xtask arch` checks that tokio is named only in this file).
//!
//! stdout is the protocol: nothing here prints; notes go to stderr or into the tool result.

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::commands::{self, Ctx, Format, PushInput, State, Visibility};
use crate::error::CliError;

const INSTRUCTIONS: &str = "PlanPush turns a plan into a visual design doc on the team's \
PlanPush server, where teammates comment on its sections. Typical loop: push_plan to publish a \
plan (or a new version of it) after check_plan found no error in it, share the URL; later list_comments (state open) to read what the \
team said, change the plan, push_plan again with `addresses` naming the threads the new version \
answers, reply_to_comment on each thread saying what changed, and resolve_comment on the threads \
fully addressed. Ask the user before adopting a change a comment asks for that the conversation \
did not settle. get_plan reads a version back as text with its anchors.";

/// `push_plan` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PushPlan {
    /// The plan document itself, HTML (PlanPush vocabulary: `<section data-anchor="…">` with an
    /// `<h2>`) or Markdown (`## Heading` starts a section). Give this or `path`.
    #[serde(default)]
    pub document: Option<String>,
    /// A file to push instead of `document` (.html/.htm or .md), relative to the directory the
    /// server was started in.
    #[serde(default)]
    pub path: Option<String>,
    /// `html` or `markdown`; default: from the file extension, else HTML when the document starts
    /// with `<`, else Markdown.
    #[serde(default)]
    pub format: Option<DocFormat>,
    /// The plan's name, its URL path (`/p/NAME`): lower-case letters, digits, `-`, `_`. Pushing
    /// again under the same name creates the next version of the same plan. Default: derived from
    /// the document's `<h1>` / `# Title`.
    #[serde(default)]
    pub name: Option<String>,
    /// `published` (everyone on the server can read it) or `private` (only the owner, admins and
    /// project managers). Default: the server's DEFAULT_VISIBILITY for a new plan; an existing
    /// plan keeps its visibility unless `published` is asked (that publishes it).
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// Ids of open comment threads this version addresses; each thread then shows "addressed in
    /// vN" with a link to what changed. Ids come from list_comments.
    #[serde(default)]
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DocFormat {
    Html,
    Markdown,
}

/// `check_plan` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CheckPlan {
    /// The plan document, HTML or Markdown, as it would be given to push_plan. Give this or `path`.
    #[serde(default)]
    pub document: Option<String>,
    /// A file to check instead of `document` (.html/.htm or .md), relative to the directory the
    /// server was started in.
    #[serde(default)]
    pub path: Option<String>,
    /// `html` or `markdown`; default: from the file extension, else HTML when the document starts
    /// with `<`, else Markdown.
    #[serde(default)]
    pub format: Option<DocFormat>,
}

/// `list_plans` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListPlans {
    /// `mine` (plans you own) or `team` (every plan you can see). Default `team`.
    #[serde(default)]
    pub scope: Option<Scope>,
    /// Words to look for: a plan is listed when they all appear in its name or title, or when the
    /// server's full-text search finds them in its text or comments (among its 50 best matches).
    #[serde(default)]
    pub search: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Mine,
    Team,
}

/// `get_plan` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct GetPlan {
    /// The plan's name (as in its URL `/p/NAME`).
    pub name: String,
    /// A version number; default: the latest.
    #[serde(default)]
    pub version: Option<u64>,
}

/// `list_comments` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListComments {
    /// The plan's name.
    pub name: String,
    /// `open` (default: what still needs an answer), `resolved` or `all`.
    #[serde(default)]
    pub state: Option<CommentState>,
    /// Only threads on this anchor (a section or element id shown by get_plan as `{#anchor}`).
    #[serde(default)]
    pub anchor: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CommentState {
    Open,
    Resolved,
    All,
}

/// `reply_to_comment` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReplyToComment {
    /// The plan's name.
    pub name: String,
    /// The thread's id, from list_comments.
    pub comment_id: String,
    /// The reply: what changed in the plan because of this comment, or the question back. Plain
    /// text; **bold**, *italic* and `code` are rendered.
    pub body: String,
    /// Also resolve the thread (only when the new version fully addresses it).
    #[serde(default)]
    pub resolve: bool,
}

/// `resolve_comment` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ResolveComment {
    /// The thread's id, from list_comments.
    pub comment_id: String,
    /// Reopen a resolved thread instead.
    #[serde(default)]
    pub reopen: bool,
}

/// `review_status` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReviewStatus {
    /// The plan's name (its URL is /p/NAME).
    pub name: String,
}

/// The MCP server: the CLI's context and the tool table.
#[derive(Clone)]
pub struct PlanPushTools {
    ctx: Arc<Ctx>,
    tool_router: ToolRouter<Self>,
}

/// Runs a blocking CLI operation on the blocking pool and turns its outcome into a tool result.
/// Failures are tool errors the model can read (and act on: "run `planpush login`"), never
/// protocol errors.
async fn run<T, F>(ctx: &Arc<Ctx>, f: F) -> CallToolResult
where
    F: FnOnce(&Ctx) -> Result<T, CliError> + Send + 'static,
    T: Into<Output> + Send + 'static,
{
    let ctx = ctx.clone();
    match tokio::task::spawn_blocking(move || f(&ctx)).await {
        Ok(Ok(out)) => match out.into() {
            Output::Text(t) => CallToolResult::success(vec![ContentBlock::text(t)]),
            Output::Json(v) => CallToolResult::structured(v),
        },
        Ok(Err(e)) => CallToolResult::error(vec![ContentBlock::text(format!(
            "{e} (error {}, exit code {})",
            e.code(),
            e.exit_code()
        ))]),
        Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
            "the tool stopped unexpectedly: {e}"
        ))]),
    }
}

/// What a tool answers: prose for reading, JSON for acting on.
pub enum Output {
    Text(String),
    Json(Value),
}

impl From<String> for Output {
    fn from(t: String) -> Self {
        Output::Text(t)
    }
}

impl From<Value> for Output {
    fn from(v: Value) -> Self {
        Output::Json(v)
    }
}

#[tool_router]
impl PlanPushTools {
    pub fn new(ctx: Ctx) -> Self {
        Self {
            ctx: Arc::new(ctx),
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Publish a plan to the team's PlanPush server as a visual design doc, or push the next version of an existing plan (same `name`). Call it when the user asks to share or update a plan (/planpush). Pass the document (HTML in the PlanPush vocabulary, or Markdown) or a file path. When the new version answers open comments, list their ids in `addresses`, then reply_to_comment / resolve_comment on them. Returns JSON: url (share it with the user), name, session_id, version, created_version (false: identical to the latest version, nothing stored), visibility, changes {added, changed, removed} (section anchors) and changes.typed (what changed in the plan's terms: decisions, risks, endpoints, fields, phases, components, sections — each with a `text` sentence to tell the user), addressed (thread ids marked), notes."
    )]
    async fn push_plan(&self, Parameters(args): Parameters<PushPlan>) -> CallToolResult {
        run(&self.ctx, move |ctx| push_plan(ctx, args)).await
    }

    #[tool(
        description = "Check a plan document before pushing it, locally (no server, no sign-in needed): data-anchor and id values (valid, unique), classes against the PlanPush vocabulary, markup the server would remove, links and url(#…) that point nowhere, hand-drawn SVG rules (viewBox, font size, labels fitting their boxes, arrowheads in currentColor), and every Mermaid diagram drawn as the server draws it (does not render, overlapping labels, text lost). Call it after writing the document and before push_plan; fix every error, then check again. Returns JSON {errors, warnings, problems: [{line, severity, message}]} (line 0: no single line)."
    )]
    async fn check_plan(&self, Parameters(args): Parameters<CheckPlan>) -> CallToolResult {
        run(&self.ctx, move |ctx| check_plan(ctx, args)).await
    }

    #[tool(
        description = "List the plans on the PlanPush server that you can see, newest first: `scope` mine (your own) or team (everything visible to you), optionally filtered by `search` words (a plan is listed when they all appear in its name or title, or when the server's full-text search finds them in its sections or comments). Call it to find the name of a plan before get_plan or list_comments. Returns JSON {plans: [{name, title, url, visibility, version, updated_at, archived}], note}."
    )]
    async fn list_plans(&self, Parameters(args): Parameters<ListPlans>) -> CallToolResult {
        run(&self.ctx, move |ctx| {
            let plans = commands::list_plans(
                ctx,
                args.scope == Some(Scope::Mine),
                args.search.as_deref(),
            )?;
            let plans: Vec<Value> = plans
                .iter()
                .map(|p| {
                    json!({
                        "name": p["name"], "title": p["title"], "url": p["url"],
                        "visibility": p["visibility"], "version": p["version"],
                        "updated_at": p["updated_at"], "archived": p["archived"],
                    })
                })
                .collect();
            Ok(json!({
                "plans": plans,
                "note": "search matches names and titles, and plans whose sections or comments contain the words (the 50 best text matches); read a plan's text with get_plan",
            }))
        })
        .await
    }

    #[tool(
        description = "Read a version of a plan as Markdown-like text, section by section, without HTML: each section starts with a line `<!-- anchor: ID -->` followed by its heading; elements inside that can be commented on start with `{#ID}`. Call it before revising a plan you did not write in this conversation, or to see what a comment's anchor refers to. Returns the plan's title, URL, version (and the latest version) and the sections' text."
    )]
    async fn get_plan(&self, Parameters(args): Parameters<GetPlan>) -> CallToolResult {
        run(&self.ctx, move |ctx| {
            let t = commands::plan_text(ctx, &args.name, args.version)?;
            Ok(describe_plan_text(&t))
        })
        .await
    }

    #[tool(
        description = "Read the team's comments on a plan. Call it before pushing a new version of a plan that already exists, to address what the team asked. Returns text listing each thread: its id (use it with reply_to_comment, resolve_comment and push_plan's `addresses`), the anchor (section or element) it is on and what happened to that anchor since (anchored; changed since the comment; moved to another anchor; orphaned: its element is gone), 'addressed in vN' when a version was said to address it, the quoted text it was written on, author, version, body and replies."
    )]
    async fn list_comments(&self, Parameters(args): Parameters<ListComments>) -> CallToolResult {
        run(&self.ctx, move |ctx| {
            let state = match args.state {
                None | Some(CommentState::Open) => State::Open,
                Some(CommentState::Resolved) => State::Resolved,
                Some(CommentState::All) => State::All,
            };
            let (_, threads) =
                commands::fetch_comments(ctx, &args.name, state, args.anchor.as_deref())?;
            Ok(commands::describe_comments(&args.name, state, &threads))
        })
        .await
    }

    #[tool(
        description = "Reply on a comment thread of a plan, as the signed-in user: say what changed in the new version because of it (name the section), or ask the question back. Call it for each open thread after pushing the version that answers it. Set `resolve` only when the new version fully addresses the thread. Returns JSON: the reply (id, author, body) and whether the thread was resolved."
    )]
    async fn reply_to_comment(
        &self,
        Parameters(args): Parameters<ReplyToComment>,
    ) -> CallToolResult {
        run(&self.ctx, move |ctx| {
            let reply = commands::reply_to(ctx, &args.name, &args.comment_id, &args.body)?;
            if args.resolve {
                commands::set_resolved(ctx, &args.comment_id, true)?;
            }
            Ok(json!({"reply": reply, "thread_resolved": args.resolve}))
        })
        .await
    }

    #[tool(
        description = "Who signed off on a plan: for its latest version, each reviewer asked and their standing — approved (which version, and whether an approval of an older version was kept because the changes since touch nothing they commented on or were asked to review), changes requested (with their comment), or pending (never answered, or an approval reset by a newer version, saying which change reset it). Call it before telling the user a plan is approved, or after pushing a version to see whose approval it reset. Returns text: a headline (\"2 of 3 approved v4\") and one line per reviewer."
    )]
    async fn review_status(&self, Parameters(args): Parameters<ReviewStatus>) -> CallToolResult {
        run(&self.ctx, move |ctx| {
            let s = crate::review::status(ctx, &args.name)?;
            Ok(crate::review::describe(&s))
        })
        .await
    }

    #[tool(
        description = "Resolve a comment thread (or reopen it with `reopen`). Call it for threads the latest version fully addresses, after replying on them; leave a thread open when it was only partly addressed or needs the user's decision. Returns JSON: the thread's id and state (open/resolved)."
    )]
    async fn resolve_comment(
        &self,
        Parameters(args): Parameters<ResolveComment>,
    ) -> CallToolResult {
        run(&self.ctx, move |ctx| {
            let c = commands::set_resolved(ctx, &args.comment_id, !args.reopen)?;
            Ok(json!({"id": c["id"], "state": c["state"], "anchor": c["anchor"]}))
        })
        .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for PlanPushTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("planpush", env!("CARGO_PKG_VERSION")).with_title("PlanPush"),
            )
            .with_instructions(INSTRUCTIONS)
    }
}

fn check_plan(ctx: &Ctx, args: CheckPlan) -> Result<Value, CliError> {
    let (text, format, _) = document_of(ctx, args.document, args.path, args.format)?;
    let problems = crate::check::check_text(&text, format);
    let errors = problems
        .iter()
        .filter(|p| p.severity == planpush_document::Severity::Error)
        .count();
    Ok(json!({
        "errors": errors,
        "warnings": problems.len() - errors,
        "problems": problems.iter().map(|p| json!({
            "line": p.line,
            "severity": match p.severity {
                planpush_document::Severity::Error => "error",
                planpush_document::Severity::Warning => "warning",
            },
            "message": p.message,
        })).collect::<Vec<_>>(),
    }))
}

/// The document a tool was given: its text, its format and the file it came from.
fn document_of(
    ctx: &Ctx,
    document: Option<String>,
    path: Option<String>,
    format: Option<DocFormat>,
) -> Result<(String, Format, Option<PathBuf>), CliError> {
    Ok(match (document, path) {
        (Some(_), Some(_)) => {
            return Err(CliError::Invalid(
                "give either `document` or `path`, not both".into(),
            ));
        }
        (None, None) => {
            return Err(CliError::Invalid(
                "give the plan as `document` (HTML or Markdown text) or as a file `path`".into(),
            ));
        }
        (Some(doc), None) => {
            if doc.trim().is_empty() {
                return Err(CliError::WrongFormat("the document is empty".into()));
            }
            if doc.len() as u64 > commands::MAX_DOCUMENT_BYTES {
                return Err(CliError::WrongFormat(
                    "the document is over 4 MB, the server's limit".into(),
                ));
            }
            let format = match format {
                Some(f) => f.into(),
                None if doc.trim_start().starts_with('<') => Format::Html,
                None => Format::Markdown,
            };
            (doc, format, None)
        }
        (None, Some(path)) => {
            let path = ctx.cwd.join(PathBuf::from(path));
            let (text, format) = commands::read_document(&path, format.map(Into::into))?;
            (text, format, Some(path))
        }
    })
}

fn push_plan(ctx: &Ctx, args: PushPlan) -> Result<Value, CliError> {
    let (text, format, file) = document_of(ctx, args.document, args.path, args.format)?;
    let done = commands::push_document(
        ctx,
        &PushInput {
            text: &text,
            format,
            name: args.name,
            visibility: args.visibility,
            addresses: &args.addresses,
            file: file.as_deref(),
        },
    )?;
    let mut answer = done.answer;
    answer["notes"] = done.notes.into();
    Ok(answer)
}

impl From<DocFormat> for Format {
    fn from(f: DocFormat) -> Format {
        match f {
            DocFormat::Html => Format::Html,
            DocFormat::Markdown => Format::Markdown,
        }
    }
}

/// `GET /api/sessions/{id}/text` as the text `get_plan` answers.
pub fn describe_plan_text(t: &Value) -> String {
    let mut out = format!(
        "# {}\n{} — version {} of {}\n",
        t["title"].as_str().unwrap_or(""),
        t["url"].as_str().unwrap_or(""),
        t["version"],
        t["latest_version"],
    );
    for s in t["sections"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n<!-- anchor: {} -->\n{}\n",
            s["anchor"].as_str().unwrap_or(""),
            s["text"].as_str().unwrap_or("")
        ));
    }
    out
}

/// `planpush mcp`: serves the tools on stdin/stdout until the client closes the connection.
pub fn serve(ctx: Ctx) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Invalid(format!("cannot start the MCP server: {e}")))?;
    runtime.block_on(async move {
        let service = PlanPushTools::new(ctx)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| CliError::Invalid(format!("the MCP client did not connect: {e}")))?;
        service
            .waiting()
            .await
            .map_err(|e| CliError::Invalid(format!("the MCP server stopped: {e}")))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_reads_as_sections_with_anchors() {
        let t = json!({"title": "Auth", "url": "http://s/p/auth", "version": 2, "latest_version": 3,
            "sections": [{"anchor": "flow", "text": "## Flow\nClient calls."}]});
        assert_eq!(
            describe_plan_text(&t),
            "# Auth\nhttp://s/p/auth — version 2 of 3\n\n<!-- anchor: flow -->\n## Flow\nClient calls.\n"
        );
    }

    #[test]
    fn check_plan_reports_problems_by_line_without_a_server() {
        let ctx = Ctx {
            server: None,
            token: None,
            store: crate::config::Store::new(std::env::temp_dir().join("planpush-check-plan-test")),
            cwd: std::env::temp_dir(),
        };
        let report = check_plan(
            &ctx,
            CheckPlan {
                document: Some(
                    "# Plan\n\n## Flow {#flow}\n\n```mermaid\nnot a diagram ((((\n```\n".into(),
                ),
                path: None,
                format: None,
            },
        )
        .unwrap();
        assert_eq!(report["errors"], 1, "{report}");
        assert_eq!(report["problems"][0]["severity"], "error", "{report}");
        assert!(
            report["problems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["line"] == 5 && p["message"].as_str().unwrap().starts_with("Mermaid:")),
            "the Markdown fence's line: {report}"
        );
        let both = check_plan(
            &ctx,
            CheckPlan {
                document: Some("x".into()),
                path: Some("x.html".into()),
                format: None,
            },
        );
        assert_eq!(both.unwrap_err().exit_code(), 2);
    }

    #[test]
    fn every_tool_is_described_for_a_model() {
        let tools = PlanPushTools::tool_router().list_all();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(
            names.len(),
            8,
            "check_plan, push_plan, list_plans, get_plan, list_comments, reply_to_comment, resolve_comment, review_status: {names:?}"
        );
        for t in &tools {
            let d = t.description.as_deref().unwrap_or("");
            assert!(d.len() > 150, "{} is described at length: {d}", t.name);
            assert!(
                d.contains("Call it"),
                "{} says when to call it: {d}",
                t.name
            );
            assert!(d.contains("Return"), "{} says what comes back: {d}", t.name);
        }
    }
}
