//! Discovery (C1, C2, C6) and instance identity (C8) on both flavours.

use confluence_connector::{
    domain::model::ContentType,
    ports::ConfluenceSource,
    sim::confluence::{
        Dataset, Flavor, RandomTreeOptions, Route, SimAttachment, SimPage, SimSpace,
    },
};

use crate::{
    both_flavors,
    support::{ALL, Harness, SINGLE, enumerate, expected},
};

pub fn random_tree(seed: u64) -> Dataset {
    Dataset::random_tree(
        seed,
        &RandomTreeOptions {
            pages: 150,
            spaces: 4,
            labels: vec![SINGLE.into(), ALL.into(), "other".into()],
            label_probability: 0.15,
        },
    )
}

/// Full enumeration equals the dataset for random page trees (a few seeds):
/// labelled content in the indexed space types, every descendant of an
/// ingest-all root, every attachment (many pages have more than 25).
async fn random_trees_enumerate_exactly_the_dataset(flavor: Flavor) {
    for seed in [11, 12, 13] {
        let dataset = random_tree(seed);
        let (want_labelled, want_descendants) = expected(&dataset, flavor);
        assert!(!want_descendants.is_empty(), "seed {seed} exercises C2");
        let harness = Harness::start(flavor, dataset).await;
        let (labelled, descendants) = enumerate(&harness.adapter).await;
        assert_eq!(labelled, want_labelled, "seed {seed}: C1");
        assert_eq!(descendants, want_descendants, "seed {seed}: C2");
        harness.finish().await;
    }
}

/// PROTOCOL §12 #1: the fields the sync needs, as the simulator sent them.
async fn a_labelled_page_carries_its_metadata(flavor: Flavor) {
    let space_id = if flavor == Flavor::Cloud {
        "space-1"
    } else {
        "98304"
    };
    let dataset = Dataset::new()
        .space(SimSpace::new(space_id, "SP", "Space One"))
        .page(
            SimPage::new("1001", "SP")
                .title("Hello")
                .labels([SINGLE, "engineering"]),
        )
        .page(SimPage::new("1002", "SP").labels(["draft"]));
    let harness = Harness::start(flavor, dataset).await;
    let found = harness.adapter.labeled_content().await.unwrap();
    assert_eq!(found.len(), 1);
    let page = &found[0];
    assert_eq!(page.id, "1001");
    assert_eq!(page.title, "Hello");
    assert_eq!(page.content_type, ContentType::Page);
    assert_eq!(
        (
            page.space.id.as_str(),
            page.space.key.as_str(),
            page.space.name.as_str()
        ),
        (space_id, "SP", "Space One")
    );
    assert_eq!(page.version_when, "2026-05-01T10:00:00.000Z");
    assert_eq!(page.labels, [SINGLE, "engineering"]);
    assert!(!page.web_ui.is_empty());
    harness.finish().await;
}

/// Ours §13 #2: an unknown type is returned (the sync skips it), not fatal.
async fn unknown_content_types_do_not_fail_discovery(flavor: Flavor) {
    let dataset = Dataset::new()
        .space(SimSpace::new("1", "SP", "Space"))
        .page(SimPage::new("1", "SP").labels([SINGLE]))
        .page(
            SimPage::new("2", "SP")
                .labels([SINGLE])
                .content_type("smart-link"),
        );
    let harness = Harness::start(flavor, dataset).await;
    let found = harness.adapter.labeled_content().await.unwrap();
    let types: Vec<_> = found.iter().map(|c| c.content_type.clone()).collect();
    assert_eq!(
        types,
        [ContentType::Page, ContentType::Other("smart-link".into())]
    );
    harness.finish().await;
}

/// C6 finds a page of another space by title, attachments completed.
async fn a_page_is_found_by_space_and_title(flavor: Flavor) {
    let mut page = SimPage::new("7", "OTHER").title("Diagrams & more");
    for n in 0..30 {
        page = page.attachment(SimAttachment::new(
            format!("att{n}"),
            format!("d{n}.png"),
            "image/png",
            10,
        ));
    }
    let dataset = Dataset::new()
        .space(SimSpace::new("2", "OTHER", "Other"))
        .page(page);
    let harness = Harness::start(flavor, dataset).await;
    let found = harness
        .adapter
        .page_by_title("OTHER", "Diagrams & more")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.id, "7");
    assert_eq!(found.attachments.len(), 30);
    assert_eq!(
        harness
            .adapter
            .page_by_title("OTHER", "missing")
            .await
            .unwrap(),
        None
    );
    harness.finish().await;
}

/// Cloud: the configured cloud id, no request. Data Center: the manifest
/// `id`, fetched once, without credentials.
async fn the_instance_id_costs_at_most_one_request(flavor: Flavor) {
    let harness = Harness::start(flavor, Dataset::new()).await;
    let first = harness.adapter.instance_id().await.unwrap();
    let second = harness.adapter.instance_id().await.unwrap();
    assert_eq!(first, second);
    let counters = harness.sim.counters();
    match flavor {
        Flavor::Cloud => {
            assert_eq!(first, "cloud-1");
            assert_eq!(counters.api_requests(), 0);
        }
        Flavor::DataCenter => {
            assert_eq!(first, "dc-instance-1");
            assert_eq!(counters.requests_with_status(Route::Manifest, 200), 1);
            assert_eq!(
                counters.tokens_issued, 0,
                "the manifest is fetched without a token"
            );
        }
    }
    harness.finish().await;
}

both_flavors!(
    random_trees_enumerate_exactly_the_dataset,
    a_labelled_page_carries_its_metadata,
    unknown_content_types_do_not_fail_discovery,
    a_page_is_found_by_space_and_title,
    the_instance_id_costs_at_most_one_request,
);
