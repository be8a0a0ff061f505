//! The user's credentials: `credentials.json` in the config directory, readable by the user only.
//!
//! - Directory: `$PLANPUSH_CONFIG_DIR`, else `$XDG_CONFIG_HOME/planpush`, else `~/.config/planpush`.
//! - Every write goes to a temporary file (mode 0600) in the same directory, is synced, then
//!   renamed over the old file, so a crash never leaves half a file and nobody else can read it.
//! - Refreshing rotates the refresh token; two `planpush` processes refreshing at once would spend
//!   the same token twice (which revokes the family), so refreshing holds `credentials.lock`.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// Where the CLI keeps its files, from the environment.
pub fn config_dir() -> Result<PathBuf, CliError> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("PLANPUSH_CONFIG_DIR") {
        return Ok(dir);
    }
    if let Some(xdg) = var("XDG_CONFIG_HOME") {
        return Ok(xdg.join("planpush"));
    }
    if let Some(home) = var("HOME").or_else(|| var("USERPROFILE")) {
        return Ok(home.join(".config").join("planpush"));
    }
    Err(CliError::Invalid(
        "cannot find a config directory: set PLANPUSH_CONFIG_DIR or HOME".into(),
    ))
}

/// Writes `bytes` to `path` atomically: a temporary sibling created with `mode`, synced, renamed.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CliError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let err = |what, p: &Path| {
        let p = p.to_path_buf();
        move |source| CliError::File {
            what,
            path: p,
            source,
        }
    };
    fs::create_dir_all(dir).map_err(err("cannot create", dir))?;
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut file = options.open(&tmp)?;
        // `mode` is filtered by the umask on creation; a leftover temp file keeps its old mode.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err("cannot write", path))
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the CLI holds for one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub login: String,
    pub access_token: String,
    /// Unix seconds after which the access token is refreshed before use.
    pub access_expires_at: u64,
    pub refresh_token: String,
}

impl Session {
    /// True when the access token has (nearly) run out: 30 s of slack for the request's trip.
    pub fn access_expired(&self, now: u64) -> bool {
        now + 30 >= self.access_expires_at
    }
}

/// The whole credentials file: a session per server, and the server used when none is named.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub default_server: Option<String>,
    #[serde(default)]
    pub servers: BTreeMap<String, Session>,
}

/// The credentials file and its lock, in one directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    /// The store in the user's config directory.
    pub fn from_env() -> Result<Store, CliError> {
        config_dir().map(Store::new)
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("credentials.json")
    }

    /// The stored credentials; none yet is empty. A corrupt file is an error naming it.
    pub fn load(&self) -> Result<Credentials, CliError> {
        let path = self.path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                CliError::Invalid(format!(
                    "{} is not valid ({e}); delete it and run `planpush login` again",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
            Err(source) => Err(CliError::File {
                what: "cannot read",
                path,
                source,
            }),
        }
    }

    /// Replaces the file atomically, readable by the user only.
    pub fn save(&self, creds: &Credentials) -> Result<(), CliError> {
        let mut bytes = serde_json::to_vec_pretty(creds)
            .map_err(|e| CliError::Invalid(format!("cannot encode the credentials: {e}")))?;
        bytes.push(b'\n');
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if fs::create_dir_all(&self.dir).is_ok() {
                let _ = fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700));
            }
        }
        write_atomic(&self.path(), &bytes, 0o600)
    }

    /// Applies `change` to the stored credentials under the lock and saves the result.
    pub fn update<T>(&self, change: impl FnOnce(&mut Credentials) -> T) -> Result<T, CliError> {
        let _lock = self.lock()?;
        let mut creds = self.load()?;
        let out = change(&mut creds);
        self.save(&creds)?;
        Ok(out)
    }

    /// Takes `credentials.lock` (exclusive create). A lock older than 30 s is left by a process
    /// that died and is broken; after 10 s of waiting the lock is taken anyway.
    pub fn lock(&self) -> Result<Lock, CliError> {
        fs::create_dir_all(&self.dir).map_err(|source| CliError::File {
            what: "cannot create",
            path: self.dir.clone(),
            source,
        })?;
        let path = self.dir.join("credentials.lock");
        let deadline = SystemTime::now() + Duration::from_secs(10);
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(Lock(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|m| m.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(30));
                    if stale || SystemTime::now() > deadline {
                        let _ = fs::remove_file(&path);
                    } else {
                        std::thread::sleep(Duration::from_millis(25));
                    }
                }
                Err(source) => {
                    return Err(CliError::File {
                        what: "cannot create",
                        path,
                        source,
                    });
                }
            }
        }
    }
}

/// Held while credentials are refreshed; released on drop.
#[derive(Debug)]
pub struct Lock(PathBuf);

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(n: u64) -> Session {
        Session {
            login: "ada".into(),
            access_token: format!("pp_at_{n}"),
            access_expires_at: 1000 + n,
            refresh_token: format!("pp_rt_{n}"),
        }
    }

    #[test]
    fn nothing_stored_is_empty_and_saves_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("planpush"));
        assert_eq!(store.load().unwrap(), Credentials::default());
        let mut creds = Credentials {
            default_server: Some("http://a".into()),
            ..Credentials::default()
        };
        creds.servers.insert("http://a".into(), session(1));
        store.save(&creds).unwrap();
        assert_eq!(store.load().unwrap(), creds);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_readable_by_the_user_only_even_with_a_lax_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cfg"));
        // A leftover world-readable file is replaced, not reused with its mode.
        fs::create_dir_all(dir.path().join("cfg")).unwrap();
        fs::write(store.path(), b"{}").unwrap();
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
        store.save(&Credentials::default()).unwrap();
        let mode = fs::metadata(store.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(dir.path().join("cfg"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }

    #[test]
    fn a_write_leaves_no_temporary_file_and_replaces_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"a long first content", 0o600).unwrap();
        write_atomic(&path, b"short", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"short");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.json")]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"old", 0o600).unwrap();
        // Renaming onto a directory fails: the old content must survive and the temp file go.
        let blocked = dir.path().join("d");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("x"), b"x").unwrap();
        assert!(write_atomic(&blocked, b"new", 0o600).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_corrupt_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        fs::write(store.path(), b"not json").unwrap();
        let e = store.load().unwrap_err().to_string();
        assert!(e.contains("credentials.json"), "{e}");
    }

    #[test]
    fn updates_under_the_lock_are_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store
                        .update(|c| {
                            c.servers.insert(format!("http://s{i}"), session(i));
                        })
                        .unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.load().unwrap().servers.len(), 8);
        assert!(!dir.path().join("credentials.lock").exists());
    }

    #[test]
    fn access_tokens_are_refreshed_before_they_run_out() {
        let s = session(0);
        assert!(!s.access_expired(900));
        assert!(s.access_expired(971));
        assert!(s.access_expired(2000));
    }
}
