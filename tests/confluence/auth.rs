//! Authentication (§4): token cache, refresh after 401, static modes.

use confluence_connector::{
    ports::{ConfluenceSource, ErrorKind},
    sim::confluence::{Dataset, Fault, Flavor, Route, SimPage, SimSpace},
};
use secrecy::SecretString;

use crate::{
    both_flavors,
    support::{Harness, Login, SINGLE},
};

fn pages(count: usize) -> Dataset {
    let mut dataset = Dataset::new().space(SimSpace::new("1", "SP", "Space"));
    for n in 0..count {
        dataset = dataset.page(SimPage::new(format!("{}", 500 + n), "SP").labels([SINGLE]));
    }
    dataset
}

/// One token serves many requests (single flight, cached).
async fn one_token_serves_many_requests(flavor: Flavor) {
    let harness = Harness::start(flavor, pages(3)).await;
    for _ in 0..3 {
        assert_eq!(harness.adapter.labeled_content().await.unwrap().len(), 3);
    }
    let ids: Vec<String> = (500..503).map(|n| n.to_string()).collect();
    let concurrent =
        futures::future::join_all((0..8).map(|_| harness.adapter.page_bodies(&ids))).await;
    assert!(concurrent.iter().all(Result::is_ok));
    assert_eq!(harness.sim.counters().tokens_issued, 1);
    harness.finish().await;
}

/// A token that stops working in the middle of a run (revoked when the
/// second request arrives): that request, answered 401, is sent once more
/// with a fresh token and the run completes.
async fn a_token_expiring_mid_run_is_replaced(flavor: Flavor) {
    let harness = Harness::start(flavor, pages(30)).await;
    let ids: Vec<String> = (500..530).map(|n| n.to_string()).collect();
    harness.sim.revoke_tokens_at_request(2);
    let first = harness.adapter.page_bodies(&ids[..10]).await.unwrap();
    let second = harness.adapter.page_bodies(&ids[10..]).await.unwrap();
    assert_eq!(first.len() + second.len(), 30);
    assert!(
        first
            .iter()
            .chain(&second)
            .all(|(_, b)| matches!(b, confluence_connector::ports::BodyFetch::Found(_)))
    );
    let counters = harness.sim.counters();
    assert_eq!(counters.tokens_issued, 2);
    assert_eq!(counters.with_status(401), 1);
    assert_eq!(
        harness
            .adapter
            .observations()
            .snapshot()
            .token_refreshes_after_401,
        1
    );
    harness.finish().await;
}

/// 401 again with the fresh token: `Unauthorized`, after exactly one refresh.
async fn a_401_after_the_refresh_is_unauthorized(flavor: Flavor) {
    let harness = Harness::start(flavor, pages(1)).await;
    harness.sim.reject_tokens(true);
    let error = harness.adapter.labeled_content().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthorized, "{error}");
    assert_eq!(error.status(), Some(401));
    assert!(error.context().contains("label discovery"), "{error}");
    let counters = harness.sim.counters();
    assert_eq!(counters.tokens_issued, 2);
    assert_eq!(counters.with_status(401), 2);
    harness.finish().await;
}

/// Token endpoint 5xx is retried (ours §4.3); a wrong secret is refused.
async fn token_requests_retry_transient_failures_only(flavor: Flavor) {
    let harness = Harness::start(flavor, pages(1)).await;
    harness.sim.fail_next(Route::Token, 2, Fault::Status(503));
    assert_eq!(harness.adapter.labeled_content().await.unwrap().len(), 1);
    assert_eq!(harness.sim.counters().requests(Route::Token), 3);

    let wrong = harness.adapter_with(Login::OAuth, |s| match &mut s.site {
        confluence_connector::adapters::confluence::Site::Cloud { credentials, .. } => {
            credentials.client_secret = SecretString::from("wrong");
        }
        confluence_connector::adapters::confluence::Site::DataCenter { auth, .. } => {
            *auth = confluence_connector::adapters::confluence::DataCenterAuth::OAuth2(
                confluence_connector::adapters::confluence::ClientCredentials {
                    client_id: "client".into(),
                    client_secret: SecretString::from("wrong"),
                },
            );
        }
    });
    let error = wrong.labeled_content().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthorized, "{error}");
    assert!(error.to_string().contains("token request"), "{error}");
    assert_eq!(
        harness.sim.counters().requests(Route::Token),
        4,
        "a 401 from the token endpoint is final"
    );
    harness.finish().await;
}

/// Data Center PAT and basic logins work; a wrong PAT is `Unauthorized`
/// without any token request.
#[tokio::test]
async fn data_center_static_credentials() {
    for auth in [Login::Pat, Login::Basic] {
        let harness = Harness::start_with(Flavor::DataCenter, pages(2), auth, |_| {}).await;
        assert_eq!(
            harness.adapter.labeled_content().await.unwrap().len(),
            2,
            "{auth:?}"
        );
        assert_eq!(harness.sim.counters().tokens_issued, 0);
        harness.finish().await;
    }
    let harness = Harness::start_with(Flavor::DataCenter, pages(1), Login::Pat, |s| {
        s.site = confluence_connector::adapters::confluence::Site::DataCenter {
            base_url: match &s.site {
                confluence_connector::adapters::confluence::Site::DataCenter {
                    base_url, ..
                } => base_url.clone(),
                confluence_connector::adapters::confluence::Site::Cloud { .. } => unreachable!(),
            },
            auth: confluence_connector::adapters::confluence::DataCenterAuth::PersonalAccessToken(
                SecretString::from("stolen"),
            ),
        };
    })
    .await;
    let error = harness.adapter.labeled_content().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(
        harness.sim.counters().with_status(401),
        1,
        "static credentials are not retried"
    );
    harness.finish().await;
}

both_flavors!(
    one_token_serves_many_requests,
    a_token_expiring_mid_run_is_replaced,
    a_401_after_the_refresh_is_unauthorized,
    token_requests_retry_transient_failures_only,
);
