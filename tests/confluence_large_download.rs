//! A 1 GiB attachment streamed through the Cloud adapter (C7 with the
//! media-host redirect) with flat memory. A binary of its own, so no test
//! running in parallel disturbs the process's RSS.

use std::{num::NonZeroU32, time::Instant};

use confluence_connector::{
    adapters::{
        confluence::{ClientCredentials, ConfluenceAdapter, ConfluenceSettings, Site, SyncLabels},
        http::transport::HttpClients,
    },
    ports::ConfluenceSource,
    sim::confluence::{
        ConfluenceSim, Dataset, Quirk, Route, SimAttachment, SimPage, SimSettings, SimSpace,
    },
};
use futures::StreamExt as _;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

const SIZE: u64 = 1 << 30;
const MAX_GROWTH_KIB: u64 = 64 * 1024;

/// A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_gib_attachment_streams_with_flat_memory() {
    let attachment =
        SimAttachment::new("att1", "big.bin", "application/octet-stream", SIZE).with_seed(7);
    let dataset = Dataset::new()
        .space(SimSpace::new("1", "SP", "Space"))
        .page(
            SimPage::new("1", "SP")
                .labels(["ai-ingest"])
                .attachment(attachment.clone()),
        );
    let sim = ConfluenceSim::start(SimSettings::cloud(), dataset)
        .await
        .unwrap();
    sim.set_quirk(Quirk::DownloadRedirectToMediaHost, true);
    let settings = ConfluenceSettings::new(
        Site::Cloud {
            base_url: "https://tenant1.atlassian.net".into(),
            api_gateway_url: sim.gateway_url(),
            cloud_id: sim.settings().cloud_id.clone(),
            credentials: ClientCredentials {
                client_id: "client".into(),
                client_secret: SecretString::from("secret"),
            },
        },
        NonZeroU32::new(600).unwrap(),
        SyncLabels {
            single: "ai-ingest".into(),
            all: "ai-ingest-all".into(),
        },
        true,
    );
    let adapter = ConfluenceAdapter::new(HttpClients::loopback().proxied, settings);
    let page = adapter.labeled_content().await.unwrap().remove(0);

    let rss_before = status_kib("VmRSS");
    let started = Instant::now();
    let mut stream = adapter
        .download(&page.id, &page.attachments[0])
        .await
        .unwrap();
    assert_eq!(stream.content_length, Some(SIZE));
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    while let Some(chunk) = stream.chunks.next().await {
        let chunk = chunk.expect("chunk");
        received += chunk.len() as u64;
        hasher.update(&chunk);
    }
    let elapsed = started.elapsed();
    let growth = status_kib("VmHWM").saturating_sub(rss_before);
    eprintln!("streamed {received} bytes in {elapsed:?}; peak RSS growth {growth} KiB");

    assert_eq!(received, SIZE);
    assert!(
        growth < MAX_GROWTH_KIB,
        "peak RSS grew by {growth} KiB while streaming"
    );
    assert_eq!(
        <[u8; 32]>::from(hasher.finalize()),
        attachment.content().sha256()
    );
    let counters = sim.counters();
    assert_eq!(counters.requests_with_status(Route::Media, 200), 1);
    assert_eq!(counters.media_requests_with_authorization, 0);
    sim.shutdown().await;
}
