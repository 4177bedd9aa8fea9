//! Injected faults: which calls are retried (idempotent ones only), how
//! GraphQL errors and partial data surface, slow answers, and the bound on
//! concurrent calls. Paused clock: backoff waits take no real time.

use std::{sync::Arc, time::Duration};

use confluence_connector::{
    ports::{
        ErrorKind, KnowledgeBase,
        knowledge_base::{FileDiffRequest, ScopeAccess},
    },
    sim::unique::{Operation, SeedContent, SeedScope, UniqueFault, UniqueSimSettings},
};

use crate::support::{Harness, ROOT, USER, concurrency, page};

fn diff_request() -> FileDiffRequest {
    FileDiffRequest {
        partial_key: "tenant1/space-1_SP".to_owned(),
        source_kind: "ATLASSIAN_CONFLUENCE_CLOUD".to_owned(),
        source_name: "https://tenant1.atlassian.net".to_owned(),
        items: Vec::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn idempotent_queries_are_retried_after_5xx_429_and_graphql_server_errors() {
    let h = Harness::cluster_local().await;
    h.sim
        .fail_next(Operation::PaginatedScope, 1, UniqueFault::status(503));
    h.sim.fail_next(
        Operation::PaginatedScope,
        1,
        UniqueFault::Status {
            status: 429,
            retry_after: Some(7),
        },
    );
    h.sim.fail_next(
        Operation::PaginatedScope,
        1,
        UniqueFault::GraphqlError {
            code: "INTERNAL_SERVER_ERROR".to_owned(),
            status: 500,
        },
    );
    assert!(h.kb.scope_by_id(ROOT).await.unwrap().is_some());
    assert_eq!(h.sim.counters().calls(Operation::PaginatedScope), 4);

    h.sim
        .fail_next(Operation::User, 1, UniqueFault::status(502));
    h.sim.fail_next(
        Operation::PaginatedContentCount,
        1,
        UniqueFault::status(504),
    );
    h.kb.current_user_id().await.unwrap();
    h.kb.count_with_key_prefix("x/").await.unwrap();
    let counters = h.sim.counters();
    assert_eq!(counters.calls(Operation::User), 2);
    assert_eq!(counters.calls(Operation::PaginatedContentCount), 2);
}

#[tokio::test(start_paused = true)]
async fn retries_stop_after_three_and_surface_the_last_status() {
    let h = Harness::cluster_local().await;
    h.sim
        .fail_next(Operation::PaginatedContent, 10, UniqueFault::status(503));
    let err = h.kb.content_in_scope(ROOT).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.status()),
        (ErrorKind::Transient, Some(503))
    );
    assert!(
        err.to_string().contains("GraphQL PaginatedContent"),
        "{err}"
    );
    assert_eq!(
        h.sim.counters().calls(Operation::PaginatedContent),
        4,
        "1 attempt + 3 retries"
    );
}

#[tokio::test(start_paused = true)]
async fn rejections_are_not_retried() {
    let h = Harness::cluster_local().await;
    h.sim
        .fail_next(Operation::PaginatedScope, 1, UniqueFault::status(400));
    let err = h.kb.child_scopes(ROOT).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert_eq!(h.sim.counters().calls(Operation::PaginatedScope), 1);
}

#[tokio::test(start_paused = true)]
async fn self_grants_and_scope_updates_are_retried() {
    let h = Harness::cluster_local().await;
    h.sim
        .fail_next(Operation::CreateScopeAccesses, 1, UniqueFault::status(502));
    h.kb.grant_scope_access(ROOT, USER, &[ScopeAccess::Manage])
        .await
        .unwrap();
    h.sim
        .fail_next(Operation::UpdateScope, 2, UniqueFault::status(503));
    let scope =
        h.kb.set_scope_external_id(ROOT, Some("confc:cloud:cloud-1".to_owned()))
            .await
            .unwrap();
    assert_eq!(scope.external_id.as_deref(), Some("confc:cloud:cloud-1"));
    let counters = h.sim.counters();
    assert_eq!(counters.calls(Operation::CreateScopeAccesses), 2);
    assert_eq!(counters.calls(Operation::UpdateScope), 3);
}

#[tokio::test(start_paused = true)]
async fn other_mutations_are_never_retried() {
    let h = Harness::cluster_local().await.granted().await;
    h.sim
        .seed_scope(SeedScope::new("scope-sp", "SP").parent(ROOT));
    let content_id = h.sim.seed_content(SeedContent::new("k/1", "scope-sp"));
    let before = h.sim.snapshot();
    for operation in [
        Operation::ContentUpsert,
        Operation::GenerateScopesBasedOnPaths,
        Operation::DeleteFolder,
        Operation::BulkMove,
        Operation::ContentDeleteByContentIds,
    ] {
        h.sim.fail_next(operation, 1, UniqueFault::status(503));
    }
    let upsert = page("k/2", "scope-sp", 1);
    assert_eq!(
        h.kb.register_content(&upsert).await.unwrap_err().kind(),
        ErrorKind::Transient
    );
    assert!(
        h.kb.ensure_scope_paths(&["/Confluence/X".to_owned()])
            .await
            .is_err()
    );
    assert!(h.kb.delete_scope("scope-sp", true).await.is_err());
    assert!(
        h.kb.move_scopes(&["scope-sp".to_owned()], ROOT)
            .await
            .is_err()
    );
    assert!(h.kb.delete_content(&[content_id]).await.error.is_some());

    let counters = h.sim.counters();
    for operation in [
        Operation::ContentUpsert,
        Operation::GenerateScopesBasedOnPaths,
        Operation::DeleteFolder,
        Operation::BulkMove,
        Operation::ContentDeleteByContentIds,
    ] {
        assert_eq!(counters.calls(operation), 1, "{operation} was retried");
    }
    assert_eq!(counters.mutations, 0);
    assert_eq!(
        h.sim.snapshot(),
        before,
        "nothing duplicated or half-registered"
    );
}

#[tokio::test(start_paused = true)]
async fn the_file_diff_is_retried_on_429_and_5xx_up_to_three_times() {
    let h = Harness::cluster_local().await;
    h.sim
        .fail_next(Operation::FileDiff, 1, UniqueFault::status(500));
    h.sim.fail_next(
        Operation::FileDiff,
        1,
        UniqueFault::Status {
            status: 429,
            retry_after: Some(3),
        },
    );
    h.sim
        .fail_next(Operation::FileDiff, 1, UniqueFault::status(504));
    assert!(h.kb.file_diff(&diff_request()).await.is_ok());
    assert_eq!(h.sim.counters().calls(Operation::FileDiff), 4);

    h.sim.reset_counters();
    h.sim
        .fail_next(Operation::FileDiff, 4, UniqueFault::status(502));
    let err = h.kb.file_diff(&diff_request()).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.status()),
        (ErrorKind::Transient, Some(502))
    );
    assert!(
        err.to_string()
            .contains("file-diff of `tenant1/space-1_SP`"),
        "{err}"
    );
    assert_eq!(h.sim.counters().calls(Operation::FileDiff), 4);
}

#[tokio::test(start_paused = true)]
async fn a_file_diff_answer_without_a_category_is_invalid() {
    let h = Harness::cluster_local().await;
    // A 200 with a JSON body lacking the four arrays.
    h.sim
        .fail_next(Operation::FileDiff, 1, UniqueFault::status(200));
    let err = h.kb.file_diff(&diff_request()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert_eq!(h.sim.counters().calls(Operation::FileDiff), 1);
}

#[tokio::test(start_paused = true)]
async fn errors_next_to_data_fail_the_call_without_a_retry() {
    let h = Harness::cluster_local().await.granted().await;
    h.sim
        .fail_next(Operation::ContentUpsert, 1, UniqueFault::ErrorAfterData);
    let err =
        h.kb.register_content(&page("k/partial", ROOT, 1))
            .await
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert!(
        err.to_string().contains("injected error after data"),
        "{err}"
    );
    assert_eq!(h.sim.counters().calls(Operation::ContentUpsert), 1);
    // The server did register it: cleaning up is the sync's job (§9.8),
    // and no retry made a second registration.
    let state = h.sim.snapshot();
    assert_eq!(state.content_keys(), ["k/partial"]);
    assert!(!state.contents[0].finalized);
}

#[tokio::test(start_paused = true)]
async fn slow_answers_time_out_and_idempotent_calls_try_again() {
    let h = Harness::cluster_local().await;
    h.sim.fail_next(
        Operation::PaginatedScope,
        1,
        UniqueFault::Delay(Duration::from_secs(120)),
    );
    assert!(h.kb.scope_by_id(ROOT).await.unwrap().is_some());
    assert_eq!(h.sim.counters().calls(Operation::PaginatedScope), 2);

    h.sim.fail_next(
        Operation::BulkMove,
        1,
        UniqueFault::Delay(Duration::from_secs(120)),
    );
    let err = h.kb.move_scopes(&[], ROOT).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!(h.sim.counters().calls(Operation::BulkMove), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_calls_stay_within_the_tenant_bound() {
    let h = Arc::new(
        Harness::start_with(UniqueSimSettings::cluster_local(), |settings| {
            settings.max_concurrent_calls = concurrency(3);
        })
        .await,
    );
    h.sim.fail_next(
        Operation::PaginatedScope,
        12,
        UniqueFault::Delay(Duration::from_secs(1)),
    );
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let h = Arc::clone(&h);
            tokio::spawn(async move { h.kb.scope_by_id(ROOT).await })
        })
        .collect();
    for call in calls {
        assert!(call.await.unwrap().unwrap().is_some());
    }
    let counters = h.sim.counters();
    assert_eq!(counters.calls(Operation::PaginatedScope), 12);
    assert_eq!(
        counters.peak_concurrency, 3,
        "bounded, and the bound is used"
    );
}

/// Work that grows with the data may take longer than the 30 s of an
/// ordinary call (ours): a slow file-diff and slow deletions are waited
/// for (once, nothing repeated), while an upsert that slow times out as a
/// transient failure, never a success.
#[tokio::test(start_paused = true)]
async fn slow_diffs_and_deletions_are_tolerated_but_a_slow_upsert_fails() {
    let h = Harness::cluster_local().await.granted().await;
    h.sim
        .seed_scope(SeedScope::new("scope-sp", "SP").parent(ROOT));
    let content_id = h.sim.seed_content(SeedContent::new("k/1", "scope-sp"));
    let slow = UniqueFault::Delay(Duration::from_secs(120));
    for operation in [
        Operation::FileDiff,
        Operation::ContentDeleteByContentIds,
        Operation::DeleteFolder,
        Operation::ContentUpsert,
    ] {
        h.sim.fail_next(operation, 1, slow.clone());
    }
    h.kb.file_diff(&diff_request()).await.unwrap();
    let deletion = h.kb.delete_content(std::slice::from_ref(&content_id)).await;
    assert!(deletion.error.is_none(), "{:?}", deletion.error);
    assert_eq!(deletion.confirmed, [content_id]);
    let outcome = h.kb.delete_scope("scope-sp", true).await.unwrap();
    assert_eq!(outcome.deleted, ["scope-sp"]);
    let err =
        h.kb.register_content(&page("k/2", ROOT, 1))
            .await
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);

    let counters = h.sim.counters();
    for operation in [
        Operation::FileDiff,
        Operation::ContentDeleteByContentIds,
        Operation::DeleteFolder,
        Operation::ContentUpsert,
    ] {
        assert_eq!(counters.calls(operation), 1, "{operation}");
    }
}

/// A blob endpoint that stops reading and never answers: the upload fails
/// once nothing has moved for the stall timeout (120 s here), instead of
/// hanging the item forever.
#[tokio::test(start_paused = true)]
async fn a_stalled_upload_fails_after_the_stall_timeout() {
    let h = Harness::cluster_local().await.granted().await;
    let registered = h.kb.register_content(&page("k/3", ROOT, 11)).await.unwrap();
    h.sim.fail_next(Operation::Upload, 1, UniqueFault::Stall);
    let started = tokio::time::Instant::now();
    let err =
        h.kb.upload_content(
            &registered,
            "text/html",
            confluence_connector::ports::knowledge_base::UploadBody::Bytes(
                bytes::Bytes::from_static(b"<p>stalled</p>"),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.to_string().contains("no progress for 120 s"), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(120));
    assert!(h.sim.snapshot().uploads.is_empty());
}
