//! `cargo xtask tidy`: the documentation says what the code does.
//!
//! - every route the web crate registers is in the route table of `docs/api.md`, and every route that
//!   table lists is registered (rows under a heading containing "Planned" are exempt);
//! - every route the web crate registers under `/api/` is described in `docs/openapi.json` (the
//!   document `GET /api/openapi.json` serves; a web test keeps the file current), and everything
//!   described there is registered;
//! - every variable the server reads (`VARIABLES` in `crates/server/src/config.rs`) is documented in
//!   `docs/configuration.md` and `.env.example`, and neither names a variable the server ignores;
//! - every `cargo xtask <job>` the README and docs mention is a job xtask has;
//! - the Claude Code plugin's manifests are well formed and agree with each other and with the
//!   workspace version, and every command has its frontmatter and ships what it refers to.
//!
//! Each check returns the problems it found, one line each; `tidy` prints them all and fails when
//! any was found, so one run shows everything to mend.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Runs every check in `root`.
pub fn run(root: &Path) -> Result<()> {
    let mut problems = Vec::new();
    problems.extend(routes(root)?);
    problems.extend(openapi(root)?);
    problems.extend(variables(root)?);
    problems.extend(xtask_jobs(root)?);
    problems.extend(plugin_manifests(root)?);
    problems.extend(plugin_commands(root)?);
    for p in &problems {
        eprintln!("tidy: {p}");
    }
    if !problems.is_empty() {
        bail!("{} documentation problem(s)", problems.len());
    }
    eprintln!("xtask: tidy: docs match the code");
    Ok(())
}

fn read(root: &Path, rel: &str) -> Result<String> {
    std::fs::read_to_string(root.join(rel)).with_context(|| format!("reading {rel}"))
}

/// Rust sources under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `(METHOD, /path)` pairs registered in Rust source: `.route("/p", web::get()…)` and
/// `web::resource("/p").route(web::get()…)`, with `web::scope("/prefix")` applied to the routes
/// of the same statement. Whitespace is dropped first so calls split over lines count.
pub fn registered_routes(source: &str) -> BTreeSet<(String, String)> {
    let flat: String = source.split_whitespace().collect();
    let mut out = BTreeSet::new();
    // (text, ends at): a scope or resource holds until the end of its statement.
    let mut scope: Option<(String, usize)> = None;
    let mut resource: Option<(String, usize)> = None;
    let mut at = 0;
    while let Some(pos) = next_marker(&flat[at..]) {
        at += pos;
        let rest = &flat[at..];
        let statement_end = at + rest.find(';').unwrap_or(rest.len());
        let quoted = |prefix: &str| {
            let after = &rest[prefix.len()..];
            after.find('"').map(|end| after[..end].to_owned())
        };
        let prefix = |scope: &Option<(String, usize)>| match scope {
            Some((p, until)) if at < *until => p.clone(),
            _ => String::new(),
        };
        if rest.starts_with("web::scope(\"") {
            scope = quoted("web::scope(\"").map(|p| (p, statement_end));
        } else if rest.starts_with("web::resource(\"") {
            resource = quoted("web::resource(\"").map(|p| (p, statement_end));
        } else if rest.starts_with(".route(\"") {
            if let Some(path) = quoted(".route(\"")
                && let Some(method) = method_after(&rest[8 + path.len()..])
            {
                out.insert((method, format!("{}{path}", prefix(&scope))));
            }
        } else if let Some((path, until)) = &resource
            && at < *until
            && let Some(method) = method_after(&rest[7..])
        {
            out.insert((method, format!("{}{path}", prefix(&scope))));
        }
        at += 1;
    }
    out
}

fn next_marker(s: &str) -> Option<usize> {
    [
        "web::scope(\"",
        "web::resource(\"",
        ".route(\"",
        ".route(web::",
    ]
    .iter()
    .filter_map(|m| s.find(m))
    .min()
}

/// The HTTP method of the first `web::get()` (…) after a route's path.
fn method_after(s: &str) -> Option<String> {
    let head = &s[..s.len().min(80)];
    let at = head.find("web::")?;
    let name: String = head[at + 5..]
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    let upper = name.to_ascii_uppercase();
    METHODS.contains(&upper.as_str()).then_some(upper)
}

/// `(METHOD, /path)` pairs in the first column of `docs/api.md`'s tables, outside "Planned"
/// sections: `` `GET /p/{slug}[?v=N]` `` → `(GET, /p/{slug})`; `` `GET`/`POST /x` `` gives both.
pub fn documented_routes(markdown: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut planned = false;
    for line in markdown.lines() {
        if line.starts_with('#') {
            planned = line.to_ascii_lowercase().contains("planned");
            continue;
        }
        if planned || !line.starts_with("| `") {
            continue;
        }
        let cell = line[1..].split(" |").next().unwrap_or("").replace('`', "");
        let mut methods = Vec::new();
        let mut rest = cell.trim();
        while let Some(m) = METHODS.iter().find(|m| rest.starts_with(*m)) {
            methods.push((*m).to_owned());
            rest = rest[m.len()..].trim_start_matches('/').trim_start();
        }
        if methods.is_empty() || !rest.starts_with('/') {
            continue;
        }
        let path: String = rest
            .chars()
            .take_while(|c| !matches!(c, ' ' | '?' | '[' | '('))
            .collect();
        for m in methods {
            out.insert((m, path.clone()));
        }
    }
    out
}

/// Every `(METHOD, /path)` the web crate registers.
fn web_routes(root: &Path) -> Result<BTreeSet<(String, String)>> {
    let mut code = BTreeSet::new();
    for file in rust_files(&root.join("crates/web/src"))? {
        let text = std::fs::read_to_string(&file)?;
        // Unit tests register throwaway routes; only the code above `mod tests` counts.
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        code.extend(registered_routes(text));
    }
    Ok(code)
}

/// `(METHOD, /path)` of every operation in an OpenAPI document.
pub fn openapi_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            let upper = method.to_ascii_uppercase();
            if METHODS.contains(&upper.as_str()) {
                out.insert((upper, path.clone()));
            }
        }
    }
    out
}

fn openapi(root: &Path) -> Result<Vec<String>> {
    let doc: Value = serde_json::from_str(&read(root, "docs/openapi.json")?)
        .context("docs/openapi.json is not JSON")?;
    let described = openapi_operations(&doc);
    let code = web_routes(root)?;
    let mut problems = Vec::new();
    for (m, p) in code.iter().filter(|(_, p)| p.starts_with("/api/")) {
        if !described.contains(&(m.clone(), p.clone())) {
            problems.push(format!(
                "route {m} {p} is registered in crates/web but not described in the OpenAPI \
                 document (add #[utoipa::path] to its handler and list it in \
                 crates/web/src/routes/openapi.rs, then refresh docs/openapi.json)"
            ));
        }
    }
    for (m, p) in described.difference(&code) {
        problems.push(format!(
            "docs/openapi.json describes {m} {p}, which crates/web does not register"
        ));
    }
    Ok(problems)
}

fn routes(root: &Path) -> Result<Vec<String>> {
    let code = web_routes(root)?;
    let docs = documented_routes(&read(root, "docs/api.md")?);
    let mut problems = Vec::new();
    for (m, p) in code.difference(&docs) {
        problems.push(format!(
            "route {m} {p} is registered in crates/web but not in docs/api.md's route table"
        ));
    }
    for (m, p) in docs.difference(&code) {
        problems.push(format!(
            "docs/api.md lists {m} {p}, which crates/web does not register"
        ));
    }
    if code.is_empty() {
        problems
            .push("found no routes in crates/web/src (has the registration style changed?)".into());
    }
    Ok(problems)
}

/// The string literals of `pub const VARIABLES: &[&str] = &[ … ];`.
pub fn config_variables(source: &str) -> Option<Vec<String>> {
    let start = source.find("pub const VARIABLES")?;
    let body = &source[start..];
    let open = body.find("&[")?;
    let close = body[open..].find("];")? + open;
    Some(
        body[open..close]
            .split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect(),
    )
}

/// Variable names assigned in an env file, commented out or not: `# NAME=…` or `NAME=…`.
pub fn env_file_variables(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start_matches('#').trim();
            let (name, _) = l.split_once('=')?;
            let ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            ok.then(|| name.to_owned())
        })
        .collect()
}

/// Variables in the first column of `docs/configuration.md`'s tables.
pub fn documented_variables(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| {
            n.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_owned)
        .collect()
}

fn variables(root: &Path) -> Result<Vec<String>> {
    let config = read(root, "crates/server/src/config.rs")?;
    let Some(vars) = config_variables(&config) else {
        return Ok(vec![
            "crates/server/src/config.rs has no `pub const VARIABLES` list".into(),
        ]);
    };
    let vars: BTreeSet<String> = vars.into_iter().collect();
    let env = env_file_variables(&read(root, ".env.example")?);
    let docs = documented_variables(&read(root, "docs/configuration.md")?);
    let mut problems = Vec::new();
    for v in vars.difference(&env) {
        problems.push(format!(
            "{v} is read by the server but missing from .env.example"
        ));
    }
    for v in env.difference(&vars) {
        problems.push(format!(
            ".env.example sets {v}, which the server does not read"
        ));
    }
    for v in vars.difference(&docs) {
        problems.push(format!(
            "{v} is read by the server but not documented in docs/configuration.md"
        ));
    }
    for v in docs.difference(&vars) {
        problems.push(format!(
            "docs/configuration.md documents {v}, which the server does not read"
        ));
    }
    Ok(problems)
}

/// `cargo xtask <job>` mentions in the README and docs name jobs that exist.
fn xtask_jobs(root: &Path) -> Result<Vec<String>> {
    let usage = read(root, "xtask/src/main.rs")?;
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        for (i, _) in text.match_indices("cargo xtask ") {
            let job: String = text[i + 12..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
                .collect();
            if job.is_empty() {
                continue;
            }
            if !usage.contains(&format!("Some(\"{job}\")")) {
                let rel = file.strip_prefix(root).unwrap_or(&file).display();
                problems.push(format!(
                    "{rel} mentions `cargo xtask {job}`, which is not a job"
                ));
            }
        }
    }
    problems.dedup();
    Ok(problems)
}

fn json(root: &Path, rel: &str, problems: &mut Vec<String>) -> Option<Value> {
    match read(root, rel).map(|t| serde_json::from_str::<Value>(&t)) {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            problems.push(format!("{rel} is not JSON: {e}"));
            None
        }
        Err(e) => {
            problems.push(format!("{e:#}"));
            None
        }
    }
}

/// A required, non-empty string field (an empty string and a problem when absent).
fn text<'a>(v: &'a Value, pointer: &str, file: &str, problems: &mut Vec<String>) -> &'a str {
    match v.pointer(pointer).and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => s,
        Some(_) => {
            problems.push(format!("{file}: {pointer} is empty"));
            ""
        }
        None => {
            problems.push(format!("{file}: {pointer} missing or not a string"));
            ""
        }
    }
}

pub fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

pub fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn keywords(v: &Value, pointer: &str, file: &str, problems: &mut Vec<String>) {
    match v.pointer(pointer).and_then(Value::as_array) {
        None => problems.push(format!("{file}: {pointer} missing or not an array")),
        Some(list) if list.is_empty() => problems.push(format!("{file}: {pointer} is empty")),
        Some(list) => {
            for k in list {
                if k.as_str().is_none_or(|s| s.trim().is_empty()) {
                    problems.push(format!(
                        "{file}: {pointer} holds a non-string or empty keyword: {k}"
                    ));
                }
            }
        }
    }
}

/// The workspace's `[workspace.package]` field `key` (`version`, `license`).
fn workspace_field(root: &Path, key: &str) -> Result<String> {
    let toml = read(root, "Cargo.toml")?;
    let section = toml
        .split("[workspace.package]")
        .nth(1)
        .context("Cargo.toml has no [workspace.package]")?;
    section
        .lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
        })
        .with_context(|| format!("Cargo.toml: [workspace.package] has no {key}"))
}

/// `.claude-plugin/marketplace.json` lists the plugin; its `plugin.json` agrees with it and with
/// the workspace's version and license; its README gives the install line that works.
fn plugin_manifests(root: &Path) -> Result<Vec<String>> {
    let version = workspace_field(root, "version")?;
    let license = workspace_field(root, "license")?;
    let mut problems = Vec::new();
    let p = &mut problems;
    let mf = ".claude-plugin/marketplace.json";
    let Some(market) = json(root, mf, p) else {
        return Ok(problems);
    };
    let market_name = text(&market, "/name", mf, p);
    if !is_kebab(market_name) {
        p.push(format!("{mf}: name {market_name:?} is not kebab-case"));
    }
    text(&market, "/owner/name", mf, p);
    text(&market, "/metadata/description", mf, p);
    if text(&market, "/metadata/version", mf, p) != version {
        p.push(format!(
            "{mf}: metadata.version differs from the workspace's {version}"
        ));
    }
    let plugins = market
        .get("plugins")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if plugins.is_empty() {
        p.push(format!("{mf}: plugins must be a non-empty array"));
    }
    let mut names = BTreeSet::new();
    for (i, entry) in plugins.iter().enumerate() {
        let at = |f: &str| format!("/plugins/{i}/{f}");
        let name = text(&market, &at("name"), mf, p).to_owned();
        if !is_kebab(&name) {
            p.push(format!("{mf}: plugin name {name:?} is not kebab-case"));
        }
        if !names.insert(name.clone()) {
            p.push(format!("{mf}: plugin {name} listed twice"));
        }
        text(&market, &at("description"), mf, p);
        text(&market, &at("category"), mf, p);
        keywords(&market, &at("keywords"), mf, p);
        let entry_version = text(&market, &at("version"), mf, p).to_owned();

        // A relative source: a directory of this repository holding the plugin's manifest.
        let Some(source) = entry.get("source").and_then(Value::as_str) else {
            p.push(format!(
                "{mf}: plugin {name}: source must be a relative path"
            ));
            continue;
        };
        if !source.starts_with("./") || source.split('/').any(|s| s == "..") {
            p.push(format!(
                "{mf}: plugin {name}: source {source:?} must be ./… inside the repository"
            ));
            continue;
        }
        let dir = source.trim_start_matches("./").trim_end_matches('/');
        if !root.join(dir).is_dir() {
            p.push(format!("{mf}: source {source} is not a directory"));
            continue;
        }
        let pf = format!("{dir}/.claude-plugin/plugin.json");
        let Some(plugin) = json(root, &pf, p) else {
            continue;
        };
        if text(&plugin, "/name", &pf, p) != name {
            p.push(format!("{pf}: name differs from the marketplace's"));
        }
        let plugin_version = text(&plugin, "/version", &pf, p).to_owned();
        if !is_semver(&plugin_version) {
            p.push(format!("{pf}: version {plugin_version:?} is not semver"));
        }
        if plugin_version != entry_version {
            p.push(format!("{pf}: version differs from the marketplace's"));
        }
        if plugin_version != version {
            p.push(format!(
                "{pf}: version differs from the workspace's {version}"
            ));
        }
        text(&plugin, "/description", &pf, p);
        text(&plugin, "/author/name", &pf, p);
        for url in ["/homepage", "/repository"] {
            if !text(&plugin, url, &pf, p).starts_with("https://") {
                p.push(format!("{pf}: {url} must be an https:// URL"));
            }
        }
        if text(&plugin, "/license", &pf, p) != license {
            p.push(format!(
                "{pf}: license differs from the workspace's {license}"
            ));
        }
        keywords(&plugin, "/keywords", &pf, p);

        if !root.join(dir).join("commands").is_dir() {
            p.push(format!("{dir}: no commands/ directory"));
        }
        let install = format!("/plugin install {name}@{market_name}");
        match read(root, &format!("{dir}/README.md")) {
            Ok(readme) if readme.contains(&install) => {}
            Ok(_) => p.push(format!("{dir}/README.md does not say `{install}`")),
            Err(e) => p.push(format!("{e:#}")),
        }
    }
    Ok(problems)
}

/// `key: value` lines between the leading `---` fences, and the body after them.
pub fn frontmatter(md: &str) -> Result<(BTreeMap<String, String>, String), String> {
    let md = md.replace("\r\n", "\n");
    let rest = md
        .strip_prefix("---\n")
        .ok_or("no YAML frontmatter (must start with ---)")?;
    let end = rest
        .find("\n---\n")
        .ok_or("frontmatter not closed by ---")?;
    let mut fields = BTreeMap::new();
    for line in rest[..end].lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("frontmatter line without a key: {line:?}"))?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        if fields.insert(k.trim().to_owned(), v.to_owned()).is_some() {
            return Err(format!("{k} given twice"));
        }
    }
    Ok((fields, rest[end + 5..].to_owned()))
}

/// Every command has its frontmatter, uses `$ARGUMENTS` and ships the files it points Claude at;
/// `/planpush` keeps the tools and steps the product depends on.
fn plugin_commands(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("plugin/commands");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .context("listing plugin/commands")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    let mut p = Vec::new();
    if files.is_empty() {
        p.push("no commands in plugin/commands".into());
    }
    for path in &files {
        let file = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        let (fields, body) = match frontmatter(&std::fs::read_to_string(path)?) {
            Ok(parsed) => parsed,
            Err(e) => {
                p.push(format!("{file}: {e}"));
                continue;
            }
        };
        for key in ["description", "argument-hint", "allowed-tools"] {
            if fields.get(key).is_none_or(|v| v.trim().is_empty()) {
                p.push(format!("{file}: frontmatter lacks {key} (or it is empty)"));
            }
        }
        if let Some(tools) = fields.get("allowed-tools")
            && tools.split(',').any(|t| t.trim().is_empty())
        {
            p.push(format!("{file}: allowed-tools has an empty entry"));
        }
        if !body.contains("$ARGUMENTS") {
            p.push(format!("{file}: the body never uses $ARGUMENTS"));
        }
        const PLUGIN_ROOT: &str = "${CLAUDE_PLUGIN_ROOT}/";
        for (i, _) in body.match_indices(PLUGIN_ROOT) {
            let rel: String = body[i + PLUGIN_ROOT.len()..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '`' | ')' | '"' | '\''))
                .collect();
            let rel = rel.trim_end_matches(['.', ',', ':', ';']);
            if !root.join("plugin").join(rel).is_file() {
                p.push(format!(
                    "{file}: refers to {PLUGIN_ROOT}{rel}, which the plugin does not ship"
                ));
            }
        }
        if file.ends_with("planpush.md") {
            planpush_command(&file, &fields, &body, &mut p);
        }
    }
    Ok(p)
}

/// The `/planpush` command: its tools and the steps the product depends on.
fn planpush_command(
    file: &str,
    fields: &BTreeMap<String, String>,
    body: &str,
    p: &mut Vec<String>,
) {
    let tools = fields.get("allowed-tools").map_or("", String::as_str);
    for tool in [
        "Bash(planpush:*)",
        "Bash(command -v planpush)",
        "Read",
        "Write",
    ] {
        if !tools.contains(tool) {
            p.push(format!("{file}: allowed-tools lacks {tool}"));
        }
    }
    let hint = fields.get("argument-hint").map_or("", String::as_str);
    for want in ["name:", "--private"] {
        if !hint.contains(want) {
            p.push(format!("{file}: argument-hint lacks {want}"));
        }
    }
    for must in [
        "${CLAUDE_PLUGIN_ROOT}/reference/components.md",
        "command -v planpush",
        "cargo install",
        "planpush login --server",
        "planpush comments <name> --format text",
        ".planpush/sessions.json",
        ".planpush/<name>.html",
        "planpush check .planpush/<name>.html",
        "planpush push .planpush/<name>.html --name <name>",
        "--private",
        "data-anchor",
        "<pre class=\"mermaid\">",
        "Name taken",
        "Not signed in",
    ] {
        if !body.contains(must) {
            p.push(format!("{file}: the prompt never mentions {must}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect()
    }

    #[test]
    fn openapi_operations_are_method_and_path_pairs() {
        let doc = serde_json::json!({"paths": {
            "/api/tokens": {"get": {}, "post": {}, "parameters": []},
            "/api/tokens/{id}": {"delete": {}, "summary": "x"},
        }});
        assert_eq!(
            openapi_operations(&doc),
            set(&[
                ("GET", "/api/tokens"),
                ("POST", "/api/tokens"),
                ("DELETE", "/api/tokens/{id}"),
            ])
        );
    }

    #[test]
    fn routes_are_read_from_chains_resources_and_scopes() {
        let src = r#"
            cfg.route("/healthz", web::get().to(healthz))
                .route(
                    "/api/users/{id}/sessions",
                    web::delete().to(end),
                );
            cfg.service(web::scope("/scim/v2").route("/Users", web::post().to(create)));
            cfg.service(web::resource("/x").route(web::put().to(put)));
        "#;
        assert_eq!(
            registered_routes(src),
            set(&[
                ("GET", "/healthz"),
                ("DELETE", "/api/users/{id}/sessions"),
                ("POST", "/scim/v2/Users"),
                ("PUT", "/x"),
            ])
        );
    }

    #[test]
    fn documented_routes_skip_planned_sections_and_split_methods() {
        let md = "# API\n\
            | Route | Who |\n|---|---|\n\
            | `GET /p/{slug}[?v=N]` | x |\n\
            | `GET`/`POST /api/auth/device` | x |\n\
            | `POST /api/tokens {label}` | x |\n\
            | `Authorization: Bearer` | not a route |\n\
            ## Planned\n\
            | `GET /api/search?q=` | later |\n";
        assert_eq!(
            documented_routes(md),
            set(&[
                ("GET", "/p/{slug}"),
                ("GET", "/api/auth/device"),
                ("POST", "/api/auth/device"),
                ("POST", "/api/tokens"),
            ])
        );
    }

    #[test]
    fn variables_come_from_the_const_the_env_file_and_the_tables() {
        let src = "pub const VARIABLES: &[&str] = &[\n    \"A_B\",\n    \"PORT\",\n];\n";
        assert_eq!(
            config_variables(src),
            Some(vec!["A_B".to_owned(), "PORT".to_owned()])
        );
        let env = "# comment\nSECRET_KEY=\n# PORT=3000\n# not=this\n";
        assert_eq!(
            env_file_variables(env),
            ["PORT", "SECRET_KEY"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        );
        let md = "| `PORT` | no |\n| `x y` | no |\n";
        assert_eq!(documented_variables(md).len(), 1);
    }

    #[test]
    fn frontmatter_is_parsed_and_its_faults_named() {
        let (f, body) = frontmatter("---\na: \"b\"\nc: d\n---\nbody\n").unwrap_or_default();
        assert_eq!(f.get("a").map(String::as_str), Some("b"));
        assert_eq!(body, "body\n");
        assert!(frontmatter("no fences").is_err());
        assert!(frontmatter("---\na: 1\na: 2\n---\n").is_err());
        assert!(is_semver("1.2.3-beta") && !is_semver("1.2"));
        assert!(is_kebab("plan-push") && !is_kebab("-x") && !is_kebab("Plan"));
    }
}
