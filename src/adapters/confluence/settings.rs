//! What a Confluence adapter needs from a tenant's configuration. The
//! composition root maps the validated tenant config into these; secrets
//! stay [`SecretString`]s until a header or token request is built.

use std::{num::NonZeroU32, time::Duration};

use secrecy::SecretString;

use crate::domain::backoff::RetryPolicy;

/// Settings of one tenant's Confluence adapter.
#[derive(Debug, Clone)]
pub struct ConfluenceSettings {
    pub site: Site,
    /// `confluence.apiRateLimitPerMinute`: GCRA rate and burst (§5.11).
    pub rate_limit_per_minute: NonZeroU32,
    pub labels: SyncLabels,
    /// `ingestion.attachments.mode`: off removes the attachment expansions
    /// and the completion requests (§3.7).
    pub attachments_enabled: bool,
    /// Retries of Confluence API requests ([`RetryPolicy::CONFLUENCE`]).
    pub retry_policy: RetryPolicy,
    /// Retries of OAuth token requests ([`RetryPolicy::IDEMPOTENT_CALLS`]).
    pub token_retry_policy: RetryPolicy,
    pub timeouts: Timeouts,
}

impl ConfluenceSettings {
    /// Settings with the production retry policies and timeouts.
    pub fn new(
        site: Site,
        rate_limit_per_minute: NonZeroU32,
        labels: SyncLabels,
        attachments_enabled: bool,
    ) -> Self {
        ConfluenceSettings {
            site,
            rate_limit_per_minute,
            labels,
            attachments_enabled,
            retry_policy: RetryPolicy::CONFLUENCE,
            token_retry_policy: RetryPolicy::IDEMPOTENT_CALLS,
            timeouts: Timeouts::default(),
        }
    }
}

/// The instance and how to authenticate against it.
#[derive(Debug, Clone)]
pub enum Site {
    /// Confluence Cloud through the Atlassian API gateway.
    Cloud {
        /// `https://{site}.atlassian.net` (web links only, never API calls).
        base_url: String,
        /// `confluence.apiGatewayUrl`, without trailing `/` (§2.5).
        api_gateway_url: String,
        cloud_id: String,
        /// Cloud only supports OAuth 2.0 client credentials (2LO).
        credentials: ClientCredentials,
    },
    /// Confluence Data Center, called directly.
    DataCenter {
        /// API root including any context path, without trailing `/`.
        base_url: String,
        auth: DataCenterAuth,
    },
}

/// OAuth 2.0 client credentials.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

/// Data Center authentication modes (§4).
#[derive(Debug, Clone)]
pub enum DataCenterAuth {
    OAuth2(ClientCredentials),
    PersonalAccessToken(SecretString),
    Basic {
        username: SecretString,
        password: SecretString,
    },
}

/// The two sync labels (§1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncLabels {
    /// `ingestSingleLabel`: the page only.
    pub single: String,
    /// `ingestAllLabel`: the page and all its descendants.
    pub all: String,
}

/// Time limits of Confluence requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Whole JSON exchange (connect, send, read the body), per attempt:
    /// waits for the tenant's limiter and between retries are not part of
    /// it. Downloads stream, so they are bounded by the transport's connect
    /// and idle read timeouts per attempt and by `download_idle` instead.
    pub request: Duration,
    /// Longest pause between two chunks of a download; a stalled transfer
    /// fails instead of hanging the cycle.
    pub download_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            request: Duration::from_secs(60),
            download_idle: Duration::from_secs(60),
        }
    }
}
