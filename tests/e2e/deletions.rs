//! PROTOCOL §12 scenarios 19–26 (moves, deletions, updates, the full
//! replacement carve-out) and the deletion guards end to end.

use std::collections::BTreeMap;

use confluence_connector::{
    app::sync::CycleResult,
    sim::{
        confluence::{Dataset, Flavor, SimAttachment, SimPage, SimSpace},
        unique::{Operation, SeedContent, UniqueFault},
    },
};

use crate::support::*;

both_flavors!(
    a_page_moved_between_spaces,
    a_vanished_page_is_deleted,
    a_vanished_attachment_is_deleted,
    a_space_without_labels_is_cleaned_up,
    a_vanished_space_is_cleaned_up,
    an_unchanged_space_is_left_alone,
    an_updated_page_is_replaced_in_place,
    a_full_replacement_by_new_keys_proceeds,
    a_diff_deleting_everything_aborts_the_cycle,
);

fn ids(flavor: Flavor, cloud: [&'static str; 2]) -> [&'static str; 2] {
    match flavor {
        Flavor::Cloud => cloud,
        Flavor::DataCenter => ["3001", "3002"],
    }
}

/// 19: `p1` moved from A to B: new under B, deleted under A, one upload.
async fn a_page_moved_between_spaces(flavor: Flavor) {
    let [a, b] = ids(flavor, ["space-a", "space-b"]);
    let data = Dataset::new()
        .space(SimSpace::new(a, "A", "Space A"))
        .space(SimSpace::new(b, "B", "Space B"))
        .page(SimPage::new("keeper", "A").labels([SINGLE]))
        .page(SimPage::new("p1", "B").labels([SINGLE]));
    let app = spawn_app(flavor, data).await;
    seed_space(&app, "scope-a", a, "A");
    app.seed_content(SeedContent::new(key(a, "A", "keeper"), "scope-a"));
    app.seed_content(SeedContent::new(key(a, "A", "p1"), "scope-a"));

    let report = app.successful_cycle().await;
    assert_eq!((report.new, report.deleted), (1, 1));
    let snapshot = app.snapshot();
    assert_eq!(
        keys(&snapshot),
        sorted([key(a, "A", "keeper"), key(b, "B", "p1")])
    );
    assert_eq!(uploaded_keys(&snapshot), [key(b, "B", "p1")]);
    assert_eq!(
        stored(&snapshot, &key(b, "B", "p1")).owner_path.as_deref(),
        Some("/Confluence/B")
    );
    app.finish().await;
}

/// 20: `removed` is gone from Confluence; `keeper` is not touched.
async fn a_vanished_page_is_deleted(flavor: Flavor) {
    let data = dataset(flavor).page(SimPage::new("keeper", "SP").labels([SINGLE]));
    let app = spawn_app(flavor, data).await;
    seed_space(&app, "scope-sp", space_id(flavor), "SP");
    let keeper_id = app.seed_content(SeedContent::new(sp(flavor, "keeper"), "scope-sp"));
    app.seed_content(SeedContent::new(sp(flavor, "removed"), "scope-sp"));

    let report = app.successful_cycle().await;
    assert_eq!((report.new, report.updated, report.deleted), (0, 0, 1));
    let snapshot = app.snapshot();
    assert_eq!(keys(&snapshot), [sp(flavor, "keeper")]);
    assert_eq!(
        snapshot.content(&sp(flavor, "keeper")).unwrap().id,
        keeper_id
    );
    assert!(snapshot.uploads.is_empty(), "nothing re-ingested");
    app.finish().await;
}

/// 21: an attachment gone from its page is deleted; the rest stays.
async fn a_vanished_attachment_is_deleted(flavor: Flavor) {
    let data = dataset(flavor).page(SimPage::new("p1", "SP").labels([SINGLE]).attachment(
        SimAttachment::new("att-keeper", "k.pdf", "application/pdf", 10),
    ));
    let app = spawn_app(flavor, data).await;
    seed_space(&app, "scope-sp", space_id(flavor), "SP");
    for item in ["p1", "p1::att-keeper", "p1::att-removed"] {
        app.seed_content(SeedContent::new(sp(flavor, item), "scope-sp"));
    }
    app.successful_cycle().await;
    let snapshot = app.snapshot();
    assert_eq!(
        keys(&snapshot),
        sorted([sp(flavor, "p1"), sp(flavor, "p1::att-keeper")])
    );
    assert!(snapshot.uploads.is_empty());
    app.finish().await;
}

/// Scenarios 22 and 23 share their Unique side: ENG and HR scopes, files
/// `eng-1` (ENG), `hr-1`, `hr-2` (HR).
async fn space_cleanup(flavor: Flavor, hr_in_confluence: bool) {
    let [eng, hr] = ids(flavor, ["space-eng", "space-hr"]);
    let mut data = Dataset::new()
        .space(SimSpace::new(eng, "ENG", "Engineering"))
        .page(SimPage::new("eng-1", "ENG").labels([SINGLE]));
    if hr_in_confluence {
        data = data
            .space(SimSpace::new(hr, "HR", "Human Resources"))
            .page(SimPage::new("hr-1", "HR"))
            .page(SimPage::new("hr-2", "HR"));
    }
    let app = spawn_app(flavor, data).await;
    seed_space(&app, "scope-eng", eng, "ENG");
    seed_space(&app, "scope-hr", hr, "HR");
    app.seed_content(SeedContent::new(key(eng, "ENG", "eng-1"), "scope-eng"));
    app.seed_content(SeedContent::new(key(hr, "HR", "hr-1"), "scope-hr"));
    app.seed_content(SeedContent::new(key(hr, "HR", "hr-2"), "scope-hr"));

    let report = app.successful_cycle().await;
    assert_eq!(
        (report.orphan_scopes_removed, report.orphan_files_removed),
        (1, 2)
    );
    let snapshot = app.snapshot();
    assert_eq!(
        scopes(&snapshot),
        BTreeMap::from([
            ("/Confluence".to_owned(), Some(root_mark(flavor).to_owned())),
            ("/Confluence/ENG".to_owned(), Some(space_mark(eng, "ENG"))),
        ])
    );
    assert_eq!(keys(&snapshot), [key(eng, "ENG", "eng-1")]);
    app.finish().await;
}

/// 22: HR still exists but nothing in it is labelled.
async fn a_space_without_labels_is_cleaned_up(flavor: Flavor) {
    space_cleanup(flavor, true).await;
}

/// 23: HR is gone from Confluence.
async fn a_vanished_space_is_cleaned_up(flavor: Flavor) {
    space_cleanup(flavor, false).await;
}

/// 24: an up-to-date space: scopes unchanged, nothing written.
async fn an_unchanged_space_is_left_alone(flavor: Flavor) {
    let data = dataset(flavor).page(SimPage::new("p1", "SP").labels([SINGLE]));
    let app = spawn_app(flavor, data).await;
    app.unique.set_external_id(ROOT, Some(root_mark(flavor)));
    seed_space(&app, "scope-sp", space_id(flavor), "SP");
    app.seed_content(SeedContent::new(sp(flavor, "p1"), "scope-sp"));
    let before = app.snapshot();

    let report = app.successful_cycle().await;
    assert_eq!((report.new, report.updated, report.deleted), (0, 0, 0));
    let after = app.snapshot();
    assert_eq!(scopes(&after), scopes(&before));
    assert_eq!(after.contents, before.contents);
    assert_no_writes(&app, &Operation::WRITES);
    app.finish().await;
}

/// 25: a stale copy is re-uploaded under the same key and id.
async fn an_updated_page_is_replaced_in_place(flavor: Flavor) {
    let data = dataset(flavor).page(
        SimPage::new("p1", "SP")
            .labels([SINGLE])
            .body("<p>Updated content</p>"),
    );
    let app = spawn_app(flavor, data).await;
    seed_space(&app, "scope-sp", space_id(flavor), "SP");
    let id = app.seed_content(
        SeedContent::new(sp(flavor, "p1"), "scope-sp")
            .updated_at("2026-01-01T00:00:00.000Z")
            .body("<p>Stale</p>"),
    );
    let report = app.successful_cycle().await;
    assert_eq!((report.new, report.updated), (0, 1));
    let snapshot = app.snapshot();
    assert_eq!(keys(&snapshot), [sp(flavor, "p1")]);
    assert_eq!(snapshot.content(&sp(flavor, "p1")).unwrap().id, id);
    assert_eq!(html(&snapshot, &sp(flavor, "p1")), "<p>Updated content</p>");
    app.finish().await;
}

/// 26: every stored key replaced by disjoint new keys: G2 warns, proceeds.
async fn a_full_replacement_by_new_keys_proceeds(flavor: Flavor) {
    let data = dataset(flavor)
        .page(SimPage::new("p3", "SP").labels([SINGLE]))
        .page(SimPage::new("p4", "SP").labels([SINGLE]));
    let app = spawn_app(flavor, data).await;
    seed_space(&app, "scope-sp", space_id(flavor), "SP");
    app.seed_content(SeedContent::new(sp(flavor, "p1"), "scope-sp"));
    app.seed_content(SeedContent::new(sp(flavor, "p2"), "scope-sp"));
    app.successful_cycle().await;
    assert_eq!(
        keys(&app.snapshot()),
        sorted([sp(flavor, "p3"), sp(flavor, "p4")])
    );
    app.finish().await;
}

/// G2 (ours, end to end): a diff that reports every stored key deleted
/// and nothing new aborts the cycle before anything is written or deleted.
async fn a_diff_deleting_everything_aborts_the_cycle(flavor: Flavor) {
    let data = dataset(flavor)
        .page(SimPage::new("p1", "SP").labels([SINGLE]))
        .page(SimPage::new("p2", "SP").labels([SINGLE]));
    let app = spawn_app(flavor, data).await;
    seed_space(&app, "scope-sp", space_id(flavor), "SP");
    app.seed_content(SeedContent::new(sp(flavor, "p1"), "scope-sp"));
    app.seed_content(SeedContent::new(sp(flavor, "p2"), "scope-sp"));
    app.unique
        .fail_next(Operation::FileDiff, 1, UniqueFault::DiffIgnoresSubmission);
    let before = app.snapshot();

    let report = app.cycle().await;
    assert!(
        matches!(&report.result, CycleResult::Failure(why) if why.contains("delete")),
        "{:?}",
        report.result
    );
    let after = app.snapshot();
    assert_eq!(
        after.contents, before.contents,
        "nothing deleted or written"
    );
    assert_eq!(
        app.unique
            .counters()
            .calls(Operation::ContentDeleteByContentIds),
        0
    );
    app.finish().await;
}
