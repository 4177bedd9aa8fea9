//! Error classes that tell the truth (ours, PROTOCOL §2.4, §9.3 step 7,
//! §9.8): a Unique-side 404 is a failure, never "source vanished"; a cycle
//! whose every write failed is a failed cycle; `sync` exits 3 when the
//! cycles completed but items failed, naming them; content that vanishes
//! during discovery is skipped; pagination loops end with the URL; broken
//! streams and stalled uploads fail the item, not the tenant.

use confluence_connector::{
    app::sync::{CycleResult, SkipReason},
    sim::{
        confluence::{Fault, Flavor, Quirk, Route, SimAttachment, SimPage},
        unique::{Operation, UniqueFault},
    },
};
use serde_json::json;

use crate::support::*;

both_flavors!(
    a_unique_404_on_upload_is_a_failure_and_sync_exits_3,
    a_cycle_whose_every_write_failed_exits_1,
    a_page_deleted_during_discovery_is_skipped_and_the_rest_proceeds,
    a_pagination_cycle_ends_with_the_url_or_is_recomputed_away,
    a_download_reset_mid_body_fails_only_that_attachment,
    a_stalled_upload_fails_after_the_stall_timeout,
    a_connection_reset_mid_upload_fails_only_that_item,
);

fn two_pages(flavor: Flavor) -> confluence_connector::sim::confluence::Dataset {
    dataset(flavor)
        .page(
            SimPage::new("p1", "SP")
                .title("Quarterly Report")
                .labels([SINGLE])
                .body("<p>one</p>"),
        )
        .page(
            SimPage::new("p2", "SP")
                .title("Quarterly Plan")
                .labels([SINGLE])
                .body("<p>two</p>"),
        )
}

/// The only key of `expected` missing from the snapshot.
fn missing(app: &TestApp, expected: &[String]) -> String {
    let stored = keys(&app.snapshot());
    let missing: Vec<&String> = expected.iter().filter(|k| !stored.contains(k)).collect();
    assert_eq!(missing.len(), 1, "stored {stored:?}");
    missing[0].clone()
}

/// A blob PUT answered 404 (a misrouted upload path) fails that page: the
/// summary names its key, `sync` exits 3 (completed, retry later), the
/// other page is stored, and the next run repairs the rest and exits 0.
async fn a_unique_404_on_upload_is_a_failure_and_sync_exits_3(flavor: Flavor) {
    let mut app = spawn_app(flavor, two_pages(flavor)).await;
    app.configure(json!({"processing": {"concurrency": 1}}));
    app.unique
        .fail_next(Operation::Upload, 1, UniqueFault::status(404));
    let output = app.run_binary(&["sync"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stdout.contains("tenant tenant1: success"), "{stdout}");
    assert!(stdout.contains("failed         1"), "{stdout}");
    assert!(
        stdout.contains("skipped        none"),
        "never 'not found': {stdout}"
    );
    let expected = [sp(flavor, "p1"), sp(flavor, "p2")];
    let failed = missing(&app, &expected);
    assert!(
        stdout.contains(&format!("    failed item  {failed}")),
        "{stdout}"
    );
    assert!(
        !stdout.contains("Quarterly"),
        "no titles in the summary: {stdout}"
    );
    let snapshot = app.snapshot();
    let kept = expected.iter().find(|k| **k != failed).unwrap();
    let want = if kept.ends_with("p1") {
        "<p>one</p>"
    } else {
        "<p>two</p>"
    };
    assert_eq!(html(&snapshot, kept), want);
    assert_eq!(
        stored(&snapshot, kept).blob.as_ref().unwrap().sha256,
        sha256(want.as_bytes())
    );

    let again = app.run_binary(&["sync"]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(0), "{stdout}");
    let snapshot = app.snapshot();
    assert_eq!(keys(&snapshot), sorted(expected.clone()));
    assert_eq!(html(&snapshot, &sp(flavor, "p1")), "<p>one</p>");
    assert_eq!(html(&snapshot, &sp(flavor, "p2")), "<p>two</p>");
    app.finish().await;
}

/// Every blob PUT answered 404: nothing was written, so the cycle is a
/// failure (not a green cycle with an empty knowledge base) and exits 1.
async fn a_cycle_whose_every_write_failed_exits_1(flavor: Flavor) {
    let app = spawn_app(flavor, two_pages(flavor)).await;
    app.unique
        .fail_randomly(Operation::Upload, Some((1.0, UniqueFault::status(404))));
    let output = app.run_binary(&["sync"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "tenant tenant1: failure: every attempted write failed (2 items failed to ingest"
        ),
        "{stdout}"
    );
    for page in ["p1", "p2"] {
        assert!(
            stdout.contains(&format!("    failed item  {}", sp(flavor, page))),
            "{stdout}"
        );
    }
    // The registrations of the failed new items were removed again.
    assert!(app.snapshot().contents.is_empty(), "{:?}", app.snapshot());
    app.finish().await;
}

/// The attachment listing of `p1` (more than 25 attachments, so it is
/// completed by a second request) answers 404 on Cloud (v2 listing) and
/// 410 on Data Center (continuation): the page was deleted during
/// discovery. It is skipped and counted; `p2` is ingested.
async fn a_page_deleted_during_discovery_is_skipped_and_the_rest_proceeds(flavor: Flavor) {
    let mut page = SimPage::new("p1", "SP").labels([SINGLE]);
    for n in 0..30 {
        page = page.attachment(SimAttachment::new(
            format!("att{n}"),
            format!("f{n}.pdf"),
            "application/pdf",
            100,
        ));
    }
    let data = dataset(flavor)
        .page(page)
        .page(SimPage::new("p2", "SP").labels([SINGLE]).body("<p>two</p>"));
    let app = spawn_app(flavor, data).await;
    let (route, status) = match flavor {
        Flavor::Cloud => (Route::AttachmentsV2, 404),
        Flavor::DataCenter => (Route::ChildAttachments, 410),
    };
    app.confluence.fail_next(route, 1, Fault::Status(status));
    let report = app.successful_cycle().await;
    assert_eq!(report.discovered_pages, 1);
    assert_eq!(report.discovered_attachments, 0);
    assert_eq!(report.skipped.get(&SkipReason::NotFound), Some(&1));
    assert_eq!(report.pages.success, 1);
    let snapshot = app.snapshot();
    assert_eq!(keys(&snapshot), [sp(flavor, "p2")]);
    assert_eq!(html(&snapshot, &sp(flavor, "p2")), "<p>two</p>");
    assert_eq!(
        app.confluence
            .counters()
            .requests_with_status(route, status),
        1
    );
    app.finish().await;
}

/// The last result page links back to the first (A→B→A). Cloud follows
/// links verbatim: the cycle fails naming the URL and writes nothing. Data
/// Center computes its own offsets, reaches the end and syncs.
async fn a_pagination_cycle_ends_with_the_url_or_is_recomputed_away(flavor: Flavor) {
    let app = spawn_app(
        flavor,
        dataset(flavor).page(SimPage::new("p1", "SP").labels([SINGLE]).body("<p>one</p>")),
    )
    .await;
    app.confluence.set_quirk(Quirk::PaginationCycle, true);
    let report = app.cycle().await;
    match flavor {
        Flavor::Cloud => {
            let CycleResult::Failure(why) = &report.result else {
                panic!("expected a failure: {report:#?}");
            };
            assert!(why.contains("pagination loops"), "{why}");
            assert!(why.contains("/wiki/rest/api/content/search?"), "{why}");
            // Initialization claimed the root; nothing else was written.
            assert!(app.snapshot().contents.is_empty());
            assert_no_writes(
                &app,
                &[
                    Operation::ContentUpsert,
                    Operation::Upload,
                    Operation::ContentDeleteByContentIds,
                    Operation::GenerateScopesBasedOnPaths,
                    Operation::DeleteFolder,
                ],
            );
        }
        Flavor::DataCenter => {
            assert_eq!(report.result, CycleResult::Success, "{report:#?}");
            assert_eq!(html(&app.snapshot(), &sp(flavor, "p1")), "<p>one</p>");
        }
    }
    app.finish().await;
}

/// A download whose connection breaks after half the bytes fails that
/// attachment (not a skip, not the cycle); the page is stored, and the next
/// cycle stores the attachment with its exact bytes.
async fn a_download_reset_mid_body_fails_only_that_attachment(flavor: Flavor) {
    one_attachment_fails_then_is_stored(flavor, |app| {
        app.confluence
            .fail_next(Route::Download, 1, Fault::ResetMidBody);
    })
    .await;
}

/// One page with one PDF; `inject` makes the attachment's write fail once.
/// The page is stored, the attachment is the one failed item, and the next
/// cycle stores it with its exact bytes.
async fn one_attachment_fails_then_is_stored(flavor: Flavor, inject: impl FnOnce(&TestApp)) {
    let attachment = SimAttachment::new("att1", "report.pdf", "application/pdf", 4096);
    let data = dataset(flavor).page(
        SimPage::new("p1", "SP")
            .labels([SINGLE])
            .body("<p>one</p>")
            .attachment(attachment.clone()),
    );
    let app = spawn_app(flavor, data).await;
    inject(&app);
    let report = app.successful_cycle().await;
    assert_eq!(
        (report.pages.success, report.attachments.failure),
        (1, 1),
        "{report:#?}"
    );
    assert_eq!(report.failed_items, [sp(flavor, "p1::att1")]);
    assert_eq!(keys(&app.snapshot()), [sp(flavor, "p1")]);

    let next = app.successful_cycle().await;
    assert_eq!(next.attachments.success, 1);
    let snapshot = app.snapshot();
    assert_eq!(
        keys(&snapshot),
        sorted([sp(flavor, "p1"), sp(flavor, "p1::att1")])
    );
    assert_eq!(
        stored(&snapshot, &sp(flavor, "p1::att1"))
            .blob
            .as_ref()
            .unwrap()
            .sha256,
        attachment_sha256(&attachment)
    );
    app.finish().await;
}

/// A blob endpoint that stops reading and never answers: with
/// `UNIQUE_UPLOAD_STALL_TIMEOUT_SECONDS=1` that upload fails (instead of
/// hanging the cycle forever); the other page is stored.
async fn a_stalled_upload_fails_after_the_stall_timeout(flavor: Flavor) {
    let mut app = spawn_app(flavor, two_pages(flavor)).await;
    app.configure(json!({"processing": {"concurrency": 1}}));
    app.set_env("UNIQUE_UPLOAD_STALL_TIMEOUT_SECONDS", "1");
    app.unique
        .fail_next(Operation::Upload, 1, UniqueFault::Stall);
    let report = app.successful_cycle().await;
    assert_eq!((report.pages.success, report.pages.failure), (1, 1));
    let expected = [sp(flavor, "p1"), sp(flavor, "p2")];
    let failed = missing(&app, &expected);
    assert_eq!(report.failed_items, [failed]);
    app.finish().await;
}

/// The blob endpoint drops the connection after half of an attachment's
/// bytes: that attachment fails (its registration is removed), the page is
/// stored, and the next cycle stores the attachment with its exact bytes.
async fn a_connection_reset_mid_upload_fails_only_that_item(flavor: Flavor) {
    one_attachment_fails_then_is_stored(flavor, |app| {
        // Pages go first: the page's upload passes, the attachment's breaks.
        app.unique.fail_next(
            Operation::Upload,
            1,
            UniqueFault::Delay(std::time::Duration::ZERO),
        );
        app.unique
            .fail_next(Operation::Upload, 1, UniqueFault::ResetMidUpload);
    })
    .await;
}
