//! `cargo xtask image`: builds the container image the way a user gets it and runs exactly its
//! filesystem, with no Docker engine and no registry:
//!
//! 1. lint `deploy/Dockerfile` with hadolint;
//! 2. build a static `planpush-server` (glibc, `+crt-static`) on the host;
//! 3. `podman build --build-arg BINARY_FROM=prebuilt` (the Dockerfile's runtime stage is the same
//!    for both sources; only where the binary comes from differs) and check the image's size, user,
//!    port, volume and health check;
//! 4. `podman create` + `podman export` the image's filesystem into a folder and run its entrypoint
//!    there with `unshare --mount --root=<folder>` as the image's user (`podman run` cannot set
//!    rlimits in this sandbox), wait until its own `healthcheck` passes, sign in, push a plan and
//!    read its page, then SIGTERM it and check that it drained and exited 0.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

/// The image must stay small: one static binary and CA certificates.
pub const MAX_IMAGE_BYTES: u64 = 40 * 1024 * 1024;
const TARGET: &str = "x86_64-unknown-linux-gnu";
const TAG: &str = "localhost/planpush:ci";
/// The image's user (deploy/rootfs/etc/passwd).
const UID: &str = "10001";

fn required(tool: &str) -> Result<()> {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ensure!(found, "{tool} is needed (.ci/run installs it)");
    Ok(())
}

fn output(command: &mut Command) -> Result<String> {
    let out = command
        .output()
        .with_context(|| format!("could not start {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// What the run measured, for docs/benchmarks.md.
pub struct Report {
    pub image_bytes: u64,
    pub binary_bytes: u64,
}

/// Builds the static `planpush-server` the image carries; its path.
pub fn static_server(cargo: impl Fn(&[&str]) -> Command, target_dir: &Path) -> Result<PathBuf> {
    eprintln!("xtask: image: static planpush-server ({TARGET}, +crt-static, release)");
    let mut build = cargo(&[
        "build",
        "--release",
        "--locked",
        "-p",
        "planpush-server",
        "--bin",
        "planpush-server",
        "--target",
        TARGET,
    ]);
    build.env("RUSTFLAGS", "-C target-feature=+crt-static");
    crate::run(build)?;
    Ok(target_dir.join(TARGET).join("release/planpush-server"))
}

pub fn run(root: &Path, cargo: impl Fn(&[&str]) -> Command, target_dir: &Path) -> Result<Report> {
    for tool in [
        "podman",
        "podman-compose",
        "hadolint",
        "unshare",
        "chroot",
        "strip",
    ] {
        required(tool)?;
    }
    let dockerfile = root.join("deploy/Dockerfile");
    eprintln!("xtask: image: hadolint deploy/Dockerfile");
    output(Command::new("hadolint").arg(&dockerfile))?;
    compose(root)?;

    let binary = static_server(&cargo, target_dir)?;
    let ldd = Command::new("ldd").arg(&binary).output()?;
    let ldd =
        String::from_utf8_lossy(&ldd.stdout).to_string() + &String::from_utf8_lossy(&ldd.stderr);
    ensure!(
        ldd.contains("not a dynamic executable") || ldd.contains("statically linked"),
        "{} is not static: {ldd}",
        binary.display()
    );

    let (found, listed) = crate::order::found(root, &binary)?;
    eprintln!(
        "xtask: image: the binary defines {found} of the {listed} functions startup.order lays out \
         (the rest were built under other names for this target, or no longer exist)"
    );

    // A small build context: the Dockerfile, the root filesystem files and the prebuilt binary.
    let work = std::env::temp_dir().join(format!("planpush-image-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let context = work.join("context");
    let prebuilt = context.join("deploy/prebuilt");
    std::fs::create_dir_all(&prebuilt)?;
    copy_dir(&root.join("deploy/rootfs"), &context.join("deploy/rootfs"))?;
    std::fs::copy(&dockerfile, context.join("deploy/Dockerfile"))?;
    // Symbols stay in target/ for profiling; the image gets the stripped binary.
    std::fs::copy(&binary, prebuilt.join("planpush-server"))?;
    output(Command::new("strip").arg(prebuilt.join("planpush-server")))?;
    std::fs::copy(
        "/etc/ssl/certs/ca-certificates.crt",
        prebuilt.join("ca-certificates.crt"),
    )
    .context("the host's CA bundle /etc/ssl/certs/ca-certificates.crt (Debian: ca-certificates)")?;

    eprintln!("xtask: image: podman build");
    crate::run({
        let mut c = Command::new("podman");
        c.args([
            "build",
            "--format",
            "docker",
            "--build-arg",
            "BINARY_FROM=prebuilt",
        ])
        .args(["-t", TAG, "-f"])
        .arg(context.join("deploy/Dockerfile"))
        .arg(&context);
        c
    })?;
    let inspect = |format: &str| {
        output(Command::new("podman").args(["image", "inspect", TAG, "--format", format]))
    };
    let image_bytes: u64 = inspect("{{.Size}}")?.parse().context("image size")?;
    ensure!(
        image_bytes <= MAX_IMAGE_BYTES,
        "the image is {image_bytes} bytes, over the {MAX_IMAGE_BYTES} budget"
    );
    ensure!(
        inspect("{{.Config.User}}")? == format!("{UID}:{UID}"),
        "the image must run as {UID}"
    );
    let health = inspect("{{.Config.Healthcheck.Test}}")?;
    ensure!(health.contains("healthcheck"), "no HEALTHCHECK: {health}");
    ensure!(
        inspect("{{.Config.ExposedPorts}}")?.contains("3000"),
        "EXPOSE 3000 missing"
    );
    ensure!(
        inspect("{{.Config.Volumes}}")?.contains("/data"),
        "VOLUME /data missing"
    );

    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(rootfs.join("dev"))?;
    let id = output(Command::new("podman").args(["create", TAG]))?;
    let exported = (|| -> Result<()> {
        let mut export = Command::new("podman")
            .args(["export", &id])
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = export.stdout.take().context("podman export stdout")?;
        let untar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&rootfs)
            .stdin(stdout)
            .status()?;
        ensure!(
            export.wait()?.success() && untar.success(),
            "podman export failed"
        );
        Ok(())
    })();
    let _ = Command::new("podman").args(["rm", &id]).output();
    exported?;

    let binary_bytes = std::fs::metadata(prebuilt.join("planpush-server"))?.len();
    let result = smoke(&rootfs);
    let _ = std::fs::remove_dir_all(&work);
    result?;
    Ok(Report {
        image_bytes,
        binary_bytes,
    })
}

/// The compose file parses, with and without the `postgres` profile, and the profile passes the
/// password from the env file to PostgreSQL.
fn compose(root: &Path) -> Result<()> {
    eprintln!("xtask: image: podman-compose config (default and postgres profile)");
    let file = root.join("deploy/docker-compose.yml");
    let env = std::env::temp_dir().join(format!("planpush-compose-{}.env", std::process::id()));
    std::fs::write(&env, "POSTGRES_PASSWORD=ci-only\n")?;
    let config = |profile: Option<&str>, env_file: Option<&Path>| {
        let mut c = Command::new("podman-compose");
        if let Some(e) = env_file {
            c.arg("--env-file").arg(e);
        }
        c.arg("-f").arg(&file);
        if let Some(p) = profile {
            c.args(["--profile", p]);
        }
        c.arg("config").env_remove("POSTGRES_PASSWORD");
        c
    };
    let plain = output(&mut config(None, None));
    let postgres = output(&mut config(Some("postgres"), Some(&env)));
    let _ = std::fs::remove_file(&env);
    let plain = plain?;
    ensure!(
        plain.contains("planpush-data:/data") && !plain.contains("postgres:15"),
        "the default compose profile: {plain}"
    );
    let postgres = postgres?;
    ensure!(
        postgres.contains("postgres:15") && postgres.contains("POSTGRES_PASSWORD: ci-only"),
        "the postgres profile: {postgres}"
    );
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}

/// A command inside the image's filesystem, as the image's user, with the image's environment.
/// Like a container runtime, it gives the command the host's `/dev` (a static binary reads
/// `/dev/urandom` when it cannot find glibc's `getrandom` symbol) in a private mount namespace.
fn inside(rootfs: &Path, port: u16, args: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount --rbind /dev \"$0/dev\" && exec chroot --userspec={UID}:{UID} \"$0\" /planpush-server \"$@\""
        ))
        .arg(rootfs)
        .args(args)
        .env_clear()
        .envs([
            ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin".to_owned()),
            ("BIND_ADDR", "127.0.0.1".to_owned()),
            ("PORT", port.to_string()),
            ("DATA_DIR", "/data".to_owned()),
            ("SECRET_KEY", "image-smoke-test-secret-key-0123456789".to_owned()),
            ("BASE_URL", format!("http://127.0.0.1:{port}")),
            ("AUTH_PROVIDER", "dev".to_owned()),
        ]);
    c
}

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn smoke(rootfs: &Path) -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = rootfs.join("data/server.log");
    eprintln!("xtask: image: running the image's filesystem on 127.0.0.1:{port}");
    let mut server = inside(rootfs, port, &["serve"]);
    server
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?);
    let mut server = Guard(server.spawn().context("unshare --root (needs root)")?);

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if inside(rootfs, port, &["healthcheck"])
            .stderr(Stdio::null())
            .status()?
            .success()
        {
            break;
        }
        if let Some(status) = server.0.try_wait()? {
            bail!("the server exited ({status}): {}", read_log(&log));
        }
        ensure!(
            Instant::now() < deadline,
            "never healthy: {}",
            read_log(&log)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("xtask: image: healthy; signing in and pushing a plan");
    let origin = format!("http://127.0.0.1:{port}");
    let (status, head, _) = http(
        port,
        "POST",
        "/auth/dev",
        &[
            ("Origin", &origin),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "login=ada&redirect_to=/",
    )?;
    ensure!(status == 303, "dev sign-in answered {status}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie:")
                .then(|| l[11..].trim())
        })
        .and_then(|c| c.split(';').next())
        .context("no session cookie")?
        .to_owned();
    let (status, _, body) = http(
        port,
        "POST",
        "/api/tokens",
        &[
            ("Origin", &origin),
            ("Cookie", &cookie),
            ("Content-Type", "application/json"),
        ],
        r#"{"label":"image"}"#,
    )?;
    ensure!(status == 201, "token: {status} {body}");
    let token: serde_json::Value = serde_json::from_str(&body)?;
    let bearer = format!("Bearer {}", token["token"].as_str().context("token")?);
    let (status, _, body) = http(
        port,
        "POST",
        "/api/push",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "text/markdown"),
            ("X-Session-Name", "image-smoke"),
        ],
        "# Image smoke test\n\n## Works\n\nPushed into the container image's own filesystem.\n",
    )?;
    ensure!(status == 201 || status == 200, "push: {status} {body}");
    let (status, _, page) = http(port, "GET", "/p/image-smoke", &[("Cookie", &cookie)], "")?;
    ensure!(
        status == 200 && page.contains("Image smoke test"),
        "page: {status}"
    );
    ensure!(
        rootfs.join("data/planpush.db").is_file(),
        "the database is not in the image's /data volume"
    );

    eprintln!("xtask: image: SIGTERM");
    crate::run({
        let mut c = Command::new("kill");
        c.args(["-TERM", &server.0.id().to_string()]);
        c
    })?;
    let deadline = Instant::now() + Duration::from_secs(45);
    let status = loop {
        if let Some(status) = server.0.try_wait()? {
            break status;
        }
        ensure!(
            Instant::now() < deadline,
            "did not stop within 45 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = read_log(&log);
    ensure!(status.success(), "exit after SIGTERM: {status}: {log}");
    ensure!(log.contains("stopped"), "no drained stop in the log: {log}");
    eprintln!("xtask: image: drained and stopped cleanly");
    Ok(())
}

fn read_log(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// One HTTP/1.1 exchange: `(status, head, body)`.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    Ok((status, head.to_owned(), body.to_owned()))
}
