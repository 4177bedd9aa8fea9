//! Initialization of every cycle (PROTOCOL §9.2): self-grant, ownership of
//! the root scope (claim, verify, migrate), and the root's path.

use tracing::{info, warn};

use super::{SyncCycle, cycle::CycleError};
use crate::{
    domain::{
        ancestors::AncestorWalk,
        keys::root_mark,
        ownership::{self, Ownership},
    },
    ports::{ConfluenceSource, KnowledgeBase, knowledge_base::ScopeAccess},
};

impl<C: ConfluenceSource, K: KnowledgeBase> SyncCycle<C, K> {
    /// Runs §9.2 and returns the root scope's path (`/A/B/Root`).
    pub(super) async fn initialize(&self) -> Result<String, CycleError> {
        let kb = &self.knowledge_base;
        let root_id = &self.tenant.root_scope_id;
        let user_id = kb
            .current_user_id()
            .await
            .map_err(CycleError::step("current user"))?;
        kb.grant_scope_access(
            root_id,
            &user_id,
            &[ScopeAccess::Manage, ScopeAccess::Read, ScopeAccess::Write],
        )
        .await
        .map_err(CycleError::step("self-grant on the root scope"))?;
        let root = kb
            .scope_by_id(root_id)
            .await
            .map_err(CycleError::step("root scope lookup"))?
            .ok_or_else(|| CycleError::new(format!("Root scope with ID {root_id} not found")))?;

        let instance_id = self
            .confluence
            .instance_id()
            .await
            .map_err(CycleError::step("Confluence instance id"))?;
        let expected = root_mark(self.tenant.instance_type, &instance_id);
        match ownership::decide(root.external_id.as_deref(), &expected) {
            Ownership::Verified => {}
            Ownership::Mismatch { expected, found } => {
                return Err(CycleError::new(format!(
                    "Root scope ownership mismatch: expected {expected}, found {found}"
                )));
            }
            Ownership::Claim => {
                self.migrate_old_root(&expected).await?;
                let claimed = kb
                    .set_scope_external_id(root_id, Some(expected.clone()))
                    .await
                    .map_err(CycleError::step("claiming the root scope"))?;
                if claimed.external_id.as_deref() != Some(expected.as_str()) {
                    return Err(CycleError::new(format!(
                        "Root scope ownership mismatch after claim: expected {expected}, found {}",
                        claimed.external_id.as_deref().unwrap_or("null")
                    )));
                }
                info!(tenant = %self.tenant.name, root_scope_id = %root_id, mark = %expected, "claimed the root scope");
            }
        }

        let mut names = vec![root.name];
        let mut parent = root.parent_id;
        let mut walk = AncestorWalk::new(root_id);
        while let Some(parent_id) = parent {
            walk.step(&parent_id)
                .map_err(|err| CycleError::new(format!("Root scope path: {err}")))?;
            kb.grant_scope_access(&parent_id, &user_id, &[ScopeAccess::Read])
                .await
                .map_err(CycleError::step("read grant on a root ancestor"))?;
            let scope = kb
                .scope_by_id(&parent_id)
                .await
                .map_err(CycleError::step("root ancestor lookup"))?
                .ok_or_else(|| {
                    CycleError::new(format!("Parent scope with ID {parent_id} not found"))
                })?;
            names.push(scope.name);
            parent = scope.parent_id;
        }
        names.reverse();
        Ok(format!("/{}", names.join("/")))
    }

    /// §8.3: an old root carrying our mark hands its children to the
    /// configured root and is deleted, before the configured root is claimed.
    async fn migrate_old_root(&self, mark: &str) -> Result<(), CycleError> {
        let kb = &self.knowledge_base;
        let root_id = &self.tenant.root_scope_id;
        let fail =
            |message: String| CycleError::new(format!("Root scope migration failed: {message}"));
        let old = kb
            .scope_by_external_id(mark)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let Some(old) = old.filter(|old| ownership::needs_migration(Some(&old.id), root_id)) else {
            return Ok(());
        };
        warn!(tenant = %self.tenant.name, old_root = %old.id, new_root = %root_id, "migrating the old root scope");
        let children = kb
            .child_scopes(&old.id)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !children.is_empty() {
            let ids: Vec<String> = children.into_iter().map(|child| child.id).collect();
            kb.move_scopes(&ids, root_id)
                .await
                .map_err(|e| fail(sanitize_bulk_move_message(&e.to_string())))?;
        }
        let outcome = kb
            .delete_scope(&old.id, false)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if let Some((id, reason)) = outcome.failed.first() {
            return Err(fail(format!(
                "could not delete the old root scope {id}: {reason}"
            )));
        }
        Ok(())
    }
}

/// Bulk-move errors list scope names in parentheses; names are diagnostic
/// data, so they are removed before the message reaches a log (§8.3, §11.4).
fn sanitize_bulk_move_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut depth = 0usize;
    for c in message.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sanitize_bulk_move_message;

    #[test]
    fn parenthesised_name_lists_are_removed() {
        assert_eq!(
            sanitize_bulk_move_message("cannot move scopes (Finance, HR (old)) to target"),
            "cannot move scopes  to target"
        );
    }
}
