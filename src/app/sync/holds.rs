//! Where held deletions wait for the next cycle (ours, PROTOCOL §9.5).
//!
//! The next cycle may run in another process (`sync` is one process per
//! run, `serve` restarts), so the held set lives in
//! `{tenant state dir}/held-deletions.json`, replaced atomically (temporary
//! file, `fsync`, rename, `fsync` of the directory) so that a crash leaves
//! either the old or the new set, never half of one. Without a state
//! directory (unit tests) it is kept in memory.
//!
//! An unreadable or malformed file counts as "nothing held", with a
//! warning: the only effect is that held deletions need one more cycle to
//! be confirmed, which is the safe direction.

use std::{
    collections::BTreeMap,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    sync::Mutex,
};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::domain::holds::{Deletions, ScopeRemoval};

/// File name inside the tenant's state directory.
pub const HELD_DELETIONS_FILE: &str = "held-deletions.json";

/// Format version of the file; another version is ignored (as unreadable).
const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeldFile {
    version: u32,
    /// Full content keys.
    keys: Vec<String>,
    scopes: Vec<HeldScope>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeldScope {
    scope_id: String,
    space_key: String,
    items: u64,
}

/// The held deletions of one tenant.
#[derive(Debug)]
pub(super) struct HoldStore {
    /// `None`: in memory only.
    path: Option<PathBuf>,
    memory: Mutex<Deletions>,
}

impl HoldStore {
    pub(super) fn new(state_dir: Option<&Path>) -> Self {
        HoldStore {
            path: state_dir.map(|dir| dir.join(HELD_DELETIONS_FILE)),
            memory: Mutex::new(Deletions::default()),
        }
    }

    /// What the last cycle held.
    pub(super) fn load(&self) -> Deletions {
        let Some(path) = &self.path else {
            return self.memory.lock().expect("not poisoned").clone();
        };
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Deletions::default();
            }
            Err(err) => {
                warn!(file = %path.display(), error = %err, "held deletions unreadable; treating them as none (they need one more cycle)");
                return Deletions::default();
            }
        };
        match serde_json::from_str::<HeldFile>(&text) {
            Ok(file) if file.version == VERSION => {
                let mut held = Deletions {
                    keys: file.keys.into_iter().collect(),
                    scopes: BTreeMap::new(),
                };
                for scope in file.scopes {
                    held.add_scope(ScopeRemoval {
                        scope_id: scope.scope_id,
                        space_key: scope.space_key,
                        items: scope.items,
                    });
                }
                held
            }
            Ok(file) => {
                warn!(file = %path.display(), version = file.version, "held deletions written by another version; treating them as none");
                Deletions::default()
            }
            Err(err) => {
                warn!(file = %path.display(), error = %err, "held deletions malformed; treating them as none (they need one more cycle)");
                Deletions::default()
            }
        }
    }

    /// Replaces the held set (an empty set removes the file).
    ///
    /// # Errors
    /// The file cannot be written; the message names it.
    pub(super) fn save(&self, held: &Deletions) -> Result<(), String> {
        let Some(path) = &self.path else {
            *self.memory.lock().expect("not poisoned") = held.clone();
            return Ok(());
        };
        let describe = |err: std::io::Error| format!("{}: {err}", path.display());
        if held.is_empty() {
            // Nothing held and no file (or no directory to hold one): done.
            return match fs::remove_file(path) {
                Err(err)
                    if !matches!(
                        err.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    Err(describe(err))
                }
                _ => Ok(()),
            };
        }
        let file = HeldFile {
            version: VERSION,
            keys: held.keys.iter().cloned().collect(),
            scopes: held
                .scopes
                .values()
                .map(|scope| HeldScope {
                    scope_id: scope.scope_id.clone(),
                    space_key: scope.space_key.clone(),
                    items: scope.items,
                })
                .collect(),
        };
        let text = serde_json::to_vec_pretty(&file).expect("held deletions serialize");
        let dir = path
            .parent()
            .expect("the file is inside the state directory");
        fs::create_dir_all(dir).map_err(describe)?;
        let temporary = path.with_extension("json.tmp");
        let mut out = fs::File::create(&temporary).map_err(describe)?;
        out.write_all(&text).map_err(describe)?;
        out.sync_all().map_err(describe)?;
        drop(out);
        fs::rename(&temporary, path).map_err(describe)?;
        // The rename is durable only once the directory entry is.
        fs::File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(describe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Deletions {
        let mut held = Deletions::default();
        held.keys.insert("t/1_SP/p1".into());
        held.keys.insert("t/1_SP/p1::a1".into());
        held.add_scope(ScopeRemoval {
            scope_id: "scope-hr".into(),
            space_key: "HR".into(),
            items: 7,
        });
        held
    }

    #[test]
    fn held_deletions_survive_a_new_store_on_the_same_directory() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("tenant-abc");
        HoldStore::new(Some(&state)).save(&sample()).unwrap();
        assert_eq!(HoldStore::new(Some(&state)).load(), sample());
        assert!(!state.join("held-deletions.json.tmp").exists());
        HoldStore::new(Some(&state))
            .save(&Deletions::default())
            .unwrap();
        assert!(!state.join(HELD_DELETIONS_FILE).exists());
        assert_eq!(HoldStore::new(Some(&state)).load(), Deletions::default());
    }

    #[test]
    fn a_malformed_or_foreign_file_counts_as_nothing_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HELD_DELETIONS_FILE);
        fs::write(&path, "{not json").unwrap();
        assert_eq!(
            HoldStore::new(Some(dir.path())).load(),
            Deletions::default()
        );
        fs::write(&path, r#"{"version":9,"keys":["k"],"scopes":[]}"#).unwrap();
        assert_eq!(
            HoldStore::new(Some(dir.path())).load(),
            Deletions::default()
        );
    }

    #[test]
    fn an_unusable_state_directory_fails_only_a_hold_that_must_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-directory");
        fs::write(&file, "x").unwrap();
        let store = HoldStore::new(Some(&file.join("tenant")));
        assert_eq!(store.save(&Deletions::default()), Ok(()));
        let error = store.save(&sample()).unwrap_err();
        assert!(
            error.starts_with(&format!(
                "{}",
                file.join("tenant").join(HELD_DELETIONS_FILE).display()
            )),
            "{error}"
        );
    }

    #[test]
    fn without_a_state_directory_the_set_is_kept_in_memory() {
        let store = HoldStore::new(None);
        store.save(&sample()).unwrap();
        assert_eq!(store.load(), sample());
    }
}
