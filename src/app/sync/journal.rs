//! The repair journal of a tenant (ADR 0007): which content keys may hold
//! an incomplete write, kept where a restart finds it.
//!
//! On disk, in the tenant's state directory:
//! * `repair-journal.jsonl`: one JSON record per line
//!   ([`Record`](crate::domain::repair::Record)). A cycle appends to it: all
//!   the keys it is about to write, synced to disk before the first write
//!   starts, then one line per completed write (buffered: a line lost in a
//!   crash only costs one more upload). When the cycle ends, the journal is
//!   compacted: written to a temporary file, synced, renamed over the old
//!   one; when earlier cycles left nothing, the appended records already
//!   are the journal and stay as they are. A torn last line (the process
//!   died while appending) is ignored.
//! * `repair.lock`: held (an exclusive advisory lock) from the end of the
//!   file-diffs to the end of the cycle, so a one-shot `sync` and the daemon
//!   never write the same tenant's content at once.
//!
//! Without a state directory (unit tests), the same records live in memory
//! for the life of the cycle object.

use std::{
    fs::{self, File, OpenOptions},
    io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::cycle::CycleError;
use crate::domain::repair::{Journal, Record};

const JOURNAL_FILE: &str = "repair-journal.jsonl";
const LOCK_FILE: &str = "repair.lock";

/// Where a tenant's journal lives.
#[derive(Debug)]
pub(super) enum JournalStore {
    Dir(PathBuf),
    Memory(Mutex<Journal>),
}

impl JournalStore {
    pub(super) fn new(state_dir: Option<PathBuf>) -> Self {
        match state_dir {
            Some(dir) => JournalStore::Dir(dir),
            None => JournalStore::Memory(Mutex::new(Journal::default())),
        }
    }

    /// Opens the journal for a cycle that may write: takes the lock and
    /// reads what earlier cycles left.
    ///
    /// # Errors
    /// The state directory cannot be created or written, or another process
    /// holds the tenant's lock.
    pub(super) fn open(&self, tenant: &str) -> Result<OpenJournal<'_>, CycleError> {
        match self {
            JournalStore::Memory(journal) => Ok(OpenJournal {
                previous: journal.lock().expect("not poisoned").clone(),
                sink: Sink::Memory {
                    store: journal,
                    records: Mutex::new(Vec::new()),
                },
                lock: None,
            }),
            JournalStore::Dir(dir) => open_dir(dir, tenant),
        }
    }

    /// What earlier cycles left, without taking the lock (`plan`, which
    /// writes nothing). A missing journal is an empty one.
    ///
    /// # Errors
    /// The journal exists but cannot be read.
    pub(super) fn read(&self) -> Result<Journal, CycleError> {
        match self {
            JournalStore::Memory(journal) => Ok(journal.lock().expect("not poisoned").clone()),
            JournalStore::Dir(dir) => {
                let path = dir.join(JOURNAL_FILE);
                match File::open(&path) {
                    Ok(file) => {
                        let mut journal = Journal::default();
                        read_records(file, &path, |record| journal.apply(record))?;
                        Ok(journal)
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                        Ok(Journal::default())
                    }
                    Err(err) => Err(io_error("read", &path, &err)),
                }
            }
        }
    }
}

/// A cycle's handle on the journal; holds the tenant's lock (file
/// journals) until dropped, at the end of the cycle.
#[derive(Debug)]
pub(super) struct OpenJournal<'a> {
    /// What earlier cycles left, folded.
    pub previous: Journal,
    sink: Sink<'a>,
    lock: Option<File>,
}

#[derive(Debug)]
enum Sink<'a> {
    Memory {
        store: &'a Mutex<Journal>,
        records: Mutex<Vec<Record>>,
    },
    File {
        dir: PathBuf,
        writer: Mutex<BufWriter<File>>,
        /// Offset where this cycle's records start.
        appended_from: u64,
    },
}

impl OpenJournal<'_> {
    /// Records that every key in `keys` is about to be written, durably,
    /// before the first write starts.
    ///
    /// # Errors
    /// The records cannot be written or synced: the cycle must not write.
    pub(super) fn begin(&self, keys: impl IntoIterator<Item = String>) -> Result<(), CycleError> {
        match &self.sink {
            Sink::Memory { records, .. } => {
                let mut records = records.lock().expect("not poisoned");
                records.extend(keys.into_iter().map(|key| Record::Begin { key }));
                Ok(())
            }
            Sink::File { dir, writer, .. } => {
                let path = dir.join(JOURNAL_FILE);
                let mut writer = writer.lock().expect("not poisoned");
                for key in keys {
                    write_record(&mut *writer, &Record::Begin { key })
                        .map_err(|err| io_error("append to", &path, &err))?;
                }
                writer
                    .flush()
                    .and_then(|()| writer.get_ref().sync_data())
                    .map_err(|err| io_error("sync", &path, &err))
            }
        }
    }

    /// Records a completed write (buffered; see the module docs). A failure
    /// only costs a repeated upload later, so it is logged, not returned.
    pub(super) fn record(&self, record: Record) {
        match &self.sink {
            Sink::Memory { records, .. } => records.lock().expect("not poisoned").push(record),
            Sink::File { dir, writer, .. } => {
                let mut writer = writer.lock().expect("not poisoned");
                if let Err(err) = write_record(&mut *writer, &record) {
                    warn!(path = %dir.join(JOURNAL_FILE).display(), error = %err, "could not append to the repair journal; the item will be uploaded again");
                }
            }
        }
    }

    /// Compacts the journal after a cycle that got past its file-diffs:
    /// settles what earlier cycles left against `discovered` (full key,
    /// discovered version; see [`Journal::settle`]), applies this cycle's
    /// records and writes the result. Returns the lock, to be held until
    /// the cycle ends (its deletions and clean-up are writes too).
    ///
    /// # Errors
    /// The compacted journal cannot be written; the appended one stays,
    /// and the next cycle folds it the same way.
    pub(super) fn commit<'v>(
        self,
        discovered: impl IntoIterator<Item = (String, &'v str)>,
        listing_complete: bool,
    ) -> (Result<(), CycleError>, JournalLock) {
        let lock = JournalLock { _held: self.lock };
        let had_entries = !self.previous.is_empty();
        let mut next = self.previous;
        next.settle(discovered, listing_complete);
        let result = match self.sink {
            Sink::Memory { store, records } => {
                for record in records.into_inner().expect("not poisoned") {
                    next.apply(record);
                }
                *store.lock().expect("not poisoned") = next;
                Ok(())
            }
            // Nothing from earlier cycles to settle: the appended records
            // alone are the journal, and the next cycle folds them exactly
            // as a compaction would. Skipping it keeps an initial sync from
            // holding a record per page in memory at its end.
            Sink::File { dir, writer, .. } if !had_entries => writer
                .into_inner()
                .expect("not poisoned")
                .flush()
                .map_err(|err| io_error("append to", &dir.join(JOURNAL_FILE), &err)),
            Sink::File {
                dir,
                writer,
                appended_from,
            } => compact_file(&dir, writer, appended_from, next),
        };
        (result, lock)
    }
}

/// The tenant's lock after the journal was committed.
#[derive(Debug)]
pub(super) struct JournalLock {
    _held: Option<File>,
}

/// Applies the records this cycle appended (from `appended_from` on) to the
/// settled journal and writes it.
fn compact_file(
    dir: &Path,
    writer: Mutex<BufWriter<File>>,
    appended_from: u64,
    mut journal: Journal,
) -> Result<(), CycleError> {
    let path = dir.join(JOURNAL_FILE);
    let mut file = writer
        .into_inner()
        .expect("not poisoned")
        .into_inner()
        .map_err(|err| io_error("append to", &path, err.error()))?;
    file.seek(SeekFrom::Start(appended_from))
        .map_err(|err| io_error("read", &path, &err))?;
    read_records(file, &path, |record| journal.apply(record))?;
    write_compacted(dir, &journal)
}

fn open_dir<'a>(dir: &Path, tenant: &str) -> Result<OpenJournal<'a>, CycleError> {
    fs::create_dir_all(dir).map_err(|err| io_error("create", dir, &err))?;
    let lock_path = dir.join(LOCK_FILE);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|err| io_error("open", &lock_path, &err))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(CycleError::new(format!(
                "tenant {tenant} is being synced by another process ({} is locked); \
                 nothing was changed, the next cycle tries again",
                lock_path.display()
            )));
        }
        Err(fs::TryLockError::Error(err)) => return Err(io_error("lock", &lock_path, &err)),
    }
    let path = dir.join(JOURNAL_FILE);
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(&path)
        .map_err(|err| io_error("open", &path, &err))?;
    let mut previous = Journal::default();
    let end = read_records(
        file.try_clone()
            .map_err(|err| io_error("open", &path, &err))?,
        &path,
        |record| previous.apply(record),
    )?;
    // A torn last line is cut off, so this cycle's first record starts a
    // line of its own.
    if end
        < file
            .metadata()
            .map_err(|err| io_error("read", &path, &err))?
            .len()
    {
        file.set_len(end)
            .map_err(|err| io_error("truncate", &path, &err))?;
    }
    Ok(OpenJournal {
        previous,
        sink: Sink::File {
            dir: dir.to_owned(),
            writer: Mutex::new(BufWriter::new(file)),
            appended_from: end,
        },
        lock: Some(lock),
    })
}

/// One line of the journal file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    Begin { key: String },
    Written { key: String, version: String },
    Done { key: String },
}

fn write_record(writer: &mut impl Write, record: &Record) -> std::io::Result<()> {
    let line = match record.clone() {
        Record::Begin { key } => Line::Begin { key },
        Record::Written { key, version } => Line::Written { key, version },
        Record::Done { key } => Line::Done { key },
    };
    serde_json::to_writer(&mut *writer, &line)?;
    writer.write_all(b"\n")
}

/// Reads records from the file's current position, handing each to
/// `apply` as it is read (a journal after an initial sync holds a record
/// per page: it is never collected whole); returns the offset after the
/// last complete line. A line that does not parse is skipped with a
/// warning: if it is the last one, the process died while writing it;
/// elsewhere the file was damaged, and skipping a record can only cost a
/// repair, never delete anything.
fn read_records(file: File, path: &Path, mut apply: impl FnMut(Record)) -> Result<u64, CycleError> {
    let mut reader = BufReader::new(file);
    let mut offset = reader
        .stream_position()
        .map_err(|err| io_error("read", path, &err))?;
    let mut end = offset;
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|err| io_error("read", path, &err))?;
        if read == 0 {
            break;
        }
        offset += read as u64;
        if !line.ends_with('\n') {
            warn!(path = %path.display(), "ignoring a torn last line of the repair journal");
            break;
        }
        match serde_json::from_str::<Line>(line.trim_end()) {
            Ok(Line::Begin { key }) => apply(Record::Begin { key }),
            Ok(Line::Written { key, version }) => apply(Record::Written { key, version }),
            Ok(Line::Done { key }) => apply(Record::Done { key }),
            Err(err) => {
                warn!(path = %path.display(), error = %err, "skipping an unreadable line of the repair journal");
            }
        }
        end = offset;
    }
    Ok(end)
}

/// Replaces the journal with `journal`'s records: temporary file, synced,
/// renamed over the old one, directory synced.
fn write_compacted(dir: &Path, journal: &Journal) -> Result<(), CycleError> {
    let path = dir.join(JOURNAL_FILE);
    let mut temporary = tempfile::NamedTempFile::new_in(dir)
        .map_err(|err| io_error("create a temporary file in", dir, &err))?;
    let temporary_path = temporary.path().to_owned();
    {
        let mut writer = BufWriter::new(temporary.as_file_mut());
        for record in journal.records() {
            write_record(&mut writer, &record)
                .map_err(|err| io_error("write", &temporary_path, &err))?;
        }
        writer
            .flush()
            .map_err(|err| io_error("write", &temporary_path, &err))?;
    }
    temporary
        .as_file()
        .sync_all()
        .map_err(|err| io_error("sync", temporary.path(), &err))?;
    temporary
        .persist(&path)
        .map_err(|err| io_error("replace", &path, &err.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|err| io_error("sync", dir, &err))
}

fn io_error(action: &str, path: &Path, err: &std::io::Error) -> CycleError {
    CycleError::new(format!(
        "cannot {action} {} ({err}): the state directory must be writable; \
         set CONFLUENCE_CONNECTOR_STATE_DIR to a writable directory",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::repair::Mark;

    fn discovered(keys: &[&str]) -> Vec<(String, &'static str)> {
        keys.iter()
            .map(|key| ((*key).to_owned(), "2026-05-01T10:00:00.000Z"))
            .collect()
    }

    #[test]
    fn records_survive_a_reopen_and_compaction_keeps_only_what_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = JournalStore::new(Some(dir.path().join("tenant")));
        let journal = store.open("t").unwrap();
        assert!(journal.previous.is_empty());
        journal.begin(["a".to_owned(), "b".to_owned()]).unwrap();
        journal.record(Record::Done { key: "a".into() });
        // Dropped without a commit, as when the process dies mid-cycle.
        drop(journal);

        let journal = store.open("t").unwrap();
        assert_eq!(journal.previous.get("b"), Some(&Mark::Pending));
        assert_eq!(journal.previous.get("a"), None);
        journal.record(Record::Written {
            key: "b".into(),
            version: "2026-05-01T10:00:00.000Z".into(),
        });
        journal.commit(discovered(&["a", "b"]), true).0.unwrap();
        let text = fs::read_to_string(dir.path().join("tenant").join(JOURNAL_FILE)).unwrap();
        assert_eq!(
            text,
            "{\"written\":{\"key\":\"b\",\"version\":\"2026-05-01T10:00:00.000Z\"}}\n"
        );
        assert_eq!(store.read().unwrap().len(), 1);
    }

    #[test]
    fn a_first_journal_is_left_appended_and_reads_back_folded() {
        let dir = tempfile::tempdir().unwrap();
        let store = JournalStore::new(Some(dir.path().to_owned()));
        let journal = store.open("t").unwrap();
        journal.begin(["a".to_owned(), "b".to_owned()]).unwrap();
        journal.record(Record::Done { key: "a".into() });
        journal.commit(discovered(&["a", "b"]), true).0.unwrap();
        let text = fs::read_to_string(dir.path().join(JOURNAL_FILE)).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        let folded = store.read().unwrap();
        assert_eq!((folded.len(), folded.get("b")), (1, Some(&Mark::Pending)));
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(JOURNAL_FILE),
            "{\"begin\":{\"key\":\"a\"}}\n{\"begin\":{\"ke",
        )
        .unwrap();
        let store = JournalStore::new(Some(dir.path().to_owned()));
        let journal = store.open("t").unwrap();
        assert_eq!(journal.previous.get("a"), Some(&Mark::Pending));
        journal.begin(["b".to_owned()]).unwrap();
        drop(journal);
        let text = fs::read_to_string(dir.path().join(JOURNAL_FILE)).unwrap();
        assert_eq!(
            text,
            "{\"begin\":{\"key\":\"a\"}}\n{\"begin\":{\"key\":\"b\"}}\n"
        );
    }

    #[test]
    fn a_second_writer_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = JournalStore::new(Some(dir.path().to_owned()));
        let first = store.open("acme").unwrap();
        let refused = store.open("acme").unwrap_err().to_string();
        assert!(
            refused.contains("tenant acme is being synced by another process"),
            "{refused}"
        );
        drop(first);
        // The lock outlives the commit, until the cycle drops it.
        let (_, lock) = store.open("acme").unwrap().commit(discovered(&[]), true);
        assert!(store.open("acme").is_err());
        drop(lock);
        store.open("acme").unwrap();
    }

    #[test]
    fn an_unwritable_state_directory_names_the_path_and_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, "").unwrap();
        let store = JournalStore::new(Some(blocker.join("tenant")));
        let err = store.open("t").unwrap_err().to_string();
        assert!(err.contains(&blocker.display().to_string()), "{err}");
        assert!(err.contains("CONFLUENCE_CONNECTOR_STATE_DIR"), "{err}");
    }
}
