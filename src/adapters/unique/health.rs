//! The `uniqueApi` health check of one tenant (PROTOCOL §11.1): `POST
//! {"query":"{ __typename }"}` to both GraphQL endpoints with the tenant's
//! credentials, outside the rate limiters and the concurrency bound (a
//! probe must not queue behind a busy cycle).

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};

use super::UniqueKnowledgeBase;
use crate::adapters::http::ping::error_code;

/// Why a ping failed: `HTTP_{status}`, `AUTH_FAILURE`, `TIMEOUT`, an OS
/// error name or `UNKNOWN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingFailure(pub String);

/// The two pings of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphqlPing {
    pub ingestion: Result<(), PingFailure>,
    pub scope_management: Result<(), PingFailure>,
}

const PING_BODY: &str = r#"{"query":"{ __typename }"}"#;

impl UniqueKnowledgeBase {
    /// Pings both GraphQL endpoints, each bounded by `timeout`. A failing
    /// token acquisition fails both with `AUTH_FAILURE`.
    pub async fn ping_graphql(&self, timeout: Duration) -> GraphqlPing {
        let auth_failure = || GraphqlPing {
            ingestion: Err(PingFailure("AUTH_FAILURE".to_owned())),
            scope_management: Err(PingFailure("AUTH_FAILURE".to_owned())),
        };
        let credentials =
            match tokio::time::timeout(timeout, self.transport.auth.credentials()).await {
                Ok(Ok(credentials)) => credentials,
                Ok(Err(_)) | Err(_) => return auth_failure(),
            };
        let ping = |url: &str| {
            let request = self
                .transport
                .api
                .post(url)
                .headers(credentials.headers.clone())
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .timeout(timeout)
                .body(PING_BODY);
            async move {
                match request.send().await {
                    Ok(response) if response.status().is_success() => Ok(()),
                    Ok(response) => {
                        Err(PingFailure(format!("HTTP_{}", response.status().as_u16())))
                    }
                    Err(err) => Err(PingFailure(error_code(&err).to_owned())),
                }
            }
        };
        let (ingestion, scope_management) = tokio::join!(
            ping(&self.endpoints.ingestion_graphql),
            ping(&self.endpoints.scope_management_graphql)
        );
        GraphqlPing {
            ingestion,
            scope_management,
        }
    }
}
