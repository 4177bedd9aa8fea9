//! PROTOCOL §12 scenarios 16–18 and §13 #2/#3: content types.

use confluence_connector::sim::confluence::{Flavor, SimPage};

use crate::support::*;

both_flavors!(
    blog_posts_are_ingested_like_pages,
    skipped_types_are_not_ingested,
    skipped_types_still_root_their_subtrees,
);

/// 16: a blog post gets a page-shaped key.
async fn blog_posts_are_ingested_like_pages(flavor: Flavor) {
    let data = dataset(flavor)
        .page(SimPage::new("page-1", "SP").labels([SINGLE]))
        .page(
            SimPage::new("blog-1", "SP")
                .labels([SINGLE])
                .content_type("blogpost"),
        );
    let app = spawn_app(flavor, data).await;
    app.successful_cycle().await;
    let snapshot = app.snapshot();
    assert_eq!(
        keys(&snapshot),
        sorted([sp(flavor, "blog-1"), sp(flavor, "page-1")])
    );
    assert_eq!(html(&snapshot, &sp(flavor, "blog-1")), "<p>blog-1</p>");
    app.finish().await;
}

/// 17 plus ours: database, whiteboard, embed, folder and an unknown type
/// are never ingested, and the cycle still succeeds.
async fn skipped_types_are_not_ingested(flavor: Flavor) {
    let data = dataset(flavor)
        .page(SimPage::new("real-page", "SP").labels([SINGLE]))
        .page(
            SimPage::new("db", "SP")
                .labels([SINGLE])
                .content_type("database"),
        )
        .page(
            SimPage::new("wb", "SP")
                .labels([SINGLE])
                .content_type("whiteboard"),
        )
        .page(
            SimPage::new("em", "SP")
                .labels([SINGLE])
                .content_type("embed"),
        )
        .page(
            SimPage::new("fo", "SP")
                .labels([SINGLE])
                .content_type("folder"),
        )
        .page(
            SimPage::new("sl", "SP")
                .labels([SINGLE])
                .content_type("slide-deck"),
        );
    let app = spawn_app(flavor, data).await;
    let report = app.successful_cycle().await;
    assert_eq!(report.discovered_pages, 1);
    assert_eq!(keys(&app.snapshot()), [sp(flavor, "real-page")]);
    // A folder has no body: dropping it at discovery means no diff entry,
    // so no body fetch either (§13 #3).
    let second = app.successful_cycle().await;
    assert_eq!((second.new, second.updated), (0, 0));
    app.finish().await;
}

/// 18: roots of skipped types still bring in their descendants.
async fn skipped_types_still_root_their_subtrees(flavor: Flavor) {
    let data = dataset(flavor)
        .page(
            SimPage::new("db-root", "SP")
                .labels([ALL])
                .content_type("database"),
        )
        .page(SimPage::new("db-child", "SP").parent("db-root"))
        .page(
            SimPage::new("wb-root", "SP")
                .labels([ALL])
                .content_type("whiteboard"),
        )
        .page(
            SimPage::new("wb-child", "SP")
                .parent("wb-root")
                .content_type("blogpost"),
        )
        .page(
            SimPage::new("em-root", "SP")
                .labels([ALL])
                .content_type("embed"),
        )
        .page(SimPage::new("em-child", "SP").parent("em-root"));
    let app = spawn_app(flavor, data).await;
    app.successful_cycle().await;
    assert_eq!(
        keys(&app.snapshot()),
        sorted(["db-child", "em-child", "wb-child"].map(|id| sp(flavor, id)))
    );
    app.finish().await;
}
