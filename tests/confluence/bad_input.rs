//! Bad answers become typed errors naming the request, never panics.

use std::time::Duration;

use confluence_connector::{
    ports::{BodyFetch, ConfluenceSource, ErrorKind},
    sim::confluence::{Dataset, Fault, Flavor, Route, SimPage, SimSpace},
};

use crate::{
    both_flavors,
    support::{Harness, Login, SINGLE},
};

fn dataset() -> Dataset {
    Dataset::new()
        .space(SimSpace::new("1", "SP", "Space"))
        .page(SimPage::new("1", "SP").labels([SINGLE]))
}

async fn discovery_error(flavor: Flavor, fault: Fault) -> confluence_connector::ports::PortError {
    let harness = Harness::start(flavor, dataset()).await;
    harness.sim.fail_next(Route::Search, 1, fault);
    let error = harness.adapter.labeled_content().await.unwrap_err();
    assert!(error.context().contains("label discovery"), "{error}");
    harness.finish().await;
    error
}

/// An HTML login page instead of JSON.
async fn html_instead_of_json_is_an_invalid_response(flavor: Flavor) {
    let error = discovery_error(flavor, Fault::Html).await;
    assert_eq!(error.kind(), ErrorKind::InvalidResponse);
    assert!(
        format!("{error:#}").contains("<!DOCTYPE html>"),
        "{error:#}"
    );
}

/// JSON cut in the middle.
async fn a_truncated_body_is_an_invalid_response(flavor: Flavor) {
    let error = discovery_error(flavor, Fault::TruncatedJson).await;
    assert_eq!(error.kind(), ErrorKind::InvalidResponse);
}

/// 403 is not retried and maps to `Forbidden`; 404 to `NotFound`.
async fn client_errors_are_final(flavor: Flavor) {
    let error = discovery_error(flavor, Fault::Status(403)).await;
    assert_eq!(
        (error.kind(), error.status()),
        (ErrorKind::Forbidden, Some(403))
    );
    let error = discovery_error(flavor, Fault::Status(404)).await;
    assert_eq!(error.kind(), ErrorKind::NotFound);
    let error = discovery_error(flavor, Fault::Status(400)).await;
    assert_eq!(error.kind(), ErrorKind::Rejected);
}

/// A slow answer times out and is retried; a page whose every attempt is
/// slow fails as `Transient` (here through the body fetch, so the other
/// pages are unaffected).
async fn slow_answers_time_out_and_are_retried(flavor: Flavor) {
    let harness = Harness::start_with(flavor, dataset(), Login::OAuth, |s| {
        s.timeouts.request = Duration::from_millis(800);
    })
    .await;
    harness
        .sim
        .fail_next(Route::Search, 1, Fault::Delay(Duration::from_secs(2)));
    assert_eq!(harness.adapter.labeled_content().await.unwrap().len(), 1);
    assert!(harness.adapter.observations().snapshot().retries >= 1);
    let route = if flavor == Flavor::Cloud {
        Route::Search
    } else {
        Route::ContentById
    };
    harness
        .sim
        .fail_next(route, 6, Fault::Delay(Duration::from_secs(2)));
    let bodies = harness
        .adapter
        .page_bodies(&["1".to_owned()])
        .await
        .unwrap();
    let BodyFetch::Failed(error) = &bodies[0].1 else {
        panic!("{bodies:?}")
    };
    assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
    harness.finish().await;
}

/// An id that cannot go into CQL is skipped by discovery (with a warning)
/// and rejected by the body fetch, never placed in a query (§5.2).
#[tokio::test]
async fn unusable_ids_are_skipped_not_fatal() {
    let dataset = Dataset::new()
        .space(SimSpace::new("1", "SP", "Space"))
        .page(SimPage::new("ok-1", "SP").labels([SINGLE]))
        .page(SimPage::new("bad id", "SP").labels([SINGLE]));
    let harness = Harness::start(Flavor::DataCenter, dataset).await;
    let found = harness.adapter.labeled_content().await.unwrap();
    assert_eq!(
        found.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["ok-1"]
    );
    let bodies = harness
        .adapter
        .page_bodies(&["bad id".to_owned()])
        .await
        .unwrap();
    assert!(matches!(&bodies[0].1, BodyFetch::Failed(e) if e.kind() == ErrorKind::Rejected));
    harness.finish().await;
}

both_flavors!(
    html_instead_of_json_is_an_invalid_response,
    a_truncated_body_is_an_invalid_response,
    client_errors_are_final,
    slow_answers_time_out_and_are_retried,
);
