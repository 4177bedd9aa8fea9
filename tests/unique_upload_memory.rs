//! A 1 GiB upload streams through the Unique adapter with flat memory.
//!
//! Its own test binary: the process's peak RSS must not be shared with
//! other tests running in parallel threads.

use std::{fs, num::NonZeroU32, time::Instant};

use bytes::Bytes;
use confluence_connector::{
    adapters::{
        http::transport::HttpClients,
        unique::{DEFAULT_MAX_CONCURRENT_CALLS, UniqueAuth, UniqueKnowledgeBase, UniqueSettings},
    },
    ports::{
        ByteStream, KnowledgeBase,
        knowledge_base::{ContentUpsert, ScopeAccess, UploadBody},
    },
    sim::unique::{SeedScope, UniqueSim, UniqueSimAuth, UniqueSimSettings},
};
use futures::stream;
use sha2::{Digest, Sha256};
use url::Url;

const SIZE: u64 = 1 << 30;
const CHUNK: usize = 256 * 1024;
const ALLOWED_GROWTH: u64 = 64 << 20;

/// `VmHWM`/`VmRSS` of this process in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("procfs");
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

/// One chunk of a deterministic pattern, repeated: the source allocates
/// nothing per chunk, so any growth is the upload path's.
fn pattern() -> Bytes {
    (0..CHUNK)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gibibyte_streams_to_the_blob_store_with_flat_memory() {
    let sim = UniqueSim::start(UniqueSimSettings::cluster_local())
        .await
        .unwrap();
    sim.seed_scope(SeedScope::new("root-scope-id", "Confluence"));
    let UniqueSimAuth::ClusterLocal { required_headers } = &sim.settings().auth else {
        unreachable!("cluster-local settings");
    };
    let settings = UniqueSettings {
        ingestion_base_url: Url::parse(&sim.ingestion_base_url()).unwrap(),
        scope_management_base_url: Url::parse(&sim.scope_management_base_url()).unwrap(),
        auth: UniqueAuth::ClusterLocal {
            service_extra_headers: required_headers.clone(),
        },
        rate_limit_per_minute: NonZeroU32::new(100).unwrap(),
        max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
        request_timeout: std::time::Duration::from_secs(30),
        upload_stall: std::time::Duration::from_secs(120),
        retries: confluence_connector::adapters::unique::UniqueRetries::PRODUCTION,
    };
    let clients = HttpClients::loopback();
    let kb = UniqueKnowledgeBase::new(settings, clients.direct, clients.direct_upload).unwrap();
    let user = kb.current_user_id().await.unwrap();
    kb.grant_scope_access("root-scope-id", &user, &[ScopeAccess::Write])
        .await
        .unwrap();
    let upsert = ContentUpsert {
        key: "tenant1/space-1_SP/p1::big".to_owned(),
        title: "big.bin".to_owned(),
        mime_type: "application/octet-stream".to_owned(),
        url: "https://tenant1.atlassian.net/wiki/x".to_owned(),
        byte_size: SIZE,
        metadata: serde_json::json!({"spaceKey": "SP", "spaceName": "Space One"}),
        ingestion_config: None,
        scope_id: "root-scope-id".to_owned(),
        source_kind: "ATLASSIAN_CONFLUENCE_CLOUD".to_owned(),
        source_name: "https://tenant1.atlassian.net".to_owned(),
        store_internally: true,
    };
    let registered = kb.register_content(&upsert).await.unwrap();

    let chunk = pattern();
    let chunks = SIZE / CHUNK as u64;
    let mut expected = Sha256::new();
    for _ in 0..chunks {
        expected.update(&chunk);
    }
    let expected: String = expected
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    // Reset the peak (Linux ≥ 4.0); where that is refused, the old peak
    // only makes the check stricter.
    let _ = fs::write("/proc/self/clear_refs", "5");
    let baseline = status_bytes("VmRSS:");
    let started = Instant::now();
    let source = stream::iter((0..chunks).map(move |_| Ok(chunk.clone())));
    let body = UploadBody::Stream {
        length: SIZE,
        stream: ByteStream {
            content_length: Some(SIZE),
            chunks: Box::pin(source),
        },
    };
    kb.upload_content(&registered, "application/octet-stream", body)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let peak = status_bytes("VmHWM:");
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "1 GiB upload: {:.1} s, RSS baseline {} MiB, peak {} MiB, growth {} MiB",
        elapsed.as_secs_f64(),
        baseline >> 20,
        peak >> 20,
        growth >> 20
    );

    kb.finalize_content(&upsert, &registered.read_url)
        .await
        .unwrap();
    let state = sim.snapshot();
    let blob = state.contents[0].blob.as_ref().unwrap();
    assert_eq!(blob.size, SIZE);
    assert_eq!(blob.sha256, expected);
    assert!(
        blob.body.is_none(),
        "the simulator only hashes large bodies"
    );
    assert!(
        growth < ALLOWED_GROWTH,
        "peak RSS grew by {} MiB during the upload",
        growth >> 20
    );
}
