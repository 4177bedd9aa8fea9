//! What the deletion step remembers between cycles, in the tenant's state
//! directory (in memory without one, as in unit tests):
//!
//! * `held-deletions.json`: deletions held for the next cycle to confirm
//!   (ours, PROTOCOL §9.5);
//! * `key-layout.json`: the key layout (format and tenant name) of the last
//!   cycle that looked for old-key copies, and whether it found none, so
//!   that the space scopes are only searched after a key-format change or
//!   a rename, or while copies remain (ours, §3.7).
//!
//! The next cycle may run in another process (`sync` is one process per
//! run, `serve` restarts), hence files, replaced atomically (temporary
//! file, `fsync`, rename, `fsync` of the directory) so that a crash leaves
//! either the old or the new content, never half of it.
//!
//! An unreadable or malformed file counts as "nothing known", with a
//! warning: held deletions then need one more cycle to be confirmed, and
//! the scopes are searched once more; both are the safe direction.

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

/// File names inside the tenant's state directory.
pub const HELD_DELETIONS_FILE: &str = "held-deletions.json";
const KEY_LAYOUT_FILE: &str = "key-layout.json";

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
        write_atomically(path, &text)
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayoutFile {
    version: u32,
    layout: String,
    /// The search found no old-key copy.
    clean: bool,
}

/// Whether a cycle must search its space scopes for old-key copies.
#[derive(Debug)]
pub(super) struct LayoutStore {
    /// `None`: in memory only.
    path: Option<PathBuf>,
    memory: Mutex<Option<(String, bool)>>,
}

impl LayoutStore {
    pub(super) fn new(state_dir: Option<&Path>) -> Self {
        LayoutStore {
            path: state_dir.map(|dir| dir.join(KEY_LAYOUT_FILE)),
            memory: Mutex::new(None),
        }
    }

    /// Whether the scopes must be searched: unless the last search used
    /// `layout` too and found nothing.
    pub(super) fn needs_search(&self, layout: &str) -> bool {
        let last = match &self.path {
            None => self.memory.lock().expect("not poisoned").clone(),
            Some(path) => fs::read_to_string(path)
                .ok()
                .and_then(|text| serde_json::from_str::<LayoutFile>(&text).ok())
                .filter(|file| file.version == VERSION)
                .map(|file| (file.layout, file.clean)),
        };
        last != Some((layout.to_owned(), true))
    }

    /// Records a search with `layout` and whether it found no copy. A
    /// failure only means searching again next cycle, so it is logged.
    pub(super) fn record(&self, layout: &str, clean: bool) {
        let Some(path) = &self.path else {
            *self.memory.lock().expect("not poisoned") = Some((layout.to_owned(), clean));
            return;
        };
        let file = LayoutFile {
            version: VERSION,
            layout: layout.to_owned(),
            clean,
        };
        let text = serde_json::to_vec_pretty(&file).expect("the key layout serializes");
        if let Err(err) = write_atomically(path, &text) {
            warn!(error = %err, "could not record the key layout; old-key copies are searched again next cycle");
        }
    }
}

/// Replaces `path` with `bytes`: temporary file, `fsync`, rename, `fsync`
/// of the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let describe = |err: std::io::Error| format!("{}: {err}", path.display());
    let dir = path
        .parent()
        .expect("the file is inside the state directory");
    fs::create_dir_all(dir).map_err(describe)?;
    let temporary = path.with_extension("json.tmp");
    let mut out = fs::File::create(&temporary).map_err(describe)?;
    out.write_all(bytes).map_err(describe)?;
    out.sync_all().map_err(describe)?;
    drop(out);
    fs::rename(&temporary, path).map_err(describe)?;
    // The rename is durable only once the directory entry is.
    fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(describe)
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
    fn scopes_are_searched_until_a_search_with_the_same_layout_found_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for state in [Some(dir.path()), None] {
            let store = LayoutStore::new(state);
            assert!(store.needs_search("current:acme"), "nothing known yet");
            store.record("current:acme", false);
            assert!(store.needs_search("current:acme"), "copies were found");
            store.record("current:acme", true);
            assert!(!store.needs_search("current:acme"));
            assert!(store.needs_search("v1"), "the key format changed");
        }
        fs::write(dir.path().join(KEY_LAYOUT_FILE), "garbage").unwrap();
        assert!(LayoutStore::new(Some(dir.path())).needs_search("current:acme"));
    }

    #[test]
    fn without_a_state_directory_the_set_is_kept_in_memory() {
        let store = HoldStore::new(None);
        store.save(&sample()).unwrap();
        assert_eq!(store.load(), sample());
    }
}
