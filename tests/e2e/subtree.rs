//! PROTOCOL §12 scenarios 4–9: the ingest-all label and descendants.

use std::collections::BTreeMap;

use confluence_connector::sim::confluence::{Flavor, SimPage, SimSpace};

use crate::support::*;

both_flavors!(
    one_root_with_children,
    two_roots_in_one_space,
    roots_in_two_spaces,
    fifty_descendants,
    mixed_labels_without_duplicates,
    labelled_child_of_unlabelled_parent,
);

/// 4: the root and its unlabelled children.
async fn one_root_with_children(flavor: Flavor) {
    let data = dataset(flavor)
        .page(SimPage::new("root", "SP").labels([ALL]))
        .page(SimPage::new("child-a", "SP").parent("root"))
        .page(SimPage::new("child-b", "SP").parent("root"));
    let app = spawn_app(flavor, data).await;
    app.successful_cycle().await;
    let snapshot = app.snapshot();
    assert_eq!(snapshot.scope_paths(), ["/Confluence", "/Confluence/SP"]);
    assert_eq!(
        keys(&snapshot),
        sorted([
            sp(flavor, "child-a"),
            sp(flavor, "child-b"),
            sp(flavor, "root")
        ])
    );
    app.finish().await;
}

/// 5: two roots, four pages, one space scope.
async fn two_roots_in_one_space(flavor: Flavor) {
    let data = dataset(flavor)
        .page(SimPage::new("root-eng", "SP").labels([ALL]))
        .page(SimPage::new("eng-1", "SP").parent("root-eng"))
        .page(SimPage::new("root-hr", "SP").labels([ALL]))
        .page(SimPage::new("hr-1", "SP").parent("root-hr"));
    let app = spawn_app(flavor, data).await;
    app.successful_cycle().await;
    let snapshot = app.snapshot();
    assert_eq!(snapshot.scope_paths(), ["/Confluence", "/Confluence/SP"]);
    assert_eq!(
        keys(&snapshot),
        sorted(["eng-1", "hr-1", "root-eng", "root-hr"].map(|id| sp(flavor, id)))
    );
    app.finish().await;
}

/// 6: one scope per space, keys under each space's partial key.
async fn roots_in_two_spaces(flavor: Flavor) {
    let (eng, hr) = match flavor {
        Flavor::Cloud => ("space-eng", "space-hr"),
        Flavor::DataCenter => ("2001", "2002"),
    };
    let data = confluence_connector::sim::confluence::Dataset::new()
        .space(SimSpace::new(eng, "ENG", "Engineering"))
        .space(SimSpace::new(hr, "HR", "Human Resources"))
        .page(SimPage::new("eng-root", "ENG").labels([ALL]))
        .page(SimPage::new("eng-child", "ENG").parent("eng-root"))
        .page(SimPage::new("hr-root", "HR").labels([ALL]));
    let app = spawn_app(flavor, data).await;
    app.successful_cycle().await;
    let snapshot = app.snapshot();
    assert_eq!(
        scopes(&snapshot),
        BTreeMap::from([
            ("/Confluence".to_owned(), Some(root_mark(flavor).to_owned())),
            ("/Confluence/ENG".to_owned(), Some(space_mark(eng, "ENG"))),
            ("/Confluence/HR".to_owned(), Some(space_mark(hr, "HR"))),
        ])
    );
    assert_eq!(
        keys(&snapshot),
        sorted([
            key(eng, "ENG", "eng-child"),
            key(eng, "ENG", "eng-root"),
            key(hr, "HR", "hr-root"),
        ])
    );
    assert_eq!(
        stored(&snapshot, &key(hr, "HR", "hr-root"))
            .owner_path
            .as_deref(),
        Some("/Confluence/HR")
    );
    app.finish().await;
}

/// 7: exactly 51 files.
async fn fifty_descendants(flavor: Flavor) {
    let mut data = dataset(flavor).page(SimPage::new("root", "SP").labels([ALL]));
    for n in 1..=50 {
        data = data.page(SimPage::new(format!("child-{n:02}"), "SP").parent("root"));
    }
    let app = spawn_app(flavor, data).await;
    let report = app.successful_cycle().await;
    assert_eq!(report.pages.success, 51);
    let snapshot = app.snapshot();
    let mut expected: Vec<String> = (1..=50)
        .map(|n| sp(flavor, &format!("child-{n:02}")))
        .collect();
    expected.push(sp(flavor, "root"));
    assert_eq!(keys(&snapshot), sorted(expected));
    app.finish().await;
}

/// 8: a page found by both queries is ingested once.
async fn mixed_labels_without_duplicates(flavor: Flavor) {
    let data = dataset(flavor)
        .page(SimPage::new("standalone", "SP").labels([SINGLE]))
        .page(SimPage::new("root", "SP").labels([ALL]))
        .page(SimPage::new("child", "SP").parent("root").labels([SINGLE]));
    let app = spawn_app(flavor, data).await;
    let report = app.successful_cycle().await;
    assert_eq!(report.discovered_pages, 3);
    let snapshot = app.snapshot();
    assert_eq!(
        keys(&snapshot),
        sorted(["child", "root", "standalone"].map(|id| sp(flavor, id)))
    );
    assert_eq!(uploaded_keys(&snapshot).len(), 3, "each page uploaded once");
    app.finish().await;
}

/// 9: a labelled child under an unlabelled parent is found directly.
async fn labelled_child_of_unlabelled_parent(flavor: Flavor) {
    let data = dataset(flavor).page(SimPage::new("parent", "SP")).page(
        SimPage::new("child", "SP")
            .parent("parent")
            .labels([SINGLE]),
    );
    let app = spawn_app(flavor, data).await;
    app.successful_cycle().await;
    assert_eq!(keys(&app.snapshot()), [sp(flavor, "child")]);
    app.finish().await;
}
