//! Writes that stop after Unique acted (ADR 0007): a lost answer on each
//! call of an item's register → upload → finalize sequence and on the
//! clean-up, a clean-up that claims success without deleting, an update
//! whose upload fails, and pages edited between discovery, their body
//! fetch and their registration. Every cycle here is a fresh cycle object
//! over the tenant's state directory, as a new process would run it (`sync`
//! runs one per invocation); the final state is asserted exactly.

use confluence_connector::{
    app::sync::{CycleReport, CycleResult},
    sim::{
        confluence::{Dataset, EditTrigger, Flavor, Route, SimAttachment, SimPage},
        unique::{ContentSnapshot, Operation, SeedContent, UniqueFault},
    },
};

use crate::support::*;

both_flavors!(
    a_lost_register_answer_is_repaired_by_the_next_process,
    a_lost_upload_answer_is_repaired,
    a_lost_finalize_answer_of_a_new_item_is_repaired,
    a_lost_finalize_answer_of_an_update_is_repaired,
    a_lost_cleanup_answer_is_repaired,
    a_cleanup_that_deleted_nothing_is_repaired,
    a_failed_update_is_repaired_by_the_next_process,
    a_lost_attachment_register_answer_is_repaired,
    an_edit_after_the_body_fetch_is_ingested_next_cycle,
    an_edit_before_the_body_fetch_is_ingested_at_once,
);

const V1: &str = "<p>version one</p>";
const V2: &str = "<p>version two</p>";
/// After the datasets' default version, before the Unique clock: only the
/// journal can tell the diff that such an edit is not in Unique yet.
const EDITED_AT: &str = "2026-05-02T09:00:00.000Z";

fn one_page(flavor: Flavor, body: &str) -> Dataset {
    dataset(flavor).page(SimPage::new("p1", "SP").labels([SINGLE]).body(body))
}

/// `p1` stored by an earlier sync at `V1`, older than Confluence's version.
fn seed_stale_p1(app: &TestApp) {
    seed_space(app, "scope-sp", space_id(app.flavor()), "SP");
    app.seed_content(
        SeedContent::new(sp(app.flavor(), "p1"), "scope-sp")
            .updated_at("2026-01-01T00:00:00.000Z")
            .body(V1),
    );
}

/// Unique holds exactly `expected` (key, body), each finalized with
/// exactly those bytes.
fn assert_exactly(app: &TestApp, expected: &[(String, &str)]) {
    let snapshot = app.snapshot();
    let wanted: Vec<String> = sorted(expected.iter().map(|(key, _)| key.clone()));
    assert_eq!(keys(&snapshot), wanted);
    for (key, body) in expected {
        let content = stored(&snapshot, key);
        assert!(content.finalized, "{key} is finalized");
        assert_eq!(
            content.blob.as_ref().map(|blob| blob.sha256.as_str()),
            Some(sha256(body.as_bytes()).as_str()),
            "{key} holds exactly its newest body"
        );
    }
}

/// What Unique holds at `key`, finalized or not.
fn registration(app: &TestApp, key: &str) -> ContentSnapshot {
    app.snapshot()
        .content(key)
        .unwrap_or_else(|| panic!("{key} is registered"))
        .clone()
}

/// A faulty cycle whose only writes failed: a failed cycle (exit 1 for
/// `sync`), whose report still counts the items.
async fn all_writes_failed(app: &TestApp) -> CycleReport {
    let report = app.cycle().await;
    assert!(
        matches!(&report.result, CycleResult::Failure(why) if why.starts_with("every attempted write failed")),
        "{:?}",
        report.result
    );
    report
}

async fn cycle(app: &TestApp) -> CycleReport {
    app.successful_cycle().await
}

/// A converged tenant: the next cycle uploads nothing and repairs nothing.
async fn assert_converged(app: &TestApp) {
    app.unique.reset_counters();
    let steady = cycle(app).await;
    assert_eq!(steady.repaired, 0, "nothing left to repair");
    assert_eq!(app.unique.counters().calls(Operation::ContentUpsert), 0);
    assert_eq!(app.unique.counters().calls(Operation::Upload), 0);
    assert_eq!(
        app.repair_journal(),
        "",
        "the journal is compacted to nothing"
    );
}

/// Unique registered the new page (and stamped it) but the answer was lost:
/// the item looks current to every later diff. The next process repairs it.
async fn a_lost_register_answer_is_repaired_by_the_next_process(flavor: Flavor) {
    let app = spawn_app(flavor, one_page(flavor, V1)).await;
    app.unique
        .fail_next(Operation::ContentUpsert, 1, UniqueFault::AnswerLost);
    let first = all_writes_failed(&app).await;
    assert_eq!(first.pages.failure, 1);
    let registered = registration(&app, &sp(flavor, "p1"));
    assert!(registered.blob.is_none() && !registered.finalized);

    let second = cycle(&app).await;
    assert_eq!((second.new, second.updated, second.repaired), (0, 0, 1));
    assert_eq!(second.pages.success, 1);
    assert_exactly(&app, &[(sp(flavor, "p1"), V1)]);
    assert_eq!(stored(&app.snapshot(), &sp(flavor, "p1")).id, registered.id);
    assert_converged(&app).await;
    app.finish().await;
}

/// The blob PUT landed but its answer was lost: a new item's registration
/// is removed and comes back as new; an update is kept pending and redone.
async fn a_lost_upload_answer_is_repaired(flavor: Flavor) {
    let data = one_page(flavor, V2).page(SimPage::new("p2", "SP").labels([SINGLE]).body(V1));
    let app = spawn_app(flavor, data).await;
    seed_stale_p1(&app);
    app.unique
        .fail_next(Operation::Upload, 2, UniqueFault::AnswerLost);
    let first = all_writes_failed(&app).await;
    assert_eq!(first.pages.failure, 2);

    cycle(&app).await;
    assert_exactly(&app, &[(sp(flavor, "p1"), V2), (sp(flavor, "p2"), V1)]);
    assert_converged(&app).await;
    app.finish().await;
}

/// The finalize of a new page committed, its answer was lost: the clean-up
/// removes the item, and the next cycle ingests it as new.
async fn a_lost_finalize_answer_of_a_new_item_is_repaired(flavor: Flavor) {
    let app = spawn_app(flavor, one_page(flavor, V1)).await;
    app.unique
        .fail_next(Operation::ContentUpsert, 1, UniqueFault::Proceed);
    app.unique
        .fail_next(Operation::ContentUpsert, 1, UniqueFault::AnswerLost);
    let first = all_writes_failed(&app).await;
    assert_eq!(first.pages.failure, 1);

    let second = cycle(&app).await;
    assert_eq!(second.pages.success, 1);
    assert_exactly(&app, &[(sp(flavor, "p1"), V1)]);
    assert_converged(&app).await;
    app.finish().await;
}

/// The finalize of an update committed, its answer was lost: the stored
/// item is kept, the journal keeps it pending, the next cycle writes it
/// again although the diff calls it current.
async fn a_lost_finalize_answer_of_an_update_is_repaired(flavor: Flavor) {
    let app = spawn_app(flavor, one_page(flavor, V2)).await;
    seed_stale_p1(&app);
    app.unique
        .fail_next(Operation::ContentUpsert, 1, UniqueFault::Proceed);
    app.unique
        .fail_next(Operation::ContentUpsert, 1, UniqueFault::AnswerLost);
    let first = all_writes_failed(&app).await;
    assert_eq!((first.updated, first.pages.failure), (1, 1));

    let second = cycle(&app).await;
    assert_eq!((second.updated, second.repaired), (0, 1));
    assert_exactly(&app, &[(sp(flavor, "p1"), V2)]);
    assert_converged(&app).await;
    app.finish().await;
}

/// A new page's upload fails, and the answer of its clean-up (which did
/// delete it) is lost.
async fn a_lost_cleanup_answer_is_repaired(flavor: Flavor) {
    let app = spawn_app(flavor, one_page(flavor, V1)).await;
    app.unique
        .fail_next(Operation::Upload, 1, UniqueFault::status(500));
    app.unique.fail_next(
        Operation::ContentDeleteByContentIds,
        1,
        UniqueFault::AnswerLost,
    );
    let first = all_writes_failed(&app).await;
    assert_eq!(first.pages.failure, 1);
    assert!(
        app.snapshot().contents.is_empty(),
        "the clean-up did delete"
    );

    cycle(&app).await;
    assert_exactly(&app, &[(sp(flavor, "p1"), V1)]);
    assert_converged(&app).await;
    app.finish().await;
}

/// A new page's upload fails and its clean-up answers "deleted" without
/// deleting: a registration without bytes stays, and looks current.
async fn a_cleanup_that_deleted_nothing_is_repaired(flavor: Flavor) {
    let app = spawn_app(flavor, one_page(flavor, V1)).await;
    app.unique
        .fail_next(Operation::Upload, 1, UniqueFault::status(500));
    app.unique.fail_next(
        Operation::ContentDeleteByContentIds,
        1,
        UniqueFault::DeletionAcknowledgedNotDone,
    );
    all_writes_failed(&app).await;
    assert!(registration(&app, &sp(flavor, "p1")).blob.is_none());

    let second = cycle(&app).await;
    assert_eq!((second.new, second.repaired), (0, 1));
    assert_exactly(&app, &[(sp(flavor, "p1"), V1)]);
    assert_converged(&app).await;
    app.finish().await;
}

/// An update whose upload fails keeps the old version (ours, §9.8); the
/// diff no longer reports it, and the next process writes it anyway.
async fn a_failed_update_is_repaired_by_the_next_process(flavor: Flavor) {
    let app = spawn_app(flavor, one_page(flavor, V2)).await;
    seed_stale_p1(&app);
    app.unique
        .fail_next(Operation::Upload, 1, UniqueFault::status(500));
    let first = all_writes_failed(&app).await;
    assert_eq!((first.updated, first.pages.failure), (1, 1));
    let kept = registration(&app, &sp(flavor, "p1"));
    assert_eq!(
        kept.blob
            .and_then(|b| b.text().map(str::to_owned))
            .as_deref(),
        Some(V1),
        "old bytes kept"
    );

    let second = cycle(&app).await;
    assert_eq!((second.updated, second.repaired), (0, 1));
    assert_exactly(&app, &[(sp(flavor, "p1"), V2)]);
    assert_converged(&app).await;
    app.finish().await;
}

/// Attachments take the same path: register, download, upload, finalize.
async fn a_lost_attachment_register_answer_is_repaired(flavor: Flavor) {
    let pdf = SimAttachment::new("att-1", "report.pdf", "application/pdf", 2048);
    let data = dataset(flavor).page(
        SimPage::new("p1", "SP")
            .labels([SINGLE])
            .body(V1)
            .attachment(pdf.clone()),
    );
    let app = spawn_app(flavor, data).await;
    // The page's register and finalize pass, the attachment's register
    // commits and its answer is lost.
    app.unique
        .fail_next(Operation::ContentUpsert, 2, UniqueFault::Proceed);
    app.unique
        .fail_next(Operation::ContentUpsert, 1, UniqueFault::AnswerLost);
    let first = cycle(&app).await;
    assert_eq!((first.pages.success, first.attachments.failure), (1, 1));

    let second = cycle(&app).await;
    assert_eq!(second.repaired, 1);
    let attachment_key = sp(flavor, "p1::att-1");
    let snapshot = app.snapshot();
    assert_eq!(
        keys(&snapshot),
        sorted([sp(flavor, "p1"), attachment_key.clone()])
    );
    let stored_attachment = stored(&snapshot, &attachment_key);
    assert!(stored_attachment.finalized);
    assert_eq!(
        stored_attachment.blob.as_ref().map(|b| b.sha256.clone()),
        Some(attachment_sha256(&pdf))
    );
    assert_converged(&app).await;
    app.finish().await;
}

/// Sets `p1`'s body to `V2`, edited at [`EDITED_AT`].
fn edit_p1(dataset: &mut Dataset) {
    let page = dataset.page_mut("p1").expect("p1 exists");
    *page = page.clone().body(V2).version(EDITED_AT);
}

/// Edited after its body was read and before its registration: Unique
/// stamps the registration later than the edit, so the next diff calls the
/// page current; the journal knows which version was uploaded.
async fn an_edit_after_the_body_fetch_is_ingested_next_cycle(flavor: Flavor) {
    // Two pages, so the bodies come from the batched fetch.
    let data = one_page(flavor, V1).page(SimPage::new("p2", "SP").labels([SINGLE]).body(V1));
    let app = spawn_app(flavor, data).await;
    app.confluence
        .edit_when(EditTrigger::BodyServed("p1".to_owned()), edit_p1);
    cycle(&app).await;
    assert_eq!(html(&app.snapshot(), &sp(flavor, "p1")), V1);

    let second = cycle(&app).await;
    assert_eq!((second.updated, second.repaired), (0, 1));
    assert_exactly(&app, &[(sp(flavor, "p1"), V2), (sp(flavor, "p2"), V1)]);
    assert_converged(&app).await;
    app.finish().await;
}

/// Edited between discovery and the body fetch: the fetched body is the
/// new one, and the journal records its version, so nothing is redone.
async fn an_edit_before_the_body_fetch_is_ingested_at_once(flavor: Flavor) {
    let data = one_page(flavor, V1).page(SimPage::new("p2", "SP").labels([SINGLE]).body(V1));
    let app = spawn_app(flavor, data).await;
    // The first search answer is the discovery listing.
    app.confluence
        .edit_when(EditTrigger::AnswerOn(Route::Search), edit_p1);
    cycle(&app).await;
    assert_exactly(&app, &[(sp(flavor, "p1"), V2), (sp(flavor, "p2"), V1)]);
    assert_converged(&app).await;
    app.finish().await;
}
