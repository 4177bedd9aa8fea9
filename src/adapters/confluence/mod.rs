//! The Confluence adapter: [`ConfluenceAdapter`] implements
//! [`ConfluenceSource`] over the generated clients, one variant per flavour.
//!
//! * [`hooks`]: the `ClientHooks` of both generated clients (auth, limiter,
//!   retries, 401 refresh, observations).
//! * `auth`: OAuth token cache, PAT and basic headers.
//! * `cloud` / `data_center`: the requests each flavour sends.
//! * `common`: the port's algorithms written once for both.
//! * `mapping`, `pagination`, `errors`: wire shapes → domain, next links,
//!   failures → [`PortError`].

mod auth;
mod cloud;
mod common;
mod data_center;
mod errors;
pub mod hooks;
mod mapping;
mod pagination;
mod settings;

use std::sync::Arc;

pub use cloud::CloudAdapter;
pub use data_center::DataCenterAdapter;
pub use hooks::{ConfluenceObservations, ObservationSnapshot, RequestHooks, RequestRecorder};
pub use settings::{
    ClientCredentials, ConfluenceSettings, DataCenterAuth, Site, SyncLabels, Timeouts,
};

use self::{
    auth::{Authenticator, TokenEndpoint},
    common::{Common, Flavor},
};
use crate::{
    adapters::generated::{confluence_cloud, confluence_dc},
    domain::model::{AttachmentMeta, DiscoveredContent},
    ports::{BodyFetch, ByteStream, ConfluenceSource, PortError},
};

/// One tenant's Confluence, Cloud or Data Center, chosen from its settings.
#[derive(Debug)]
pub enum ConfluenceAdapter {
    Cloud(CloudAdapter),
    DataCenter(DataCenterAdapter),
}

impl ConfluenceAdapter {
    /// An adapter sending every request with `http`, the client the
    /// composition root configured (proxy, CA, user agent, redirect policy
    /// that drops `Authorization` across origins).
    pub fn new(http: reqwest::Client, settings: ConfluenceSettings) -> Self {
        let observations = Arc::new(ConfluenceObservations::default());
        let token_hooks = RequestHooks::token_endpoint(
            settings.token_retry_policy,
            settings.timeouts.request,
            Arc::clone(&observations),
        );
        match &settings.site {
            Site::Cloud {
                api_gateway_url,
                cloud_id,
                credentials,
                ..
            } => {
                let token_client = confluence_cloud::Client::new_with_client(
                    api_gateway_url,
                    http.clone(),
                    token_hooks,
                );
                let auth = Authenticator::oauth(TokenEndpoint::Cloud {
                    client: token_client,
                    credentials: credentials.clone(),
                });
                let common = Common::new(http, Arc::new(auth), &settings, observations);
                ConfluenceAdapter::Cloud(CloudAdapter::new(common, api_gateway_url, cloud_id))
            }
            Site::DataCenter { base_url, auth } => {
                let auth = match auth {
                    DataCenterAuth::OAuth2(credentials) => {
                        Authenticator::oauth(TokenEndpoint::DataCenter {
                            client: confluence_dc::Client::new_with_client(
                                base_url,
                                http.clone(),
                                token_hooks,
                            ),
                            credentials: credentials.clone(),
                        })
                    }
                    DataCenterAuth::PersonalAccessToken(token) => {
                        Authenticator::personal_access_token(token)
                    }
                    DataCenterAuth::Basic { username, password } => {
                        Authenticator::basic(username, password)
                    }
                };
                let common = Common::new(http, Arc::new(auth), &settings, observations);
                ConfluenceAdapter::DataCenter(DataCenterAdapter::new(common, base_url))
            }
        }
    }

    /// What the tenant's Confluence traffic experienced so far (429s,
    /// retries, local throttling, …).
    pub fn observations(&self) -> Arc<ConfluenceObservations> {
        match self {
            ConfluenceAdapter::Cloud(cloud) => Arc::clone(&cloud.common().observations),
            ConfluenceAdapter::DataCenter(dc) => Arc::clone(&dc.common().observations),
        }
    }
}

impl ConfluenceSource for ConfluenceAdapter {
    async fn instance_id(&self) -> Result<String, PortError> {
        match self {
            ConfluenceAdapter::Cloud(cloud) => cloud.instance_id().await,
            ConfluenceAdapter::DataCenter(dc) => dc.instance_id().await,
        }
    }

    async fn labeled_content(&self) -> Result<Vec<DiscoveredContent>, PortError> {
        match self {
            ConfluenceAdapter::Cloud(cloud) => common::labeled_content(cloud).await,
            ConfluenceAdapter::DataCenter(dc) => common::labeled_content(dc).await,
        }
    }

    fn listings_ended_early(&self) -> u64 {
        match self {
            ConfluenceAdapter::Cloud(cloud) => cloud.common().listings_ended_early(),
            ConfluenceAdapter::DataCenter(dc) => dc.common().listings_ended_early(),
        }
    }

    async fn descendants(&self, root_ids: &[String]) -> Result<Vec<DiscoveredContent>, PortError> {
        match self {
            ConfluenceAdapter::Cloud(cloud) => common::descendants(cloud, root_ids).await,
            ConfluenceAdapter::DataCenter(dc) => common::descendants(dc, root_ids).await,
        }
    }

    async fn page_bodies(
        &self,
        page_ids: &[String],
    ) -> Result<Vec<(String, BodyFetch)>, PortError> {
        match self {
            ConfluenceAdapter::Cloud(cloud) => common::page_bodies(cloud, page_ids).await,
            ConfluenceAdapter::DataCenter(dc) => common::page_bodies(dc, page_ids).await,
        }
    }

    async fn page_by_title(
        &self,
        space_key: &str,
        title: &str,
    ) -> Result<Option<DiscoveredContent>, PortError> {
        match self {
            ConfluenceAdapter::Cloud(cloud) => common::page_by_title(cloud, space_key, title).await,
            ConfluenceAdapter::DataCenter(dc) => common::page_by_title(dc, space_key, title).await,
        }
    }

    async fn download(
        &self,
        page_id: &str,
        attachment: &AttachmentMeta,
    ) -> Result<ByteStream, PortError> {
        match self {
            ConfluenceAdapter::Cloud(cloud) => cloud.download(page_id, attachment).await,
            ConfluenceAdapter::DataCenter(dc) => dc.download(page_id, attachment).await,
        }
    }
}
