//! The Unique knowledge base of one tenant (PROTOCOL §6, §7): GraphQL on the
//! ingestion and scope-management services, the file-diff REST call and
//! streamed blob uploads, behind [`KnowledgeBase`](crate::ports::KnowledgeBase).
//!
//! * GraphQL operations are the build-time generated ones
//!   (`adapters::generated::unique_graphql`), posted with our reqwest client
//!   (`graphql.rs`); the file-diff goes through the generated progenitor
//!   client with our hooks (`file_diff.rs`).
//! * Auth (`auth.rs`): cluster-local service headers, or a cached Zitadel
//!   token with one re-send after a 401.
//! * Per tenant: three rate-limit reservoirs and a bound on concurrent API
//!   calls (`transport.rs`); retries only for idempotent calls.
//! * Uploads (`upload.rs`) stream with constant memory, never retried, and
//!   in cluster-local mode go to the scoped upload of the ingestion service.

mod auth;
mod file_diff;
mod graphql;
mod knowledge_base;
mod settings;
mod transport;
mod upload;

mod health;

use std::sync::Arc;

pub use auth::InvalidServiceHeader;
pub use file_diff::CallContext;
pub use health::{GraphqlPing, PingFailure};
pub use settings::{
    DEFAULT_MAX_CONCURRENT_CALLS, SERVICE_ID, UniqueAuth, UniqueRetries, UniqueSettings,
};
pub use transport::CallRecorder;

use self::{auth::Auth, settings::Endpoints, transport::Transport};

/// The Unique adapter of one tenant. Cheap to share behind an `Arc`; all
/// per-tenant state (token cache, reservoirs, permits) lives inside.
#[derive(Debug)]
pub struct UniqueKnowledgeBase {
    transport: Arc<Transport>,
    endpoints: Endpoints,
    /// `Some(scoped upload URL)` in cluster-local mode, where `writeUrl` is
    /// rewritten (§6.3).
    scoped_upload: Option<String>,
    upload_client: reqwest::Client,
    /// See [`UniqueSettings::upload_stall`].
    upload_stall: std::time::Duration,
}

impl UniqueKnowledgeBase {
    /// Builds the adapter from the tenant's settings and two clients the
    /// composition root configured for the tenant's traffic class (§2.2:
    /// direct in cluster-local mode, through the proxy in external mode):
    ///
    /// * `api_client` for GraphQL and the file-diff;
    /// * `no_redirect_client`, which **must not follow redirects**
    ///   (`reqwest::redirect::Policy::none()`), for blob uploads and Zitadel
    ///   token requests: a pre-signed PUT answered with 3xx is a failure,
    ///   and Zitadel is called without following redirects (§6.2, §6.3).
    ///
    /// # Errors
    /// A `serviceExtraHeaders` entry is not a valid HTTP header.
    pub fn new(
        settings: UniqueSettings,
        api_client: reqwest::Client,
        no_redirect_client: reqwest::Client,
    ) -> Result<Self, InvalidServiceHeader> {
        let endpoints = Endpoints::derive(
            &settings.ingestion_base_url,
            &settings.scope_management_base_url,
        );
        let scoped_upload = matches!(settings.auth, UniqueAuth::ClusterLocal { .. })
            .then(|| endpoints.scoped_upload.clone());
        let upload_stall = settings.upload_stall;
        let recorder = transport::RecorderSlot::default();
        let auth = Auth::new(
            settings.auth,
            no_redirect_client.clone(),
            settings.request_timeout,
            Arc::clone(&recorder),
        )?;
        let transport = Transport::new(
            api_client,
            auth,
            settings.rate_limit_per_minute,
            settings.max_concurrent_calls,
            settings.request_timeout,
            settings.retries,
            recorder,
        );
        Ok(UniqueKnowledgeBase {
            transport: Arc::new(transport),
            endpoints,
            scoped_upload,
            upload_client: no_redirect_client,
            upload_stall,
        })
    }
}

impl UniqueKnowledgeBase {
    /// Installs the recorder that sees every API call from now on (for
    /// metrics). Only the first installation counts; `false` if one was
    /// installed already.
    pub fn set_call_recorder(&self, recorder: Arc<dyn CallRecorder>) -> bool {
        self.transport.recorder.set(recorder).is_ok()
    }
}
