//! The walk from the root scope up its ancestors (PROTOCOL §9.2 step 6),
//! bounded (ours): Unique's parent links are followed one lookup at a time,
//! and a broken tree (a scope that is its own ancestor, or an endless
//! chain) must fail the cycle with the scope ids instead of looping.

use std::fmt;

/// Most ancestors the root scope may have. Unique's folder trees are a
/// handful of levels deep; a chain this long means broken parent links.
pub const MAX_ANCESTORS: usize = 64;

/// The scope ids seen so far, from the root upwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AncestorWalk {
    ids: Vec<String>,
}

/// Why the walk stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkError {
    /// `repeated` is already on the path: following parents would loop.
    Cycle { path: Vec<String>, repeated: String },
    /// More than [`MAX_ANCESTORS`] ancestors.
    TooDeep { path: Vec<String> },
}

impl AncestorWalk {
    pub fn new(root_id: &str) -> Self {
        AncestorWalk {
            ids: vec![root_id.to_owned()],
        }
    }

    /// Records the next parent to look up.
    ///
    /// # Errors
    /// `parent_id` is already on the path, or the root would have more
    /// than [`MAX_ANCESTORS`] ancestors.
    pub fn step(&mut self, parent_id: &str) -> Result<(), WalkError> {
        if self.ids.iter().any(|id| id == parent_id) {
            return Err(WalkError::Cycle {
                path: self.ids.clone(),
                repeated: parent_id.to_owned(),
            });
        }
        if self.ids.len() > MAX_ANCESTORS {
            return Err(WalkError::TooDeep {
                path: self.ids.clone(),
            });
        }
        self.ids.push(parent_id.to_owned());
        Ok(())
    }
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::Cycle { path, repeated } => write!(
                f,
                "the root scope's ancestors form a loop: scope {repeated} is its own ancestor ({} → {repeated}); fix the parent of one of these scopes in Unique",
                path.join(" → ")
            ),
            WalkError::TooDeep { path } => write!(
                f,
                "the root scope has more than {MAX_ANCESTORS} ancestors ({} → …); Unique's parent links look broken",
                path.join(" → ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_scope_met_twice_is_a_loop_named_by_its_ids() {
        let mut walk = AncestorWalk::new("root");
        walk.step("a").unwrap();
        walk.step("b").unwrap();
        let err = walk.step("a").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the root scope's ancestors form a loop: scope a is its own ancestor (root → a → b → a); fix the parent of one of these scopes in Unique"
        );
        let mut own_parent = AncestorWalk::new("root");
        assert!(matches!(
            own_parent.step("root"),
            Err(WalkError::Cycle { .. })
        ));
    }

    #[test]
    fn the_walk_stops_after_the_bound() {
        let mut walk = AncestorWalk::new("root");
        for n in 0..MAX_ANCESTORS {
            walk.step(&format!("s{n}")).unwrap();
        }
        let err = walk.step("one-too-many").unwrap_err();
        assert!(matches!(err, WalkError::TooDeep { .. }));
        assert!(
            err.to_string()
                .starts_with("the root scope has more than 64 ancestors (root → s0 → s1")
        );
    }

    proptest! {
        #[test]
        fn distinct_chains_within_the_bound_pass_and_a_repeat_fails(
            ids in proptest::collection::hash_set("[a-z0-9]{1,8}", 1..MAX_ANCESTORS),
            pick in any::<prop::sample::Index>(),
        ) {
            let ids: Vec<String> = ids.into_iter().filter(|id| id != "root").collect();
            prop_assume!(!ids.is_empty());
            let mut walk = AncestorWalk::new("root");
            for id in &ids {
                prop_assert!(walk.step(id).is_ok());
            }
            let repeated = pick.get(&ids);
            let is_loop = matches!(walk.step(repeated), Err(WalkError::Cycle { .. }));
            prop_assert!(is_loop);
        }
    }
}
