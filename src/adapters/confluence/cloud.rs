//! Confluence Cloud: every request through `{apiGatewayUrl}/ex/confluence/{cloudId}`
//! (PROTOCOL §2.5, §5.1), tokens from `{apiGatewayUrl}/oauth/token`.

use super::{
    common::{BODY_EXPAND, Common, DISCOVERY_LIMIT, Discovery, Flavor, missing_field},
    errors::map_error,
    hooks::call,
    mapping::{self, Listed, Missing, attachment_v2, dedupe_attachments},
    pagination::{self, Next, Visited},
};
use crate::{
    adapters::generated::confluence_cloud::{Client, types},
    domain::{
        cql::{self, ContentId},
        model::{AttachmentMeta, DiscoveredContent, InstanceType, PageBody},
    },
    ports::{ByteStream, PortError, confluence::BODY_BATCH},
};

/// Page size of the v2 attachment listing (C4, its maximum).
const V2_ATTACHMENT_LIMIT: i32 = 250;

/// The Cloud flavour of [`ConfluenceAdapter`](super::ConfluenceAdapter).
#[derive(Debug)]
pub struct CloudAdapter {
    common: Common,
    client: Client,
    /// `{apiGatewayUrl}/ex/confluence/{cloudId}`.
    api: String,
    cloud_id: String,
}

impl CloudAdapter {
    /// Requests go to `{api_gateway_url}/ex/confluence/{cloud_id}` with
    /// the hooks of `common`.
    pub(super) fn new(common: Common, api_gateway_url: &str, cloud_id: &str) -> Self {
        let api = format!("{api_gateway_url}/ex/confluence/{cloud_id}");
        CloudAdapter {
            client: Client::new_with_client(&api, common.http.clone(), common.hooks.clone()),
            common,
            api,
            cloud_id: cloud_id.to_owned(),
        }
    }

    fn search_url(&self) -> String {
        format!("{}/wiki/rest/api/content/search", self.api)
    }

    /// Every page of a v1 search, each result mapped as it arrives.
    async fn search_all<T>(
        &self,
        cql: &str,
        expand: &str,
        limit: Option<i32>,
        start: Option<i32>,
        purpose: &str,
        map: impl Fn(types::Content) -> Result<T, Missing> + Send,
    ) -> Result<Vec<T>, PortError> {
        let mut request = self.client.search_content().cql(cql).expand(expand);
        if let Some(limit) = limit {
            request = request.limit(limit);
        }
        if let Some(start) = start {
            request = request.start(start);
        }
        let (result, failure) = call(request.send()).await;
        let mut page = match result {
            Ok(page) => page.into_inner(),
            Err(error) => {
                return Err(map_error(
                    format!("Confluence {purpose}: GET {}", self.search_url()),
                    error,
                    failure,
                )
                .await);
            }
        };
        let mut visited = Visited::default();
        let mut out = Vec::new();
        loop {
            let returned = page.results.len();
            let next = page.links.next.take();
            self.common.note_page(returned, next.as_deref());
            for content in page.results {
                out.push(map(content).map_err(|reason| missing_field(purpose, reason))?);
            }
            match pagination::cloud(&self.api, next.as_deref(), returned) {
                Next::Done => return Ok(out),
                Next::Url(url) => {
                    visited
                        .visit(&url)
                        .map_err(|reason| missing_field(purpose, reason))?;
                    page = self
                        .common
                        .get_json::<types::ContentArray>(&url, "search_content", purpose)
                        .await?;
                }
            }
        }
    }

    /// C4: all attachments of a page from the v2 listing.
    async fn attachments_v2(&self, page_id: &str) -> Result<Vec<AttachmentMeta>, PortError> {
        let purpose = "attachment listing";
        let first_url = format!("{}/wiki/api/v2/pages/{page_id}/attachments", self.api);
        let request = self
            .client
            .get_page_attachments()
            .id(page_id)
            .limit(V2_ATTACHMENT_LIMIT);
        let (result, failure) = call(request.send()).await;
        let mut page = match result {
            Ok(page) => page.into_inner(),
            Err(error) => {
                return Err(map_error(
                    format!("Confluence {purpose}: GET {first_url}"),
                    error,
                    failure,
                )
                .await);
            }
        };
        let mut visited = Visited::default();
        let mut out = Vec::new();
        loop {
            let returned = page.results.len();
            let next = page.links.next.take();
            self.common.note_page(returned, next.as_deref());
            for attachment in page.results {
                out.push(
                    attachment_v2(attachment).map_err(|reason| missing_field(purpose, reason))?,
                );
            }
            match pagination::cloud(&self.api, next.as_deref(), returned) {
                Next::Done => return Ok(out),
                Next::Url(url) => {
                    visited
                        .visit(&url)
                        .map_err(|reason| missing_field(purpose, reason))?;
                    page = self
                        .common
                        .get_json::<types::AttachmentListV2>(&url, "get_page_attachments", purpose)
                        .await?;
                }
            }
        }
    }
}

impl Flavor for CloudAdapter {
    fn common(&self) -> &Common {
        &self.common
    }

    fn instance_type(&self) -> InstanceType {
        InstanceType::Cloud
    }

    async fn discover(&self, cql: String, kind: Discovery) -> Result<Vec<Listed>, PortError> {
        let attachments = self.common.attachments_enabled;
        let expand = self.common.discovery_expand();
        self.search_all(
            &cql,
            &expand,
            Some(DISCOVERY_LIMIT),
            kind.start(),
            kind.purpose(),
            |c| mapping::confluence_cloud::listed(c, attachments),
        )
        .await
    }

    async fn complete(&self, listed: Listed) -> Result<DiscoveredContent, PortError> {
        let mut content = listed.content;
        // The v1 continuation answers 410 on Cloud; the v2 list replaces
        // the inline one (§5.5).
        if self.common.attachments_enabled && listed.inline.capped {
            content.attachments = self.attachments_v2(&content.id).await?;
        }
        dedupe_attachments(&mut content.attachments);
        Ok(content)
    }

    async fn bodies(&self, ids: &[ContentId]) -> Result<Vec<PageBody>, PortError> {
        let limit = i32::try_from(BODY_BATCH).unwrap_or(i32::MAX);
        self.search_all(
            &cql::ids_in(ids),
            BODY_EXPAND,
            Some(limit),
            None,
            "batched body fetch",
            |c| Ok(mapping::confluence_cloud::body(c)),
        )
        .await
    }

    async fn body(&self, id: &ContentId) -> Result<Option<PageBody>, PortError> {
        // C3: first result of `id={pageId}`, or not found.
        let bodies = self
            .search_all(
                &cql::id_equals(id),
                BODY_EXPAND,
                None,
                None,
                "body fetch",
                |c| Ok(mapping::confluence_cloud::body(c)),
            )
            .await?;
        Ok(bodies.into_iter().next())
    }

    async fn by_title(&self, space_key: &str, title: &str) -> Result<Option<Listed>, PortError> {
        let purpose = "page by title";
        let request = self
            .client
            .get_content()
            .space_key(space_key)
            .title(title)
            .type_("page")
            .expand(self.common.discovery_expand());
        let (result, failure) = call(request.send()).await;
        let page = match result {
            Ok(page) => page.into_inner(),
            Err(error) => {
                return Err(map_error(
                    format!(
                        "Confluence {purpose}: GET {}/wiki/rest/api/content",
                        self.api
                    ),
                    error,
                    failure,
                )
                .await);
            }
        };
        page.results
            .into_iter()
            .next()
            .map(|c| mapping::confluence_cloud::listed(c, self.common.attachments_enabled))
            .transpose()
            .map_err(|reason| missing_field(purpose, reason))
    }

    async fn download(
        &self,
        page_id: &str,
        attachment: &AttachmentMeta,
    ) -> Result<ByteStream, PortError> {
        // C7; the attachment's own `_links.download` fails through the
        // gateway (§5.13), so it is not used.
        let context = format!(
            "Confluence attachment download: GET {}/wiki/rest/api/content/{page_id}/child/attachment/{}/download",
            self.api, attachment.id
        );
        let request = self
            .client
            .download_attachment()
            .id(page_id)
            .attachment_id(&attachment.id);
        // No timeout around the whole call: it would include the waits for
        // the limiter and between retries (a `Retry-After` of two minutes
        // included). Each attempt is bounded by the transport (connect, and
        // the idle read timeout until the headers), the body by
        // `download_idle`.
        let (result, failure) = call(request.send()).await;
        match result {
            Ok(response) => {
                let length = response.content_length();
                Ok(self
                    .common
                    .byte_stream(length, response.into_inner_stream(), context))
            }
            Err(error) => Err(map_error(context, error, failure).await),
        }
    }

    async fn instance_id(&self) -> Result<String, PortError> {
        Ok(self.cloud_id.clone())
    }
}
