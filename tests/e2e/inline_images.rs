//! PROTOCOL §10 (and §5.7 ours): image inlining with
//! `imageContentExtraction` on. Every expected body is spelled out, with
//! the data URIs computed from the bytes the Confluence simulator serves.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use confluence_connector::sim::confluence::{
    Fault, Flavor, Route, SimAttachment, SimPage, SimSpace,
};
use serde_json::{Value, json};

use crate::support::*;

both_flavors!(
    same_page_images_are_inlined,
    images_of_other_pages_are_inlined,
    external_images_stay_untouched,
    an_image_over_the_size_limit_stays_a_macro,
    missing_images_stay_macros,
    an_image_that_cannot_be_downloaded_stays_a_macro,
    unreferenced_images_are_appended,
    a_newer_image_updates_its_page,
    turning_inlining_on_removes_standalone_images,
);

fn inlining() -> Value {
    json!({"ingestion": {"pageIngestionConfig": {"htmlConfig": {"imageContentExtraction": {
        "enabled": true,
        "languageModel": "some-visual-llm",
    }}}}})
}

/// `data:{mime};base64,…` of what the simulator serves for `attachment`.
fn data_uri(attachment: &SimAttachment) -> String {
    format!(
        "data:{};base64,{}",
        attachment.media_type,
        STANDARD.encode(attachment.content().to_vec())
    )
}

fn image(filename: &str) -> String {
    format!(r#"<ac:image><ri:attachment ri:filename="{filename}" /></ac:image>"#)
}

async fn inlining_app(
    flavor: Flavor,
    dataset: confluence_connector::sim::confluence::Dataset,
) -> TestApp {
    let mut app = spawn_app(flavor, dataset).await;
    app.configure(inlining());
    app
}

/// Two macros of the page become `<img>` tags with the §10.3 attributes;
/// the images are not ingested on their own, the pdf is.
async fn same_page_images_are_inlined(flavor: Flavor) {
    let png = SimAttachment::new("att-png", "diagram.png", "image/png", 3_000).with_seed(1);
    let jpg = SimAttachment::new("att-jpg", "photo.jpg", "image/jpeg", 1_001).with_seed(2);
    let pdf = SimAttachment::new("att-pdf", "notes.pdf", "application/pdf", 500);
    let body = format!(
        r#"<h1>Design &amp; notes&nbsp;</h1><p>see <ac:image ac:align="center" ac:alt="The &quot;flow&quot;" ac:title="Flow &lt;1&gt;" ac:width="300" ac:height="200" ac:thumbnail="true"><ri:attachment ri:filename="diagram.png" /><ac:caption><p>caption</p></ac:caption></ac:image> and</p><table><tr><td>{}</td></tr></table><![CDATA[<ac:image>]]>"#,
        image("photo.jpg")
    );
    let page = SimPage::new("p1", "SP")
        .labels([SINGLE])
        .body(body)
        .attachment(png.clone())
        .attachment(pdf.clone())
        .attachment(jpg.clone());
    let app = inlining_app(flavor, dataset(flavor).page(page)).await;
    let report = app.successful_cycle().await;
    assert_eq!((report.pages.success, report.attachments.success), (1, 1));
    let snapshot = app.snapshot();
    assert_eq!(
        keys(&snapshot),
        sorted([sp(flavor, "p1"), sp(flavor, "p1::att-pdf")]),
        "inlined images are not ingested on their own"
    );
    let expected = format!(
        r#"<h1>Design &amp; notes&nbsp;</h1><p>see <img src="{}" alt="The &quot;flow&quot;" title="Flow &lt;1>" width="300" height="200" /> and</p><table><tr><td><img src="{}" alt="photo.jpg" /></td></tr></table><![CDATA[<ac:image>]]>"#,
        data_uri(&png),
        data_uri(&jpg)
    );
    assert_eq!(html(&snapshot, &sp(flavor, "p1")), expected);
    let page = stored(&snapshot, &sp(flavor, "p1"));
    assert_eq!(page.byte_size, Some(expected.len() as i64));
    assert_eq!(
        page.ingestion_config,
        Some(inlining()["ingestion"]["pageIngestionConfig"].clone())
    );
    assert_eq!(app.confluence.counters().requests(Route::Download), 3);
    app.finish().await;
}

/// `ri:page` references: one in another space, one in the page's own
/// space (no `ri:space-key`), each page fetched once by title (C6) and each
/// image downloaded once even when shown twice; the other pages are not
/// labelled and not ingested.
async fn images_of_other_pages_are_inlined(flavor: Flavor) {
    let shared = SimAttachment::new("att-shared", "shared.png", "image/png", 2_500).with_seed(5);
    let sibling = SimAttachment::new("att-sib", "sib.jpg", "image/jpeg", 700).with_seed(6);
    let elsewhere = r#"<ac:image ac:alt=""><ri:attachment ri:filename="shared.png"><ri:page ri:space-key="OS" ri:content-title="Shared &amp; images" /></ri:attachment></ac:image>"#;
    let here = r#"<ac:image><ri:attachment ri:filename="sib.jpg"><ri:page ri:content-title="Sibling" /></ri:attachment></ac:image>"#;
    let body = format!("<p>{elsewhere}</p><p>{here}</p><p>{elsewhere}</p>");
    let data = dataset(flavor)
        .space(SimSpace::new("2002", "OS", "Other Space"))
        .page(SimPage::new("p1", "SP").labels([SINGLE]).body(body))
        .page(
            SimPage::new("p2", "OS")
                .title("Shared & images")
                .attachment(shared.clone()),
        )
        .page(
            SimPage::new("p3", "SP")
                .title("Sibling")
                .attachment(sibling.clone()),
        );
    let app = inlining_app(flavor, data).await;
    app.successful_cycle().await;
    let snapshot = app.snapshot();
    assert_eq!(keys(&snapshot), [sp(flavor, "p1")]);
    let shared_img = format!(r#"<img src="{}" />"#, data_uri(&shared));
    assert_eq!(
        html(&snapshot, &sp(flavor, "p1")),
        format!(
            r#"<p>{shared_img}</p><p><img src="{}" alt="sib.jpg" /></p><p>{shared_img}</p>"#,
            data_uri(&sibling)
        )
    );
    let counters = app.confluence.counters();
    assert_eq!(counters.requests(Route::ContentByTitle), 2);
    assert_eq!(
        counters.requests(Route::Download),
        2,
        "the image shown twice is downloaded once"
    );
    app.finish().await;
}

/// `ri:url` images are never fetched; the body is uploaded byte for byte.
async fn external_images_stay_untouched(flavor: Flavor) {
    let body = r#"<p>logo <ac:image ac:width="50"><ri:url ri:value="https://example.com/logo.png?a=1&amp;b=2" /></ac:image></p>"#;
    let page = SimPage::new("p1", "SP").labels([SINGLE]).body(body);
    let app = inlining_app(flavor, dataset(flavor).page(page)).await;
    app.successful_cycle().await;
    assert_eq!(html(&app.snapshot(), &sp(flavor, "p1")), body);
    let counters = app.confluence.counters();
    assert_eq!(counters.requests(Route::Download), 0);
    assert_eq!(counters.requests(Route::ContentByTitle), 0);
    app.finish().await;
}

/// With `maxFileSizeMb: 1`, a 2 MiB image of the page (dropped by
/// discovery) and a 2 MiB image of another page (dropped by the inlining
/// filter) both stay macros and are never downloaded; the small one is
/// inlined.
async fn an_image_over_the_size_limit_stays_a_macro(flavor: Flavor) {
    let small = SimAttachment::new("att-small", "small.png", "image/png", 100);
    let big = SimAttachment::new("att-big", "big.png", "image/png", 2 << 20);
    let far = SimAttachment::new("att-far", "far.png", "image/png", 2 << 20);
    let far_macro = r#"<ac:image><ri:attachment ri:filename="far.png"><ri:page ri:content-title="Far" /></ri:attachment></ac:image>"#;
    let body = format!("{}{}{far_macro}", image("big.png"), image("small.png"));
    let data = dataset(flavor)
        .page(
            SimPage::new("p1", "SP")
                .labels([SINGLE])
                .body(body)
                .attachment(big)
                .attachment(small.clone()),
        )
        .page(SimPage::new("p2", "SP").title("Far").attachment(far));
    let mut app = inlining_app(flavor, data).await;
    app.configure(json!({"ingestion": {"attachments": {"maxFileSizeMb": 1}}}));
    app.successful_cycle().await;
    let snapshot = app.snapshot();
    assert_eq!(keys(&snapshot), [sp(flavor, "p1")]);
    assert_eq!(
        html(&snapshot, &sp(flavor, "p1")),
        format!(
            r#"{}<img src="{}" alt="small.png" />{far_macro}"#,
            image("big.png"),
            data_uri(&small)
        )
    );
    assert_eq!(app.confluence.counters().requests(Route::Download), 1);
    app.finish().await;
}

/// A file the page does not have, a page that does not exist, an image
/// type outside the allow-list and a reference without a file name stay as
/// they are; the page is still ingested.
async fn missing_images_stay_macros(flavor: Flavor) {
    let gif = SimAttachment::new("att-gif", "anim.gif", "image/gif", 100);
    let other = format!(
        "{}{}{}{}",
        image("gone.png"),
        r#"<ac:image><ri:attachment ri:filename="x.png"><ri:page ri:content-title="No such page" /></ri:attachment></ac:image>"#,
        r#"<ac:image><ri:attachment ri:filename="anim.gif"><ri:page ri:content-title="Gifs" /></ri:attachment></ac:image>"#,
        r#"<ac:image><ri:attachment /></ac:image>"#,
    );
    let data = dataset(flavor)
        .page(
            SimPage::new("p1", "SP")
                .labels([SINGLE])
                .body(other.clone()),
        )
        .page(SimPage::new("p2", "SP").title("Gifs").attachment(gif));
    let app = inlining_app(flavor, data).await;
    let report = app.successful_cycle().await;
    assert_eq!(report.pages.success, 1);
    assert_eq!(html(&app.snapshot(), &sp(flavor, "p1")), other);
    assert_eq!(app.confluence.counters().requests(Route::Download), 0);
    app.finish().await;
}

/// One of the two downloads answers 404 (they run concurrently, so either
/// may be hit): that macro stays, the other image is inlined.
async fn an_image_that_cannot_be_downloaded_stays_a_macro(flavor: Flavor) {
    let first = SimAttachment::new("att-1", "one.png", "image/png", 100);
    let second = SimAttachment::new("att-2", "two.png", "image/png", 200).with_seed(9);
    let page = SimPage::new("p1", "SP")
        .labels([SINGLE])
        .body(format!(
            "{}<p>and</p>{}",
            image("one.png"),
            image("two.png")
        ))
        .attachment(first.clone())
        .attachment(second.clone());
    let app = inlining_app(flavor, dataset(flavor).page(page)).await;
    app.confluence
        .fail_next(Route::Download, 1, Fault::Status(404));
    let report = app.successful_cycle().await;
    assert_eq!(report.pages.success, 1);
    let stored_html = html(&app.snapshot(), &sp(flavor, "p1")).to_owned();
    let one = format!(r#"<img src="{}" alt="one.png" />"#, data_uri(&first));
    let two = format!(r#"<img src="{}" alt="two.png" />"#, data_uri(&second));
    let first_failed = format!("{}<p>and</p>{two}", image("one.png"));
    let second_failed = format!("{one}<p>and</p>{}", image("two.png"));
    assert!(
        stored_html == first_failed || stored_html == second_failed,
        "{stored_html:.400}"
    );
    assert_eq!(app.confluence.counters().requests(Route::Download), 2);
    app.finish().await;
}

/// Images of the page that no macro references are appended in discovery
/// order; a referenced one is not appended again, even when its macro
/// could not be inlined.
async fn unreferenced_images_are_appended(flavor: Flavor) {
    let a = SimAttachment::new("att-a", "a.png", "image/png", 10).with_seed(1);
    let b = SimAttachment::new("att-b", "b.jpg", "image/jpeg", 20).with_seed(2);
    let c = SimAttachment::new("att-c", "c.png", "image/png", 30).with_seed(3);
    let body = format!("<p>text</p>{}", image("c.png"));
    let page = SimPage::new("p1", "SP")
        .labels([SINGLE])
        .body(body)
        .attachment(b.clone())
        .attachment(c.clone())
        .attachment(a.clone());
    let app = inlining_app(flavor, dataset(flavor).page(page)).await;
    app.successful_cycle().await;
    let snapshot = app.snapshot();
    assert_eq!(keys(&snapshot), [sp(flavor, "p1")]);
    assert_eq!(
        html(&snapshot, &sp(flavor, "p1")),
        format!(
            r#"<p>text</p><img src="{}" alt="c.png" /><p><img src="{}" alt="b.jpg" /></p><p><img src="{}" alt="a.png" /></p>"#,
            data_uri(&c),
            data_uri(&b),
            data_uri(&a)
        )
    );
    app.finish().await;
}

/// Ours (§5.7): only the image changes (newer version, new bytes); the page
/// is re-ingested with the new image. Without inlining nothing would
/// change the page's own version.
async fn a_newer_image_updates_its_page(flavor: Flavor) {
    let png = SimAttachment::new("att-png", "chart.png", "image/png", 50).with_seed(1);
    let page = SimPage::new("p1", "SP")
        .labels([SINGLE])
        .body(image("chart.png"))
        .attachment(png.clone());
    let app = inlining_app(flavor, dataset(flavor).page(page)).await;
    app.successful_cycle().await;
    let first = format!(r#"<img src="{}" alt="chart.png" />"#, data_uri(&png));
    assert_eq!(html(&app.snapshot(), &sp(flavor, "p1")), first);

    let unchanged = app.successful_cycle().await;
    assert_eq!((unchanged.new, unchanged.updated), (0, 0));

    let mut newer = png.clone().with_seed(2);
    newer.version_when = Some("2026-07-01T00:00:00.000Z".into());
    app.confluence.update_dataset(|data| {
        data.page_mut("p1").expect("p1").attachments = vec![newer.clone()];
    });
    let report = app.successful_cycle().await;
    assert_eq!((report.new, report.updated), (0, 1));
    assert_eq!(
        html(&app.snapshot(), &sp(flavor, "p1")),
        format!(r#"<img src="{}" alt="chart.png" />"#, data_uri(&newer))
    );
    app.finish().await;
}

/// §10.5: an image ingested on its own while inlining was off is `deleted`
/// by the next diff once inlining is on, and removed; the pdf stays.
async fn turning_inlining_on_removes_standalone_images(flavor: Flavor) {
    let png = SimAttachment::new("att-png", "chart.png", "image/png", 50);
    let pdf = SimAttachment::new("att-pdf", "notes.pdf", "application/pdf", 50);
    let page = SimPage::new("p1", "SP")
        .labels([SINGLE])
        .body(image("chart.png"))
        .attachment(png)
        .attachment(pdf);
    let mut app = spawn_app(flavor, dataset(flavor).page(page)).await;
    app.successful_cycle().await;
    assert_eq!(
        keys(&app.snapshot()),
        sorted([
            sp(flavor, "p1"),
            sp(flavor, "p1::att-pdf"),
            sp(flavor, "p1::att-png")
        ])
    );
    app.configure(inlining());
    let report = app.successful_cycle().await;
    assert_eq!(report.deleted, 1);
    assert_eq!(
        keys(&app.snapshot()),
        sorted([sp(flavor, "p1"), sp(flavor, "p1::att-pdf")])
    );
    app.finish().await;
}
