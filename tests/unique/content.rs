//! Content operations: the two-phase upsert, lookups by key, prefix and
//! owner with paging, counts, deletion in chunks, and the file-diff.

use std::time::Duration;

use bytes::Bytes;
use confluence_connector::{
    ports::{
        ErrorKind, KnowledgeBase,
        knowledge_base::{FileDiffItem, FileDiffRequest, UploadBody},
    },
    sim::unique::{Operation, SeedContent, SeedScope, UniqueFault},
};
use serde_json::json;

use crate::support::{Harness, ROOT, page};

const HTML: &str = "<p>Hello, integration!</p>";

#[tokio::test]
async fn a_page_is_registered_uploaded_and_finalized_with_every_field() {
    let h = Harness::cluster_local().await.granted().await;
    let mut upsert = page("tenant1/space-1_SP/p1", ROOT, HTML.len());
    upsert.ingestion_config =
        Some(json!({"htmlConfig": {"imageContentExtraction": {"enabled": false}}}));

    let registered = h.kb.register_content(&upsert).await.unwrap();
    let state = h.sim.snapshot();
    let stored = state.content("tenant1/space-1_SP/p1").unwrap();
    assert!(
        !stored.finalized && stored.blob.is_none(),
        "registered, no bytes yet"
    );

    h.kb.upload_content(
        &registered,
        "text/html",
        UploadBody::Bytes(Bytes::from_static(HTML.as_bytes())),
    )
    .await
    .unwrap();
    let id =
        h.kb.finalize_content(&upsert, &registered.read_url)
            .await
            .unwrap();
    assert_eq!(id, registered.id);

    let state = h.sim.snapshot();
    let stored = state.content("tenant1/space-1_SP/p1").unwrap();
    assert!(stored.finalized);
    assert_eq!(
        stored.title.as_deref(),
        Some("Title of tenant1/space-1_SP/p1")
    );
    assert_eq!(stored.mime_type, "text/html");
    assert_eq!(stored.owner_type, "SCOPE");
    assert_eq!(stored.owner_path.as_deref(), Some("/Confluence"));
    assert_eq!(stored.byte_size, Some(HTML.len() as i64));
    assert_eq!(stored.metadata, Some(upsert.metadata.clone()));
    assert_eq!(stored.ingestion_config, upsert.ingestion_config);
    assert_eq!(
        stored.source_kind.as_deref(),
        Some("ATLASSIAN_CONFLUENCE_CLOUD")
    );
    assert_eq!(
        stored.source_name.as_deref(),
        Some("https://tenant1.atlassian.net")
    );
    assert_eq!(
        stored.base_url.as_deref(),
        Some("https://tenant1.atlassian.net")
    );
    assert_eq!(stored.source_owner_type.as_deref(), Some("COMPANY"));
    assert_eq!(stored.store_internally, Some(true));
    assert_eq!(stored.url, Some(upsert.url.clone()));
    let blob = stored.blob.as_ref().unwrap();
    assert_eq!(blob.text(), Some(HTML));
    assert_eq!(blob.size, HTML.len() as u64);

    // Upsert by key: a second round keeps the id.
    let again = h.kb.register_content(&upsert).await.unwrap();
    assert_eq!(again.id, registered.id);
    assert_ne!(
        again.write_url, registered.write_url,
        "each registration gets its own blob"
    );
    assert_eq!(h.sim.snapshot().contents.len(), 1);
}

#[tokio::test]
async fn content_without_ingestion_config_registers_none() {
    let h = Harness::cluster_local().await.granted().await;
    h.kb.register_content(&page("k/p", ROOT, 0)).await.unwrap();
    assert_eq!(
        h.sim.snapshot().content("k/p").unwrap().ingestion_config,
        None
    );
}

#[tokio::test]
async fn finalizing_before_the_bytes_arrived_is_a_typed_error_and_not_repeated() {
    let h = Harness::cluster_local().await.granted().await;
    let upsert = page("tenant1/space-1_SP/p1", ROOT, HTML.len());
    let registered = h.kb.register_content(&upsert).await.unwrap();
    let err =
        h.kb.finalize_content(&upsert, &registered.read_url)
            .await
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("no uploaded bytes"), "{err}");
    assert_eq!(
        h.sim.counters().calls(Operation::ContentUpsert),
        2,
        "register + one finalize"
    );
}

/// 250 items under one partial key, 20 elsewhere.
fn seed_space(h: &Harness) {
    h.sim
        .seed_scope(SeedScope::new("scope-sp", "SP").parent(ROOT));
    for n in 0..250 {
        h.sim.seed_content(SeedContent::new(
            format!("tenant1/space-1_SP/p{n:03}"),
            "scope-sp",
        ));
    }
    for n in 0..20 {
        h.sim.seed_content(SeedContent::new(
            format!("tenant1/space-2_HR/p{n:03}"),
            ROOT,
        ));
    }
}

#[tokio::test]
async fn content_is_found_by_keys_in_chunks_of_a_hundred() {
    let h = Harness::cluster_local().await;
    seed_space(&h);
    let mut keys: Vec<String> = (0..230)
        .map(|n| format!("tenant1/space-1_SP/p{n:03}"))
        .collect();
    keys.push("tenant1/space-1_SP/unknown".to_owned());
    let found = h.kb.content_by_keys(&keys).await.unwrap();
    assert_eq!(found.len(), 230);
    assert!(
        found
            .iter()
            .all(|content| content.owner_id.as_deref() == Some("scope-sp"))
    );
    let state = h.sim.snapshot();
    assert_eq!(
        found[0].id,
        state.content("tenant1/space-1_SP/p000").unwrap().id
    );
    assert_eq!(
        h.sim.counters().calls(Operation::PaginatedContent),
        3,
        "chunks of 100, 100 and 31 keys"
    );
}

#[tokio::test]
async fn prefix_listing_returns_the_first_page_and_counts_see_everything() {
    let h = Harness::cluster_local().await;
    seed_space(&h);
    let first =
        h.kb.content_with_key_prefix("tenant1/space-1_SP/")
            .await
            .unwrap();
    assert_eq!(first.len(), 100);
    assert_eq!(first[0].key, "tenant1/space-1_SP/p000");
    assert_eq!(
        h.kb.count_with_key_prefix("tenant1/space-1_SP/")
            .await
            .unwrap(),
        250
    );
    assert_eq!(
        h.kb.count_with_key_prefix("tenant1/space-9_X/")
            .await
            .unwrap(),
        0
    );
    let counters = h.sim.counters();
    assert_eq!(counters.calls(Operation::PaginatedContent), 1);
    assert_eq!(counters.calls(Operation::PaginatedContentCount), 2);
}

#[tokio::test]
async fn content_owned_by_a_scope_is_listed_across_pages_and_counted() {
    let h = Harness::cluster_local().await;
    seed_space(&h);
    let found = h.kb.content_in_scope("scope-sp").await.unwrap();
    assert!(
        found
            .iter()
            .all(|content| content.owner_id.as_deref() == Some("scope-sp"))
    );
    let ids: Vec<&str> = found.iter().map(|content| content.id.as_str()).collect();
    assert_eq!(h.kb.count_in_scope("scope-sp", None).await.unwrap(), 250);
    let first_key = &found[0].key;
    assert_eq!(
        h.kb.count_in_scope("scope-sp", Some(first_key.clone()))
            .await
            .unwrap(),
        found
            .iter()
            .filter(|c| c.key.starts_with(first_key.as_str()))
            .count() as u64
    );
    assert_eq!(
        h.kb.count_in_scope("scope-sp", Some("no-such-prefix/".to_owned()))
            .await
            .unwrap(),
        0
    );
    let state = h.sim.snapshot();
    let expected: Vec<&str> = state
        .contents
        .iter()
        .filter(|content| content.owner_id == "scope-sp")
        .map(|content| content.id.as_str())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(ids.len(), 250);
    assert_eq!(h.sim.counters().calls(Operation::PaginatedContent), 3);
}

#[tokio::test]
async fn deletion_runs_in_chunks_of_twenty_and_reports_confirmed_ids() {
    let h = Harness::cluster_local().await.granted().await;
    seed_space(&h);
    let state = h.sim.snapshot();
    let mut ids: Vec<String> = state
        .contents
        .iter()
        .take(43)
        .map(|content| content.id.clone())
        .collect();
    ids.insert(5, "never-existed".to_owned());
    ids.push("gone-too".to_owned());
    let outcome = h.kb.delete_content(&ids).await;
    assert!(outcome.error.is_none());
    assert_eq!(outcome.confirmed.len(), 43);
    assert!(!outcome.confirmed.contains(&"never-existed".to_owned()));
    assert_eq!(
        h.sim.counters().calls(Operation::ContentDeleteByContentIds),
        3
    );
    assert_eq!(h.sim.snapshot().contents.len(), 270 - 43);
}

#[tokio::test]
async fn a_failed_delete_chunk_stops_and_keeps_what_was_confirmed() {
    let h = Harness::cluster_local().await.granted().await;
    seed_space(&h);
    let ids: Vec<String> = h
        .sim
        .snapshot()
        .contents
        .iter()
        .take(60)
        .map(|content| content.id.clone())
        .collect();
    // The first chunk goes through; the second fails.
    h.sim.fail_next(
        Operation::ContentDeleteByContentIds,
        1,
        UniqueFault::Delay(Duration::ZERO),
    );
    h.sim.fail_next(
        Operation::ContentDeleteByContentIds,
        1,
        UniqueFault::GraphqlError {
            code: "INTERNAL_SERVER_ERROR".to_owned(),
            status: 500,
        },
    );
    let outcome = h.kb.delete_content(&ids).await;
    assert_eq!(outcome.confirmed, ids[..20]);
    let error = outcome.error.expect("the second chunk failed");
    assert_eq!(
        (error.kind(), error.status()),
        (ErrorKind::Transient, Some(500))
    );
    assert!(
        error.to_string().contains("ContentDeleteByContentIds"),
        "{error}"
    );
    assert_eq!(
        h.sim.counters().calls(Operation::ContentDeleteByContentIds),
        2,
        "a mutation is never retried, and the third chunk is not attempted"
    );
    assert_eq!(h.sim.snapshot().contents.len(), 270 - 20);

    let outcome = h.kb.delete_content(&ids[20..]).await;
    assert!(outcome.error.is_none());
    assert_eq!(outcome.confirmed, ids[20..]);
}

#[tokio::test]
async fn file_diff_sorts_items_per_partial_key_and_changes_nothing() {
    let h = Harness::cluster_local().await;
    h.sim
        .seed_scope(SeedScope::new("scope-sp", "SP").parent(ROOT));
    let seed = |key: &str, updated_at: &str| {
        h.sim.seed_content(
            SeedContent::new(format!("tenant1/space-1_SP/{key}"), "scope-sp")
                .updated_at(updated_at),
        );
    };
    seed("keeper", "2026-05-01T10:00:00.000Z");
    seed("stale", "2026-01-01T00:00:00.000Z");
    seed("removed", "2026-05-01T10:00:00.000Z");
    seed("p1::att-removed", "2026-05-01T10:00:00.000Z");
    h.sim
        .seed_content(SeedContent::new("tenant1/space-a_A/moved-away", ROOT));
    let item = |key: &str| FileDiffItem {
        key: key.to_owned(),
        url: format!("https://tenant1.atlassian.net/wiki/x/{key}"),
        updated_at: "2026-05-01T10:00:00.000Z".to_owned(),
    };
    let request = FileDiffRequest {
        partial_key: "tenant1/space-1_SP".to_owned(),
        source_kind: "ATLASSIAN_CONFLUENCE_CLOUD".to_owned(),
        source_name: "https://tenant1.atlassian.net".to_owned(),
        items: vec![
            item("keeper"),
            item("stale"),
            item("new-page"),
            item("moved-away"),
        ],
    };
    let before = h.sim.snapshot();
    let diff = h.kb.file_diff(&request).await.unwrap();
    assert_eq!(diff.new, ["new-page", "moved-away"]);
    assert_eq!(diff.updated, ["stale"]);
    assert_eq!(diff.deleted, ["removed", "p1::att-removed"]);
    assert!(diff.moved.is_empty());
    assert_eq!(h.sim.snapshot(), before, "the file-diff changes nothing");
    let counters = h.sim.counters();
    assert_eq!(counters.calls(Operation::FileDiff), 1);
    assert_eq!(counters.mutations, 0);
}
