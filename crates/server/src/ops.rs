//! Operator commands: `healthcheck` (for a container's HEALTHCHECK, with no curl in the image),
//! `backup` and `restore` (SQLite), and the instance lock that keeps a SQLite database to one
//! server process.

use std::fs::{File, TryLockError};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long `healthcheck` waits for the connection and for the answer.
const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Where a health check on this machine reaches the server: `BIND_ADDR` (loopback when it is the
/// unspecified address) and `PORT`, defaulting as `serve` does.
pub fn health_addr(bind: Option<&str>, port: Option<&str>) -> Result<SocketAddr, String> {
    let port: u16 = match port {
        None | Some("") => 3000,
        Some(p) => p
            .trim()
            .parse()
            .map_err(|_| format!("PORT: {p:?} is not a port number"))?,
    };
    let ip: IpAddr = match bind {
        None | Some("") => Ipv4Addr::LOCALHOST.into(),
        Some(b) => b
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("BIND_ADDR: {b:?} is not an IP address"))?,
    };
    let ip = match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(v6) if v6.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        other => other,
    };
    Ok(SocketAddr::new(ip, port))
}

/// `GET /readyz` on `addr`: `Ok` when it answers `200` (the database is reachable).
pub fn healthcheck(addr: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, HEALTHCHECK_TIMEOUT)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(HEALTHCHECK_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(HEALTHCHECK_TIMEOUT)))
        .map_err(|e| format!("{addr}: {e}"))?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut head = [0u8; 64];
    let n = stream
        .read(&mut head)
        .map_err(|e| format!("{addr}: no answer: {e}"))?;
    let status_line = String::from_utf8_lossy(&head[..n]);
    let status = status_line.split(' ').nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        let first = status_line.lines().next().unwrap_or("").to_owned();
        Err(format!("{addr}/readyz answered {first:?}"))
    }
}

/// Held for as long as a process uses a SQLite database: an exclusive lock on `<db>.lock`, so a
/// second server (or a restore) on the same file is refused instead of corrupting it.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

/// The lock file of a SQLite database.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl InstanceLock {
    /// Takes the lock, or says who holds it.
    pub fn acquire(db: &Path) -> Result<Self, String> {
        let path = lock_path(db);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(format!(
                "another planpush-server process is using {} (SQLite serves one process; run \
                 several on PostgreSQL, see docs/operations.md)",
                db.display()
            )),
            Err(TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
        }
    }
}

/// Replaces the SQLite database `db` with the backup `from`: the backup is verified first
/// (integrity and PlanPush's migrations table), copied beside `db` and renamed into place, and the
/// old write-ahead log is removed with it. Refused while a server holds the instance lock.
/// Returns the number of migrations the backup had applied (newer ones run at the next start).
pub fn restore(db: &Path, from: &Path) -> Result<usize, String> {
    let _lock = InstanceLock::acquire(db)?;
    let migrations = planpush_store::verify_sqlite_backup(from).map_err(|e| format!("{e:#}"))?;
    let mut staged = db.as_os_str().to_owned();
    staged.push(".restoring");
    let staged = PathBuf::from(staged);
    std::fs::copy(from, &staged)
        .and_then(|_| File::open(&staged)?.sync_all())
        .map_err(|e| {
            let _ = std::fs::remove_file(&staged);
            format!(
                "cannot copy {} next to {}: {e}",
                from.display(),
                db.display()
            )
        })?;
    for suffix in ["-wal", "-shm"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::remove_file(PathBuf::from(side)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot remove the old write-ahead log: {e}")),
        }
    }
    std::fs::rename(&staged, db).map_err(|e| format!("cannot replace {}: {e}", db.display()))?;
    Ok(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_checks_reach_loopback_when_bound_to_every_address() {
        let at = |b: Option<&str>, p: Option<&str>| health_addr(b, p).map(|a| a.to_string());
        assert_eq!(at(None, None), Ok("127.0.0.1:3000".into()));
        assert_eq!(
            at(Some("0.0.0.0"), Some("8080")),
            Ok("127.0.0.1:8080".into())
        );
        assert_eq!(at(Some("::"), Some("1")), Ok("[::1]:1".into()));
        assert_eq!(at(Some("[::1]"), None), Ok("[::1]:3000".into()));
        assert_eq!(at(Some("10.1.2.3"), None), Ok("10.1.2.3:3000".into()));
        assert!(at(Some("example.com"), None).is_err_and(|e| e.starts_with("BIND_ADDR")));
        assert!(at(None, Some("http")).is_err_and(|e| e.starts_with("PORT")));
    }

    #[test]
    fn one_process_holds_a_sqlite_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data/planpush.db");
        let first = InstanceLock::acquire(&db).unwrap();
        let second = InstanceLock::acquire(&db).unwrap_err();
        assert!(second.contains("another planpush-server"), "{second}");
        drop(first);
        InstanceLock::acquire(&db).unwrap();
    }

    #[test]
    fn a_health_check_fails_without_a_server_and_on_a_non_200() {
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        assert!(healthcheck(closed).is_err());
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf);
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
        });
        let e = healthcheck(addr).unwrap_err();
        assert!(e.contains("503"), "{e}");
        t.join().unwrap();
    }
}
