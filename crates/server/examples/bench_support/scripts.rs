//! The `wrk` Lua scripts of the HTTP benchmarks: shared by them and by `cargo xtask order`, which
//! includes this file, so that the start-up order is profiled under the same requests the
//! benchmarks send.

use std::path::Path;

/// Appended to every script: one line `WRK requests duration_us p50_us p99_us errors`.
pub const REPORT_LUA: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"#;

/// Pushes of the document at `doc_path` to the plan `name`, each with one changed section
/// appended (a new version every time).
pub fn push_script(doc_path: &Path, token: &str, name: &str) -> String {
    spread_push_script(doc_path, token, name, 1)
}

/// [`push_script`] over `plans` plans per wrk thread (`<name>-<thread>-<n mod plans>`), so that
/// concurrent pushes mostly go to different plans instead of taking turns on one plan's lock.
pub fn spread_push_script(doc_path: &Path, token: &str, name: &str, plans: u32) -> String {
    let name = if plans > 1 {
        format!(r#"{name}-" .. (tid or 0) .. "-" .. (n % {plans}) .. ""#)
    } else {
        name.to_owned()
    };
    format!(
        r#"{preamble}init = function(args) math.randomseed(os.time() + (tid or 0)) end
request = function()
  n = n + 1
  local body = base .. "<section data-anchor=\"bench-tail\"><h2>Push</h2><p>" .. (tid or 0) .. "-" .. n .. "-" .. math.random(1, 1000000000) .. "</p></section>"
  return wrk.format("POST", "/api/push", {{["Content-Type"] = "text/html", ["Authorization"] = "Bearer {token}", ["X-Session-Name"] = "{name}"}}, body)
end
"#,
        preamble = preamble(doc_path)
    )
}

/// A push script sending the document at `doc_path` to a new plan each time
/// (`X-Session-Name: first-<thread>-<n>-<time>`).
pub fn first_push_script(doc_path: &Path, token: &str) -> String {
    format!(
        r#"{preamble}request = function()
  n = n + 1
  return wrk.format("POST", "/api/push", {{["Content-Type"] = "text/html", ["Authorization"] = "Bearer {token}", ["X-Session-Name"] = "first-" .. (tid or 0) .. "-" .. n .. "-" .. os.time()}}, base)
end
"#,
        preamble = preamble(doc_path)
    )
}

/// What every push script starts with: the document read once, and a number per wrk thread
/// (`tid`) and per request (`n`).
fn preamble(doc_path: &Path) -> String {
    format!(
        r#"
local f = io.open("{doc}", "rb"); local base = f:read("*a"); f:close()
local id = 0
local n = 0
setup = function(thread) id = id + 1; thread:set("tid", id) end
"#,
        doc = doc_path.display()
    )
}
