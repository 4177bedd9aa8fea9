//! Scope operations: user, self-grant, lookups, paging, external ids,
//! generation by path, moves and deletions.

use confluence_connector::{
    ports::{ErrorKind, KnowledgeBase, knowledge_base::ScopeAccess},
    sim::unique::{AccessType, Operation, SeedContent, SeedScope, UniqueSimSettings},
};

use crate::support::{Harness, ROOT, USER};

#[tokio::test]
async fn the_service_user_comes_from_the_scope_management_service() {
    let h = Harness::cluster_local().await;
    // The simulator's `x-user-id` header differs on purpose: the id must
    // come from the `User` query (§6.2).
    assert_eq!(h.kb.current_user_id().await.unwrap(), USER);
    let counters = h.sim.counters();
    assert_eq!(counters.calls(Operation::User), 1);
    assert_eq!(counters.mutations, 0);
}

#[tokio::test]
async fn writes_need_the_self_grant_which_covers_the_subtree() {
    let h = Harness::cluster_local().await;
    let denied =
        h.kb.ensure_scope_paths(&["/Confluence/SP".to_owned()])
            .await
            .unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::Forbidden);
    assert_eq!(denied.status(), Some(403));

    h.kb.grant_scope_access(
        ROOT,
        USER,
        &[ScopeAccess::Manage, ScopeAccess::Read, ScopeAccess::Write],
    )
    .await
    .unwrap();
    let state = h.sim.snapshot();
    let root = state.scope(ROOT).unwrap();
    assert_eq!(
        root.grants,
        [
            (USER.to_owned(), AccessType::Manage),
            (USER.to_owned(), AccessType::Read),
            (USER.to_owned(), AccessType::Write)
        ]
    );
    assert!(
        h.kb.ensure_scope_paths(&["/Confluence/SP".to_owned()])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn scope_paths_are_created_once_and_leaves_come_back_in_input_order() {
    let h = Harness::cluster_local().await.granted().await;
    let paths: Vec<String> = ["/Confluence/SP", "/Confluence/ENG", "/Confluence/SP"]
        .map(str::to_owned)
        .to_vec();
    let leaves = h.kb.ensure_scope_paths(&paths).await.unwrap();
    let names: Vec<&str> = leaves.iter().map(|scope| scope.name.as_str()).collect();
    assert_eq!(names, ["SP", "ENG", "SP"]);
    assert_eq!(leaves[0].id, leaves[2].id);
    assert!(
        leaves
            .iter()
            .all(|scope| scope.parent_id.as_deref() == Some(ROOT) && scope.external_id.is_none())
    );

    let again = h.kb.ensure_scope_paths(&paths[..1]).await.unwrap();
    assert_eq!(
        again[0].id, leaves[0].id,
        "an existing path is not created twice"
    );
    assert_eq!(
        h.sim.snapshot().scope_paths(),
        ["/Confluence", "/Confluence/ENG", "/Confluence/SP"]
    );
}

#[tokio::test]
async fn more_than_a_hundred_paths_are_sent_in_chunks_keeping_the_order() {
    let h = Harness::cluster_local().await.granted().await;
    let paths: Vec<String> = (0..150).map(|n| format!("/Confluence/S{n:03}")).collect();
    let leaves = h.kb.ensure_scope_paths(&paths).await.unwrap();
    assert_eq!(leaves.len(), 150);
    assert!(
        leaves
            .iter()
            .enumerate()
            .all(|(n, scope)| scope.name == format!("S{n:03}"))
    );
    assert_eq!(
        h.sim
            .counters()
            .calls(Operation::GenerateScopesBasedOnPaths),
        2
    );
}

#[tokio::test]
async fn scopes_are_found_by_id_and_by_external_id() {
    let h = Harness::cluster_local().await;
    h.sim.seed_scope(
        SeedScope::new("scope-sp", "SP")
            .parent(ROOT)
            .external_id("confc:tenant1:space-1:SP"),
    );
    let by_id = h.kb.scope_by_id("scope-sp").await.unwrap().unwrap();
    assert_eq!(by_id.name, "SP");
    assert_eq!(by_id.parent_id.as_deref(), Some(ROOT));
    assert_eq!(
        by_id.external_id.as_deref(),
        Some("confc:tenant1:space-1:SP")
    );
    let by_mark =
        h.kb.scope_by_external_id("confc:tenant1:space-1:SP")
            .await
            .unwrap();
    assert_eq!(by_mark, Some(by_id));
    assert_eq!(h.kb.scope_by_id("missing").await.unwrap(), None);
    assert_eq!(
        h.kb.scope_by_external_id("confc:cloud:other")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn children_are_listed_across_pages_until_a_short_page() {
    let h = Harness::cluster_local().await;
    for n in 0..250 {
        h.sim
            .seed_scope(SeedScope::new(format!("child-{n:03}"), format!("C{n:03}")).parent(ROOT));
    }
    h.sim
        .seed_scope(SeedScope::new("grandchild", "G").parent("child-000"));
    let children = h.kb.child_scopes(ROOT).await.unwrap();
    let ids: Vec<String> = children.into_iter().map(|scope| scope.id).collect();
    let expected: Vec<String> = (0..250).map(|n| format!("child-{n:03}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(
        h.sim.counters().calls(Operation::PaginatedScope),
        3,
        "pages of 100, 100 and 50"
    );
}

#[tokio::test]
async fn exactly_full_pages_need_one_more_empty_page() {
    let h = Harness::cluster_local().await;
    for n in 0..200 {
        h.sim
            .seed_scope(SeedScope::new(format!("child-{n:03}"), format!("C{n:03}")).parent(ROOT));
    }
    assert_eq!(h.kb.child_scopes(ROOT).await.unwrap().len(), 200);
    assert_eq!(h.sim.counters().calls(Operation::PaginatedScope), 3);
}

#[tokio::test]
async fn external_ids_are_set_cleared_and_kept_unique() {
    let h = Harness::cluster_local().await.granted().await;
    h.sim
        .seed_scope(SeedScope::new("other-root", "Other").external_id("confc:cloud:cloud-1"));

    let conflict =
        h.kb.set_scope_external_id(ROOT, Some("confc:cloud:cloud-1".to_owned()))
            .await
            .unwrap_err();
    assert_eq!(conflict.kind(), ErrorKind::Rejected);
    assert_eq!(conflict.status(), Some(409));
    assert!(
        conflict.to_string().contains("already exists"),
        "{conflict}"
    );
    assert_eq!(
        h.sim.counters().calls(Operation::UpdateScope),
        1,
        "a rejection is not retried"
    );

    let claimed =
        h.kb.set_scope_external_id(ROOT, Some("confc:cloud:cloud-2".to_owned()))
            .await
            .unwrap();
    assert_eq!(claimed.external_id.as_deref(), Some("confc:cloud:cloud-2"));
    // Clearing sends an explicit null (an absent field would change nothing).
    let cleared = h.kb.set_scope_external_id(ROOT, None).await.unwrap();
    assert_eq!(cleared.external_id, None);
    assert_eq!(h.sim.snapshot().scope(ROOT).unwrap().external_id, None);
}

#[tokio::test]
async fn bulk_move_reparents_scopes_with_their_content() {
    let h = Harness::cluster_local().await.granted().await;
    h.sim
        .seed_scope(SeedScope::new("old-root", "Old").grant(USER, &[AccessType::Manage]));
    h.sim
        .seed_scope(SeedScope::new("scope-sp", "SP").parent("old-root"));
    h.sim
        .seed_content(SeedContent::new("tenant1/space-1_SP/p1", "scope-sp"));
    h.kb.move_scopes(&["scope-sp".to_owned()], ROOT)
        .await
        .unwrap();
    let state = h.sim.snapshot();
    assert_eq!(state.scope("scope-sp").unwrap().path, "/Confluence/SP");
    assert_eq!(
        state
            .content("tenant1/space-1_SP/p1")
            .unwrap()
            .owner_path
            .as_deref(),
        Some("/Confluence/SP")
    );
}

#[tokio::test]
async fn recursive_folder_deletion_removes_the_subtree_and_its_content() {
    let h = Harness::cluster_local().await.granted().await;
    h.sim
        .seed_scope(SeedScope::new("scope-eng", "ENG").parent(ROOT));
    h.sim
        .seed_scope(SeedScope::new("scope-sub", "Sub").parent("scope-eng"));
    h.sim
        .seed_content(SeedContent::new("tenant1/e_ENG/1", "scope-eng"));
    h.sim
        .seed_content(SeedContent::new("tenant1/e_ENG/2", "scope-sub"));
    h.sim.seed_content(SeedContent::new("tenant1/r/1", ROOT));
    let outcome = h.kb.delete_scope("scope-eng", true).await.unwrap();
    assert_eq!(outcome.deleted, ["scope-eng", "scope-sub"]);
    assert!(outcome.failed.is_empty());
    let state = h.sim.snapshot();
    assert_eq!(state.scope_paths(), ["/Confluence"]);
    assert_eq!(state.content_keys(), ["tenant1/r/1"]);
}

#[tokio::test]
async fn non_recursive_deletion_of_a_non_empty_folder_is_reported_in_strict_mode() {
    let settings = UniqueSimSettings {
        strict_folder_delete: true,
        ..UniqueSimSettings::cluster_local()
    };
    let h = Harness::start(settings).await.granted().await;
    h.sim
        .seed_scope(SeedScope::new("scope-hr", "HR").parent(ROOT));
    h.sim
        .seed_content(SeedContent::new("tenant1/h_HR/1", "scope-hr"));
    let outcome = h.kb.delete_scope("scope-hr", false).await.unwrap();
    assert!(outcome.deleted.is_empty());
    assert_eq!(
        outcome.failed,
        [("scope-hr".to_owned(), "Folder is not empty".to_owned())]
    );

    assert_eq!(
        h.kb.delete_content(&[h.sim.snapshot().contents[0].id.clone()])
            .await
            .confirmed
            .len(),
        1
    );
    let outcome = h.kb.delete_scope("scope-hr", false).await.unwrap();
    assert_eq!(outcome.deleted, ["scope-hr"]);
}

#[tokio::test]
async fn deleting_a_missing_folder_is_not_found() {
    let h = Harness::cluster_local().await.granted().await;
    let err = h.kb.delete_scope("missing", true).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("DeleteFolder"), "{err}");
}
