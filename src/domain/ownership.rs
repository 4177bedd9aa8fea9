//! Root-scope ownership (PROTOCOL §8.2, §8.3, §9.12): the root scope's
//! external id marks which Confluence instance writes below it.

use super::model::InstanceType;

/// What to do with the root scope's current mark at the start of a cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// The mark is ours: proceed.
    Verified,
    /// Unmarked: check for an old root to migrate, then claim it.
    Claim,
    /// Someone else's: fail the cycle and never overwrite the mark.
    Mismatch { expected: String, found: String },
}

/// Decides from the root's current external id and the mark we expect.
pub fn decide(current: Option<&str>, expected: &str) -> Ownership {
    match current {
        None => Ownership::Claim,
        Some(found) if found == expected => Ownership::Verified,
        Some(found) => Ownership::Mismatch {
            expected: expected.to_owned(),
            found: found.to_owned(),
        },
    }
}

/// Whether the scope that already carries our mark (found while claiming)
/// is an old root whose children must move to the configured root first.
pub fn needs_migration(marked_scope_id: Option<&str>, configured_root_id: &str) -> bool {
    marked_scope_id.is_some_and(|id| id != configured_root_id)
}

/// Whether a deleted tenant may purge below a root marked `mark` (ours,
/// §9.12): the mark must be a connector mark, and on Cloud exactly this
/// tenant's instance. (A Data Center id is only known from the manifest,
/// which the purge does not fetch: no Confluence traffic.)
pub fn purge_permitted(mark: &str, instance_type: InstanceType, cloud_id: Option<&str>) -> bool {
    match instance_type {
        InstanceType::Cloud => {
            cloud_id.is_some_and(|id| mark == super::keys::root_mark(InstanceType::Cloud, id))
        }
        InstanceType::DataCenter => mark
            .strip_prefix("confc:data-center:")
            .is_some_and(|id| !id.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn decisions() {
        assert_eq!(decide(None, "confc:cloud:c1"), Ownership::Claim);
        assert_eq!(
            decide(Some("confc:cloud:c1"), "confc:cloud:c1"),
            Ownership::Verified
        );
        assert_eq!(
            decide(Some("confc:cloud:other"), "confc:cloud:c1"),
            Ownership::Mismatch {
                expected: "confc:cloud:c1".into(),
                found: "confc:cloud:other".into()
            }
        );
        assert!(!needs_migration(None, "root"));
        assert!(!needs_migration(Some("root"), "root"));
        assert!(needs_migration(Some("old-root"), "root"));
    }

    #[test]
    fn purge_requires_this_tenants_mark() {
        assert!(purge_permitted(
            "confc:cloud:c1",
            InstanceType::Cloud,
            Some("c1")
        ));
        assert!(!purge_permitted(
            "confc:cloud:c2",
            InstanceType::Cloud,
            Some("c1")
        ));
        assert!(!purge_permitted(
            "confc:data-center:x",
            InstanceType::Cloud,
            Some("c1")
        ));
        assert!(purge_permitted(
            "confc:data-center:B1C2",
            InstanceType::DataCenter,
            None
        ));
        assert!(!purge_permitted(
            "confc:cloud:c1",
            InstanceType::DataCenter,
            None
        ));
        assert!(!purge_permitted(
            "someone-else",
            InstanceType::DataCenter,
            None
        ));
    }

    proptest! {
        #[test]
        fn a_foreign_mark_is_never_verified_or_claimed(found in "[a-z:0-9-]{1,20}", expected in "[a-z:0-9-]{1,20}") {
            let decision = decide(Some(&found), &expected);
            if found == expected {
                prop_assert_eq!(decision, Ownership::Verified);
            } else {
                prop_assert!(
                    matches!(decision, Ownership::Mismatch { .. }),
                    "expected a mismatch"
                );
            }
        }
    }
}
