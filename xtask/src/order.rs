//! `cargo xtask order`: writes `crates/server/startup.order`, the functions the release server
//! runs at start-up and then on its common requests, in that order, for the linker to lay out
//! together (see `crates/server/build.rs`).
//!
//! The server runs under Valgrind's callgrind, which names every function executed: once it
//! answers `/healthz` the counters are dumped (start-up), then a sign-in, pushes and page views
//! follow, then the shapes of load `http_bench` puts on the server (its own `wrk` scripts, briefly)
//! and, once cached user states have expired (30 s), one more push and read; the rest is dumped
//! when it stops. Only names the binary defines are kept (as
//! `nm` lists them, mangled, which is what the linker matches).

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

#[path = "../../crates/server/examples/bench_support/scaled.rs"]
mod scaled;

#[path = "../../crates/server/examples/bench_support/scripts.rs"]
mod scripts;

// The server's choice of malloc settings, so the profiled server runs as it would start itself.
#[path = "../../crates/server/src/malloc.rs"]
#[allow(dead_code)]
mod malloc;

const PORT: u16 = 18_479;

/// Writes the order from `bin`, the release server (built on its own: `release_server`).
pub fn run(
    root: &Path,
    bin: &Path,
    cargo: impl Fn(&[&str]) -> Command,
    target: &Path,
) -> Result<()> {
    let work = target.join("order");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let out = work.join("callgrind.out");
    eprintln!("xtask: order: starting the server under callgrind (a minute or two)");
    let mut server = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--demangle=no")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(bin)
        .arg("serve")
        .current_dir(&work)
        .env_clear()
        .envs([
            ("PATH", "/usr/bin:/bin"),
            // As the server would start itself again with it on two cores: here no second start
            // (callgrind would not follow it).
            ("GLIBC_TUNABLES", &malloc::tunables_for(2)),
            ("SECRET_KEY", &"o".repeat(40)),
            ("BASE_URL", &format!("http://127.0.0.1:{PORT}")),
            ("AUTH_PROVIDER", "dev"),
            ("BIND_ADDR", "127.0.0.1"),
            ("PORT", &PORT.to_string()),
            ("RUST_LOG", "warn"),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.join("valgrind.log"))?)
        .spawn()
        .context("valgrind is needed: apt-get install valgrind")?;
    let requests = (|| -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(300);
        while curl(&["-fsS", "-o", "/dev/null", &url("/healthz")]).is_err() {
            if Instant::now() > deadline {
                bail!("the server did not answer /healthz under callgrind");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        crate::run({
            let mut dump = Command::new("callgrind_control");
            dump.args(["--dump=startup", &server.id().to_string()]);
            dump
        })?;
        common_requests(root, &work)
    })();
    let _ = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status();
    let status = server.wait()?;
    requests?;
    if !status.success() {
        bail!(
            "the server under callgrind exited with {status} (see {})",
            work.join("valgrind.log").display()
        );
    }
    let defined = defined_functions(bin)?;
    // The start-up dump is written first, then the one made when the server stopped.
    let mut dumps: Vec<_> = std::fs::read_dir(&work)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("callgrind.out"))
        })
        .collect();
    dumps.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    if dumps.len() < 2 {
        bail!("expected two callgrind dumps in {}", work.display());
    }
    let mut seen = HashSet::new();
    let mut order = String::new();
    for dump in &dumps {
        for name in executed(&std::fs::read_to_string(dump)?) {
            if defined.contains(name) && seen.insert(name.to_owned()) {
                order.push_str(name);
                order.push('\n');
            }
        }
    }
    let path = root.join("crates/server/startup.order");
    std::fs::write(&path, order)?;
    eprintln!(
        "xtask: order: {} functions into {}",
        seen.len(),
        path.display()
    );
    add_static(root, cargo, target)
}

/// Adds to `startup.order`, after its names, the names the same functions have in the static
/// binary the container image carries (`cargo xtask order static` does only this). That build
/// (`--target`, `+crt-static`) gives the dependencies other symbol hashes, so the names are
/// matched with their hashes left out ([`unhashed`]); the linker skips the names it does not
/// define, so each build finds its own.
pub fn add_static(root: &Path, cargo: impl Fn(&[&str]) -> Command, target: &Path) -> Result<()> {
    let bin = crate::image::static_server(cargo, target)?;
    let path = root.join("crates/server/startup.order");
    let order = std::fs::read_to_string(&path)?;
    let (order, count) = with_static(&order, defined_functions(&bin)?);
    std::fs::write(&path, order)?;
    eprintln!("xtask: order: {count} names of the static image binary added");
    Ok(())
}

/// The line of `startup.order` after which the static image binary's names follow. LLD reads a
/// line starting with `#` as a comment, so both builds link with the file as it is.
const STATIC_NAMES: &str =
    "# The same functions as named in the static image binary (cargo xtask order static):";

/// The names `cargo xtask order` wrote for the release server: the file up to [`STATIC_NAMES`].
fn release_names(order: &str) -> impl Iterator<Item = &str> {
    order.lines().take_while(|l| *l != STATIC_NAMES)
}

/// `order`'s release names, then [`STATIC_NAMES`] and the names of `static_defined` that are
/// the same functions (matched [`unhashed`], in the order of the release names they match),
/// with how many those are. Whatever followed the marker before is replaced, so running it
/// again after a new static build gives the file that build calls for.
fn with_static(order: &str, static_defined: HashSet<String>) -> (String, usize) {
    let listed: Vec<&str> = release_names(order).collect();
    let present: HashSet<&str> = listed.iter().copied().collect();
    let mut by_form: std::collections::HashMap<String, Vec<String>> = Default::default();
    for name in static_defined {
        if !present.contains(name.as_str()) {
            by_form.entry(unhashed(&name)).or_default().push(name);
        }
    }
    let mut out = String::new();
    for name in &listed {
        out.push_str(name);
        out.push('\n');
    }
    out.push_str(STATIC_NAMES);
    out.push('\n');
    let mut count = 0;
    for name in &listed {
        let mut same = by_form.remove(&unhashed(name)).unwrap_or_default();
        same.sort_unstable();
        for other in same {
            out.push_str(&other);
            out.push('\n');
            count += 1;
        }
    }
    (out, count)
}

/// A mangled name without what differs between builds of the same code: legacy `17h<hash>E`
/// hashes, v0 crate disambiguators (`Cs<base62>_`) and ThinLTO's `.llvm.<n>` suffixes.
fn unhashed(name: &str) -> String {
    let name = name.split(".llvm.").next().unwrap_or(name);
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix("17h")
            && tail.len() >= 17
            && tail[..16].bytes().all(|b| b.is_ascii_hexdigit())
            && tail.as_bytes()[16] == b'E'
        {
            rest = &tail[16..];
            continue;
        }
        if let Some(tail) = rest.strip_prefix("Cs")
            && let Some(end) = tail.find('_')
            && end > 0
            && tail[..end].bytes().all(|b| b.is_ascii_alphanumeric())
        {
            out.push('C');
            rest = &tail[end + 1..];
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn url(path: &str) -> String {
    format!("http://127.0.0.1:{PORT}{path}")
}

/// Runs curl; its output.
fn curl(args: &[&str]) -> Result<String> {
    let out = Command::new("curl").args(args).output()?;
    if !out.status.success() {
        bail!("curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What people do most, and what a busy server does besides: sign in; push a plan and new
/// versions of it (a small and a large one); read its page (plain and compressed), its history
/// and the dashboard; then the shapes of load the benchmarks put on it (`bench_load`).
fn common_requests(root: &Path, work: &Path) -> Result<()> {
    let started = Instant::now();
    let jar = work.join("cookies").display().to_string();
    let origin = format!("Origin: {}", url(""));
    curl(&[
        "-fsS",
        "-o",
        "/dev/null",
        "-c",
        &jar,
        "-H",
        &origin,
        "-d",
        "login=order&redirect_to=/",
        &url("/auth/dev"),
    ])?;
    let token = curl(&[
        "-fsS",
        "-b",
        &jar,
        "-H",
        &origin,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"label":"order"}"#,
        &url("/api/tokens"),
    ])?;
    let token: serde_json::Value = serde_json::from_str(&token)?;
    let bearer = format!(
        "Authorization: Bearer {}",
        token["token"].as_str().context("a token")?
    );
    let fixture = std::fs::read_to_string(root.join("fixtures/auth-service-redesign.html"))?;
    // A first push, a new title, one section's text changed (the usual next push), the same again.
    let edited = fixture.replace("</h1>", " (2)</h1>");
    let section = edited.replacen(
        "Stolen refresh tokens",
        "Stolen or leaked refresh tokens",
        1,
    );
    // Then the document the benchmarks push (~50 KB): its first push splits the sanitizing over
    // the render threads, which a 12 KB document is too small for; and one section changed.
    let large = scaled::scaled_from(&fixture, 50 * 1024);
    let large_section = large.replacen(
        "Stolen refresh tokens",
        "Stolen or leaked refresh tokens",
        1,
    );
    let pushes = [
        ("order-plan", fixture.clone()),
        ("order-plan", edited),
        ("order-plan", section.clone()),
        ("order-plan", section),
        ("order-large", large.clone()),
        ("order-large", large_section),
    ];
    let requests = Requests {
        work,
        bearer: &bearer,
        jar: &jar,
    };
    for (i, (plan, body)) in pushes.iter().enumerate() {
        requests
            .pushes(&[(plan, body)], &format!("push-{i}"))?
            .wait()?;
    }
    for encoding in ["identity", "br", "gzip"] {
        requests.reads(&["/p/order-plan"], encoding)?.wait()?;
    }
    requests
        .reads(&["/p/order-plan/history", "/dashboard"], "identity")?
        .wait()?;
    bench_load(&requests, &large)?;
    // A signed-in user's cached state is read again 30 s after it was cached (`ACCESS_TTL`): on
    // the first request after that, which also evicts the expired entries.
    std::thread::sleep(Duration::from_secs(35).saturating_sub(started.elapsed()));
    let late = format!("{large}<p>late</p>");
    requests.pushes(&[("order-large", &late)], "late")?.wait()?;
    requests.reads(&["/p/order-large"], "br")?.wait()?;
    Ok(())
}

/// The shapes of load `http_bench` measures, briefly (callgrind runs the server ~50 times
/// slower): pushes on kept-alive connections that append a section, new plans until the push
/// memo evicts, eight pushes at once to one plan and over sixteen plans (plans taking turns,
/// writers queueing, connections dropped mid-request when `wrk` stops), and page reads while the
/// page is pushed to (a page served before its compression, renders shared by waiting readers).
/// The `wrk` scripts are the benchmark's own.
fn bench_load(requests: &Requests<'_>, large: &str) -> Result<()> {
    // More new plans than the memo keeps (~18 of this size in its 8 MB), on one connection.
    let firsts: Vec<String> = (0..24).map(|i| format!("order-first-{i}")).collect();
    let batch: Vec<(&str, &str)> = firsts.iter().map(|n| (n.as_str(), large)).collect();
    requests.pushes(&batch, "firsts")?.wait()?;

    let doc = requests.work.join("bench-push.html");
    std::fs::write(&doc, large)?;
    let token = requests
        .bearer
        .strip_prefix("Authorization: Bearer ")
        .context("a bearer header")?;
    let cookie = format!("Cookie: {}", session_cookie(requests.jar)?);
    let reads = vec![cookie, "Accept-Encoding: br".to_owned()];
    let one = scripts::push_script(&doc, token, "order-bench");
    let spread = scripts::spread_push_script(&doc, token, "order-spread", 8);
    let wrk = |connections: u32, script: &str, path: &str, headers: &[String]| {
        requests.wrk(connections, script, path, headers)
    };
    wrk(1, &scripts::first_push_script(&doc, token), "/", &[])?.wait()?;
    wrk(1, &one, "/", &[])?.wait()?;
    wrk(8, &one, "/", &[])?.wait()?;
    wrk(8, &spread, "/", &[])?.wait()?;
    for page in ["/p/order-large", "/p/order-bench"] {
        let flood = wrk(8, &one, "/", &[])?;
        let readers = wrk(4, "", page, &reads)?;
        flood.wait()?;
        readers.wait()?;
    }
    // Cheap requests past `UPKEEP_EVERY` (1,024), which folds latency samples into histograms.
    for _ in 0..3 {
        wrk(2, "", "/healthz", &[])?.wait()?;
    }
    Ok(())
}

/// The `name=value` of the session cookie curl keeps in `jar` (Netscape format; curl marks
/// `HttpOnly` cookies with a `#HttpOnly_` prefix).
fn session_cookie(jar: &str) -> Result<String> {
    let text = std::fs::read_to_string(jar)?;
    text.lines()
        .map(|l| l.strip_prefix("#HttpOnly_").unwrap_or(l))
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            (fields.len() == 7).then(|| format!("{}={}", fields[5], fields[6]))
        })
        .context("no session cookie in curl's jar")
}

/// Requests to the server under callgrind, as one curl process per connection.
struct Requests<'a> {
    work: &'a Path,
    bearer: &'a str,
    jar: &'a str,
}

/// A curl or wrk process under way, and what it was asked to do.
struct Running(std::process::Child, String);

impl Running {
    fn wait(mut self) -> Result<()> {
        let status = self.0.wait()?;
        if !status.success() {
            bail!("{} failed: {status}", self.1);
        }
        Ok(())
    }
}

impl Requests<'_> {
    /// Pushes `(plan, document)` in turn on one kept-alive connection.
    fn pushes(&self, batch: &[(&str, &str)], name: &str) -> Result<Running> {
        let mut each = vec![];
        for (i, (plan, body)) in batch.iter().enumerate() {
            let file = self.work.join(format!("{name}-{i}.html"));
            std::fs::write(&file, body)?;
            each.push(vec![
                "-H".into(),
                self.bearer.into(),
                "-H".into(),
                "Content-Type: text/html".into(),
                "-H".into(),
                format!("X-Session-Name: {plan}"),
                "--data-binary".into(),
                format!("@{}", file.display()),
                url("/api/push"),
            ]);
        }
        self.spawn(each, &format!("curl pushes {name}"))
    }

    /// Reads `paths` in turn on one kept-alive connection, signed in, accepting `encoding`.
    fn reads(&self, paths: &[&str], encoding: &str) -> Result<Running> {
        let each = paths
            .iter()
            .map(|path| {
                vec![
                    "-b".into(),
                    self.jar.into(),
                    "-H".into(),
                    format!("Accept-Encoding: {encoding}"),
                    url(path),
                ]
            })
            .collect();
        self.spawn(each, &format!("curl reads {paths:?}"))
    }

    /// `wrk` for two seconds at `connections` with `script` (a GET of `path` when empty); timeouts
    /// are long, since every request is slow under callgrind.
    fn wrk(
        &self,
        connections: u32,
        script: &str,
        path: &str,
        headers: &[String],
    ) -> Result<Running> {
        let file = self
            .work
            .join(format!("wrk-{connections}-{}.lua", script.len()));
        std::fs::write(&file, format!("{script}\n{}", scripts::REPORT_LUA))?;
        let mut args = vec![
            "-t".to_owned(),
            connections.min(2).to_string(),
            "-c".to_owned(),
            connections.to_string(),
            "-d".to_owned(),
            "2s".to_owned(),
            "--timeout".to_owned(),
            "60s".to_owned(),
            "-s".to_owned(),
            file.display().to_string(),
        ];
        for h in headers {
            args.extend(["-H".to_owned(), h.clone()]);
        }
        args.push(url(path));
        let child = Command::new("wrk")
            .args(&args)
            .stdout(Stdio::null())
            .spawn()
            .context("wrk is needed: apt-get install wrk")?;
        Ok(Running(child, format!("wrk -c {connections} {path}")))
    }

    /// One curl process making `each` request in turn on one kept-alive connection (curl's
    /// `--next`), failing on an error status, its bodies discarded.
    fn spawn(&self, each: Vec<Vec<String>>, what: &str) -> Result<Running> {
        let mut args: Vec<String> = vec![];
        for (i, request) in each.into_iter().enumerate() {
            if i > 0 {
                args.push("--next".into());
            }
            args.extend(["-fsS".into(), "-o".into(), "/dev/null".into()]);
            args.extend(request);
        }
        let child = Command::new("curl")
            .args(&args)
            .stdout(Stdio::null())
            .spawn()
            .context("curl is needed")?;
        Ok(Running(child, what.to_owned()))
    }
}

/// How many of the functions `startup.order` lists for the release server `bin` defines, and how
/// many it lists for it (the static image binary's names left out).
pub fn found(root: &Path, bin: &Path) -> Result<(usize, usize)> {
    let order = std::fs::read_to_string(root.join("crates/server/startup.order"))?;
    Ok(count_found(&order, &defined_functions(bin)?))
}

fn count_found(order: &str, defined: &HashSet<String>) -> (usize, usize) {
    release_names(order).fold((0, 0), |(found, listed), name| {
        (found + usize::from(defined.contains(name)), listed + 1)
    })
}

/// Whether an order of which the binary defines `found` of the `listed` release names is stale:
/// ThinLTO names the functions it promotes after a hash of their module, so any edit to a crate
/// renames some, and those fall out of the ordered layout (3 MB more of the executable resident
/// with a tenth of them gone; docs/benchmarks.md).
pub fn stale(found: usize, listed: usize) -> bool {
    found * 100 < listed * 98
}

/// The functions the binary defines, by their mangled names.
fn defined_functions(bin: &Path) -> Result<HashSet<String>> {
    let out = Command::new("nm")
        .args(["--defined-only"])
        .arg(bin)
        .output()
        .context("nm (binutils) is needed")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind, name) = (f.next()?, f.next()?, f.next()?);
            matches!(kind, "t" | "T" | "w" | "W").then(|| name.to_owned())
        })
        .collect())
}

/// The functions a callgrind dump names, in the order it first names them (`fn=(id) name` and
/// `cfn=(id) name`; a `'2` suffix marks recursion depth).
fn executed(dump: &str) -> Vec<&str> {
    dump.lines()
        .filter_map(|l| l.strip_prefix("fn=(").or_else(|| l.strip_prefix("cfn=(")))
        .filter_map(|l| l.split_once(") "))
        .map(|(_, name)| name.split('\'').next().unwrap_or(name))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn callgrind_names_are_read_in_order() {
        let dump =
            "fn=(1) main\ncalls=1 0\ncfn=(2) _ZN3foo3bar17h0123E'2\nfn=(2)\nfn=(3) _RNvC3baz\n";
        assert_eq!(
            super::executed(dump),
            ["main", "_ZN3foo3bar17h0123E", "_RNvC3baz"]
        );
    }

    #[test]
    fn static_names_follow_the_release_names_after_a_comment() {
        let release = "_ZN3foo3bar17h0123456789abcdefE\n_ZN3foo3baz17h0123456789abcdefE\n";
        let defined = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
        let static_bin = defined(&[
            "_ZN3foo3baz17hfedcba9876543210E",
            "_ZN3foo3bar17hfedcba9876543210E",
            "_ZN3foo3qux17hfedcba9876543210E",
        ]);
        let (order, count) = super::with_static(release, static_bin);
        assert_eq!(count, 2);
        assert_eq!(
            order,
            format!(
                "{release}{}\n_ZN3foo3bar17hfedcba9876543210E\n_ZN3foo3baz17hfedcba9876543210E\n",
                super::STATIC_NAMES
            )
        );
        // Run again (a new static build): the static part is replaced, not appended to.
        let (again, count) =
            super::with_static(&order, defined(&["_ZN3foo3baz17h1111111111111111E"]));
        assert_eq!(count, 1);
        assert_eq!(
            again,
            format!(
                "{release}{}\n_ZN3foo3baz17h1111111111111111E\n",
                super::STATIC_NAMES
            )
        );
        // Only the release names count for the release binary, and a tenth missing is stale.
        let (found, listed) =
            super::count_found(&order, &defined(&["_ZN3foo3bar17h0123456789abcdefE"]));
        assert_eq!((found, listed), (1, 2));
        assert!(super::stale(found, listed));
        assert!(!super::stale(99, 100));
        assert!(super::stale(90, 100));
    }

    #[test]
    fn names_match_across_builds_without_their_hashes() {
        let a = "_ZN5tokio7runtime4task3raw4poll17h0123456789abcdefE";
        let b = "_ZN5tokio7runtime4task3raw4poll17hfedcba9876543210E";
        assert_eq!(super::unhashed(a), super::unhashed(b));
        let a = "_RNvNtCsjrHSEGnQ3l9_3std3sys4args.llvm.3643936799275306673";
        let b = "_RNvNtCs1a2B3c_3std3sys4args.llvm.15217450609117735506";
        assert_eq!(super::unhashed(a), super::unhashed(b));
        assert_ne!(
            super::unhashed("_ZN3foo3bar17h0123456789abcdefE"),
            super::unhashed("_ZN3foo3baz17h0123456789abcdefE")
        );
    }
}
