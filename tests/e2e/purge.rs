//! PROTOCOL §12 scenarios 30–33 and §9.12 (ours): the purge of a tenant
//! with `status: deleted`.

use std::collections::BTreeMap;

use confluence_connector::{
    app::sync::PurgeOutcome,
    sim::{
        confluence::Flavor,
        unique::{AccessType, Operation, SeedContent, UniqueFault},
    },
};
use serde_json::json;

use crate::support::*;

both_flavors!(
    a_full_purge_leaves_only_the_unmarked_root,
    an_empty_purge_clears_the_mark,
    a_failed_purge_resumes,
    a_cleared_root_is_skipped,
    a_foreign_root_is_never_purged,
);

/// A deleted tenant whose root carries `mark`.
async fn deleted_tenant(flavor: Flavor, mark: Option<&str>) -> TestApp {
    let mut app = spawn_app(flavor, dataset(flavor)).await;
    app.configure(json!({"status": "deleted"}));
    app.unique.set_external_id(ROOT, mark);
    // An earlier active cycle self-granted; the purge itself grants nothing.
    app.unique.grant_service_user(
        ROOT,
        &[AccessType::Manage, AccessType::Read, AccessType::Write],
    );
    app
}

fn seed_spaces(app: &TestApp) {
    for (scope, key) in [("scope-eng", "ENG"), ("scope-hr", "HR")] {
        seed_space(app, scope, "1", key);
    }
    app.seed_content(SeedContent::new("tenant1/1_ENG/e1", "scope-eng"));
    app.seed_content(SeedContent::new("tenant1/1_ENG/e2", "scope-eng"));
    app.seed_content(SeedContent::new("tenant1/1_HR/h1", "scope-hr"));
}

fn only_unmarked_root(app: &TestApp) {
    let snapshot = app.snapshot();
    assert_eq!(
        scopes(&snapshot),
        BTreeMap::from([("/Confluence".to_owned(), None)])
    );
    assert!(snapshot.contents.is_empty());
}

/// 30: scopes and files go, the root stays with its mark cleared; no
/// Confluence traffic at all.
async fn a_full_purge_leaves_only_the_unmarked_root(flavor: Flavor) {
    let app = deleted_tenant(flavor, Some(root_mark(flavor))).await;
    seed_spaces(&app);
    let report = app.purge().await;
    assert_eq!(report.outcome, PurgeOutcome::Success);
    assert_eq!((report.content_deleted, report.scopes_deleted), (3, 2));
    only_unmarked_root(&app);
    assert_eq!(app.confluence.counters().api_requests(), 0);
    assert_eq!(app.confluence.counters().tokens_issued, 0);
    app.finish().await;
}

/// 31: nothing below the root: success, mark cleared.
async fn an_empty_purge_clears_the_mark(flavor: Flavor) {
    let app = deleted_tenant(flavor, Some(root_mark(flavor))).await;
    assert_eq!(app.purge().await.outcome, PurgeOutcome::Success);
    only_unmarked_root(&app);
    app.finish().await;
}

/// 32: the first folder deletion fails: the mark stays (the content is
/// already gone); the next run completes.
async fn a_failed_purge_resumes(flavor: Flavor) {
    let app = deleted_tenant(flavor, Some(root_mark(flavor))).await;
    seed_space(&app, "scope-eng", "1", "ENG");
    app.seed_content(SeedContent::new("tenant1/1_ENG/e1", "scope-eng"));
    app.unique
        .fail_next(Operation::DeleteFolder, 1, UniqueFault::status(500));

    let first = app.purge().await;
    assert!(
        matches!(first.outcome, PurgeOutcome::Failure { failures: 1 }),
        "{first:?}"
    );
    let snapshot = app.snapshot();
    assert_eq!(
        snapshot
            .scope("root-scope-id")
            .unwrap()
            .external_id
            .as_deref(),
        Some(root_mark(flavor))
    );
    assert!(
        snapshot.contents.is_empty(),
        "content was deleted before the folder"
    );

    assert_eq!(app.purge().await.outcome, PurgeOutcome::Success);
    only_unmarked_root(&app);
    app.finish().await;
}

/// 33: an unmarked root means the purge already finished.
async fn a_cleared_root_is_skipped(flavor: Flavor) {
    let app = deleted_tenant(flavor, None).await;
    assert_eq!(
        app.purge().await.outcome,
        PurgeOutcome::Skipped("already_cleaned_up")
    );
    app.finish().await;
}

/// Ours (§9.12): a root marked by another instance is never purged.
async fn a_foreign_root_is_never_purged(flavor: Flavor) {
    let app = deleted_tenant(flavor, Some("confc:other-system:x")).await;
    seed_spaces(&app);
    let before = app.snapshot();
    assert_eq!(
        app.purge().await.outcome,
        PurgeOutcome::Skipped("foreign_owner")
    );
    assert_eq!(app.snapshot().contents, before.contents);
    assert_eq!(scopes(&app.snapshot()), scopes(&before));
    app.finish().await;
}
