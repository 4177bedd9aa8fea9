//! PROTOCOL §12 scenarios 1–3: single-page label.

use std::collections::BTreeMap;

use confluence_connector::sim::confluence::{Flavor, SimAttachment, SimPage};
use serde_json::json;

use crate::support::*;

both_flavors!(
    one_labelled_page,
    page_with_attachment,
    only_labelled_pages_are_ingested
);

/// 1: scopes `/Confluence` (root mark) and `/Confluence/SP` (space mark);
/// one page with its body, metadata, URL and source.
async fn one_labelled_page(flavor: Flavor) {
    let data = dataset(flavor).page(
        SimPage::new("p1", "SP")
            .title("Hello page")
            .labels([SINGLE, "engineering"])
            .body("<p>Hello, integration!</p>"),
    );
    let app = spawn_app(flavor, data).await;
    let report = app.successful_cycle().await;
    assert_eq!(
        (report.discovered_pages, report.new, report.pages.success),
        (1, 1, 1)
    );

    let snapshot = app.snapshot();
    assert_eq!(
        scopes(&snapshot),
        BTreeMap::from([
            ("/Confluence".to_owned(), Some(root_mark(flavor).to_owned())),
            (
                "/Confluence/SP".to_owned(),
                Some(space_mark(space_id(flavor), "SP"))
            ),
        ])
    );
    let key = sp(flavor, "p1");
    assert_eq!(keys(&snapshot), std::slice::from_ref(&key));
    let page = stored(&snapshot, &key);
    assert_eq!(page.title.as_deref(), Some("Hello page"));
    assert_eq!(page.mime_type, "text/html");
    assert_eq!(page.owner_path.as_deref(), Some("/Confluence/SP"));
    assert_eq!(
        page.url.as_deref(),
        Some(page_url(&app, "SP", "p1").as_str())
    );
    assert_eq!(page.source_kind.as_deref(), Some(source_kind(flavor)));
    assert_eq!(page.source_owner_type.as_deref(), Some("COMPANY"));
    assert_eq!(page.store_internally, Some(true));
    assert_eq!(page.ingestion_config, None);
    assert_eq!(
        page.metadata,
        Some(
            json!({"confluenceLabels": ["engineering"], "spaceKey": "SP", "spaceName": "Space One"})
        )
    );
    let body = "<p>Hello, integration!</p>";
    assert_eq!(html(&snapshot, &key), body);
    assert_eq!(page.byte_size, Some(body.len() as i64));
    assert_eq!(page.blob.as_ref().unwrap().sha256, sha256(body.as_bytes()));
    app.finish().await;
}

/// 2: the page and its PDF, byte-identical.
async fn page_with_attachment(flavor: Flavor) {
    let pdf = SimAttachment::new("att-1", "report.pdf", "application/pdf", 12_345).with_seed(7);
    let data = dataset(flavor).page(
        SimPage::new("p1", "SP")
            .labels([SINGLE])
            .body("<p>See attached.</p>")
            .attachment(pdf.clone()),
    );
    let app = spawn_app(flavor, data).await;
    let report = app.successful_cycle().await;
    assert_eq!((report.pages.success, report.attachments.success), (1, 1));

    let snapshot = app.snapshot();
    let (page_key, att_key) = (sp(flavor, "p1"), sp(flavor, "p1::att-1"));
    assert_eq!(keys(&snapshot), [page_key.clone(), att_key.clone()]);
    assert_eq!(html(&snapshot, &page_key), "<p>See attached.</p>");
    let attachment = stored(&snapshot, &att_key);
    assert_eq!(attachment.title.as_deref(), Some("report.pdf"));
    assert_eq!(attachment.mime_type, "application/pdf");
    assert_eq!(attachment.byte_size, Some(12_345));
    assert_eq!(attachment.owner_path.as_deref(), Some("/Confluence/SP"));
    assert_eq!(
        attachment.metadata,
        Some(json!({"spaceKey": "SP", "spaceName": "Space One"}))
    );
    let blob = attachment.blob.as_ref().unwrap();
    assert_eq!(blob.size, 12_345);
    assert_eq!(blob.sha256, attachment_sha256(&pdf));
    app.finish().await;
}

/// 3: unlabelled pages and pages with other labels are never ingested.
async fn only_labelled_pages_are_ingested(flavor: Flavor) {
    let data = dataset(flavor)
        .page(SimPage::new("labeled", "SP").labels([SINGLE]))
        .page(SimPage::new("unlabeled-a", "SP"))
        .page(SimPage::new("unlabeled-b", "SP").labels(["draft"]));
    let app = spawn_app(flavor, data).await;
    app.successful_cycle().await;
    assert_eq!(keys(&app.snapshot()), [sp(flavor, "labeled")]);
    app.finish().await;
}
