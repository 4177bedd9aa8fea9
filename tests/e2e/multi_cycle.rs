//! Several cycles over a changing Confluence: edits, relabelling, deleted
//! pages, a page moving to another space, a space emptied, then the
//! tenant deleted; and a failed update retried by the next cycle.

use std::collections::BTreeMap;

use confluence_connector::{
    app::sync::{CycleResult, NoObserver, PurgeOutcome},
    sim::{
        confluence::{Flavor, SimAttachment, SimPage, SimSpace},
        unique::{AccessType, Operation, SeedContent, UniqueFault},
    },
};
use serde_json::json;

use crate::support::*;

both_flavors!(
    a_tenant_evolves_over_cycles,
    a_failed_update_is_retried_by_the_next_cycle
);

const EDITED: &str = "2026-07-01T09:30:00.000Z";

async fn a_tenant_evolves_over_cycles(flavor: Flavor) {
    let eng = match flavor {
        Flavor::Cloud => "space-eng",
        Flavor::DataCenter => "2001",
    };
    let pdf = SimAttachment::new("att-1", "spec.pdf", "application/pdf", 4_096).with_seed(9);
    let data = dataset(flavor)
        .space(SimSpace::new(eng, "ENG", "Engineering"))
        .page(
            SimPage::new("p1", "SP")
                .labels([SINGLE])
                .body("<p>first</p>")
                .attachment(pdf.clone()),
        )
        .page(SimPage::new("p2", "SP").labels([SINGLE]))
        .page(SimPage::new("root", "SP").labels([ALL]))
        .page(SimPage::new("child", "SP").parent("root"))
        .page(SimPage::new("p3", "ENG").labels([SINGLE]))
        .page(SimPage::new("p4", "SP"));
    let mut app = spawn_app(flavor, data).await;
    let s = |item: &str| sp(flavor, item);

    // Cycle 1: the initial sync.
    let first = app.successful_cycle().await;
    assert_eq!(first.new, 6);
    let snapshot = app.snapshot();
    assert_eq!(
        keys(&snapshot),
        sorted([
            key(eng, "ENG", "p3"),
            s("child"),
            s("p1"),
            s("p1::att-1"),
            s("p2"),
            s("root"),
        ])
    );
    let p1_id = snapshot.content(&s("p1")).unwrap().id.clone();

    // Cycle 2: nothing changed: no Unique write, a handful of Confluence
    // requests (at most pages/100 + spaces + 10).
    app.unique.reset_counters();
    let requests_before = app.confluence.counters().api_requests();
    let steady = app.successful_cycle().await;
    assert_eq!((steady.new, steady.updated, steady.deleted), (0, 0, 0));
    assert_no_writes(&app, &Operation::WRITES);
    let requests = app.confluence.counters().api_requests() - requests_before;
    assert!(
        requests <= 12,
        "{requests} Confluence requests in a steady cycle"
    );
    assert_eq!(keys(&app.snapshot()), keys(&snapshot));

    // Cycle 3: p1 edited (new version, new body).
    app.confluence.update_dataset(|d| {
        let p1 = d.page_mut("p1").unwrap();
        p1.body = "<p>edited</p>".into();
        p1.version_when = EDITED.into();
    });
    let edit = app.successful_cycle().await;
    assert_eq!((edit.new, edit.updated, edit.deleted), (0, 1, 0));
    let snapshot = app.snapshot();
    assert_eq!(html(&snapshot, &s("p1")), "<p>edited</p>");
    assert_eq!(
        snapshot.content(&s("p1")).unwrap().id,
        p1_id,
        "updated in place"
    );

    // Cycle 4: p2 loses its label, p4 gains one, `child` is deleted, p3
    // moves from ENG to SP (which empties ENG).
    app.confluence.update_dataset(|d| {
        d.page_mut("p2").unwrap().labels.clear();
        d.page_mut("p4").unwrap().labels = vec![SINGLE.into()];
        assert!(d.remove_page("child"));
        d.page_mut("p3").unwrap().space_key = "SP".into();
    });
    let changes = app.successful_cycle().await;
    assert_eq!(changes.new, 2, "p3 under SP and p4");
    assert_eq!(changes.deleted, 2, "p2 and child");
    assert_eq!(
        (changes.orphan_scopes_removed, changes.orphan_files_removed),
        (1, 1),
        "ENG with the old p3"
    );
    let snapshot = app.snapshot();
    assert_eq!(
        keys(&snapshot),
        sorted([s("p1"), s("p1::att-1"), s("p3"), s("p4"), s("root")])
    );
    assert_eq!(
        scopes(&snapshot),
        BTreeMap::from([
            ("/Confluence".to_owned(), Some(root_mark(flavor).to_owned())),
            (
                "/Confluence/SP".to_owned(),
                Some(space_mark(space_id(flavor), "SP"))
            ),
        ])
    );
    assert_eq!(
        stored(&snapshot, &s("p1::att-1"))
            .blob
            .as_ref()
            .unwrap()
            .sha256,
        attachment_sha256(&pdf)
    );

    // The tenant is deleted: the next run purges everything it owns.
    app.configure(json!({"status": "deleted"}));
    let purge = app.purge().await;
    assert_eq!(purge.outcome, PurgeOutcome::Success);
    assert_eq!((purge.content_deleted, purge.scopes_deleted), (5, 1));
    let snapshot = app.snapshot();
    assert_eq!(
        scopes(&snapshot),
        BTreeMap::from([("/Confluence".to_owned(), None)])
    );
    assert!(snapshot.contents.is_empty());
    app.finish().await;
}

/// An update whose upload fails keeps the old version (ours, §9.8); Unique
/// stamped the item at registration, so the next diff does not report it,
/// and the next cycle of the long-lived daemon cycle re-ingests it anyway
/// (the repair journal; `repair.rs` runs the same with a fresh process).
async fn a_failed_update_is_retried_by_the_next_cycle(flavor: Flavor) {
    let data = dataset(flavor).page(SimPage::new("p1", "SP").labels([SINGLE]).body("<p>v2</p>"));
    let app = spawn_app(flavor, data).await;
    app.unique.grant_service_user(
        ROOT,
        &[AccessType::Manage, AccessType::Read, AccessType::Write],
    );
    seed_space(&app, "scope-sp", space_id(flavor), "SP");
    let id = app.seed_content(
        SeedContent::new(sp(flavor, "p1"), "scope-sp")
            .updated_at("2026-01-01T00:00:00.000Z")
            .body("<p>v1</p>"),
    );
    app.unique
        .fail_next(Operation::Upload, 1, UniqueFault::status(500));
    let daemon = app.daemon_cycle();

    let first = daemon.run(&NoObserver).await;
    // Its only write failed: a failed cycle (ours, §9.8).
    assert!(
        matches!(&first.result, CycleResult::Failure(why) if why.contains("every attempted write failed")),
        "{:?}",
        first.result
    );
    assert_eq!((first.updated, first.pages.failure), (1, 1));
    let snapshot = app.snapshot();
    let kept = snapshot
        .content(&sp(flavor, "p1"))
        .expect("the old version is kept");
    assert_eq!(kept.id, id);
    assert_eq!(kept.blob.as_ref().and_then(|b| b.text()), Some("<p>v1</p>"));

    let second = daemon.run(&NoObserver).await;
    assert_eq!(second.result, CycleResult::Success);
    assert_eq!(second.updated, 0, "the diff no longer reports it");
    assert_eq!(
        (second.pages.success, second.repaired),
        (1, 1),
        "re-ingested from the repair journal"
    );
    assert_eq!(html(&app.snapshot(), &sp(flavor, "p1")), "<p>v2</p>");

    let third = daemon.run(&NoObserver).await;
    assert_eq!(third.pages.success, 0, "nothing left to retry");
    app.finish().await;
}
