//! Rate limiting (§5.11) and 429 handling (§5.12).

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use confluence_connector::{
    ports::ConfluenceSource,
    sim::confluence::{
        Dataset, Fault, Flavor, PointsQuota, Quirk, RateLimit, Route, SimAttachment, SimPage,
        SimSpace,
    },
};
use futures::TryStreamExt as _;

use crate::{
    both_flavors,
    support::{Harness, Login, SINGLE},
};

fn pages(count: usize) -> Dataset {
    let mut dataset = Dataset::new().space(SimSpace::new("1", "SP", "Space"));
    for n in 0..count {
        dataset = dataset.page(SimPage::new(format!("{}", 100 + n), "SP").labels([SINGLE]));
    }
    dataset
}

/// The tenant's limiter paces requests: with the simulator limiting at the
/// same rate (a slack of three requests absorbs loopback jitter), more
/// requests than the burst from four concurrent callers produce zero
/// requests over the limit and no 429.
async fn pacing_keeps_every_request_within_the_limit(flavor: Flavor) {
    const RATE: u32 = 1200;
    let harness = Harness::start_with(flavor, pages(4), Login::OAuth, |s| {
        s.rate_limit_per_minute = NonZeroU32::new(RATE).unwrap();
    })
    .await;
    harness.sim.set_rate_limit(Some(RateLimit {
        per_minute: NonZeroU32::new(RATE).unwrap(),
        slack: 3,
    }));
    let adapter = Arc::new(harness.adapter);
    let callers: Vec<_> = (0..4)
        .map(|worker| {
            let adapter = Arc::clone(&adapter);
            tokio::spawn(async move {
                for n in 0..330 {
                    let id = format!("{}", 100 + (worker + n) % 4);
                    adapter.page_bodies(&[id]).await.expect("body");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    let counters = harness.sim.counters();
    assert_eq!(counters.api_requests(), 1320);
    assert_eq!(counters.over_limit, 0);
    assert_eq!(counters.with_status(429), 0);
    let seen = adapter.observations().snapshot();
    assert!(
        seen.throttled_locally > 0,
        "the burst was used up, so the limiter had to wait"
    );
    assert_eq!(seen.throttled_by_server, 0);
    let harness = crate::support::Harness {
        sim: harness.sim,
        adapter: Arc::into_inner(adapter).expect("callers are done"),
    };
    harness.finish().await;
}

/// Above the server's rate: 429 with `Retry-After`, honoured, every 429
/// counted, and the calls still succeed.
async fn server_throttling_is_waited_out_and_counted(flavor: Flavor) {
    let harness = Harness::start(flavor, pages(1)).await;
    harness.sim.set_rate_limit(Some(RateLimit {
        per_minute: NonZeroU32::new(60).unwrap(),
        slack: 0,
    }));
    for _ in 0..62 {
        harness
            .adapter
            .page_bodies(&["100".to_owned()])
            .await
            .unwrap();
    }
    let counters = harness.sim.counters();
    assert!(counters.over_limit >= 2, "{counters:?}");
    let seen = harness.adapter.observations().snapshot();
    assert_eq!(seen.throttled_by_server, counters.with_status(429));
    assert_eq!(seen.retries, counters.with_status(429));
    harness.finish().await;
}

/// 429 without `Retry-After` (§5.13): exponential backoff, then success;
/// every retry takes a limiter token, so it shows up as an attempt.
async fn throttling_without_retry_after_backs_off(flavor: Flavor) {
    let harness = Harness::start(flavor, pages(1)).await;
    harness
        .sim
        .set_quirk(Quirk::RateLimitWithoutRetryAfter, true);
    harness.sim.fail_next(Route::Search, 3, Fault::Status(429));
    assert_eq!(harness.adapter.labeled_content().await.unwrap().len(), 1);
    let seen = harness.adapter.observations().snapshot();
    assert_eq!(seen.throttled_by_server, 3);
    assert_eq!(seen.retries, 3);
    assert_eq!(harness.sim.counters().requests(Route::Search), 4);
    harness.finish().await;
}

/// Retries are bounded: a route that always answers 503 fails after
/// 1 + 5 attempts with a transient error naming the request.
async fn retries_are_bounded(flavor: Flavor) {
    let harness = Harness::start(flavor, pages(1)).await;
    harness
        .sim
        .fail_next(Route::Search, 100, Fault::Status(503));
    let error = harness.adapter.labeled_content().await.unwrap_err();
    assert_eq!(
        error.kind(),
        confluence_connector::ports::ErrorKind::Transient
    );
    assert_eq!(error.status(), Some(503));
    assert_eq!(harness.sim.counters().requests(Route::Search), 6);
    harness.finish().await;
}

/// Cloud points quota (§5.13): when less than 10 % remains, requests are
/// spread until the reset, so none is refused for quota.
#[tokio::test]
async fn a_nearly_used_points_quota_slows_the_tenant_down() {
    let mut settings = confluence_connector::sim::confluence::SimSettings::cloud();
    settings.points_quota = PointsQuota {
        limit: 20,
        window: std::time::Duration::from_secs(1),
    };
    let sim = confluence_connector::sim::confluence::ConfluenceSim::start(settings, pages(1))
        .await
        .unwrap();
    sim.set_quirk(Quirk::PointsQuotaHeaders, true);
    let adapter = confluence_connector::adapters::confluence::ConfluenceAdapter::new(
        confluence_connector::adapters::http::transport::HttpClients::loopback().proxied,
        crate::support::settings_for(&sim, Login::OAuth),
    );
    for _ in 0..45 {
        adapter.page_bodies(&["100".to_owned()]).await.unwrap();
    }
    assert_eq!(sim.counters().over_quota, 0);
    assert!(adapter.observations().snapshot().quota_paced > 0);
    Harness { sim, adapter }.finish().await;
}

/// A request's timeout covers one attempt's exchange, not the waits before
/// it: with the server throttling at 60 a minute, the downloads past its
/// budget are answered 429 with `Retry-After` (about a second), longer
/// than their 300 ms request timeout; the adapter waits that out and every
/// download completes with all its bytes.
async fn waits_for_retry_after_do_not_count_against_the_request_timeout(flavor: Flavor) {
    let attachment = SimAttachment::new("att1", "a.pdf", "application/pdf", 64);
    let dataset = Dataset::new()
        .space(SimSpace::new("1", "SP", "Space"))
        .page(
            SimPage::new("100", "SP")
                .labels([SINGLE])
                .attachment(attachment),
        );
    let harness = Harness::start_with(flavor, dataset, Login::OAuth, |s| {
        s.timeouts.request = Duration::from_millis(300);
    })
    .await;
    let page = harness.adapter.labeled_content().await.unwrap().remove(0);
    harness.sim.set_rate_limit(Some(RateLimit {
        per_minute: NonZeroU32::new(60).unwrap(),
        slack: 0,
    }));
    for _ in 0..62 {
        let stream = harness
            .adapter
            .download(&page.id, &page.attachments[0])
            .await
            .expect("the download waits for the server instead of timing out");
        let bytes: Vec<bytes::Bytes> = stream.chunks.try_collect().await.unwrap();
        assert_eq!(bytes.iter().map(|b| b.len()).sum::<usize>(), 64);
    }
    let counters = harness.sim.counters();
    assert!(counters.with_status(429) >= 1, "{counters:?}");
    assert_eq!(
        harness
            .adapter
            .observations()
            .snapshot()
            .throttled_by_server,
        counters.with_status(429)
    );
    harness.finish().await;
}

/// The wait for the tenant's own limiter is not part of a request's
/// timeout either: at 60 requests a minute the burst is used up after 60,
/// and the next ones wait about a second each for a token, far longer than
/// their 300 ms timeout, and still succeed.
async fn waits_for_the_limiter_do_not_count_against_the_request_timeout(flavor: Flavor) {
    let harness = Harness::start_with(flavor, pages(1), Login::OAuth, |s| {
        s.rate_limit_per_minute = NonZeroU32::new(60).unwrap();
        s.timeouts.request = Duration::from_millis(300);
    })
    .await;
    for _ in 0..62 {
        harness
            .adapter
            .page_bodies(&["100".to_owned()])
            .await
            .expect("the request waits for its token instead of timing out");
    }
    assert!(harness.adapter.observations().snapshot().throttled_locally >= 2);
    assert_eq!(harness.sim.counters().with_status(429), 0);
    harness.finish().await;
}

both_flavors!(
    waits_for_the_limiter_do_not_count_against_the_request_timeout,
    waits_for_retry_after_do_not_count_against_the_request_timeout,
    pacing_keeps_every_request_within_the_limit,
    server_throttling_is_waited_out_and_counted,
    throttling_without_retry_after_backs_off,
    retries_are_bounded,
);
