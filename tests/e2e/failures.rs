//! PROTOCOL §12 scenarios 27–29: one item's failure never stops the
//! others, and the cycle still succeeds.

use std::time::Duration;

use confluence_connector::sim::{
    confluence::{Fault, Flavor, Quirk, Route, SimAttachment, SimPage},
    unique::{Operation, UniqueFault},
};
use serde_json::json;

use crate::support::*;

both_flavors!(
    a_failing_body_fetch_skips_only_that_page,
    a_failing_registration_skips_only_that_page,
    a_failing_download_removes_the_registration,
    a_page_deleted_mid_cycle_is_skipped,
);

fn three_pages(flavor: Flavor) -> confluence_connector::sim::confluence::Dataset {
    dataset(flavor)
        .page(SimPage::new("p1", "SP").labels([SINGLE]))
        .page(
            SimPage::new("p2", "SP")
                .labels([SINGLE])
                .body_expansion_fails(),
        )
        .page(SimPage::new("p3", "SP").labels([SINGLE]))
}

/// 27: the body of `p2` answers 500 (batched and single fetch alike).
async fn a_failing_body_fetch_skips_only_that_page(flavor: Flavor) {
    let app = spawn_app(flavor, three_pages(flavor)).await;
    app.confluence.set_quirk(Quirk::BodyExpansionFailure, true);
    let report = app.successful_cycle().await;
    assert_eq!((report.pages.success, report.pages.failure), (2, 1));
    assert_eq!(
        keys(&app.snapshot()),
        sorted([sp(flavor, "p1"), sp(flavor, "p3")])
    );
    // The failed page comes back as new in the next cycle.
    app.confluence.set_quirk(Quirk::BodyExpansionFailure, false);
    let next = app.successful_cycle().await;
    assert_eq!((next.new, next.pages.success), (1, 1));
    app.finish().await;
}

/// 28: the registration of `p2` fails. With one worker the upserts run in
/// discovery order: p1 register, p1 finalize, then p2 register.
async fn a_failing_registration_skips_only_that_page(flavor: Flavor) {
    let mut app = spawn_app(flavor, three_pages(flavor)).await;
    app.configure(json!({"processing": {"concurrency": 1}}));
    let pass = UniqueFault::Delay(Duration::ZERO);
    app.unique.fail_next(Operation::ContentUpsert, 2, pass);
    app.unique.fail_next(
        Operation::ContentUpsert,
        1,
        UniqueFault::GraphqlError {
            code: "INTERNAL_SERVER_ERROR".into(),
            status: 500,
        },
    );
    let report = app.successful_cycle().await;
    assert_eq!((report.pages.success, report.pages.failure), (2, 1));
    let snapshot = app.snapshot();
    assert_eq!(
        keys(&snapshot),
        sorted([sp(flavor, "p1"), sp(flavor, "p3")])
    );
    app.finish().await;
}

/// 29: every download fails: the page is ingested, the attachment's
/// registration is removed again, the cycle succeeds.
async fn a_failing_download_removes_the_registration(flavor: Flavor) {
    let data = dataset(flavor).page(
        SimPage::new("p1", "SP")
            .labels([SINGLE])
            .body("<p>See attached.</p>")
            .attachment(SimAttachment::new(
                "att-1",
                "report.pdf",
                "application/pdf",
                500,
            )),
    );
    let app = spawn_app(flavor, data).await;
    app.confluence
        .fail_randomly(Route::Download, Some((1.0, Fault::Status(500))));
    let report = app.successful_cycle().await;
    assert_eq!(
        (report.attachments.success, report.attachments.failure),
        (0, 1)
    );
    let snapshot = app.snapshot();
    assert_eq!(keys(&snapshot), [sp(flavor, "p1")]);
    assert!(
        app.unique
            .counters()
            .calls(Operation::ContentDeleteByContentIds)
            >= 1,
        "the half-registered attachment was deleted"
    );
    app.finish().await;
}

/// §5.13 "content deleted mid-cycle": a page gone between discovery and
/// its body fetch is skipped, not failed, and nothing is left behind.
async fn a_page_deleted_mid_cycle_is_skipped(flavor: Flavor) {
    let data = dataset(flavor)
        .page(SimPage::new("p1", "SP").labels([SINGLE]))
        .page(SimPage::new("p2", "SP").labels([SINGLE]));
    let app = spawn_app(flavor, data).await;
    // The file-diff is the last call before bodies are fetched: hold it,
    // and delete the page once it has arrived (after discovery).
    app.unique.fail_next(
        Operation::FileDiff,
        1,
        UniqueFault::Delay(Duration::from_millis(500)),
    );
    let (confluence, unique) = (&app.confluence, &app.unique);
    let (report, ()) = tokio::join!(app.cycle(), async {
        while unique.counters().calls(Operation::FileDiff) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        confluence.update_dataset(|d| d.remove_page("p2"));
    });
    assert_eq!(
        report.result,
        confluence_connector::app::sync::CycleResult::Success
    );
    assert_eq!((report.pages.success, report.pages.skipped), (1, 1));
    assert_eq!(keys(&app.snapshot()), [sp(flavor, "p1")]);
    app.finish().await;
}
