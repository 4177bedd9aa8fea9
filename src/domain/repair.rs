//! Repair of writes that may not have completed (ADR 0007).
//!
//! Unique stamps a content item's `updatedAt` when its registration (phase
//! one of the upsert) commits, before its bytes are uploaded and the upsert
//! finalized. Any write that stops after the registration committed (a lost
//! answer, a failed upload or finalize, a killed process) therefore leaves
//! an item that every later file-diff calls current although its bytes are
//! old or missing. And a page edited after its body was fetched but before
//! its registration is stamped later than that edit, so the diff never
//! reports the edit either.
//!
//! The connector keeps a journal of content keys, per tenant, that answers
//! both: a key is *pending* from before its write starts until the write is
//! known to have completed; a written page remembers the Confluence version
//! of the body that was uploaded, until a later cycle's discovery confirms
//! that the page is no newer. This module holds the journal's pure rules:
//! folding its records and deciding which discovered items to re-ingest.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};

/// What the journal knows about one full content key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// A write started and is not known to have completed.
    Pending,
    /// The write completed with the body of the Confluence page version
    /// stamped at this instant (milliseconds since the epoch); an edit made
    /// after that body was fetched is not in Unique yet.
    WrittenAt(i64),
    /// The same, for a version stamp that is not an instant (compared as
    /// text; Confluence always sends instants).
    WrittenText(Box<str>),
}

impl Mark {
    fn written(version: String) -> Mark {
        match parse_instant(&version) {
            Some(at) => Mark::WrittenAt(at.timestamp_millis()),
            None => Mark::WrittenText(version.into_boxed_str()),
        }
    }

    /// The version stamp as the journal file spells it.
    fn version(&self) -> Option<String> {
        match self {
            Mark::Pending => None,
            Mark::WrittenAt(millis) => Some(
                chrono::DateTime::from_timestamp_millis(*millis)
                    .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_default(),
            ),
            Mark::WrittenText(text) => Some(text.to_string()),
        }
    }
}

/// A journal entry; `seen` is only set while a cycle settles the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    mark: Mark,
    seen: bool,
}

/// One journal record, in the order they happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The write of `key` is about to start (recorded before any request).
    Begin { key: String },
    /// The page `key` was written completely, with the body of `version`.
    Written { key: String, version: String },
    /// The write of `key` completed and nothing is left to check (an
    /// attachment: it is registered before its bytes are read, so an edit
    /// after the read is stamped later than the registration and the diff
    /// reports it).
    Done { key: String },
}

impl Record {
    pub fn key(&self) -> &str {
        match self {
            Record::Begin { key } | Record::Written { key, .. } | Record::Done { key } => key,
        }
    }
}

/// The folded journal: the last word on each key that still needs one.
/// After an initial sync it holds every page written (until the next
/// cycle confirms them), so entries are kept small: boxed strings, one map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    entries: HashMap<Box<str>, Entry>,
}

impl Journal {
    /// Folds records in order: the last record of a key wins, and `Done`
    /// forgets the key.
    pub fn from_records(records: impl IntoIterator<Item = Record>) -> Self {
        let mut journal = Journal::default();
        for record in records {
            journal.apply(record);
        }
        journal
    }

    pub fn apply(&mut self, record: Record) {
        let (key, mark) = match record {
            Record::Begin { key } => (key, Mark::Pending),
            Record::Written { key, version } => (key, Mark::written(version)),
            Record::Done { key } => {
                self.entries.remove(key.as_str());
                return;
            }
        };
        let entry = Entry { mark, seen: false };
        self.entries.insert(key.into_boxed_str(), entry);
    }

    pub fn get(&self, key: &str) -> Option<&Mark> {
        self.entries.get(key).map(|entry| &entry.mark)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records that rebuild this journal, one per entry (any order).
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.entries
            .iter()
            .map(|(key, entry)| match entry.mark.version() {
                None => Record::Begin {
                    key: key.to_string(),
                },
                Some(version) => Record::Written {
                    key: key.to_string(),
                    version,
                },
            })
    }

    /// Whether the discovered item `key`, at Confluence version
    /// `discovered_version`, must be ingested again although the file-diff
    /// calls it current.
    pub fn needs_repair(&self, key: &str, discovered_version: &str) -> bool {
        self.get(key)
            .is_some_and(|mark| mark_needs_repair(mark, discovered_version))
    }

    /// What earlier cycles left, after a cycle that got past its
    /// file-diffs saw `discovered` (full key, discovered version): written
    /// pages that discovery confirms as no newer are dropped, and so are
    /// entries of items no longer discovered (the diff reported their
    /// stored copies deleted) when the listing was complete; after a
    /// listing that ended early they are kept. The records this cycle
    /// appended are then [applied](Self::apply) on top, in order: they win.
    pub fn settle<'a>(
        &mut self,
        discovered: impl IntoIterator<Item = (String, &'a str)>,
        listing_complete: bool,
    ) {
        // In place: the journal after an initial sync holds every page.
        for (key, version) in discovered {
            let Some(entry) = self.entries.get_mut(key.as_str()) else {
                continue;
            };
            if mark_needs_repair(&entry.mark, version) {
                entry.seen = true;
            } else {
                self.entries.remove(key.as_str());
            }
        }
        // Unseen entries were not discovered.
        self.entries
            .retain(|_, entry| std::mem::replace(&mut entry.seen, false) || !listing_complete);
    }
}

fn mark_needs_repair(mark: &Mark, discovered_version: &str) -> bool {
    match mark {
        Mark::Pending => true,
        Mark::WrittenAt(millis) => match parse_instant(discovered_version) {
            Some(at) => at.timestamp_millis() > *millis,
            None => true,
        },
        Mark::WrittenText(version) => is_later(discovered_version, version),
    }
}

/// Whether Confluence version stamp `a` is later than `b`. Both are
/// instants (RFC 3339, or Data Center's `+0200` offsets without a colon);
/// when either cannot be read, any difference counts as later, so an
/// unreadable stamp costs an upload, never an edit.
pub fn is_later(a: &str, b: &str) -> bool {
    match (parse_instant(a), parse_instant(b)) {
        (Some(a), Some(b)) => a > b,
        _ => a != b,
    }
}

/// RFC 3339, or Data Center's `+0200` offsets without a colon.
pub fn parse_instant(value: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const V1: &str = "2026-05-01T10:00:00.000Z";
    const V2: &str = "2026-05-01T10:05:00.000Z";

    fn begin(key: &str) -> Record {
        Record::Begin { key: key.into() }
    }

    fn written(key: &str, version: &str) -> Record {
        Record::Written {
            key: key.into(),
            version: version.into(),
        }
    }

    fn done(key: &str) -> Record {
        Record::Done { key: key.into() }
    }

    #[test]
    fn a_pending_key_is_repaired_and_a_written_page_only_when_newer() {
        let journal = Journal::from_records([begin("a"), begin("b"), written("b", V1)]);
        assert!(journal.needs_repair("a", V1));
        assert!(!journal.needs_repair("b", V1));
        assert!(journal.needs_repair("b", V2));
        assert!(!journal.needs_repair("unknown", V2));
    }

    #[test]
    fn a_written_version_survives_compaction_as_the_same_instant() {
        let dc = "2026-05-01T12:00:00.000+0200";
        let journal = Journal::from_records([written("p", dc), written("odd", "v7")]);
        let compacted = Journal::from_records(journal.records());
        assert_eq!(compacted, journal);
        assert!(!compacted.needs_repair("p", dc));
        assert!(!compacted.needs_repair("p", V1), "the same instant in UTC");
        assert!(compacted.needs_repair("p", V2));
        assert!(!compacted.needs_repair("odd", "v7"));
        assert!(compacted.needs_repair("odd", "v8"));
    }

    #[test]
    fn versions_compare_as_instants_across_offsets() {
        assert!(is_later("2026-05-01T12:00:01+02:00", V1));
        assert!(!is_later("2026-05-01T12:00:00.000+0200", V1));
        assert!(is_later("v8", "v7"));
        assert!(!is_later("v7", "v7"));
    }

    /// A cycle's end: settle what earlier cycles left, then apply this
    /// cycle's records.
    fn after_cycle<'a>(
        previous: &Journal,
        current: impl IntoIterator<Item = Record>,
        discovered: impl Fn(&str) -> Option<&'a str>,
        listing_complete: bool,
    ) -> Journal {
        let mut next = previous.clone();
        let seen: Vec<(String, &str)> = [
            "a",
            "b",
            "c",
            "d",
            "pending-still-there",
            "pending-gone",
            "confirmed",
            "edited-later",
            "repaired-now",
            "attachment",
            "failed",
            "k",
        ]
        .into_iter()
        .filter_map(|key| discovered(key).map(|version| (key.to_owned(), version)))
        .collect();
        next.settle(seen, listing_complete);
        for record in current {
            next.apply(record);
        }
        next
    }

    #[test]
    fn after_a_cycle_confirmed_and_vanished_entries_go_and_new_records_win() {
        let previous = Journal::from_records([
            begin("pending-still-there"),
            begin("pending-gone"),
            written("confirmed", V1),
            written("edited-later", V1),
            begin("repaired-now"),
        ]);
        let discovered = |key: &str| match key {
            "pending-still-there" | "confirmed" | "repaired-now" => Some(V1),
            "edited-later" => Some(V2),
            _ => None,
        };
        let next = after_cycle(
            &previous,
            [
                begin("repaired-now"),
                written("repaired-now", V1),
                begin("attachment"),
                done("attachment"),
                begin("failed"),
            ],
            discovered,
            true,
        );
        assert_eq!(
            next,
            Journal::from_records([
                begin("pending-still-there"),
                written("edited-later", V1),
                written("repaired-now", V1),
                begin("failed"),
            ])
        );
    }

    #[test]
    fn done_in_this_cycle_hides_an_earlier_pending_entry() {
        let previous = Journal::from_records([begin("k")]);
        let next = after_cycle(&previous, [begin("k"), done("k")], |_| Some(V1), true);
        assert!(next.is_empty());
    }

    fn records() -> impl Strategy<Value = Vec<Record>> {
        let key = "[a-d]";
        let version = prop_oneof![Just(V1), Just(V2)];
        proptest::collection::vec(
            prop_oneof![
                key.prop_map(|k| begin(&k)),
                (key, version).prop_map(|(k, v)| written(&k, v)),
                key.prop_map(|k| done(&k)),
            ],
            0..24,
        )
    }

    proptest! {
        /// Compaction loses nothing: the records of a folded journal fold
        /// back to the same journal.
        #[test]
        fn compacted_records_fold_back_to_the_same_journal(records in records()) {
            let journal = Journal::from_records(records);
            prop_assert_eq!(Journal::from_records(journal.records()), journal);
        }

        /// Nothing this cycle left unfinished is forgotten: a key whose last
        /// record is `Begin` stays pending whatever discovery says.
        #[test]
        fn an_unfinished_write_of_this_cycle_always_survives(
            previous in records(),
            current in records(),
            discovered_mask in proptest::collection::vec(any::<bool>(), 4),
        ) {
            let previous = Journal::from_records(previous);
            let discovered = |key: &str| {
                let index = key.as_bytes().first().map(|b| b.wrapping_sub(b'a') as usize);
                index.and_then(|i| discovered_mask.get(i)).copied().unwrap_or(false).then_some(V1)
            };
            let next = after_cycle(&previous, current.clone(), discovered, true);
            let folded = Journal::from_records(current);
            for record in folded.records() {
                prop_assert_eq!(next.get(record.key()), folded.get(record.key()));
            }
        }

        /// An earlier pending entry survives exactly while its item is
        /// still discovered, or the listing ended early, and this cycle did
        /// not touch it.
        #[test]
        fn an_earlier_pending_entry_survives_while_discovered_or_unsure(
            discovered in any::<bool>(),
            listing_complete in any::<bool>(),
        ) {
            let previous = Journal::from_records([begin("a")]);
            let next = after_cycle(&previous, [], |_| discovered.then_some(V1), listing_complete);
            prop_assert_eq!(next.get("a").is_some(), discovered || !listing_complete);
        }
    }
}
