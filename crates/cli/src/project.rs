//! Per-project memory: `.planpush/sessions.json` in the project root maps a plan's name to its
//! session id, server and URL, so the next push of the same name (or the same file) updates the
//! same plan. The project root is the nearest ancestor holding `.planpush/`, else the git root,
//! else the current directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::write_atomic;
use crate::error::CliError;

/// One remembered plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub session_id: String,
    pub server: String,
    pub url: String,
    /// The file last pushed under this name, relative to the project root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    sessions: BTreeMap<String, Entry>,
}

/// The memory of one project.
#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
    file: File,
}

/// The project root for `start`: the nearest ancestor with `.planpush/`, else with `.git`, else
/// `start` itself.
pub fn find_root(start: &Path) -> PathBuf {
    let mut git = None;
    for dir in start.ancestors() {
        if dir.join(".planpush").is_dir() {
            return dir.to_path_buf();
        }
        if git.is_none() && dir.join(".git").exists() {
            git = Some(dir.to_path_buf());
        }
    }
    git.unwrap_or_else(|| start.to_path_buf())
}

impl Project {
    /// Reads the memory of the project containing `start` (nothing remembered yet is fine).
    pub fn open(start: &Path) -> Result<Project, CliError> {
        let root = find_root(start);
        let path = root.join(".planpush").join("sessions.json");
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                CliError::Invalid(format!(
                    "{} is not valid JSON ({e}); fix or delete it",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(source) => {
                return Err(CliError::File {
                    what: "cannot read",
                    path,
                    source,
                });
            }
        };
        Ok(Project { root, file })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self) -> PathBuf {
        self.root.join(".planpush").join("sessions.json")
    }

    /// The plan remembered under `name` on `server`.
    pub fn get(&self, name: &str, server: &str) -> Option<&Entry> {
        self.file
            .sessions
            .get(name)
            .filter(|e| same_server(&e.server, server))
    }

    /// Any plan remembered under `name`, whatever its server.
    pub fn get_any(&self, name: &str) -> Option<&Entry> {
        self.file.sessions.get(name)
    }

    /// The name last pushed from `file` to `server`.
    pub fn name_for_file(&self, file: &Path, server: &str) -> Option<&str> {
        let rel = self.relative(file)?;
        self.file
            .sessions
            .iter()
            .find(|(_, e)| {
                e.file.as_deref() == Some(rel.as_str()) && same_server(&e.server, server)
            })
            .map(|(n, _)| n.as_str())
    }

    /// `file` relative to the root, `/`-separated, when it lies inside the project.
    pub fn relative(&self, file: &Path) -> Option<String> {
        let abs = std::fs::canonicalize(file).ok()?;
        let root = std::fs::canonicalize(&self.root).ok()?;
        let rel = abs.strip_prefix(root).ok()?;
        Some(
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
        )
    }

    /// Remembers `entry` under `name` and saves the file atomically.
    pub fn remember(&mut self, name: &str, entry: Entry) -> Result<(), CliError> {
        self.file.sessions.insert(name.to_owned(), entry);
        self.save()
    }

    /// Forgets `name` (the plan is gone on the server) and saves.
    pub fn forget(&mut self, name: &str) -> Result<(), CliError> {
        if self.file.sessions.remove(name).is_some() {
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> Result<(), CliError> {
        let mut bytes = serde_json::to_vec_pretty(&self.file)
            .map_err(|e| CliError::Invalid(format!("cannot encode the project memory: {e}")))?;
        bytes.push(b'\n');
        write_atomic(&self.path(), &bytes, 0o644)
    }
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, server: &str, file: Option<&str>) -> Entry {
        Entry {
            session_id: id.into(),
            server: server.into(),
            url: format!("{server}/p/x"),
            file: file.map(str::to_owned),
            version: 1,
        }
    }

    #[test]
    fn the_root_is_the_planpush_dir_then_the_git_root_then_here() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let deep = repo.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find_root(&deep), deep);
        std::fs::create_dir(repo.join(".git")).unwrap();
        assert_eq!(find_root(&deep), repo);
        std::fs::create_dir(repo.join("a/.planpush")).unwrap();
        assert_eq!(find_root(&deep), repo.join("a"));
    }

    #[test]
    fn names_are_remembered_per_server_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        let sub = dir.path().join("src");
        std::fs::create_dir(&sub).unwrap();
        let mut p = Project::open(&sub).unwrap();
        assert!(p.get("auth", "http://a").is_none());
        p.remember("auth", entry("id-1", "http://a", Some("plan.md")))
            .unwrap();
        let p = Project::open(&sub).unwrap();
        assert_eq!(p.root(), dir.path());
        assert_eq!(p.get("auth", "http://a/").unwrap().session_id, "id-1");
        assert!(
            p.get("auth", "http://b").is_none(),
            "another server's id is not reused"
        );
        assert_eq!(p.get_any("auth").unwrap().server, "http://a");
        let written = std::fs::read_to_string(dir.path().join(".planpush/sessions.json")).unwrap();
        assert!(written.contains("\"id-1\""), "{written}");
    }

    #[test]
    fn a_file_pushed_before_finds_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let doc = dir.path().join("docs/plan.md");
        std::fs::create_dir_all(doc.parent().unwrap()).unwrap();
        std::fs::write(&doc, "# x").unwrap();
        let mut p = Project::open(dir.path()).unwrap();
        let rel = p.relative(&doc).unwrap();
        assert_eq!(rel, "docs/plan.md");
        p.remember("plan", entry("id", "http://a", Some(&rel)))
            .unwrap();
        assert_eq!(p.name_for_file(&doc, "http://a"), Some("plan"));
        assert_eq!(p.name_for_file(&doc, "http://b"), None);
        p.forget("plan").unwrap();
        assert_eq!(
            Project::open(dir.path())
                .unwrap()
                .name_for_file(&doc, "http://a"),
            None
        );
    }

    #[test]
    fn a_broken_memory_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".planpush")).unwrap();
        std::fs::write(dir.path().join(".planpush/sessions.json"), "{oops").unwrap();
        let e = Project::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("sessions.json"), "{e}");
    }
}
