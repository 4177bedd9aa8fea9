//! Every quirk of PROTOCOL §5.13 (and the relative Cloud next links of
//! §13 #21), switched on in the simulator, tolerated by the adapters.

use confluence_connector::{
    ports::{BodyFetch, ConfluenceSource, ErrorKind},
    sim::confluence::{
        Dataset, EarlyEnd, Flavor, Quirk, Route, SimAttachment, SimPage, SimSettings, SimSpace,
    },
};
use futures::TryStreamExt as _;

use crate::{
    both_flavors,
    discovery::random_tree,
    support::{Harness, Login, SINGLE, enumerate, expected},
};

/// Data Center returns fewer results than asked and a `next` link built
/// from the requested limit: the adapter counts what it received instead,
/// so the enumeration still equals the dataset (attachment listings too).
#[tokio::test]
async fn data_center_capped_pages_lose_nothing() {
    let dataset = random_tree(21);
    let want = expected(&dataset, Flavor::DataCenter);
    let mut settings = SimSettings::data_center();
    settings.capped_page_size = 7;
    let harness = Harness::start_on(settings, dataset, Login::OAuth, |_| {}).await;
    harness.sim.set_quirk(Quirk::CappedPageSize, true);
    assert_eq!(enumerate(&harness.adapter).await, want);
    let counters = harness.sim.counters();
    assert!(
        counters.requests(Route::Search) > 4,
        "search pagination was exercised"
    );
    assert!(
        counters.requests(Route::ChildAttachments) > 1,
        "attachment pagination was exercised"
    );
    harness.finish().await;
}

/// A page with no results but a `next` link ends the listing (no loop).
async fn an_empty_page_with_a_next_link_ends_the_list(flavor: Flavor) {
    let dataset = random_tree(22);
    let want = expected(&dataset, flavor);
    let harness = Harness::start(flavor, dataset).await;
    harness.sim.set_quirk(Quirk::EmptyPageWithNext, true);
    let before = harness.sim.counters().requests(Route::Search);
    assert_eq!(harness.adapter.listings_ended_early(), 0);
    assert_eq!(enumerate(&harness.adapter).await, want);
    // Every listing (C1, C2, and the attachment listings that needed more
    // than one page) ended at such a page: reported to the cycle, which
    // then holds its deletions (ours, §9.3 step 7).
    assert!(harness.adapter.listings_ended_early() >= 2);
    let searches = harness.sim.counters().requests(Route::Search) - before;
    // Each listing costs its pages plus exactly one empty page.
    assert!(
        searches <= 2 * (1 + want.1.len() as u64 / 100 + 1),
        "{searches} searches"
    );
    harness.finish().await;
}

fn capped_page() -> Dataset {
    let mut page = SimPage::new("9", "SP").labels([SINGLE]);
    for n in 0..30 {
        page = page.attachment(SimAttachment::new(
            format!("att{n}"),
            format!("f{n}.txt"),
            "text/plain",
            5,
        ));
    }
    Dataset::new()
        .space(SimSpace::new("1", "SP", "Space"))
        .page(page)
}

/// Cloud's v1 continuation answers 410: the adapter uses the v2 listing
/// and never follows the v1 link.
#[tokio::test]
async fn cloud_v1_attachment_continuation_gone() {
    let harness = Harness::start(Flavor::Cloud, capped_page()).await;
    harness
        .sim
        .set_quirk(Quirk::AttachmentContinuationGone, true);
    let found = harness.adapter.labeled_content().await.unwrap();
    assert_eq!(found[0].attachments.len(), 30);
    let counters = harness.sim.counters();
    assert_eq!(counters.requests(Route::ChildAttachments), 0);
    assert_eq!(counters.requests(Route::AttachmentsV2), 1);
    harness.finish().await;
}

/// Cloud's `_links.download` through the gateway answers 500: downloads
/// use C7 only.
#[tokio::test]
async fn cloud_gateway_download_links_are_not_used() {
    let harness = Harness::start(Flavor::Cloud, capped_page()).await;
    harness.sim.set_quirk(Quirk::GatewayDownloadLinkFails, true);
    let page = harness.adapter.labeled_content().await.unwrap().remove(0);
    let stream = harness
        .adapter
        .download(&page.id, &page.attachments[0])
        .await
        .unwrap();
    let bytes: Vec<u8> = stream
        .chunks
        .map_ok(|b| b.to_vec())
        .try_concat()
        .await
        .unwrap();
    assert_eq!(bytes.len(), 5);
    assert_eq!(harness.sim.counters().requests(Route::GatewayDownload), 0);
    harness.finish().await;
}

/// Cloud: expanding the body of one page fails the whole batch with 500;
/// the adapter falls back to single fetches, and only that page fails.
#[tokio::test]
async fn cloud_body_expansion_failure_isolates_the_page() {
    let mut dataset = Dataset::new().space(SimSpace::new("1", "SP", "Space"));
    for n in 0..5 {
        let page = SimPage::new(format!("{}", 10 + n), "SP");
        dataset = dataset.page(if n == 2 {
            page.body_expansion_fails()
        } else {
            page
        });
    }
    let harness = Harness::start(Flavor::Cloud, dataset).await;
    harness.sim.set_quirk(Quirk::BodyExpansionFailure, true);
    let ids: Vec<String> = (10..15).map(|n| n.to_string()).collect();
    let bodies = harness.adapter.page_bodies(&ids).await.unwrap();
    for (id, outcome) in &bodies {
        match (id.as_str(), outcome) {
            ("12", BodyFetch::Failed(error)) => assert_eq!(error.kind(), ErrorKind::Transient),
            (_, BodyFetch::Found(body)) => assert_eq!(body.storage, format!("<p>{id}</p>")),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        bodies.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ids
    );
    harness.finish().await;
}

/// A page deleted after discovery: its body is `NotFound` (skip), the
/// others are found.
async fn content_deleted_mid_cycle_is_not_found(flavor: Flavor) {
    let dataset = Dataset::new()
        .space(SimSpace::new("1", "SP", "Space"))
        .page(SimPage::new("1", "SP").labels([SINGLE]))
        .page(SimPage::new("2", "SP").labels([SINGLE]));
    let harness = Harness::start(flavor, dataset).await;
    assert_eq!(harness.adapter.labeled_content().await.unwrap().len(), 2);
    harness.sim.update_dataset(|d| d.remove_page("2"));
    let bodies = harness
        .adapter
        .page_bodies(&["1".to_owned(), "2".to_owned()])
        .await
        .unwrap();
    assert!(matches!(bodies[0], (ref id, BodyFetch::Found(_)) if id == "1"));
    assert!(matches!(bodies[1], (ref id, BodyFetch::NotFound) if id == "2"));
    let single = harness
        .adapter
        .page_bodies(&["2".to_owned()])
        .await
        .unwrap();
    assert!(matches!(single[0].1, BodyFetch::NotFound));
    harness.finish().await;
}

/// Real Cloud v1 `next` links are relative to `/wiki` (§13 #21): the
/// adapter inserts it, so no request misses a route.
#[tokio::test]
async fn cloud_next_links_without_the_wiki_prefix() {
    let dataset = random_tree(23);
    let want = expected(&dataset, Flavor::Cloud);
    let harness = Harness::start(Flavor::Cloud, dataset).await;
    harness
        .sim
        .set_quirk(Quirk::NextLinkWithoutWikiPrefix, true);
    harness.sim.set_quirk(Quirk::EmptyPageWithNext, true);
    assert_eq!(enumerate(&harness.adapter).await, want);
    assert_eq!(harness.sim.counters().requests(Route::Unknown), 0);
    harness.finish().await;
}

/// A listing that stops at an empty page carrying `next` before its end
/// (as Cloud's search sometimes does) returns what it got and is counted as
/// ended early; a whole listing, or one that silently stops, is not.
async fn a_listing_that_ends_early_is_counted(flavor: Flavor) {
    let mut dataset = Dataset::new().space(SimSpace::new("1", "SP", "Space"));
    for i in 0..12 {
        dataset = dataset.page(SimPage::new(format!("{}", 500 + i), "SP").labels([SINGLE]));
    }
    let harness = Harness::start(flavor, dataset).await;
    assert_eq!(harness.adapter.labeled_content().await.unwrap().len(), 12);
    assert_eq!(harness.adapter.listings_ended_early(), 0);
    harness
        .sim
        .end_listings_early(Some((5, EarlyEnd::EmptyPageWithNext)));
    assert_eq!(harness.adapter.labeled_content().await.unwrap().len(), 5);
    assert_eq!(harness.adapter.listings_ended_early(), 1);
    // A listing that just stops is indistinguishable from a short one.
    harness
        .sim
        .end_listings_early(Some((7, EarlyEnd::Silently)));
    assert_eq!(harness.adapter.labeled_content().await.unwrap().len(), 7);
    assert_eq!(harness.adapter.listings_ended_early(), 1);
    harness.sim.end_listings_early(None);
    assert_eq!(harness.adapter.labeled_content().await.unwrap().len(), 12);
    assert_eq!(harness.adapter.listings_ended_early(), 1);
    harness.finish().await;
}

both_flavors!(
    a_listing_that_ends_early_is_counted,
    an_empty_page_with_a_next_link_ends_the_list,
    content_deleted_mid_cycle_is_not_found
);
