//! What both flavours share: the request plumbing around the generated
//! clients, and the port's algorithms (discovery order, de-duplication,
//! batched bodies with single-fetch fallback), written once over
//! [`Flavor`].

use std::{
    collections::HashSet,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use serde::de::DeserializeOwned;

use super::{
    auth::Authenticator,
    errors::{from_transport, map_error},
    hooks::{ConfluenceObservations, RequestHooks, call},
    mapping::Listed,
    settings::{ConfluenceSettings, SyncLabels, Timeouts},
};
use crate::{
    domain::{
        cql::{self, ContentId},
        model::{AttachmentMeta, DiscoveredContent, InstanceType, PageBody},
    },
    ports::{BodyFetch, ByteStream, ErrorKind, PortError, confluence::BODY_BATCH},
};

/// `expand` of discovery requests (C1, C2, C6) without attachments.
pub(super) const DISCOVERY_EXPAND: &str = "metadata.labels,version,space";
/// What discovery adds when attachments are enabled (`{ATT}`, §5.2).
pub(super) const ATTACHMENT_EXPAND: &str =
    ",children.attachment,children.attachment.version,children.attachment.extensions";
/// `expand` of body fetches (C3 and the batch).
pub(super) const BODY_EXPAND: &str = "body.storage,version,space,metadata.labels";
/// Page size of discovery searches (§5.2 C1/C2).
pub(super) const DISCOVERY_LIMIT: i32 = 100;

/// State every request of one tenant shares.
#[derive(Debug, Clone)]
pub(super) struct Common {
    pub(super) http: reqwest::Client,
    pub(super) hooks: RequestHooks,
    pub(super) labels: SyncLabels,
    pub(super) attachments_enabled: bool,
    pub(super) timeouts: Timeouts,
    pub(super) observations: Arc<ConfluenceObservations>,
    /// Listings that stopped at an empty page carrying `next`
    /// ([`ConfluenceSource::listings_ended_early`](crate::ports::ConfluenceSource::listings_ended_early)).
    ended_early: Arc<AtomicU64>,
}

impl Common {
    /// Shared state of API requests authenticated by `auth`.
    pub(super) fn new(
        http: reqwest::Client,
        auth: Arc<Authenticator>,
        settings: &ConfluenceSettings,
        observations: Arc<ConfluenceObservations>,
    ) -> Self {
        let hooks = RequestHooks::api(
            settings.rate_limit_per_minute,
            auth,
            settings.retry_policy,
            settings.timeouts.request,
            Arc::clone(&observations),
        );
        Common {
            http,
            hooks,
            labels: settings.labels.clone(),
            attachments_enabled: settings.attachments_enabled,
            timeouts: settings.timeouts,
            observations,
            ended_early: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Called by a listing loop for each page it received: a page with no
    /// results but a `next` link ends the listing early.
    pub(super) fn note_page(&self, returned: usize, next: Option<&str>) {
        if returned == 0 && next.is_some_and(|next| !next.is_empty()) {
            self.ended_early.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn listings_ended_early(&self) -> u64 {
        self.ended_early.load(Ordering::Relaxed)
    }

    pub(super) fn discovery_expand(&self) -> String {
        let attachments = if self.attachments_enabled {
            ATTACHMENT_EXPAND
        } else {
            ""
        };
        format!("{DISCOVERY_EXPAND}{attachments}")
    }

    /// GETs a link from a previous answer and decodes it as `T`.
    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        operation: &'static str,
        purpose: &str,
    ) -> Result<T, PortError> {
        let context = || format!("Confluence {purpose}: GET {url}");
        let (result, failure) = call(self.hooks.get(&self.http, url, operation)).await;
        let response = match result {
            Ok(response) => response,
            Err(error) => return Err(map_error(context(), error, failure).await),
        };
        let body = response
            .bytes()
            .await
            .map_err(|e| PortError::new(ErrorKind::InvalidResponse, context()).with_source(e))?;
        match serde_json::from_slice(&body) {
            Ok(value) => Ok(value),
            Err(e) => Err(map_error(
                context(),
                progenitor_client::Error::InvalidResponsePayload(body, e),
                None,
            )
            .await),
        }
    }

    /// Streams a download answer, failing the stream when no chunk arrives
    /// within the idle timeout.
    pub(super) fn byte_stream(
        &self,
        content_length: Option<u64>,
        chunks: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send + Sync>>,
        context: String,
    ) -> ByteStream {
        let idle = self.timeouts.download_idle;
        let stream = futures::stream::unfold(Some(chunks), move |state| {
            let context = context.clone();
            async move {
                let mut chunks = state?;
                match tokio::time::timeout(idle, chunks.next()).await {
                    Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(chunks))),
                    Ok(Some(Err(error))) => Some((Err(from_transport(context, error)), None)),
                    Ok(None) => None,
                    Err(_) => Some((Err(idle_timeout(context, idle)), None)),
                }
            }
        });
        ByteStream {
            content_length,
            chunks: Box::pin(stream),
        }
    }
}

fn idle_timeout(context: String, idle: Duration) -> PortError {
    PortError::new(ErrorKind::Transient, context)
        .with_source(anyhow::anyhow!("no data for {} s", idle.as_secs()))
}

/// A content item without a field the sync needs.
pub(super) fn missing_field(purpose: &str, reason: String) -> PortError {
    PortError::new(ErrorKind::InvalidResponse, format!("Confluence {purpose}"))
        .with_source(anyhow::anyhow!(reason))
}

/// The two discovery searches (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Discovery {
    /// C1: both sync labels.
    Labels,
    /// C2: descendants of ingest-all roots.
    Descendants,
}

impl Discovery {
    pub(super) fn purpose(self) -> &'static str {
        match self {
            Discovery::Labels => "label discovery",
            Discovery::Descendants => "descendant discovery",
        }
    }

    /// C1 sends `start=0`, C2 sends no `start` (§5.2).
    pub(super) fn start(self) -> Option<i32> {
        match self {
            Discovery::Labels => Some(0),
            Discovery::Descendants => None,
        }
    }
}

/// The requests only one flavour knows how to send.
pub(super) trait Flavor: Send + Sync {
    fn common(&self) -> &Common;

    fn instance_type(&self) -> InstanceType;

    /// All results of a discovery search, every page, mapped.
    fn discover(
        &self,
        cql: String,
        kind: Discovery,
    ) -> impl Future<Output = Result<Vec<Listed>, PortError>> + Send;

    /// Replaces or extends the inline attachments when they were capped.
    fn complete(
        &self,
        listed: Listed,
    ) -> impl Future<Output = Result<DiscoveredContent, PortError>> + Send;

    /// Bodies of `ids` in one `id IN (…)` search.
    fn bodies(
        &self,
        ids: &[ContentId],
    ) -> impl Future<Output = Result<Vec<PageBody>, PortError>> + Send;

    /// One body (C3); `None` when the page does not exist.
    fn body(
        &self,
        id: &ContentId,
    ) -> impl Future<Output = Result<Option<PageBody>, PortError>> + Send;

    /// C6: the first page titled `title` in `space_key`.
    fn by_title(
        &self,
        space_key: &str,
        title: &str,
    ) -> impl Future<Output = Result<Option<Listed>, PortError>> + Send;

    fn download(
        &self,
        page_id: &str,
        attachment: &AttachmentMeta,
    ) -> impl Future<Output = Result<ByteStream, PortError>> + Send;

    fn instance_id(&self) -> impl Future<Output = Result<String, PortError>> + Send;
}

/// C1, de-duplicated, with attachments completed, in discovery order.
pub(super) async fn labeled_content<F: Flavor>(
    flavor: &F,
) -> Result<Vec<DiscoveredContent>, PortError> {
    let labels = &flavor.common().labels;
    let query = cql::labeled_content(flavor.instance_type(), &labels.single, &labels.all);
    let listed = flavor.discover(query, Discovery::Labels).await?;
    complete_all(flavor, listed, &mut HashSet::new()).await
}

/// C2 for each batch of roots, sequentially, de-duplicated across batches.
pub(super) async fn descendants<F: Flavor>(
    flavor: &F,
    root_ids: &[String],
) -> Result<Vec<DiscoveredContent>, PortError> {
    let roots: Vec<ContentId> = root_ids.iter().filter_map(|id| usable_id(id)).collect();
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for query in cql::descendants(&roots) {
        let listed = flavor.discover(query, Discovery::Descendants).await?;
        found.extend(complete_all(flavor, listed, &mut seen).await?);
    }
    Ok(found)
}

async fn complete_all<F: Flavor>(
    flavor: &F,
    listed: Vec<Listed>,
    seen: &mut HashSet<String>,
) -> Result<Vec<DiscoveredContent>, PortError> {
    let mut out = Vec::with_capacity(listed.len());
    for item in listed {
        if usable_id(&item.content.id).is_none() || !seen.insert(item.content.id.clone()) {
            continue;
        }
        let listed_content = item.content.clone();
        match flavor.complete(item).await {
            Ok(content) => out.push(content),
            // The page was deleted after the search listed it (ours, §9.3
            // step 7): the sync skips it, the rest of the tenant proceeds.
            Err(error) if error.kind() == ErrorKind::NotFound => {
                tracing::warn!(
                    page_id = %listed_content.id,
                    %error,
                    "page vanished during discovery (attachment listing answered 404/410); skipping it"
                );
                out.push(DiscoveredContent {
                    attachments: Vec::new(),
                    vanished: true,
                    ..listed_content
                });
            }
            Err(error) => return Err(error),
        }
    }
    Ok(out)
}

/// An id that can go into CQL; others are skipped with a warning (§5.2).
fn usable_id(id: &str) -> Option<ContentId> {
    match ContentId::parse(id) {
        Ok(id) => Some(id),
        Err(error) => {
            tracing::warn!(%error, "skipping content whose id cannot be used in CQL");
            None
        }
    }
}

/// Bodies in batches of [`BODY_BATCH`], each one search; a failed batch and
/// ids a batch did not return are fetched singly (ours, §13 #26).
pub(super) async fn page_bodies<F: Flavor>(
    flavor: &F,
    page_ids: &[String],
) -> Result<Vec<(String, BodyFetch)>, PortError> {
    let mut out = Vec::with_capacity(page_ids.len());
    for batch in page_ids.chunks(BODY_BATCH) {
        out.extend(body_batch(flavor, batch).await?);
    }
    Ok(out)
}

async fn body_batch<F: Flavor>(
    flavor: &F,
    page_ids: &[String],
) -> Result<Vec<(String, BodyFetch)>, PortError> {
    let mut fetched: Vec<(String, BodyFetch)> = Vec::with_capacity(page_ids.len());
    let mut valid = Vec::new();
    for id in page_ids {
        match ContentId::parse(id) {
            Ok(parsed) => valid.push(parsed),
            Err(error) => fetched.push((
                id.clone(),
                BodyFetch::Failed(
                    PortError::new(ErrorKind::Rejected, "Confluence body fetch").with_source(error),
                ),
            )),
        }
    }
    let mut singles = valid.clone();
    if valid.len() > 1 {
        match flavor.bodies(&valid).await {
            Ok(bodies) => {
                let returned: HashSet<String> = bodies.iter().map(|b| b.id.clone()).collect();
                fetched.extend(
                    bodies
                        .into_iter()
                        .map(|b| (b.id.clone(), BodyFetch::Found(b))),
                );
                singles.retain(|id| !returned.contains(id.as_str()));
            }
            Err(error) if error.kind() == ErrorKind::Unauthorized => return Err(error),
            Err(error) => {
                tracing::warn!(%error, pages = valid.len(), "batched body fetch failed; fetching pages singly")
            }
        }
    }
    for id in singles {
        let outcome = match flavor.body(&id).await {
            Ok(Some(body)) => BodyFetch::Found(body),
            Ok(None) => BodyFetch::NotFound,
            Err(error) if error.kind() == ErrorKind::Unauthorized => return Err(error),
            Err(error) if error.kind() == ErrorKind::NotFound => BodyFetch::NotFound,
            Err(error) => BodyFetch::Failed(error),
        };
        fetched.push((id.as_str().to_owned(), outcome));
    }
    Ok(page_ids
        .iter()
        .map(|id| {
            let outcome = fetched
                .iter()
                .find(|(fetched_id, _)| fetched_id == id)
                .map_or(BodyFetch::NotFound, |(_, outcome)| outcome.clone());
            (id.clone(), outcome)
        })
        .collect())
}

/// C6 with attachments completed.
pub(super) async fn page_by_title<F: Flavor>(
    flavor: &F,
    space_key: &str,
    title: &str,
) -> Result<Option<DiscoveredContent>, PortError> {
    match flavor.by_title(space_key, title).await? {
        Some(listed) => Ok(Some(flavor.complete(listed).await?)),
        None => Ok(None),
    }
}
