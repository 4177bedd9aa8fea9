//! The per-space plan of a cycle (PROTOCOL §9.6): which submitted items to
//! ingest, as new or as updated, from the space's file-diff answer. (What to
//! delete is the answer's `deletedFiles` as is, once the guards passed.)

use std::collections::HashSet;

/// What to do with one submitted item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingest {
    /// Not in Unique yet: a failure removes the registration again.
    New,
    /// In Unique, older (or chosen for repair by the journal, ADR 0007): a
    /// failure keeps the stored version (ours, §9.8).
    Update,
}

/// The file-diff answer of one space, relative keys.
#[derive(Debug, Clone, Copy)]
pub struct DiffAnswer<'a> {
    pub new: &'a [String],
    pub updated: &'a [String],
}

/// Decides per submitted item, in submission order.
#[derive(Debug)]
pub struct SpacePlanner<'a> {
    new: HashSet<&'a str>,
    updated: HashSet<&'a str>,
}

impl<'a> SpacePlanner<'a> {
    pub fn new(answer: DiffAnswer<'a>) -> Self {
        SpacePlanner {
            new: answer.new.iter().map(String::as_str).collect(),
            updated: answer.updated.iter().map(String::as_str).collect(),
        }
    }

    /// Whether the diff itself asks for the item (new or updated).
    pub fn selects(&self, relative_key: &str) -> bool {
        self.new.contains(relative_key) || self.updated.contains(relative_key)
    }

    /// The action for the submitted item `relative_key`; `repair` says
    /// whether the repair journal wants it written again although the diff
    /// may call it current (Unique stamps an item at registration, so a
    /// write that stopped after it looks complete to the diff). `None`: the
    /// stored copy is current.
    pub fn ingest(&self, relative_key: &str, repair: bool) -> Option<Ingest> {
        if self.new.contains(relative_key) {
            Some(Ingest::New)
        } else if self.updated.contains(relative_key) || repair {
            Some(Ingest::Update)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn keys() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec("[a-f]{1,2}", 0..12)
    }

    #[test]
    fn new_wins_over_updated_and_current_items_are_left_alone() {
        let (new, updated) = (vec!["a".to_owned()], vec!["a".to_owned(), "b".to_owned()]);
        let planner = SpacePlanner::new(DiffAnswer {
            new: &new,
            updated: &updated,
        });
        assert_eq!(planner.ingest("a", false), Some(Ingest::New));
        assert_eq!(planner.ingest("b", false), Some(Ingest::Update));
        assert_eq!(planner.ingest("c", false), None);
        assert_eq!(planner.ingest("c", true), Some(Ingest::Update));
        assert_eq!(planner.ingest("a", true), Some(Ingest::New));
    }

    proptest! {
        #[test]
        fn an_item_is_ingested_exactly_when_the_diff_or_the_repair_journal_asks(
            submitted in keys(), new in keys(), updated in keys(), retried in keys(),
        ) {
            let planner = SpacePlanner::new(DiffAnswer { new: &new, updated: &updated });
            for key in &submitted {
                prop_assert_eq!(planner.selects(key), new.contains(key) || updated.contains(key));
                let action = planner.ingest(key, retried.contains(key));
                let expected = if new.contains(key) {
                    Some(Ingest::New)
                } else if updated.contains(key) || retried.contains(key) {
                    Some(Ingest::Update)
                } else {
                    None
                };
                prop_assert_eq!(action, expected);
            }
        }

        #[test]
        fn the_plan_does_not_depend_on_the_order_of_the_answer(
            key in "[a-f]{1,2}", mut new in keys(), mut updated in keys(), retried in any::<bool>(),
        ) {
            let forward = SpacePlanner::new(DiffAnswer { new: &new, updated: &updated })
                .ingest(&key, retried);
            new.reverse();
            updated.reverse();
            let backward = SpacePlanner::new(DiffAnswer { new: &new, updated: &updated })
                .ingest(&key, retried);
            prop_assert_eq!(forward, backward);
        }
    }
}
