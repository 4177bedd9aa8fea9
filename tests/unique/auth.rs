//! Both auth modes: service headers (cluster-local) and Zitadel tokens
//! (external) with caching, early refresh, single flight and one re-send
//! after a 401.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use confluence_connector::{
    adapters::unique::UniqueAuth,
    ports::{ErrorKind, KnowledgeBase},
    sim::unique::{Operation, UniqueFault, UniqueSimAuth, UniqueSimSettings},
};
use secrecy::SecretString;

use crate::support::{Harness, ROOT, adapter, adapter_settings};

fn headers(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn every_configured_service_header_is_sent_and_may_override_the_service_id() {
    let required = headers(&[
        ("x-service-id", "custom-service"),
        ("x-company-id", "company-7"),
        ("x-user-id", "user-7"),
        ("x-extra-routing", "blue"),
    ]);
    let settings = UniqueSimSettings {
        auth: UniqueSimAuth::ClusterLocal {
            required_headers: required.clone(),
        },
        ..UniqueSimSettings::cluster_local()
    };
    let h = Harness::start_with(settings, |settings| {
        settings.auth = UniqueAuth::ClusterLocal {
            service_extra_headers: required.clone(),
        };
    })
    .await;
    assert!(h.kb.current_user_id().await.is_ok());
    assert!(h.kb.scope_by_id(ROOT).await.unwrap().is_some());
    assert!(h.kb.file_diff(&empty_diff()).await.is_ok());
    assert_eq!(h.sim.counters().unauthorized, 0);
}

#[tokio::test]
async fn a_missing_service_header_is_unauthorized_and_not_retried() {
    let h = Harness::cluster_local().await;
    let mut settings = adapter_settings(&h.sim);
    settings.auth = UniqueAuth::ClusterLocal {
        service_extra_headers: headers(&[("x-user-id", "header-user-id")]),
    };
    let kb = adapter(settings);
    let err = kb.scope_by_id(ROOT).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.status()),
        (ErrorKind::Unauthorized, Some(401))
    );
    let counters = h.sim.counters();
    assert_eq!(counters.calls(Operation::PaginatedScope), 1);
    assert_eq!(counters.unauthorized, 1);
}

fn empty_diff() -> confluence_connector::ports::knowledge_base::FileDiffRequest {
    confluence_connector::ports::knowledge_base::FileDiffRequest {
        partial_key: "tenant1/space-1_SP".to_owned(),
        source_kind: "ATLASSIAN_CONFLUENCE_CLOUD".to_owned(),
        source_name: "https://tenant1.atlassian.net".to_owned(),
        items: Vec::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn tokens_are_reused_and_refreshed_a_minute_before_expiry() {
    let h = Harness::external().await;
    h.kb.current_user_id().await.unwrap();
    h.kb.file_diff(&empty_diff()).await.unwrap();
    assert_eq!(
        h.sim.counters().tokens_issued,
        1,
        "GraphQL and file-diff share the token"
    );

    // The simulator issues one-hour tokens.
    tokio::time::advance(Duration::from_secs(3600 - 61)).await;
    h.kb.scope_by_id(ROOT).await.unwrap();
    assert_eq!(h.sim.counters().tokens_issued, 1);

    tokio::time::advance(Duration::from_secs(2)).await;
    h.kb.scope_by_id(ROOT).await.unwrap();
    let counters = h.sim.counters();
    assert_eq!(
        counters.tokens_issued, 2,
        "refreshed inside the 60 s margin"
    );
    assert_eq!(counters.unauthorized, 0, "never sent an expired token");
}

#[tokio::test(start_paused = true)]
async fn expired_tokens_are_refused_by_the_simulator() {
    let h = Harness::external().await;
    h.kb.current_user_id().await.unwrap();
    // The adapter would refresh; a bare request with the old token shows
    // the server side of expiry.
    tokio::time::advance(Duration::from_secs(3601)).await;
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", h.sim.scope_management_base_url()))
        .bearer_auth("sim-token-1")
        .json(&serde_json::json!({"query": "query User { me { user { id } } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test(start_paused = true)]
async fn a_refused_token_is_replaced_and_the_call_sent_once_more() {
    let h = Harness::external().await;
    h.kb.scope_by_id(ROOT).await.unwrap();
    h.sim.revoke_tokens();
    h.sim.reset_counters();

    let scope = h.kb.scope_by_id(ROOT).await.unwrap();
    assert!(scope.is_some());
    let counters = h.sim.counters();
    assert_eq!(
        counters.calls(Operation::PaginatedScope),
        2,
        "the 401, then the re-send"
    );
    assert_eq!(counters.unauthorized, 1);
    assert_eq!(counters.tokens_issued, 1);
}

#[tokio::test(start_paused = true)]
async fn a_second_401_is_final_even_for_idempotent_calls() {
    let h = Harness::external().await;
    h.sim
        .fail_next(Operation::PaginatedScope, 2, UniqueFault::status(401));
    let err = h.kb.scope_by_id(ROOT).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.status()),
        (ErrorKind::Unauthorized, Some(401))
    );
    let counters = h.sim.counters();
    assert_eq!(counters.calls(Operation::PaginatedScope), 2);
    assert_eq!(counters.tokens_issued, 2);
}

#[tokio::test(start_paused = true)]
async fn a_graphql_unauthenticated_error_also_refreshes_the_token() {
    let h = Harness::external().await;
    let unauthenticated = UniqueFault::GraphqlError {
        code: "UNAUTHENTICATED".to_owned(),
        status: 401,
    };
    h.sim
        .fail_next(Operation::ContentUpsert, 1, unauthenticated);
    let err =
        h.kb.register_content(&crate::support::page("k/p", ROOT, 1))
            .await
            .unwrap_err();
    // The re-send reached the resolver, which refused the ungranted write.
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    let counters = h.sim.counters();
    assert_eq!(counters.calls(Operation::ContentUpsert), 2);
    assert_eq!(counters.tokens_issued, 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_one_token_request() {
    let h = Arc::new(Harness::external().await);
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
    assert_eq!(counters.tokens_issued, 1);
    assert_eq!(counters.calls(Operation::Token), 1);
}

#[tokio::test]
async fn refused_client_credentials_fail_unauthorized_and_nothing_is_cached() {
    let h = Harness::external().await;
    let mut settings = adapter_settings(&h.sim);
    if let UniqueAuth::External { client_secret, .. } = &mut settings.auth {
        *client_secret = SecretString::from("wrong-secret");
    }
    let kb = adapter(settings);
    for attempt in 1..=2 {
        let err = kb.current_user_id().await.unwrap_err();
        assert_eq!(
            (err.kind(), err.status()),
            (ErrorKind::Unauthorized, Some(401))
        );
        assert_eq!(err.context(), "Zitadel token request");
        let counters = h.sim.counters();
        assert_eq!(
            counters.calls(Operation::Token),
            attempt,
            "no retry, no cached failure"
        );
        assert_eq!(
            counters.calls(Operation::User),
            0,
            "no API call without a token"
        );
    }
}

#[tokio::test]
async fn a_token_endpoint_outage_is_transient() {
    let h = Harness::external().await;
    h.sim
        .fail_next(Operation::Token, 1, UniqueFault::status(503));
    let err = h.kb.file_diff(&empty_diff()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!(
        h.sim.counters().calls(Operation::Token),
        1,
        "token requests are not retried"
    );
}
