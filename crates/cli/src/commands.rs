//! The commands. Results go to stdout; progress and hints to stderr, so `--json` output and
//! `planpush comments` stay clean for scripts and the assistant.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{Api, Authed, Body, TokenPair, normalize_server};
use crate::config::{Credentials, Session, Store, now};
use crate::error::CliError;
use crate::project::{Entry, Project};

/// The server's limit (`MAX_DOCUMENT_BYTES` in `planpush-app`), checked before sending.
pub const MAX_DOCUMENT_BYTES: u64 = 4 * 1024 * 1024;

/// What every command needs: the environment, read once in `lib.rs`.
pub struct Ctx {
    /// `--server` or `PLANPUSH_SERVER`.
    pub server: Option<String>,
    /// `PLANPUSH_TOKEN`: a personal API token used instead of the stored session.
    pub token: Option<String>,
    pub store: Store,
    pub cwd: PathBuf,
}

impl Ctx {
    /// The server to talk to: `--server`/`PLANPUSH_SERVER`, else the one `remembered` for a plan,
    /// else the last one signed in to.
    fn server(&self, remembered: Option<&str>) -> Result<String, CliError> {
        if let Some(s) = &self.server {
            return normalize_server(s);
        }
        if let Some(s) = remembered {
            return normalize_server(s);
        }
        match self.store.load()?.default_server {
            Some(s) => Ok(s),
            None => Err(CliError::NotSignedIn { server: None }),
        }
    }

    fn authed(&self, server: &str) -> Result<Authed, CliError> {
        Authed::new(Api::new(server), self.store.clone(), self.token.clone())
    }
}

/// The document formats the server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Html,
    Markdown,
}

impl Format {
    /// By file extension: `.html`/`.htm`, `.md`/`.markdown`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "html" | "htm" => Some(Format::Html),
            "md" | "markdown" | "mdown" | "mkd" => Some(Format::Markdown),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
        }
    }
}

/// Opens `url` in the person's browser when there is one; never fails.
/// `PLANPUSH_NO_BROWSER=1` turns it off (tests, remote shells).
pub fn open_browser(url: &str) -> bool {
    if std::env::var_os("PLANPUSH_NO_BROWSER").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    let opener: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        &["cmd", "/C", "start", ""]
    } else {
        let graphical = ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
        if !graphical {
            return false;
        }
        &["xdg-open"]
    };
    std::process::Command::new(opener[0])
        .args(&opener[1..])
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

// ---------------------------------------------------------------------------------------------
// login

#[derive(Debug, Deserialize)]
struct DeviceStart {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    #[serde(default = "five")]
    interval: u64,
    #[serde(default = "fifteen_minutes")]
    expires_in: u64,
}

fn five() -> u64 {
    5
}

fn fifteen_minutes() -> u64 {
    900
}

/// A spinner on stderr while waiting, only when stderr is a terminal.
struct Spinner {
    tty: bool,
    frame: usize,
}

impl Spinner {
    fn new() -> Spinner {
        Spinner {
            tty: std::io::stderr().is_terminal(),
            frame: 0,
        }
    }

    fn wait(&mut self, secs: u64, what: &str) {
        const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            if self.tty {
                eprint!("\r{} {what}", FRAMES[self.frame % FRAMES.len()]);
                self.frame += 1;
            }
            std::thread::sleep(Duration::from_millis(100).min(until - Instant::now()));
        }
    }

    fn clear(&self) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
    }
}

/// `planpush login`: the device flow, then the credentials saved (0600, atomically).
pub fn login(ctx: &Ctx) -> Result<(), CliError> {
    let server = match &ctx.server {
        Some(s) => normalize_server(s)?,
        None => ctx.store.load()?.default_server.ok_or_else(|| {
            CliError::Invalid(
                "which server? Run `planpush login --server https://your-planpush-server`".into(),
            )
        })?,
    };
    let api = Api::new(&server);
    let reply = api.send("POST", "/api/auth/device", &[], Body::None)?;
    if reply.status == 404 {
        return Err(CliError::NotFound(format!(
            "{server} does not look like a PlanPush server (it has no /api/auth/device)"
        )));
    }
    if !reply.ok() {
        return Err(api.error(&reply));
    }
    let start: DeviceStart = api.parse(reply.body)?;
    eprintln!(
        "To sign in to {server}, open\n\n    {}\n\nand enter the code\n\n    {}\n\n(or open {} directly; sign in to PlanPush there first if you never have)",
        start.verification_uri, start.user_code, start.verification_uri_complete
    );
    if open_browser(&start.verification_uri_complete) {
        eprintln!("Opened your browser.");
    }
    let pair = poll(&api, &start)?;
    let login = me(&api, &pair.access_token)?
        .get("login")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let session = Session {
        login: login.clone(),
        access_token: pair.access_token,
        access_expires_at: now() + pair.expires_in,
        refresh_token: pair.refresh_token,
    };
    let previous = ctx.store.update(|c: &mut Credentials| {
        c.default_server = Some(server.clone());
        c.servers.insert(server.clone(), session)
    })?;
    // The session this login replaces is revoked; failing to is harmless (it expires).
    if let Some(old) = previous {
        let _ = api.send(
            "POST",
            "/api/auth/logout",
            &[],
            Body::Form(&[("refresh_token", &old.refresh_token)]),
        );
    }
    println!("Signed in to {server} as {login}.");
    Ok(())
}

/// Polls the token endpoint, honouring `interval` and `slow_down`, until approved or done.
fn poll(api: &Api, start: &DeviceStart) -> Result<TokenPair, CliError> {
    let mut interval = start.interval.max(1);
    let deadline = Instant::now() + Duration::from_secs(start.expires_in);
    let mut spinner = Spinner::new();
    let result = loop {
        spinner.wait(
            interval,
            "Waiting for the code to be approved in the browser…",
        );
        if Instant::now() > deadline {
            break Err(CliError::LoginFailed(
                "the code expired before it was approved; run `planpush login` again".into(),
            ));
        }
        let reply = match api.post_form::<TokenPair>(
            "/api/auth/device/token",
            &[("device_code", &start.device_code)],
        ) {
            Ok(Ok(pair)) => break Ok(pair),
            Ok(Err(reply)) => reply,
            Err(e) => break Err(e),
        };
        match (reply.status, reply.body["error"].as_str().unwrap_or("")) {
            (_, "authorization_pending") => {}
            (_, "slow_down") => {
                interval = reply.body["interval"].as_u64().unwrap_or(interval + 5);
            }
            (429, _) => interval += 5,
            (_, "expired_token") => {
                break Err(CliError::LoginFailed(
                    "the code expired before it was approved; run `planpush login` again".into(),
                ));
            }
            (_, "access_denied") => {
                break Err(CliError::LoginFailed(
                    "the login was denied in the browser; nothing was signed in".into(),
                ));
            }
            _ => break Err(api.error(&reply)),
        }
    };
    spinner.clear();
    result
}

fn me(api: &Api, access_token: &str) -> Result<Value, CliError> {
    let auth = format!("Bearer {access_token}");
    let reply = api.send(
        "GET",
        "/api/auth/me",
        &[("Authorization", &auth)],
        Body::None,
    )?;
    if !reply.ok() {
        return Err(api.error(&reply));
    }
    Ok(reply.body)
}

// ---------------------------------------------------------------------------------------------
// push

pub struct PushArgs {
    pub file: PathBuf,
    pub name: Option<String>,
    /// `--private` / `--publish`; `None`: the server's `DEFAULT_VISIBILITY` for a new plan.
    pub visibility: Option<Visibility>,
    /// `--addresses`: open threads this version addresses (`X-Addresses`).
    pub addresses: Vec<String>,
    pub open: bool,
    pub format: Option<Format>,
    pub json: bool,
}

/// A plan's visibility as asked for on a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone signed in to the server can read it.
    Published,
    /// Only its owner, admins and project managers can read it.
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Published => "published",
            Visibility::Private => "private",
        }
    }
}

/// What one push sends; shared by `planpush push` and the MCP tool `push_plan`.
pub struct PushInput<'a> {
    pub text: &'a str,
    pub format: Format,
    pub name: Option<String>,
    pub visibility: Option<Visibility>,
    pub addresses: &'a [String],
    /// The file pushed, remembered with the plan (`None` from MCP).
    pub file: Option<&'a Path>,
}

/// A push done: the server's answer, parsed and raw, and a note for the person when the plan
/// landed under another name or visibility than asked.
pub struct PushDone {
    pub pushed: Pushed,
    pub answer: Value,
    pub notes: Vec<String>,
}

/// The server's answer to a push (`docs/api.md`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Pushed {
    pub session_id: String,
    pub name: String,
    pub url: String,
    pub version: u64,
    pub created_version: bool,
    pub visibility: String,
    pub changes: Changes,
    /// The threads this version was said to address (`X-Addresses`).
    #[serde(default)]
    pub addressed: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Changes {
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
    #[serde(default)]
    pub changed: Vec<String>,
    /// What changed in the plan's terms (servers before typed change sets send none).
    #[serde(default)]
    pub typed: Vec<TypedChange>,
}

/// One typed change as the server describes it; the CLI shows the server's `text`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TypedChange {
    pub kind: String,
    pub change: String,
    #[serde(default)]
    pub text: String,
}

/// Most typed changes `planpush push` prints (the rest are counted).
pub const PUSH_MAX_TYPED: usize = 12;

/// Reads the document, checking size, format and encoding before anything is sent.
pub fn read_document(path: &Path, format: Option<Format>) -> Result<(String, Format), CliError> {
    let file_err = |what| {
        let path = path.to_path_buf();
        move |source| CliError::File { what, path, source }
    };
    let meta = std::fs::metadata(path).map_err(file_err("cannot read"))?;
    if meta.len() > MAX_DOCUMENT_BYTES {
        return Err(CliError::TooLarge {
            path: path.to_path_buf(),
            bytes: meta.len(),
        });
    }
    let format = match format.or_else(|| Format::from_path(path)) {
        Some(f) => f,
        None => {
            return Err(CliError::WrongFormat(format!(
                "cannot tell whether {} is HTML or Markdown from its name; name it .html or .md, or pass --format html|markdown",
                path.display()
            )));
        }
    };
    let bytes = std::fs::read(path).map_err(file_err("cannot read"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::WrongFormat(format!("{} is not UTF-8 text", path.display())))?;
    if text.trim().is_empty() {
        return Err(CliError::WrongFormat(format!(
            "{} is empty",
            path.display()
        )));
    }
    Ok((text, format))
}

/// `planpush push FILE`.
pub fn push(ctx: &Ctx, args: &PushArgs) -> Result<(), CliError> {
    let (text, format) = read_document(&args.file, args.format)?;
    let done = push_document(
        ctx,
        &PushInput {
            text: &text,
            format,
            name: args.name.clone(),
            visibility: args.visibility,
            addresses: &args.addresses,
            file: Some(&args.file),
        },
    )?;
    if args.json {
        println!("{}", done.answer);
    } else {
        print!("{}", describe_push(&done.pushed));
    }
    for note in &done.notes {
        eprintln!("{note}");
    }
    if args.open {
        open_browser(&done.pushed.url);
    }
    Ok(())
}

/// Comment ids as the `X-Addresses` header takes them: trimmed, comma-separated, each checked.
pub fn addresses_header(ids: &[String]) -> Result<Option<String>, CliError> {
    let ids: Vec<&str> = ids
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    for id in &ids {
        if !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') || id.len() > 64 {
            return Err(CliError::Invalid(format!(
                "{id:?} is not a comment id (ids are listed by `planpush comments NAME --format json`)"
            )));
        }
    }
    Ok((!ids.is_empty()).then(|| ids.join(",")))
}

/// Pushes a document and remembers the plan in the project; publishes it when `--publish` was
/// asked for a plan that is private (the push itself never changes an existing plan's visibility).
pub fn push_document(ctx: &Ctx, input: &PushInput<'_>) -> Result<PushDone, CliError> {
    let addresses = addresses_header(input.addresses)?;
    let mut project = Project::open(&ctx.cwd)?;
    let remembered_server = input
        .name
        .as_deref()
        .and_then(|n| project.get_any(n))
        .map(|e| e.server.clone());
    let server = ctx.server(remembered_server.as_deref())?;
    let name = input.name.clone().or_else(|| {
        input
            .file
            .and_then(|f| project.name_for_file(f, &server))
            .map(str::to_owned)
    });
    let mut session_id = name
        .as_deref()
        .and_then(|n| project.get(n, &server))
        .map(|e| e.session_id.clone());
    let mut authed = ctx.authed(&server)?;
    let reply = loop {
        let mut headers = vec![];
        if let Some(n) = &name {
            headers.push(("X-Session-Name", n.as_str()));
        }
        if let Some(id) = &session_id {
            headers.push(("X-Session-Id", id.as_str()));
        }
        if let Some(v) = input.visibility {
            headers.push(("X-Visibility", v.as_str()));
        }
        if let Some(a) = &addresses {
            headers.push(("X-Addresses", a.as_str()));
        }
        let reply = authed.send(
            "POST",
            "/api/push",
            &headers,
            Body::Text {
                content_type: input.format.content_type(),
                text: input.text,
            },
        )?;
        // The remembered plan was deleted on the server: push by name, as a new plan.
        if reply.status == 404 && session_id.is_some() {
            eprintln!(
                "note: the plan remembered in {} no longer exists on {server}; pushing it as a new plan",
                project.path().display()
            );
            session_id = None;
            if let Some(n) = &name {
                project.forget(n)?;
            }
            continue;
        }
        break reply;
    };
    if !reply.ok() {
        return Err(match authed.api.error(&reply) {
            CliError::NameTaken { suggestion, .. } => CliError::NameTaken {
                name: name.unwrap_or_default(),
                suggestion,
            },
            e => e,
        });
    }
    let mut answer = reply.body.clone();
    let mut pushed: Pushed = authed.api.parse(reply.body)?;
    let mut notes = vec![];
    if input.visibility == Some(Visibility::Published) && pushed.visibility == "private" {
        let reply = authed.send(
            "POST",
            &format!("/api/sessions/{}/publish", pushed.session_id),
            &[],
            Body::None,
        )?;
        if reply.ok() {
            pushed.visibility = "published".into();
            answer["visibility"] = "published".into();
        } else {
            notes.push(format!(
                "note: the plan stays private: {}",
                authed.api.error(&reply)
            ));
        }
    }
    let file = input.file.and_then(|f| project.relative(f));
    project.remember(
        &pushed.name,
        Entry {
            session_id: pushed.session_id.clone(),
            server: server.clone(),
            url: pushed.url.clone(),
            file,
            version: pushed.version,
        },
    )?;
    if let Some(note) = name.as_deref().and_then(|n| renamed_note(n, &pushed.name)) {
        notes.push(note);
    }
    Ok(PushDone {
        pushed,
        answer,
        notes,
    })
}

/// A hint when the server placed the plan under another name than the one asked for (the name is
/// held by a plan this user cannot see; pushing again under the same name updates this plan).
pub fn renamed_note(asked: &str, got: &str) -> Option<String> {
    (asked != got).then(|| {
        format!(
            "note: the name `{asked}` is not available to you; this plan is `{got}` (pushing again with --name {asked} updates it)"
        )
    })
}

/// The human summary of a push: what, where, and which sections changed.
pub fn describe_push(p: &Pushed) -> String {
    let mut out = String::new();
    if !p.created_version {
        out.push_str(&format!(
            "No changes: {} is still at version {} ({}).\n{}\n",
            p.name, p.version, p.visibility, p.url
        ));
        return out;
    }
    let verb = if p.version == 1 { "Created" } else { "Pushed" };
    out.push_str(&format!(
        "{verb} {} version {} ({}).\n{}\n",
        p.name, p.version, p.visibility, p.url
    ));
    if p.version > 1 && !p.changes.typed.is_empty() {
        out.push_str("What changed:\n");
        for t in p.changes.typed.iter().take(PUSH_MAX_TYPED) {
            out.push_str(&format!("  - {}\n", t.text));
        }
        if p.changes.typed.len() > PUSH_MAX_TYPED {
            out.push_str(&format!(
                "  … and {} more\n",
                p.changes.typed.len() - PUSH_MAX_TYPED
            ));
        }
    }
    if p.version > 1 {
        let c = &p.changes;
        if c.added.is_empty() && c.removed.is_empty() && c.changed.is_empty() {
            out.push_str("No section changed (only text outside sections).\n");
        }
        for (label, list) in [
            ("Changed", &c.changed),
            ("Added", &c.added),
            ("Removed", &c.removed),
        ] {
            if !list.is_empty() {
                out.push_str(&format!("{label}: {}\n", list.join(", ")));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// comments

/// Which comments to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum State {
    Open,
    Resolved,
    All,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Resolved => "resolved",
            State::All => "all",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// The session id of the plan called `name`: remembered, else looked up on the server.
fn find_plan(
    authed: &mut Authed,
    project: &Project,
    name: &str,
) -> Result<(String, bool), CliError> {
    if let Some(e) = project.get(name, &authed.api.server) {
        return Ok((e.session_id.clone(), true));
    }
    lookup_plan(authed, name).map(|id| (id, false))
}

fn lookup_plan(authed: &mut Authed, name: &str) -> Result<String, CliError> {
    let reply = authed.send("GET", "/api/sessions?archived=true", &[], Body::None)?;
    if !reply.ok() {
        return Err(authed.api.error(&reply));
    }
    reply.body["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"].as_str() == Some(name))
        .and_then(|s| s["session_id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            CliError::NotFound(format!(
                "there is no plan named `{name}` on {} (or you may not see it)",
                authed.api.server
            ))
        })
}

/// Sends one request about the plan called `name` (`path` gets its session id); a remembered id
/// that the server no longer knows is looked up again by name.
pub(crate) fn on_plan(
    authed: &mut Authed,
    project: &Project,
    name: &str,
    method: &str,
    path: impl Fn(&str) -> String,
    body: Body<'_>,
) -> Result<(String, crate::api::Reply), CliError> {
    let (mut id, remembered) = find_plan(authed, project, name)?;
    let mut reply = authed.send(method, &path(&id), &[], body)?;
    if reply.status == 404 && remembered {
        id = lookup_plan(authed, name)?;
        reply = authed.send(method, &path(&id), &[], body)?;
    }
    if !reply.ok() {
        return Err(authed.api.error(&reply));
    }
    Ok((id, reply))
}

/// The authenticated client for the server that holds (or would hold) the plan `name`.
pub fn authed_for(ctx: &Ctx, name: Option<&str>) -> Result<(Authed, Project), CliError> {
    let project = Project::open(&ctx.cwd)?;
    let server = ctx.server(
        name.and_then(|n| project.get_any(n))
            .map(|e| e.server.as_str()),
    )?;
    Ok((ctx.authed(&server)?, project))
}

/// The threads of the plan `name` in `state` (optionally only those on `anchor`), with its
/// session id.
pub fn fetch_comments(
    ctx: &Ctx,
    name: &str,
    state: State,
    anchor: Option<&str>,
) -> Result<(String, Vec<Value>), CliError> {
    let (mut authed, project) = authed_for(ctx, Some(name))?;
    let anchor_q = anchor
        .map(|a| format!("&anchor={}", encode(a)))
        .unwrap_or_default();
    let (id, reply) = on_plan(
        &mut authed,
        &project,
        name,
        "GET",
        |id| {
            format!(
                "/api/sessions/{id}/comments?state={}{anchor_q}",
                state.as_str()
            )
        },
        Body::None,
    )?;
    let threads = reply.body["comments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok((id, threads))
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `planpush comments NAME`.
pub fn comments(ctx: &Ctx, name: &str, state: State, format: OutputFormat) -> Result<(), CliError> {
    let (id, threads) = fetch_comments(ctx, name, state, None)?;
    match format {
        OutputFormat::Json => println!(
            "{}",
            json!({"name": name, "session_id": id, "state": state.as_str(), "comments": threads})
        ),
        OutputFormat::Text => print!("{}", describe_comments(name, state, &threads)),
    }
    Ok(())
}

/// Replies on the thread `comment_id` of the plan `name`; the new reply as the server shows it.
pub fn reply_to(ctx: &Ctx, name: &str, comment_id: &str, text: &str) -> Result<Value, CliError> {
    check_comment_id(comment_id)?;
    if text.trim().is_empty() {
        return Err(CliError::Invalid("the reply is empty".into()));
    }
    let (mut authed, project) = authed_for(ctx, Some(name))?;
    let body = json!({"body": text, "parent_id": comment_id}).to_string();
    let (_, reply) = on_plan(
        &mut authed,
        &project,
        name,
        "POST",
        |id| format!("/api/sessions/{id}/comments"),
        Body::Text {
            content_type: "application/json",
            text: &body,
        },
    )?;
    Ok(reply.body)
}

/// Resolves (or, with `resolved: false`, reopens) the thread `comment_id`.
pub fn set_resolved(ctx: &Ctx, comment_id: &str, resolved: bool) -> Result<Value, CliError> {
    check_comment_id(comment_id)?;
    let (mut authed, _) = authed_for(ctx, None)?;
    let body = json!({ "resolved": resolved }).to_string();
    let reply = authed.send(
        "PATCH",
        &format!("/api/comments/{comment_id}"),
        &[],
        Body::Text {
            content_type: "application/json",
            text: &body,
        },
    )?;
    if !reply.ok() {
        return Err(authed.api.error(&reply));
    }
    Ok(reply.body)
}

fn check_comment_id(id: &str) -> Result<(), CliError> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(CliError::Invalid(format!(
            "{id:?} is not a comment id (ids are listed by `planpush comments NAME --format json`)"
        )));
    }
    Ok(())
}

/// `planpush reply NAME COMMENT_ID TEXT [--resolve]`.
pub fn reply(
    ctx: &Ctx,
    name: &str,
    comment_id: &str,
    text: &str,
    resolve: bool,
) -> Result<(), CliError> {
    let r = reply_to(ctx, name, comment_id, text)?;
    println!(
        "Replied on {comment_id} as @{} (reply {}).",
        r["author"]["login"].as_str().unwrap_or("?"),
        r["id"].as_str().unwrap_or("?")
    );
    if resolve {
        set_resolved(ctx, comment_id, true)?;
        println!("Resolved {comment_id}.");
    }
    Ok(())
}

/// `planpush resolve COMMENT_ID… [--reopen]`: every id is tried; the first failure is the exit
/// code, after the others were done.
pub fn resolve(ctx: &Ctx, ids: &[String], reopen: bool) -> Result<(), CliError> {
    let mut first_error = None;
    for id in ids {
        match set_resolved(ctx, id, !reopen) {
            Ok(_) => println!("{} {id}.", if reopen { "Reopened" } else { "Resolved" }),
            Err(e) => {
                eprintln!("planpush: {id}: {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Plans the caller can see: `mine` only their own; `query` filters by name and title (case
/// insensitive, every word must appear). Newest first.
pub fn list_plans(ctx: &Ctx, mine: bool, query: Option<&str>) -> Result<Vec<Value>, CliError> {
    let (mut authed, _) = authed_for(ctx, None)?;
    let mut me_id = None;
    if mine {
        let reply = authed.send("GET", "/api/auth/me", &[], Body::None)?;
        if !reply.ok() {
            return Err(authed.api.error(&reply));
        }
        me_id = reply.body["id"].as_str().map(str::to_owned);
    }
    let reply = authed.send("GET", "/api/sessions", &[], Body::None)?;
    if !reply.ok() {
        return Err(authed.api.error(&reply));
    }
    let words: Vec<String> = query
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    // Plans whose text or comments match too: the names in the server's full-text search (its 50
    // best hits). A query the search refuses (too long) filters names and titles only.
    let mut found = std::collections::HashSet::new();
    if !words.is_empty() {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("q", query.unwrap_or(""))
            .append_pair("limit", "50")
            .finish();
        let hits = authed.send("GET", &format!("/api/search?{q}"), &[], Body::None)?;
        if hits.ok() {
            found.extend(
                hits.body["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|h| h["name"].as_str().map(str::to_owned)),
            );
        } else if hits.status != 400 {
            return Err(authed.api.error(&hits));
        }
    }
    let mut plans: Vec<Value> = reply.body["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| me_id.is_none() || s["owner_id"].as_str() == me_id.as_deref())
        .filter(|s| {
            let hay = format!(
                "{} {}",
                s["name"].as_str().unwrap_or(""),
                s["title"].as_str().unwrap_or("")
            )
            .to_lowercase();
            words.iter().all(|w| hay.contains(w.as_str()))
                || s["name"].as_str().is_some_and(|n| found.contains(n))
        })
        .cloned()
        .collect();
    plans.sort_by(|a, b| {
        b["updated_at"]
            .as_str()
            .unwrap_or("")
            .cmp(a["updated_at"].as_str().unwrap_or(""))
    });
    Ok(plans)
}

/// Version `version` (default: the latest) of the plan `name` as text per section.
pub fn plan_text(ctx: &Ctx, name: &str, version: Option<u64>) -> Result<Value, CliError> {
    let (mut authed, project) = authed_for(ctx, Some(name))?;
    let v = version.map(|v| format!("?v={v}")).unwrap_or_default();
    let (_, reply) = on_plan(
        &mut authed,
        &project,
        name,
        "GET",
        |id| format!("/api/sessions/{id}/text{v}"),
        Body::None,
    )?;
    Ok(reply.body)
}

/// Comments as text for a person or an assistant: anchor, author, version, state, quote, body,
/// replies indented.
pub fn describe_comments(name: &str, state: State, threads: &[Value]) -> String {
    let what = match state {
        State::Open => "open comment",
        State::Resolved => "resolved comment",
        State::All => "comment",
    };
    if threads.is_empty() {
        return format!("No {what}s on {name}.\n");
    }
    let plural = if threads.len() == 1 { "" } else { "s" };
    let mut out = format!("{} {what}{plural} on {name}:\n", threads.len());
    for t in threads {
        out.push('\n');
        let anchor_state = match t["anchor_state"].as_str().unwrap_or("anchored") {
            "anchored" => String::new(),
            "moved" => format!(
                ", moved to {}{}",
                t["moved_to"].as_str().unwrap_or("another section"),
                match t["moved_by"].as_str() {
                    Some("same_content") => " (its element, found by its content)",
                    Some("similar_content") => " (the most similar element)",
                    _ => "",
                }
            ),
            "changed" => ", the text changed since".to_owned(),
            "orphaned" => ", its section was removed".to_owned(),
            other => format!(", {other}"),
        };
        let addressed = t["addressed_in"]
            .as_u64()
            .map(|v| format!(", addressed in v{v}"))
            .unwrap_or_default();
        let id = t["id"]
            .as_str()
            .map(|id| format!(" (id {id})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "[{}] {} on version {} — {}{anchor_state}{addressed}{id}\n",
            t["anchor"].as_str().unwrap_or("?"),
            author(t),
            t["version"],
            t["state"].as_str().unwrap_or("open"),
        ));
        if let Some(q) = t["quote"]["exact"].as_str() {
            out.push_str(&format!("  > {}\n", q.replace('\n', "\n  > ")));
        }
        out.push_str(&indent(&body(t), "  "));
        for r in t["replies"].as_array().into_iter().flatten() {
            out.push_str(&format!("    ↳ {}:\n", author(r)));
            out.push_str(&indent(&body(r), "      "));
        }
    }
    out
}

fn author(c: &Value) -> String {
    let login = c["author"]["login"].as_str().unwrap_or("someone");
    match c["author"]["name"]
        .as_str()
        .filter(|n| !n.is_empty() && *n != login)
    {
        Some(n) => format!("@{login} ({n})"),
        None => format!("@{login}"),
    }
}

fn body(c: &Value) -> String {
    if c["deleted"].as_bool() == Some(true) {
        "(deleted)".to_owned()
    } else {
        c["body"].as_str().unwrap_or("").to_owned()
    }
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

// ---------------------------------------------------------------------------------------------
// whoami, logout, open

/// `planpush whoami`.
pub fn whoami(ctx: &Ctx) -> Result<(), CliError> {
    let server = ctx.server(None)?;
    let mut authed = ctx.authed(&server)?;
    let reply = authed.send("GET", "/api/auth/me", &[], Body::None)?;
    if !reply.ok() {
        return Err(authed.api.error(&reply));
    }
    let me = reply.body;
    let login = me["login"].as_str().unwrap_or("?");
    let name = me["name"]
        .as_str()
        .filter(|n| !n.is_empty() && *n != login)
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let roles: Vec<&str> = me["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let how = if ctx.token.is_some() {
        " with PLANPUSH_TOKEN"
    } else {
        ""
    };
    println!("{login}{name} on {server}{how}");
    println!(
        "roles: {}",
        if roles.is_empty() {
            "none".to_owned()
        } else {
            roles.join(", ")
        }
    );
    Ok(())
}

/// `planpush logout`: revokes the refresh token's family on the server, then forgets it here.
pub fn logout(ctx: &Ctx) -> Result<(), CliError> {
    let server = match &ctx.server {
        Some(s) => normalize_server(s)?,
        None => match ctx.store.load()?.default_server {
            Some(s) => s,
            None => {
                println!("Not signed in.");
                return Ok(());
            }
        },
    };
    let removed = ctx.store.update(|c: &mut Credentials| {
        let removed = c.servers.remove(&server);
        if c.default_server.as_deref() == Some(server.as_str()) {
            c.default_server = c.servers.keys().next().cloned();
        }
        removed
    })?;
    let Some(session) = removed else {
        println!("Not signed in to {server}.");
        return Ok(());
    };
    let api = Api::new(&server);
    let revoked = api.send(
        "POST",
        "/api/auth/logout",
        &[],
        Body::Form(&[("refresh_token", &session.refresh_token)]),
    );
    match revoked {
        Ok(r) if r.ok() => {
            println!("Signed out of {server} ({}).", session.login);
            Ok(())
        }
        Ok(r) => {
            eprintln!(
                "note: the server did not confirm the sign-out ({}); the credentials are removed here",
                r.status
            );
            println!("Signed out of {server} ({}).", session.login);
            Ok(())
        }
        Err(e) => {
            eprintln!("The credentials are removed here, but the server could not revoke them:");
            Err(e)
        }
    }
}

/// `planpush open NAME`: prints the plan's URL and opens it when a browser is available.
pub fn open(ctx: &Ctx, name: &str) -> Result<(), CliError> {
    let project = Project::open(&ctx.cwd)?;
    let server = ctx.server(project.get_any(name).map(|e| e.server.as_str()))?;
    let url = project
        .get(name, &server)
        .map(|e| e.url.clone())
        .unwrap_or_else(|| format!("{server}/p/{name}"));
    println!("{url}");
    if !open_browser(&url) {
        eprintln!("(no browser to open here; open the URL above yourself)");
    }
    Ok(())
}

/// `planpush search QUERY`: results as text (title, link, snippet with the matches in «»), or
/// the server's JSON.
pub fn search(
    ctx: &Ctx,
    query: &str,
    archived: bool,
    limit: usize,
    format: OutputFormat,
) -> Result<(), CliError> {
    let server = ctx.server(None)?;
    let mut authed = ctx.authed(&server)?;
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("q", query)
        .append_pair("archived", if archived { "true" } else { "false" })
        .append_pair("limit", &limit.to_string())
        .finish();
    let reply = authed.send("GET", &format!("/api/search?{q}"), &[], Body::None)?;
    if !reply.ok() {
        return Err(authed.api.error(&reply));
    }
    match format {
        OutputFormat::Json => println!("{}", reply.body),
        OutputFormat::Text => print!("{}", describe_search(query, &reply.body)),
    }
    Ok(())
}

/// A snippet's HTML (escaped text with `<mark>`) as terminal text, matches in «».
pub fn snippet_text(html: &str) -> String {
    html.replace("<mark>", "«")
        .replace("</mark>", "»")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Search results as text for a person or an assistant.
pub fn describe_search(query: &str, body: &Value) -> String {
    let results = body["results"].as_array().cloned().unwrap_or_default();
    if results.is_empty() {
        return format!("Nothing found for \"{query}\".\n");
    }
    let plural = if results.len() == 1 { "" } else { "s" };
    let mut out = format!("{} result{plural} for \"{query}\":\n", results.len());
    for (i, r) in results.iter().enumerate() {
        let kind = r["kind"].as_str().unwrap_or("plan");
        let title = match kind {
            "section" => format!(
                "{} › {}",
                r["plan_title"].as_str().unwrap_or_default(),
                r["title"].as_str().unwrap_or_default()
            ),
            _ => r["plan_title"].as_str().unwrap_or_default().to_owned(),
        };
        let mut flags = vec![kind];
        if r["visibility"].as_str() == Some("private") {
            flags.push("private");
        }
        if r["archived"].as_bool() == Some(true) {
            flags.push("archived");
        }
        out.push_str(&format!(
            "\n{}. {title} ({})\n   {}\n   {}\n",
            i + 1,
            flags.join(", "),
            r["url"].as_str().unwrap_or_default(),
            snippet_text(r["snippet_html"].as_str().unwrap_or_default())
        ));
    }
    out
}

/// `planpush export` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Html,
    Md,
}

/// Which comments an export appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportComments {
    Open,
    All,
}

/// `planpush export` arguments.
pub struct ExportArgs {
    pub name: String,
    pub version: Option<u32>,
    pub format: ExportFormat,
    pub comments: Option<ExportComments>,
    pub output: Option<PathBuf>,
}

/// `planpush export NAME`: the server's export (`GET /p/NAME/export`) to a file or stdout.
pub fn export(ctx: &Ctx, args: &ExportArgs) -> Result<(), CliError> {
    let project = Project::open(&ctx.cwd)?;
    let server = ctx.server(project.get_any(&args.name).map(|e| e.server.as_str()))?;
    let mut authed = ctx.authed(&server)?;
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair(
        "format",
        match args.format {
            ExportFormat::Html => "html",
            ExportFormat::Md => "md",
        },
    );
    if let Some(v) = args.version {
        q.append_pair("v", &v.to_string());
    }
    if let Some(c) = args.comments {
        q.append_pair(
            "comments",
            match c {
                ExportComments::Open => "open",
                ExportComments::All => "all",
            },
        );
    }
    let name: String = url::form_urlencoded::byte_serialize(args.name.as_bytes()).collect();
    let path = format!("/p/{name}/export?{}", q.finish());
    let accept = match args.format {
        ExportFormat::Html => "text/html",
        ExportFormat::Md => "text/markdown",
    };
    let reply = authed.send("GET", &path, &[("Accept", accept)], Body::None)?;
    if reply.status == 404 {
        return Err(CliError::NotFound(match args.version {
            Some(v) => format!(
                "there is no version {v} of a plan named `{}` on {server} (or you may not see it, or that version expired)",
                args.name
            ),
            None => format!(
                "there is no plan named `{}` on {server} (or you may not see it)",
                args.name
            ),
        }));
    }
    if !reply.ok() {
        return Err(authed.api.error(&reply));
    }
    match &args.output {
        Some(file) => {
            std::fs::write(file, reply.text.as_bytes()).map_err(|source| CliError::File {
                what: "cannot write",
                path: file.clone(),
                source,
            })?;
            eprintln!("Wrote {} ({} bytes).", file.display(), reply.text.len());
        }
        None => print!("{}", reply.text),
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_push_placed_under_another_name_says_so() {
        assert_eq!(super::renamed_note("auth", "auth"), None);
        let note = super::renamed_note("launch", "launch-3fa9c1").unwrap();
        assert!(
            note.contains("`launch`")
                && note.contains("`launch-3fa9c1`")
                && note.contains("--name launch"),
            "{note}"
        );
    }

    use super::*;

    fn pushed(version: u64, created: bool, changed: &[&str], added: &[&str]) -> Pushed {
        Pushed {
            session_id: "id".into(),
            name: "auth".into(),
            url: "http://s/p/auth".into(),
            version,
            created_version: created,
            visibility: "published".into(),
            changes: Changes {
                added: added.iter().map(|s| s.to_string()).collect(),
                removed: vec![],
                changed: changed.iter().map(|s| s.to_string()).collect(),
                typed: vec![],
            },
            addressed: vec![],
        }
    }

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(
            Format::from_path(Path::new("a/plan.HTML")),
            Some(Format::Html)
        );
        assert_eq!(
            Format::from_path(Path::new("plan.md")),
            Some(Format::Markdown)
        );
        assert_eq!(Format::from_path(Path::new("plan.txt")), None);
        assert_eq!(Format::from_path(Path::new("plan")), None);
    }

    #[test]
    fn documents_are_checked_before_sending() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.html");
        std::fs::write(&big, vec![b'a'; MAX_DOCUMENT_BYTES as usize + 1]).unwrap();
        assert_eq!(read_document(&big, None).unwrap_err().exit_code(), 7);
        let txt = dir.path().join("plan.txt");
        std::fs::write(&txt, "# hi").unwrap();
        assert_eq!(read_document(&txt, None).unwrap_err().exit_code(), 8);
        assert_eq!(
            read_document(&txt, Some(Format::Markdown)).unwrap(),
            ("# hi".to_owned(), Format::Markdown)
        );
        let bin = dir.path().join("bin.md");
        std::fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
        assert_eq!(read_document(&bin, None).unwrap_err().exit_code(), 8);
        let empty = dir.path().join("empty.md");
        std::fs::write(&empty, "  \n").unwrap();
        assert_eq!(read_document(&empty, None).unwrap_err().exit_code(), 8);
        let missing = dir.path().join("missing.md");
        assert_eq!(read_document(&missing, None).unwrap_err().exit_code(), 12);
    }

    #[test]
    fn a_push_summary_names_the_url_version_and_changes() {
        let first = describe_push(&pushed(1, true, &[], &["intro"]));
        assert_eq!(
            first,
            "Created auth version 1 (published).\nhttp://s/p/auth\n"
        );
        let next = describe_push(&pushed(2, true, &["risks"], &["rollout"]));
        assert_eq!(
            next,
            "Pushed auth version 2 (published).\nhttp://s/p/auth\nChanged: risks\nAdded: rollout\n"
        );
        let mut typed = pushed(3, true, &["decisions"], &[]);
        typed.changes.typed = (0..14)
            .map(|i| TypedChange {
                kind: "decision".into(),
                change: "status".into(),
                text: format!("Decision “D{i}”: Open → Accepted"),
            })
            .collect();
        let typed = describe_push(&typed);
        assert!(
            typed.starts_with(
                "Pushed auth version 3 (published).\nhttp://s/p/auth\nWhat changed:\n  - Decision “D0”: Open → Accepted\n"
            ) && typed.contains("  - Decision “D11”: Open → Accepted\n  … and 2 more\nChanged: decisions\n"),
            "{typed}"
        );
        let same = describe_push(&pushed(2, false, &[], &[]));
        assert!(
            same.starts_with("No changes: auth is still at version 2"),
            "{same}"
        );
    }

    #[test]
    fn comments_read_as_text_with_quotes_and_replies() {
        let threads = vec![json!({
            "id": "7f3e9a10-0000-4000-8000-000000000001", "addressed_in": 3,
            "anchor": "risks", "anchor_state": "changed", "version": 2, "state": "open",
            "author": {"login": "bob", "name": "Bob B"}, "body": "What about replay?\nAnd rate limits?",
            "quote": {"exact": "tokens are hashed", "prefix": "", "suffix": ""}, "deleted": false,
            "replies": [{"author": {"login": "ada", "name": "ada"}, "body": "Added a risk.", "deleted": false}]
        })];
        assert_eq!(
            describe_comments("auth", State::Open, &threads),
            "1 open comment on auth:\n\n[risks] @bob (Bob B) on version 2 — open, the text changed since, addressed in v3 (id 7f3e9a10-0000-4000-8000-000000000001)\n  > tokens are hashed\n  What about replay?\n  And rate limits?\n    ↳ @ada:\n      Added a risk.\n"
        );
        assert_eq!(
            describe_comments("auth", State::All, &[]),
            "No comments on auth.\n"
        );
    }
}
