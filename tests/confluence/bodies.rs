//! Batched body fetch (ours, §13 #26).

use confluence_connector::{
    ports::{BodyFetch, ConfluenceSource, confluence::BODY_BATCH},
    sim::confluence::{Dataset, Fault, Flavor, Route, SimPage, SimSpace},
};

use crate::{both_flavors, support::Harness};

fn pages(count: usize) -> Dataset {
    let mut dataset = Dataset::new().space(SimSpace::new("1", "SP", "Space"));
    for n in 0..count {
        dataset = dataset.page(SimPage::new(format!("{}", 1000 + n), "SP").labels(["x", "y"]));
    }
    dataset
}

/// 120 bodies in ⌈120 / BODY_BATCH⌉ requests, in request order, each with
/// its storage body and labels.
async fn bodies_come_in_batches(flavor: Flavor) {
    let harness = Harness::start(flavor, pages(120)).await;
    let ids: Vec<String> = (1000..1120).map(|n| n.to_string()).collect();
    let bodies = harness.adapter.page_bodies(&ids).await.unwrap();
    assert_eq!(
        bodies.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        ids
    );
    for (id, outcome) in &bodies {
        let BodyFetch::Found(body) = outcome else {
            panic!("{id}: {outcome:?}")
        };
        assert_eq!(body.storage, format!("<p>{id}</p>"));
        assert_eq!(body.labels, ["x", "y"]);
    }
    let counters = harness.sim.counters();
    let requests = counters.api_requests();
    assert_eq!(requests, 120u64.div_ceil(BODY_BATCH as u64));
    assert!((requests as f64) / 120.0 <= 0.1, "target of §13 #26");
    harness.finish().await;
}

/// A batch that keeps failing falls back to single fetches (C3).
async fn a_failed_batch_falls_back_to_single_fetches(flavor: Flavor) {
    let harness = Harness::start(flavor, pages(3)).await;
    harness.sim.fail_next(Route::Search, 6, Fault::Status(500));
    let ids: Vec<String> = (1000..1003).map(|n| n.to_string()).collect();
    let bodies = harness.adapter.page_bodies(&ids).await.unwrap();
    assert!(
        bodies.iter().all(|(_, b)| matches!(b, BodyFetch::Found(_))),
        "{bodies:?}"
    );
    let counters = harness.sim.counters();
    assert_eq!(counters.requests_with_status(Route::Search, 500), 6);
    let singles = match flavor {
        Flavor::Cloud => counters.requests_with_status(Route::Search, 200),
        Flavor::DataCenter => counters.requests_with_status(Route::ContentById, 200),
    };
    assert_eq!(singles, 3);
    harness.finish().await;
}

both_flavors!(
    bodies_come_in_batches,
    a_failed_batch_falls_back_to_single_fetches
);
