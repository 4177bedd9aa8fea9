//! PROTOCOL §12 scenarios 10–15: attachments.

use confluence_connector::sim::confluence::{Flavor, SimAttachment, SimPage};
use serde_json::json;

use crate::support::*;

both_flavors!(
    images_are_standalone_attachments,
    only_allowed_types_are_ingested,
    attachments_over_the_size_limit_are_skipped,
    images_get_the_ocr_ingestion_config,
    fifty_attachments_on_one_page,
    disabled_attachments_are_not_ingested,
    zero_byte_attachments_are_skipped,
);

fn page_with(attachments: Vec<SimAttachment>) -> SimPage {
    attachments.into_iter().fold(
        SimPage::new("p1", "SP").labels([SINGLE]),
        SimPage::attachment,
    )
}

/// 10: png and jpeg are ordinary attachments when inlining is off.
async fn images_are_standalone_attachments(flavor: Flavor) {
    let png = SimAttachment::new("att-png", "diagram.png", "image/png", 2_000);
    let jpg = SimAttachment::new("att-jpg", "photo.jpg", "image/jpeg", 3_000).with_seed(3);
    let app = spawn_app(
        flavor,
        dataset(flavor).page(page_with(vec![png.clone(), jpg.clone()])),
    )
    .await;
    app.successful_cycle().await;
    let snapshot = app.snapshot();
    assert_eq!(
        keys(&snapshot),
        sorted([
            sp(flavor, "p1"),
            sp(flavor, "p1::att-jpg"),
            sp(flavor, "p1::att-png")
        ])
    );
    for (attachment, mime) in [(&png, "image/png"), (&jpg, "image/jpeg")] {
        let stored = stored(&snapshot, &sp(flavor, &format!("p1::{}", attachment.id)));
        assert_eq!(stored.mime_type, mime);
        assert_eq!(
            stored.metadata,
            Some(json!({"spaceKey": "SP", "spaceName": "Space One"}))
        );
        assert_eq!(
            stored.ingestion_config, None,
            "imageOcr is off in the harness"
        );
        assert_eq!(
            stored.blob.as_ref().unwrap().sha256,
            attachment_sha256(attachment)
        );
    }
    app.finish().await;
}

/// 11: allowlist `[application/pdf]` keeps the pdf only.
async fn only_allowed_types_are_ingested(flavor: Flavor) {
    let page = page_with(vec![
        SimAttachment::new("att-pdf", "a.pdf", "application/pdf", 100),
        SimAttachment::new("att-png", "b.png", "image/png", 100),
        SimAttachment::new("att-svg", "c.svg", "image/svg+xml", 100),
    ]);
    let mut app = spawn_app(flavor, dataset(flavor).page(page)).await;
    app.configure(json!({"ingestion": {"attachments": {"allowedMimeTypes": ["application/pdf"]}}}));
    let report = app.successful_cycle().await;
    assert_eq!(report.discovered_attachments, 1);
    assert_eq!(
        keys(&app.snapshot()),
        sorted([sp(flavor, "p1"), sp(flavor, "p1::att-pdf")])
    );
    app.finish().await;
}

/// 12: `maxFileSizeMb: 1` drops a 2 MiB pdf, keeps a 10-byte one.
async fn attachments_over_the_size_limit_are_skipped(flavor: Flavor) {
    let page = page_with(vec![
        SimAttachment::new("att-small", "small.pdf", "application/pdf", 10),
        SimAttachment::new("att-big", "big.pdf", "application/pdf", 2 << 20),
    ]);
    let mut app = spawn_app(flavor, dataset(flavor).page(page)).await;
    app.configure(json!({"ingestion": {"attachments": {"maxFileSizeMb": 1}}}));
    app.successful_cycle().await;
    assert_eq!(
        keys(&app.snapshot()),
        sorted([sp(flavor, "p1"), sp(flavor, "p1::att-small")])
    );
    app.finish().await;
}

/// 13: with `imageOcr` on, png and jpeg carry the OCR config; the pdf and
/// the page do not.
async fn images_get_the_ocr_ingestion_config(flavor: Flavor) {
    let page = page_with(vec![
        SimAttachment::new("att-png", "a.png", "image/png", 100),
        SimAttachment::new("att-jpg", "b.jpg", "image/jpeg", 100),
        SimAttachment::new("att-pdf", "c.pdf", "application/pdf", 100),
    ]);
    let mut app = spawn_app(flavor, dataset(flavor).page(page)).await;
    app.configure(json!({"ingestion": {"attachments": {"imageOcr": "enabled"}}}));
    app.successful_cycle().await;
    let snapshot = app.snapshot();
    let ocr = Some(json!({"jpgReadMode": "DOC_INTELLIGENCE_DEFAULT"}));
    assert_eq!(
        stored(&snapshot, &sp(flavor, "p1::att-png")).ingestion_config,
        ocr
    );
    assert_eq!(
        stored(&snapshot, &sp(flavor, "p1::att-jpg")).ingestion_config,
        ocr
    );
    assert_eq!(
        stored(&snapshot, &sp(flavor, "p1::att-pdf")).ingestion_config,
        None
    );
    assert_eq!(stored(&snapshot, &sp(flavor, "p1")).ingestion_config, None);
    app.finish().await;
}

/// 14: 50 attachments on one page, past the 25 inlined by Confluence
/// (Cloud v2 listing, Data Center continuation).
async fn fifty_attachments_on_one_page(flavor: Flavor) {
    let attachments: Vec<SimAttachment> = (1..=50)
        .map(|n| {
            SimAttachment::new(
                format!("att-{n:02}"),
                format!("doc-{n:02}.pdf"),
                "application/pdf",
                64 + n,
            )
            .with_seed(n)
        })
        .collect();
    let app = spawn_app(flavor, dataset(flavor).page(page_with(attachments.clone()))).await;
    let report = app.successful_cycle().await;
    assert_eq!(report.attachments.success, 50);
    let snapshot = app.snapshot();
    let mut expected: Vec<String> = attachments
        .iter()
        .map(|a| sp(flavor, &format!("p1::{}", a.id)))
        .collect();
    expected.push(sp(flavor, "p1"));
    assert_eq!(keys(&snapshot), sorted(expected));
    for attachment in &attachments {
        let stored = stored(&snapshot, &sp(flavor, &format!("p1::{}", attachment.id)));
        assert_eq!(
            stored.blob.as_ref().unwrap().sha256,
            attachment_sha256(attachment)
        );
    }
    app.finish().await;
}

/// 15: `attachments.mode: disabled` ingests the page only.
async fn disabled_attachments_are_not_ingested(flavor: Flavor) {
    let page = page_with(vec![SimAttachment::new(
        "att-1",
        "a.pdf",
        "application/pdf",
        100,
    )]);
    let mut app = spawn_app(flavor, dataset(flavor).page(page)).await;
    app.configure(json!({"ingestion": {"attachments": {"mode": "disabled"}}}));
    let report = app.successful_cycle().await;
    assert_eq!(report.discovered_attachments, 0);
    assert_eq!(keys(&app.snapshot()), [sp(flavor, "p1")]);
    app.finish().await;
}

/// §7.3: zero-byte attachments are skipped before registering.
async fn zero_byte_attachments_are_skipped(flavor: Flavor) {
    let page = page_with(vec![SimAttachment::new(
        "att-0",
        "empty.pdf",
        "application/pdf",
        0,
    )]);
    let app = spawn_app(flavor, dataset(flavor).page(page)).await;
    let report = app.successful_cycle().await;
    assert_eq!(report.attachments.skipped, 1);
    assert_eq!(keys(&app.snapshot()), [sp(flavor, "p1")]);
    app.finish().await;
}
