//! Held bulk deletions (ours, PROTOCOL §9.5): which of the deletions a cycle
//! wants may run now, and which wait for the next cycle to confirm them.
//!
//! A listing that stops early (Cloud's empty result page that still carries
//! a `next` link, an index glitch, a label typo, `maxItemsToScan`) looks
//! exactly like a bulk unlabel: many stored items are no longer discovered.
//! The guards of §9.5 only catch "everything of a space", so one bad listing
//! could still delete nearly everything. Instead, a cycle that would delete
//! many items, remove several space scopes, or whose listing is known to be
//! incomplete, *holds* the deletions it has not seen before. The next cycle
//! runs the held deletions it wants again (confirmed by a second, independent
//! listing) and forgets the others. A legitimate bulk unlabel therefore
//! completes in two cycles, and a transient bad listing deletes nothing.
//!
//! Small deletions (at most `max(threshold, 10 % of the stored items)` items
//! and at most one space scope) from a complete listing run at once, so
//! everyday edits are not delayed.

use std::collections::{BTreeMap, BTreeSet};

/// Share of the tenant's stored items one cycle may delete without holding,
/// when that is more than the configured threshold: a large tenant's
/// routine deletions exceed any fixed count.
pub const HOLD_SHARE_PERCENT: u64 = 10;

/// `ingestion.deletionHold`: deletions of up to this many items proceed at
/// once (or up to 10 % of the stored items, if that is more); `0` disables
/// holding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPolicy {
    threshold: u32,
}

impl HoldPolicy {
    pub fn new(threshold: u32) -> Self {
        HoldPolicy { threshold }
    }

    pub fn enabled(self) -> bool {
        self.threshold > 0
    }

    /// Whether the decision for deletions of `wanted_items` items depends on
    /// how many items the tenant has stored: only when they are more than
    /// the threshold (below it, the share cannot matter), so the count is
    /// only asked for then.
    pub fn needs_stored_count(self, wanted_items: u64) -> bool {
        self.enabled() && wanted_items > u64::from(self.threshold)
    }

    /// The most unconfirmed items a cycle deletes at once, given how many
    /// items the tenant has stored.
    pub fn limit(self, stored: u64) -> u64 {
        u64::from(self.threshold).max(stored.saturating_mul(HOLD_SHARE_PERCENT) / 100)
    }
}

/// A space scope that orphan cleanup would remove, with the number of
/// content items it would delete along with it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopeRemoval {
    pub scope_id: String,
    pub space_key: String,
    pub items: u64,
}

/// Deletions of one cycle: full content keys (diff deletions) and space
/// scopes (orphan cleanup) by scope id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deletions {
    pub keys: BTreeSet<String>,
    pub scopes: BTreeMap<String, ScopeRemoval>,
}

impl Deletions {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.scopes.is_empty()
    }

    /// Content items these deletions remove: the keys plus every item of
    /// the removed scopes.
    pub fn items(&self) -> u64 {
        self.keys.len() as u64 + self.scopes.values().map(|scope| scope.items).sum::<u64>()
    }

    pub fn add_scope(&mut self, scope: ScopeRemoval) {
        self.scopes.insert(scope.scope_id.clone(), scope);
    }

    /// Splits into the deletions that `held` also contains (by key, and by
    /// scope id) and the others.
    fn split_by(&self, held: &Deletions) -> (Deletions, Deletions) {
        let mut confirmed = Deletions::default();
        let mut unconfirmed = Deletions::default();
        for key in &self.keys {
            let side = if held.keys.contains(key) {
                &mut confirmed
            } else {
                &mut unconfirmed
            };
            side.keys.insert(key.clone());
        }
        for (id, scope) in &self.scopes {
            let side = if held.scopes.contains_key(id) {
                &mut confirmed
            } else {
                &mut unconfirmed
            };
            side.scopes.insert(id.clone(), scope.clone());
        }
        (confirmed, unconfirmed)
    }

    fn extend(&mut self, other: Deletions) {
        self.keys.extend(other.keys);
        self.scopes.extend(other.scopes);
    }
}

/// Why deletions were held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldReason {
    /// Discovery is known to have missed content (a result page that was
    /// empty but pointed to a next one, or the `maxItemsToScan` cut).
    IncompleteListing,
    /// More unconfirmed items than the policy allows at once.
    TooMany { items: u64, limit: u64 },
    /// More than one space scope would be removed.
    SeveralScopes { scopes: usize },
}

impl std::fmt::Display for HoldReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldReason::IncompleteListing => {
                f.write_str("the Confluence listing ended early, so missing items may still exist")
            }
            HoldReason::TooMany { items, limit } => write!(
                f,
                "{items} item(s) would be deleted, more than the {limit} a cycle deletes without confirmation"
            ),
            HoldReason::SeveralScopes { scopes } => {
                write!(f, "{scopes} space scopes would be removed at once")
            }
        }
    }
}

/// What a cycle does with the deletions it wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldDecision {
    /// Delete now.
    pub execute: Deletions,
    /// Record for the next cycle to confirm; nothing of it is deleted now.
    pub hold: Deletions,
    /// Set exactly when `hold` is not empty.
    pub reason: Option<HoldReason>,
}

/// The inputs of the decision.
#[derive(Debug, Clone, Copy)]
pub struct HoldInput<'a> {
    pub policy: HoldPolicy,
    /// What this cycle would delete.
    pub wanted: &'a Deletions,
    /// What the previous cycle held.
    pub held: &'a Deletions,
    /// Content items the tenant has stored (for the 10 % share).
    pub stored: u64,
    /// Whether discovery saw everything it asked for.
    pub listing_complete: bool,
}

impl HoldInput<'_> {
    /// Held deletions that are wanted again run; the other wanted deletions
    /// run at once when they are few, from a complete listing, and touch at
    /// most one space scope, and are held otherwise. Held deletions that
    /// are not wanted again are dropped (not in the result).
    pub fn decide(&self) -> HoldDecision {
        if !self.policy.enabled() {
            return HoldDecision {
                execute: self.wanted.clone(),
                hold: Deletions::default(),
                reason: None,
            };
        }
        let (mut execute, unconfirmed) = self.wanted.split_by(self.held);
        if unconfirmed.is_empty() {
            return HoldDecision {
                execute,
                ..HoldDecision::default()
            };
        }
        let limit = self.policy.limit(self.stored);
        let reason = if !self.listing_complete {
            Some(HoldReason::IncompleteListing)
        } else if unconfirmed.items() > limit {
            Some(HoldReason::TooMany {
                items: unconfirmed.items(),
                limit,
            })
        } else if unconfirmed.scopes.len() > 1 {
            Some(HoldReason::SeveralScopes {
                scopes: unconfirmed.scopes.len(),
            })
        } else {
            None
        };
        match reason {
            Some(reason) => HoldDecision {
                execute,
                hold: unconfirmed,
                reason: Some(reason),
            },
            None => {
                execute.extend(unconfirmed);
                HoldDecision {
                    execute,
                    ..HoldDecision::default()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn keys(n: usize) -> Deletions {
        Deletions {
            keys: (0..n).map(|i| format!("t/1_SP/p{i}")).collect(),
            scopes: BTreeMap::new(),
        }
    }

    fn scope(id: &str, items: u64) -> ScopeRemoval {
        ScopeRemoval {
            scope_id: id.to_owned(),
            space_key: id.to_uppercase(),
            items,
        }
    }

    fn decide(wanted: &Deletions, held: &Deletions, stored: u64, complete: bool) -> HoldDecision {
        HoldInput {
            policy: HoldPolicy::new(25),
            wanted,
            held,
            stored,
            listing_complete: complete,
        }
        .decide()
    }

    #[test]
    fn the_limit_is_the_threshold_or_ten_percent_of_the_stored_items() {
        assert_eq!(HoldPolicy::new(25).limit(0), 25);
        assert_eq!(HoldPolicy::new(25).limit(1000), 100);
        assert_eq!(HoldPolicy::new(25).limit(259), 25);
        assert!(!HoldPolicy::new(0).enabled());
    }

    #[test]
    fn small_deletions_run_at_once() {
        let wanted = keys(25);
        let decision = decide(&wanted, &Deletions::default(), 30, true);
        assert_eq!(decision.execute, wanted);
        assert_eq!(decision.reason, None);
    }

    #[test]
    fn a_bulk_deletion_is_held_then_run_when_confirmed() {
        let wanted = keys(26);
        let first = decide(&wanted, &Deletions::default(), 30, true);
        assert!(first.execute.is_empty());
        assert_eq!(first.hold, wanted);
        assert_eq!(
            first.reason,
            Some(HoldReason::TooMany {
                items: 26,
                limit: 25
            })
        );
        let second = decide(&wanted, &first.hold, 30, true);
        assert_eq!(second.execute, wanted);
        assert!(second.hold.is_empty());
    }

    #[test]
    fn a_transient_partial_listing_deletes_nothing() {
        let wanted = keys(90);
        let first = decide(&wanted, &Deletions::default(), 100, true);
        assert!(first.execute.is_empty());
        // The next listing is complete again and wants nothing deleted.
        let second = decide(&Deletions::default(), &first.hold, 100, true);
        assert_eq!(second, HoldDecision::default());
    }

    #[test]
    fn an_incomplete_listing_holds_even_one_deletion() {
        let wanted = keys(1);
        let decision = decide(&wanted, &Deletions::default(), 100, false);
        assert!(decision.execute.is_empty());
        assert_eq!(decision.reason, Some(HoldReason::IncompleteListing));
        // Confirmed deletions run even from an incomplete listing, so a
        // tenant with `maxItemsToScan` still deletes, one cycle late.
        let again = decide(&wanted, &decision.hold, 100, false);
        assert_eq!(again.execute, wanted);
    }

    #[test]
    fn space_scopes_count_their_items_and_several_are_held() {
        let mut one = Deletions::default();
        one.add_scope(scope("a", 3));
        assert_eq!(decide(&one, &Deletions::default(), 10, true).execute, one);
        let mut big = Deletions::default();
        big.add_scope(scope("a", 30));
        assert_eq!(
            decide(&big, &Deletions::default(), 40, true).reason,
            Some(HoldReason::TooMany {
                items: 30,
                limit: 25
            })
        );
        let mut two = one.clone();
        two.add_scope(scope("b", 1));
        let decision = decide(&two, &Deletions::default(), 10, true);
        assert_eq!(
            decision.reason,
            Some(HoldReason::SeveralScopes { scopes: 2 })
        );
        // Confirmation is by scope id; the item count may have changed.
        let mut later = Deletions::default();
        later.add_scope(scope("a", 4));
        later.add_scope(scope("b", 1));
        assert_eq!(decide(&later, &decision.hold, 10, true).execute, later);
    }

    #[test]
    fn zero_disables_holding() {
        let wanted = keys(500);
        let decision = HoldInput {
            policy: HoldPolicy::new(0),
            wanted: &wanted,
            held: &Deletions::default(),
            stored: 500,
            listing_complete: false,
        }
        .decide();
        assert_eq!(decision.execute, wanted);
        assert!(decision.hold.is_empty());
    }

    fn deletions() -> impl Strategy<Value = Deletions> {
        (
            proptest::collection::btree_set("k[0-9]{1,2}", 0..40),
            proptest::collection::btree_map("s[0-9]", 0u64..20, 0..4),
        )
            .prop_map(|(keys, scopes)| Deletions {
                keys,
                scopes: scopes
                    .into_iter()
                    .map(|(id, items)| (id.clone(), scope(&id, items)))
                    .collect(),
            })
    }

    proptest! {
        #[test]
        fn every_wanted_deletion_is_either_run_or_held_and_nothing_else(
            wanted in deletions(), held in deletions(), stored in 0u64..500,
            complete in any::<bool>(), threshold in 0u32..40,
        ) {
            let decision = HoldInput {
                policy: HoldPolicy::new(threshold),
                wanted: &wanted, held: &held, stored, listing_complete: complete,
            }.decide();
            let mut union = decision.execute.clone();
            union.extend(decision.hold.clone());
            prop_assert_eq!(&union, &wanted);
            prop_assert!(decision.execute.keys.is_disjoint(&decision.hold.keys));
            prop_assert!(decision.execute.scopes.keys().all(|id| !decision.hold.scopes.contains_key(id)));
            prop_assert_eq!(decision.reason.is_some(), !decision.hold.is_empty());
        }

        #[test]
        fn unconfirmed_deletions_run_only_when_few_and_from_a_complete_listing(
            wanted in deletions(), held in deletions(), stored in 0u64..500,
            complete in any::<bool>(), threshold in 1u32..40,
        ) {
            let policy = HoldPolicy::new(threshold);
            let decision = HoldInput { policy, wanted: &wanted, held: &held, stored, listing_complete: complete }.decide();
            let (_, unconfirmed_run) = decision.execute.split_by(&held);
            if !unconfirmed_run.is_empty() {
                prop_assert!(complete);
                prop_assert!(unconfirmed_run.items() <= policy.limit(stored));
                prop_assert!(unconfirmed_run.scopes.len() <= 1);
            }
            // Nothing is held twice in a row: a deletion wanted by two
            // consecutive cycles has run by the end of the second.
            prop_assert!(decision.hold.keys.is_disjoint(&held.keys));
            prop_assert!(decision.hold.scopes.keys().all(|id| !held.scopes.contains_key(id)));
        }

        #[test]
        fn the_same_wanted_set_completes_within_two_cycles(
            wanted in deletions(), stored in 0u64..500, complete in any::<bool>(), threshold in 0u32..40,
        ) {
            let policy = HoldPolicy::new(threshold);
            let first = HoldInput { policy, wanted: &wanted, held: &Deletions::default(), stored, listing_complete: complete }.decide();
            let second = HoldInput { policy, wanted: &wanted, held: &first.hold, stored, listing_complete: complete }.decide();
            let mut run = first.execute.clone();
            run.extend(second.execute);
            prop_assert_eq!(run, wanted);
            prop_assert!(second.hold.is_empty());
        }
    }
}
