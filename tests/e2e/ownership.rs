//! PROTOCOL §12 scenarios 34–38: root-scope ownership and migration.

use confluence_connector::{
    app::sync::CycleResult,
    sim::{
        confluence::{Flavor, SimPage},
        unique::{AccessType, Operation, SeedContent, SeedScope},
    },
};
use serde_json::json;

use crate::support::*;

both_flavors!(
    an_unmarked_old_root_is_left_alone,
    an_old_root_hands_over_its_children,
    an_unowned_root_is_claimed,
    an_owned_root_is_used,
    a_foreign_root_fails_the_cycle_without_writes,
);

const NEW_ROOT: &str = "new-root";

fn one_page(flavor: Flavor) -> confluence_connector::sim::confluence::Dataset {
    dataset(flavor).page(SimPage::new("p1", "SP").labels([SINGLE]))
}

/// The tenant now points at `new-root` ("Confluence v2"); the harness
/// root `/Confluence` plays the old root.
async fn migrating_app(flavor: Flavor) -> TestApp {
    let mut app = spawn_app(flavor, one_page(flavor)).await;
    app.configure(json!({"ingestion": {"scopeId": NEW_ROOT}}));
    app.unique
        .seed_scope(SeedScope::new(NEW_ROOT, "Confluence v2"));
    app
}

/// 34: the old root carries no mark: nothing migrates, the new root is
/// claimed and used, the legacy scope and file stay untouched.
async fn an_unmarked_old_root_is_left_alone(flavor: Flavor) {
    let app = migrating_app(flavor).await;
    app.unique
        .seed_scope(SeedScope::new("scope-legacy", "LEGACY").parent(ROOT));
    let legacy = "tenant1/space-legacy_LEGACY/legacy-page";
    app.seed_content(SeedContent::new(legacy, "scope-legacy"));

    app.successful_cycle().await;
    let snapshot = app.snapshot();
    assert_eq!(uploaded_keys(&snapshot), [sp(flavor, "p1")]);
    let new_root = snapshot.scope(NEW_ROOT).unwrap();
    assert_eq!(new_root.external_id.as_deref(), Some(root_mark(flavor)));
    assert_eq!(new_root.path, "/Confluence v2");
    assert!(snapshot.scope_at("/Confluence v2/SP").is_some());
    assert_eq!(snapshot.scope(ROOT).unwrap().external_id, None);
    assert_eq!(
        snapshot.scope("scope-legacy").unwrap().path,
        "/Confluence/LEGACY"
    );
    assert!(snapshot.content(legacy).is_some());
    app.finish().await;
}

/// 35: the old root carries our mark: its children move to the new root,
/// it is deleted, and nothing is re-ingested.
async fn an_old_root_hands_over_its_children(flavor: Flavor) {
    let app = migrating_app(flavor).await;
    app.unique.set_external_id(ROOT, Some(root_mark(flavor)));
    // The cycles that ingested into the old root self-granted on it.
    app.unique.grant_service_user(
        ROOT,
        &[AccessType::Manage, AccessType::Read, AccessType::Write],
    );
    seed_space(&app, "scope-sp", space_id(flavor), "SP");
    app.seed_content(SeedContent::new(sp(flavor, "p1"), "scope-sp"));

    app.successful_cycle().await;
    let snapshot = app.snapshot();
    assert_eq!(
        snapshot.scope(NEW_ROOT).unwrap().external_id.as_deref(),
        Some(root_mark(flavor))
    );
    assert!(snapshot.scope(ROOT).is_none(), "the old root is deleted");
    assert_eq!(
        snapshot.scope("scope-sp").unwrap().path,
        "/Confluence v2/SP"
    );
    assert!(snapshot.uploads.is_empty(), "no registrations");
    assert_eq!(
        stored(&snapshot, &sp(flavor, "p1")).owner_path.as_deref(),
        Some("/Confluence v2/SP")
    );
    app.finish().await;
}

/// 36: an unowned root is claimed.
async fn an_unowned_root_is_claimed(flavor: Flavor) {
    let app = spawn_app(flavor, one_page(flavor)).await;
    app.successful_cycle().await;
    assert_eq!(
        app.snapshot().scope(ROOT).unwrap().external_id.as_deref(),
        Some(root_mark(flavor))
    );
    app.finish().await;
}

/// 37: a root already ours is used as is.
async fn an_owned_root_is_used(flavor: Flavor) {
    let app = spawn_app(flavor, one_page(flavor)).await;
    app.unique.set_external_id(ROOT, Some(root_mark(flavor)));
    app.successful_cycle().await;
    assert_eq!(keys(&app.snapshot()), [sp(flavor, "p1")]);
    app.finish().await;
}

/// 38: a root marked by another instance: failure, mark unchanged, no
/// write at all (the self-grant aside).
async fn a_foreign_root_fails_the_cycle_without_writes(flavor: Flavor) {
    let app = spawn_app(flavor, one_page(flavor)).await;
    let foreign = match flavor {
        Flavor::Cloud => "confc:cloud:other-instance",
        Flavor::DataCenter => "confc:data-center:other-instance",
    };
    app.unique.set_external_id(ROOT, Some(foreign));
    let report = app.cycle().await;
    assert!(
        matches!(&report.result, CycleResult::Failure(why) if why.contains("ownership mismatch")),
        "{:?}",
        report.result
    );
    let snapshot = app.snapshot();
    assert_eq!(
        snapshot.scope(ROOT).unwrap().external_id.as_deref(),
        Some(foreign)
    );
    assert!(snapshot.contents.is_empty());
    assert_eq!(snapshot.scope_paths(), ["/Confluence"]);
    assert_no_writes(&app, &Operation::WRITES);
    app.finish().await;
}
