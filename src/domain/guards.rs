//! Deletion guards (PROTOCOL §9.5): after a space's file-diff, decide
//! whether its deletions may proceed. A tripped guard aborts the whole cycle
//! before anything is ingested or deleted, because "delete everything" is
//! far more often a symptom (an empty discovery, a flipped key format) than
//! an intent.

use std::collections::HashSet;

/// Why a guard aborted the cycle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardViolation {
    /// G1: nothing was submitted but the diff wants deletions.
    #[error(
        "file-diff for `{partial_key}` would delete {would_delete} item(s) although zero items were submitted"
    )]
    NothingSubmitted {
        partial_key: String,
        would_delete: usize,
    },
    /// G2: the diff wants to delete every stored item of the space.
    #[error(
        "file-diff for `{partial_key}` would delete all {total} stored item(s) of the space; \
         refusing (a changed key format or a discovery problem is the usual cause)"
    )]
    WouldDeleteEverything { partial_key: String, total: u64 },
}

/// What the guards allow for one space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardVerdict {
    /// Deletions (if any) may proceed.
    Pass,
    /// Every stored item is deleted, but only because all of them are
    /// replaced by new, disjoint keys (a legitimate full replacement): the
    /// sync proceeds and logs a warning.
    FullReplacement,
    /// Abort the cycle.
    Abort(GuardViolation),
}

/// The inputs of the guards for one space.
#[derive(Debug, Clone, Copy)]
pub struct GuardInput<'a> {
    pub partial_key: &'a str,
    /// Relative keys submitted to file-diff.
    pub submitted: &'a [String],
    /// `newFiles` of the answer.
    pub new: &'a [String],
    /// `deletedFiles` of the answer.
    pub deleted: &'a [String],
}

impl GuardInput<'_> {
    /// Whether G2 needs the count of stored items under the partial key
    /// (the count query is only sent when there is something to delete).
    pub fn needs_stored_count(&self) -> bool {
        !self.deleted.is_empty() && !self.submitted.is_empty()
    }

    /// The verdict, given the stored count when [`needs_stored_count`]
    /// said so (ignored otherwise).
    ///
    /// [`needs_stored_count`]: Self::needs_stored_count
    pub fn verdict(&self, stored_count: Option<u64>) -> GuardVerdict {
        if self.deleted.is_empty() {
            return GuardVerdict::Pass;
        }
        if self.submitted.is_empty() {
            return GuardVerdict::Abort(GuardViolation::NothingSubmitted {
                partial_key: self.partial_key.to_owned(),
                would_delete: self.deleted.len(),
            });
        }
        // Without a count, assume the worst: the deletions may be everything.
        let total = stored_count.unwrap_or(self.deleted.len() as u64);
        if total != self.deleted.len() as u64 {
            return GuardVerdict::Pass;
        }
        let submitted: HashSet<&str> = self.submitted.iter().map(String::as_str).collect();
        let deletes_a_submitted_key = self
            .deleted
            .iter()
            .any(|key| submitted.contains(key.as_str()));
        if self.new.is_empty() || deletes_a_submitted_key {
            GuardVerdict::Abort(GuardViolation::WouldDeleteEverything {
                partial_key: self.partial_key.to_owned(),
                total,
            })
        } else {
            GuardVerdict::FullReplacement
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn keys(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn verdict(submitted: &[&str], new: &[&str], deleted: &[&str], count: u64) -> GuardVerdict {
        let (submitted, new, deleted) = (keys(submitted), keys(new), keys(deleted));
        GuardInput {
            partial_key: "t/1_SP",
            submitted: &submitted,
            new: &new,
            deleted: &deleted,
        }
        .verdict(Some(count))
    }

    #[test]
    fn the_reference_cases() {
        assert_eq!(verdict(&["p1"], &[], &[], 5), GuardVerdict::Pass);
        assert!(matches!(
            verdict(&[], &[], &["p1"], 1),
            GuardVerdict::Abort(GuardViolation::NothingSubmitted { .. })
        ));
        // Partial deletion.
        assert_eq!(verdict(&["p1"], &[], &["p2"], 2), GuardVerdict::Pass);
        // Everything deleted and nothing new: abort.
        assert!(matches!(
            verdict(&["p1"], &[], &["p2"], 1),
            GuardVerdict::Abort(_)
        ));
        // Scenario 26: p3, p4 replace p1, p2.
        assert_eq!(
            verdict(&["p3", "p4"], &["p3", "p4"], &["p1", "p2"], 2),
            GuardVerdict::FullReplacement
        );
        // A submitted key among the deletions is never a replacement.
        assert!(matches!(
            verdict(&["p1", "p3"], &["p3"], &["p1", "p2"], 2),
            GuardVerdict::Abort(_)
        ));
    }

    fn key_set() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::btree_set("[a-f][0-9]", 0..8).prop_map(|s| s.into_iter().collect())
    }

    proptest! {
        #[test]
        fn nothing_is_deleted_when_nothing_was_submitted(
            new in key_set(), deleted in key_set(), count in 0u64..20,
        ) {
            let input = GuardInput { partial_key: "k", submitted: &[], new: &new, deleted: &deleted };
            let verdict = input.verdict(Some(count));
            prop_assert!(deleted.is_empty() || matches!(verdict, GuardVerdict::Abort(_)));
        }

        #[test]
        fn everything_is_deleted_only_as_a_disjoint_replacement(
            submitted in key_set(), new in key_set(), deleted in key_set(),
        ) {
            let input = GuardInput { partial_key: "k", submitted: &submitted, new: &new, deleted: &deleted };
            let verdict = input.verdict(Some(deleted.len() as u64));
            let allowed = !matches!(verdict, GuardVerdict::Abort(_));
            if allowed && !deleted.is_empty() {
                prop_assert_eq!(&verdict, &GuardVerdict::FullReplacement);
                prop_assert!(!submitted.is_empty());
                prop_assert!(!new.is_empty());
                prop_assert!(deleted.iter().all(|d| !submitted.contains(d)));
            }
        }

        #[test]
        fn the_verdict_does_not_depend_on_input_order(
            submitted in key_set(), new in key_set(), deleted in key_set(), count in 0u64..10,
        ) {
            let forward = GuardInput { partial_key: "k", submitted: &submitted, new: &new, deleted: &deleted }
                .verdict(Some(count));
            let (mut s, mut n, mut d) = (submitted.clone(), new.clone(), deleted.clone());
            s.reverse();
            n.reverse();
            d.reverse();
            let backward = GuardInput { partial_key: "k", submitted: &s, new: &n, deleted: &d }.verdict(Some(count));
            prop_assert_eq!(forward, backward);
        }
    }
}
