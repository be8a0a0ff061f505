//! `cargo xtask arch`: the architecture invariants of BRIEF.md §2, checked over
//! the resolved dependency graph that `cargo metadata` reports.
//!
//! Only normal dependencies count (`dep_kinds[].kind == null`): a dev-dependency
//! on tokio in a domain crate is allowed, and build-dependencies never link into
//! the crate. The graph is resolved with `--all-features`, so an optional
//! dependency behind a feature is checked too, for every target platform.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The pure domain crates: no adapter, no framework, no I/O.
pub const DOMAIN: &[&str] = &[
    "planpush-plans",
    "planpush-versions",
    "planpush-document",
    "planpush-comments",
    "planpush-identity",
    "planpush-roles",
    "planpush-audit",
    "planpush-outbox",
    // Sign-off per version.
    "planpush-reviews",
    // The notification inbox: mentions, recipients, follow/mute.
    "planpush-inbox",
    // SCIM 2.0 protocol handling (resources, filters, PATCH) is pure like the domain.
    "planpush-scim",
];

/// Workspace crates a domain crate must never reach.
const ADAPTERS: &[&str] = &[
    "planpush-app",
    "planpush-store",
    "planpush-auth",
    "planpush-slack",
    "planpush-mail",
    "planpush-diagrams",
    "planpush-web",
    "planpush-server",
    "planpush-cli",
];

const APP: &str = "planpush-app";
const CLI: &str = "planpush-cli";
const STORE: &str = "planpush-store";
const WEB: &str = "planpush-web";
const SERVER: &str = "planpush-server";

/// Every crate the invariants name; `arch` warns when one is missing from the
/// workspace (a rename would otherwise silently disable its rule).
pub const NAMED: &[&str] = &[APP, CLI, STORE, WEB, SERVER];

fn is_diesel(name: &str) -> bool {
    name.starts_with("diesel")
}

fn is_actix(name: &str) -> bool {
    name.starts_with("actix")
}

/// The CLI's direct dependencies through which it may reach tokio: `planpush mcp` runs the MCP SDK
/// on a current-thread runtime (only `src/mcp.rs` may name them: [`cli_sources`]).
const CLI_MCP_RUNTIME: &[&str] = &["tokio", "rmcp"];

/// Async runtimes: the CLI is blocking end to end (ureq), so it starts fast and stays small.
fn is_async_runtime(name: &str) -> bool {
    matches!(
        name,
        "tokio" | "async-std" | "smol" | "async-executor" | "actix-rt"
    )
}

/// Framework and I/O crates forbidden in the domain and in `app`.
fn is_framework(name: &str) -> bool {
    is_diesel(name)
        || is_actix(name)
        || matches!(
            name,
            "reqwest"
                | "openidconnect"
                | "oauth2"
                | "tokio"
                | "hyper"
                | "sqlx"
                | "libsqlite3-sys"
                | "pq-sys"
        )
}

/// The resolved dependency graph, reduced to what the rules need.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: Vec<Node>,
}

#[derive(Debug)]
struct Node {
    name: String,
    /// A member of this workspace (as opposed to a registry or git crate).
    member: bool,
    /// Normal (non-dev, non-build) dependencies, sorted by name so that paths
    /// are reported deterministically.
    deps: Vec<usize>,
}

impl Graph {
    /// Adds a package and returns its index.
    pub fn add(&mut self, name: &str, member: bool) -> usize {
        self.nodes.push(Node {
            name: name.to_owned(),
            member,
            deps: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Records that `from` has a normal dependency on `to`.
    pub fn depend(&mut self, from: usize, to: usize) {
        self.nodes[from].deps.push(to);
        self.sort_deps(from);
    }

    fn sort_deps(&mut self, index: usize) {
        let mut deps = std::mem::take(&mut self.nodes[index].deps);
        deps.sort_by(|a, b| self.nodes[*a].name.cmp(&self.nodes[*b].name));
        deps.dedup();
        self.nodes[index].deps = deps;
    }

    /// Builds the graph from the JSON of `cargo metadata --format-version 1`.
    pub fn from_metadata(metadata: &Value) -> Result<Self> {
        let members: HashSet<&str> = metadata["workspace_members"]
            .as_array()
            .context("metadata has no `workspace_members`")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut graph = Self::default();
        let mut index = HashMap::new();
        for package in metadata["packages"]
            .as_array()
            .context("metadata has no `packages`")?
        {
            let id = package["id"].as_str().context("package without `id`")?;
            let name = package["name"].as_str().context("package without `name`")?;
            index.insert(id, graph.add(name, members.contains(id)));
        }
        let nodes = metadata["resolve"]["nodes"]
            .as_array()
            .context("metadata has no `resolve.nodes` (was it run with --no-deps?)")?;
        for node in nodes {
            let id = node["id"].as_str().context("resolve node without `id`")?;
            let from = *index
                .get(id)
                .with_context(|| format!("unknown package {id}"))?;
            for dep in node["deps"].as_array().into_iter().flatten() {
                if !is_normal(dep) {
                    continue;
                }
                let pkg = dep["pkg"].as_str().context("resolve dep without `pkg`")?;
                let to = *index
                    .get(pkg)
                    .with_context(|| format!("unknown package {pkg}"))?;
                graph.depend(from, to);
            }
        }
        Ok(graph)
    }

    fn member(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.member && n.name == name)
    }

    fn name(&self, index: usize) -> &str {
        &self.nodes[index].name
    }
}

/// A dependency edge is normal when one of its kinds is `null`. Cargo before
/// 1.41 gave no `dep_kinds`; count such an edge as normal (the strict choice).
fn is_normal(dep: &Value) -> bool {
    match dep["dep_kinds"].as_array() {
        Some(kinds) => kinds.iter().any(|k| k["kind"].is_null()),
        None => true,
    }
}

/// One broken invariant: `krate` reaches `forbidden` along `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub krate: String,
    pub forbidden: String,
    pub path: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "crate {} must not depend on {} (path: {})",
            self.krate,
            self.forbidden,
            self.path.join(" -> ")
        )
    }
}

/// Checks every invariant and returns the violations (empty when all hold).
pub fn check(graph: &Graph) -> Vec<Violation> {
    let mut found = Vec::new();

    // 1. Domain crates reach no adapter and no framework crate.
    for name in DOMAIN {
        let forbidden =
            |n: &Node| (n.member && ADAPTERS.contains(&n.name.as_str())) || is_framework(&n.name);
        reachable(graph, name, forbidden, &mut found);
    }

    // 2. `app` reaches domain crates only (among workspace crates) and no framework.
    let app_forbidden = |n: &Node| {
        let name = n.name.as_str();
        (n.member && name != APP && !DOMAIN.contains(&name)) || is_framework(name)
    };
    reachable(graph, APP, app_forbidden, &mut found);

    // 4. The CLI knows neither the database nor the web server, and runs no async runtime —
    //    except tokio through `rmcp` (or tokio itself) for `planpush mcp`.
    let cli_forbidden = |n: &Node| {
        is_diesel(&n.name)
            || is_actix(&n.name)
            || (is_async_runtime(&n.name) && n.name != "tokio")
            || (n.member && [STORE, WEB].contains(&n.name.as_str()))
    };
    reachable(graph, CLI, cli_forbidden, &mut found);
    let tokio = |n: &Node| n.name == "tokio";
    reachable_skipping(graph, CLI, CLI_MCP_RUNTIME, tokio, &mut found);

    // 3. Only `store` knows Diesel, only `web` knows actix; `server` wires both.
    for (index, node) in graph.nodes.iter().enumerate().filter(|(_, n)| n.member) {
        let name = node.name.as_str();
        for &dep in &node.deps {
            let dep_name = graph.name(dep);
            let diesel = is_diesel(dep_name) && ![STORE, SERVER].contains(&name);
            let actix = is_actix(dep_name) && ![WEB, SERVER].contains(&name);
            if diesel || actix {
                push(&mut found, graph, &[index, dep]);
            }
        }
    }
    found
}

/// Walks the normal dependencies of workspace crate `root` breadth-first and
/// records the shortest path to every forbidden crate. The walk does not go
/// through a forbidden crate: its own dependencies would only repeat the
/// violation (store -> diesel after planpush-plans -> store).
fn reachable(
    graph: &Graph,
    root: &str,
    forbidden: impl Fn(&Node) -> bool,
    found: &mut Vec<Violation>,
) {
    reachable_skipping(graph, root, &[], forbidden, found);
}

/// [`reachable`], not walking into `root`'s direct dependencies named in `allowed`.
fn reachable_skipping(
    graph: &Graph,
    root: &str,
    allowed: &[&str],
    forbidden: impl Fn(&Node) -> bool,
    found: &mut Vec<Violation>,
) {
    let Some(start) = graph.member(root) else {
        return;
    };
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut seen = HashSet::from([start]);
    let mut queue = VecDeque::from([start]);
    while let Some(current) = queue.pop_front() {
        for &dep in &graph.nodes[current].deps {
            if current == start && allowed.contains(&graph.name(dep)) {
                continue;
            }
            if !seen.insert(dep) {
                continue;
            }
            parent.insert(dep, current);
            if forbidden(&graph.nodes[dep]) {
                let mut path = vec![dep];
                let mut at = dep;
                while let Some(&up) = parent.get(&at) {
                    path.push(up);
                    at = up;
                }
                path.reverse();
                push(found, graph, &path);
            } else {
                queue.push_back(dep);
            }
        }
    }
}

/// The CLI's sources may name tokio and rmcp only in `src/mcp.rs` (the `planpush mcp` command), and
/// never build a multi-threaded runtime: every other command stays blocking and runtime-free.
/// Returns one line per offending file.
pub fn cli_sources(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("crates/cli/src");
    let mut problems = vec![];
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            problems.extend(cli_source_problems(&rel, &text));
        }
    }
    problems.sort();
    Ok(problems)
}

fn cli_source_problems(rel: &str, text: &str) -> Vec<String> {
    let mut out = vec![];
    let mcp = rel.ends_with("crates/cli/src/mcp.rs");
    for krate in ["tokio", "rmcp"] {
        let named = text.contains(&format!("{krate}::")) || text.contains(&format!("use {krate}"));
        if named && !mcp {
            out.push(format!(
                "{rel} uses {krate}: only crates/cli/src/mcp.rs (`planpush mcp`) may run async code in the CLI"
            ));
        }
    }
    if text.contains("new_multi_thread") || text.contains("tokio::main") {
        out.push(format!(
            "{rel} starts a multi-threaded runtime: `planpush mcp` uses a current-thread runtime"
        ));
    }
    out
}

/// Records a violation along `path` (root first), once per (crate, forbidden) pair.
fn push(found: &mut Vec<Violation>, graph: &Graph, path: &[usize]) {
    let (Some(&first), Some(&last)) = (path.first(), path.last()) else {
        return;
    };
    let (krate, forbidden) = (graph.name(first), graph.name(last));
    if found
        .iter()
        .any(|v| v.krate == krate && v.forbidden == forbidden)
    {
        return;
    }
    found.push(Violation {
        krate: krate.to_owned(),
        forbidden: forbidden.to_owned(),
        path: path.iter().map(|&i| graph.name(i).to_owned()).collect(),
    });
}

/// Crates the rules name that are not workspace members.
pub fn missing(graph: &Graph) -> Vec<&'static str> {
    DOMAIN
        .iter()
        .chain(NAMED)
        .copied()
        .filter(|name| graph.member(name).is_none())
        .collect()
}

/// Runs `cargo metadata` in `root` and parses the graph.
pub fn load(cargo: &str, root: &Path) -> Result<Graph> {
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--all-features"])
        .current_dir(root)
        .output()
        .with_context(|| format!("could not run `{cargo} metadata`"))?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("`cargo metadata` printed invalid JSON")?;
    Graph::from_metadata(&metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The workspace as the brief draws it, every invariant respected.
    fn clean() -> (Graph, HashMap<&'static str, usize>) {
        let mut g = Graph::default();
        let mut ix = HashMap::new();
        for name in DOMAIN.iter().chain(ADAPTERS) {
            ix.insert(*name, g.add(name, true));
        }
        for name in [
            "serde",
            "chrono",
            "tokio",
            "diesel",
            "diesel_derives",
            "actix-web",
            "actix-rt",
        ] {
            ix.insert(name, g.add(name, false));
        }
        let edges: &[(&str, &str)] = &[
            ("planpush-plans", "planpush-identity"),
            ("planpush-plans", "serde"),
            ("planpush-plans", "chrono"),
            ("planpush-versions", "planpush-plans"),
            ("planpush-comments", "planpush-versions"),
            ("planpush-app", "planpush-comments"),
            ("planpush-app", "planpush-scim"),
            ("planpush-store", "planpush-app"),
            ("planpush-store", "diesel"),
            ("planpush-store", "tokio"),
            ("diesel", "diesel_derives"),
            ("planpush-web", "planpush-app"),
            ("planpush-web", "actix-web"),
            ("actix-web", "actix-rt"),
            ("actix-rt", "tokio"),
            ("planpush-server", "planpush-store"),
            ("planpush-server", "planpush-web"),
            ("planpush-server", "diesel"),
            ("planpush-server", "actix-web"),
            ("planpush-cli", "serde"),
        ];
        for (from, to) in edges {
            g.depend(ix[from], ix[to]);
        }
        (g, ix)
    }

    fn messages(g: &Graph) -> Vec<String> {
        check(g).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_clean_graph_passes() {
        let (g, _) = clean();
        assert_eq!(messages(&g), Vec::<String>::new());
    }

    #[test]
    fn a_domain_crate_depending_on_diesel_directly_fails() {
        let (mut g, ix) = clean();
        g.depend(ix["planpush-plans"], ix["diesel"]);
        assert_eq!(
            messages(&g),
            [
                "crate planpush-plans must not depend on diesel (path: planpush-plans -> diesel)",
                // Domain crates above plans inherit it.
                "crate planpush-versions must not depend on diesel \
                 (path: planpush-versions -> planpush-plans -> diesel)",
                "crate planpush-comments must not depend on diesel \
                 (path: planpush-comments -> planpush-versions -> planpush-plans -> diesel)",
                "crate planpush-app must not depend on diesel \
                 (path: planpush-app -> planpush-comments -> planpush-versions -> planpush-plans -> diesel)",
            ]
        );
    }

    #[test]
    fn a_domain_crate_depending_on_diesel_transitively_fails_with_the_path() {
        let (mut g, ix) = clean();
        let foo = g.add("foo", false);
        g.depend(ix["planpush-plans"], foo);
        g.depend(foo, ix["diesel"]);
        let found = check(&g);
        let plans = found
            .iter()
            .find(|v| v.krate == "planpush-plans")
            .expect("plans is flagged");
        assert_eq!(plans.forbidden, "diesel");
        assert_eq!(plans.path, ["planpush-plans", "foo", "diesel"]);
        assert_eq!(
            plans.to_string(),
            "crate planpush-plans must not depend on diesel (path: planpush-plans -> foo -> diesel)"
        );
    }

    #[test]
    fn the_shortest_path_is_reported() {
        let (mut g, ix) = clean();
        let (a, b) = (g.add("a", false), g.add("b", false));
        g.depend(ix["planpush-audit"], a);
        g.depend(a, b);
        g.depend(b, ix["tokio"]);
        let clock = g.add("clock", false);
        g.depend(ix["planpush-audit"], clock);
        g.depend(clock, ix["tokio"]);
        assert_eq!(
            messages(&g),
            [
                "crate planpush-audit must not depend on tokio (path: planpush-audit -> clock -> tokio)"
            ]
        );
    }

    #[test]
    fn a_domain_crate_depending_on_an_adapter_is_reported_once_not_through_it() {
        let (mut g, ix) = clean();
        g.depend(ix["planpush-roles"], ix["planpush-store"]);
        assert_eq!(
            messages(&g),
            [
                "crate planpush-roles must not depend on planpush-store (path: planpush-roles -> planpush-store)"
            ]
        );
    }

    #[test]
    fn app_may_not_reach_an_adapter_or_a_framework() {
        let (mut g, ix) = clean();
        g.depend(ix["planpush-app"], ix["planpush-slack"]);
        g.depend(ix["planpush-app"], ix["actix-rt"]);
        assert_eq!(
            messages(&g),
            [
                "crate planpush-app must not depend on actix-rt (path: planpush-app -> actix-rt)",
                "crate planpush-app must not depend on planpush-slack (path: planpush-app -> planpush-slack)",
            ]
        );
    }

    #[test]
    fn only_store_and_server_use_diesel_and_only_web_and_server_use_actix() {
        let (mut g, ix) = clean();
        g.depend(ix["planpush-auth"], ix["diesel"]);
        g.depend(ix["planpush-store"], ix["actix-web"]);
        // Transitively is fine for these rules: web -> app is not web -> diesel.
        assert_eq!(
            messages(&g),
            [
                "crate planpush-store must not depend on actix-web (path: planpush-store -> actix-web)",
                "crate planpush-auth must not depend on diesel (path: planpush-auth -> diesel)",
            ]
        );
    }

    #[test]
    fn the_cli_knows_neither_the_store_nor_the_web() {
        let (mut g, ix) = clean();
        let client = g.add("client", false);
        g.depend(ix["planpush-cli"], client);
        g.depend(client, ix["actix-rt"]);
        g.depend(ix["planpush-cli"], ix["planpush-web"]);
        assert_eq!(
            messages(&g),
            [
                "crate planpush-cli must not depend on planpush-web (path: planpush-cli -> planpush-web)",
                "crate planpush-cli must not depend on actix-rt (path: planpush-cli -> client -> actix-rt)",
                "crate planpush-cli must not depend on tokio (path: planpush-cli -> client -> actix-rt -> tokio)",
            ]
        );
    }

    #[test]
    fn the_cli_may_reach_tokio_only_through_the_mcp_sdk() {
        let (mut g, ix) = clean();
        let rmcp = g.add("rmcp", false);
        g.depend(ix["planpush-cli"], rmcp);
        g.depend(rmcp, ix["tokio"]);
        g.depend(ix["planpush-cli"], ix["tokio"]);
        assert!(messages(&g).is_empty(), "{:?}", messages(&g));
        let smol = g.add("smol", false);
        g.depend(rmcp, smol);
        assert_eq!(
            messages(&g),
            ["crate planpush-cli must not depend on smol (path: planpush-cli -> rmcp -> smol)"]
        );
    }

    #[test]
    fn only_the_mcp_command_names_the_runtime() {
        assert!(
            cli_source_problems(
                "crates/cli/src/mcp.rs",
                "use rmcp::x; tokio::runtime::Builder::new_current_thread()"
            )
            .is_empty()
        );
        assert_eq!(
            cli_source_problems("crates/cli/src/commands.rs", "tokio::task::spawn_blocking"),
            [
                "crates/cli/src/commands.rs uses tokio: only crates/cli/src/mcp.rs (`planpush mcp`) may run async code in the CLI"
            ]
        );
        assert_eq!(
            cli_source_problems("crates/cli/src/mcp.rs", "Builder::new_multi_thread()").len(),
            1
        );
    }

    #[test]
    fn the_cli_runs_no_async_runtime() {
        let (mut g, ix) = clean();
        let http = g.add("some-http-client", false);
        g.depend(ix["planpush-cli"], http);
        g.depend(http, ix["tokio"]);
        assert_eq!(
            messages(&g),
            [
                "crate planpush-cli must not depend on tokio (path: planpush-cli -> some-http-client -> tokio)",
            ]
        );
    }

    #[test]
    fn the_scim_protocol_crate_is_pure() {
        let (mut g, ix) = clean();
        g.depend(ix["planpush-scim"], ix["actix-web"]);
        assert_eq!(
            messages(&g),
            [
                "crate planpush-scim must not depend on actix-web (path: planpush-scim -> actix-web)",
                "crate planpush-app must not depend on actix-web (path: planpush-app -> planpush-scim -> actix-web)",
            ]
        );
    }

    #[test]
    fn metadata_dev_dependencies_do_not_count() {
        let metadata = json!({
            "workspace_members": ["plans"],
            "packages": [
                {"id": "plans", "name": "planpush-plans"},
                {"id": "tokio", "name": "tokio"},
                {"id": "diesel", "name": "diesel"},
            ],
            "resolve": {"nodes": [
                {"id": "plans", "deps": [
                    {"name": "tokio", "pkg": "tokio", "dep_kinds": [{"kind": "dev", "target": null}]},
                    {"name": "diesel", "pkg": "diesel",
                     "dep_kinds": [{"kind": "dev", "target": null}, {"kind": null, "target": "cfg(unix)"}]},
                ]},
                {"id": "tokio", "deps": []},
                {"id": "diesel", "deps": []},
            ]},
        });
        let g = Graph::from_metadata(&metadata).expect("valid metadata");
        assert_eq!(
            messages(&g),
            ["crate planpush-plans must not depend on diesel (path: planpush-plans -> diesel)"]
        );
    }

    #[test]
    fn the_real_workspace_passes() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask is inside the workspace");
        let graph = load(&cargo, root).expect("cargo metadata works");
        assert_eq!(missing(&graph), Vec::<&str>::new());
        assert_eq!(messages(&graph), Vec::<String>::new());
    }
}
