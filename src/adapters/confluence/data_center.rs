//! Confluence Data Center: every request below the configured base URL
//! (context path included, PROTOCOL §5.1).

use tokio::sync::OnceCell;

use super::{
    common::{BODY_EXPAND, Common, DISCOVERY_LIMIT, Discovery, Flavor, missing_field},
    errors::map_error,
    hooks::call,
    mapping::{self, Listed, Missing, dedupe_attachments},
    pagination::{self, Next, Visited},
};
use crate::{
    adapters::generated::confluence_dc::{Client, types},
    domain::{
        cql::{self, ContentId},
        model::{AttachmentMeta, DiscoveredContent, InstanceType, PageBody},
    },
    ports::{ByteStream, ErrorKind, PortError, confluence::BODY_BATCH},
};

/// The Data Center flavour of [`ConfluenceAdapter`](super::ConfluenceAdapter).
#[derive(Debug)]
pub struct DataCenterAdapter {
    common: Common,
    client: Client,
    base_url: String,
    /// The applinks manifest `id`, fetched once (§5.9).
    instance_id: OnceCell<String>,
}

impl DataCenterAdapter {
    /// Requests go below `base_url` with the hooks of `common`.
    pub(super) fn new(common: Common, base_url: &str) -> Self {
        DataCenterAdapter {
            client: Client::new_with_client(base_url, common.http.clone(), common.hooks.clone()),
            common,
            base_url: base_url.to_owned(),
            instance_id: OnceCell::new(),
        }
    }

    /// Every page of a v1 search. The first request goes through the
    /// generated operation; `next` links are followed with the offset
    /// recomputed from what each page returned (§5.13).
    async fn search_all<T>(
        &self,
        cql: &str,
        expand: &str,
        limit: i32,
        start: Option<i32>,
        purpose: &str,
        map: impl Fn(types::Content) -> Result<T, Missing> + Send,
    ) -> Result<Vec<T>, PortError> {
        let mut request = self
            .client
            .search_content()
            .cql(cql)
            .expand(expand)
            .limit(limit);
        if let Some(start) = start {
            request = request.start(start);
        }
        let first_url = format!("{}/rest/api/content/search", self.base_url);
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
        let mut current = first_url;
        let mut visited = Visited::default();
        let mut out = Vec::new();
        loop {
            let returned = page.results.len();
            let next = page.links.next.take();
            self.common.note_page(returned, next.as_deref());
            for content in page.results {
                out.push(map(content).map_err(|reason| missing_field(purpose, reason))?);
            }
            match pagination::data_center(&self.base_url, &current, next.as_deref(), returned) {
                Next::Done => return Ok(out),
                Next::Url(url) => {
                    visited
                        .visit(&url)
                        .map_err(|reason| missing_field(purpose, reason))?;
                    page = self
                        .common
                        .get_json::<types::ContentArray>(&url, "search_content", purpose)
                        .await?;
                    current = url;
                }
            }
        }
    }

    /// C5: the attachments after the inline ones, following `next` from
    /// the inline list (which returned `inline` items from offset 0).
    async fn remaining_attachments(
        &self,
        next: &str,
        inline: usize,
    ) -> Result<Vec<AttachmentMeta>, PortError> {
        let purpose = "attachment listing";
        let mut out = Vec::new();
        let mut visited = Visited::default();
        let mut step = pagination::data_center(&self.base_url, "", Some(next), inline);
        while let Next::Url(url) = step {
            visited
                .visit(&url)
                .map_err(|reason| missing_field(purpose, reason))?;
            let page = self
                .common
                .get_json::<types::AttachmentArray>(&url, "get_content_attachments", purpose)
                .await?;
            let returned = page.results.len();
            self.common.note_page(returned, page.links.next.as_deref());
            for attachment in page.results {
                out.push(
                    mapping::confluence_dc::attachment(attachment)
                        .map_err(|reason| missing_field(purpose, reason))?,
                );
            }
            step =
                pagination::data_center(&self.base_url, &url, page.links.next.as_deref(), returned);
        }
        Ok(out)
    }

    async fn fetch_instance_id(&self) -> Result<String, PortError> {
        let url = format!("{}/rest/applinks/1.0/manifest", self.base_url);
        let (result, failure) = call(self.client.get_applinks_manifest().send()).await;
        let manifest = match result {
            Ok(manifest) => manifest.into_inner(),
            Err(error) => {
                return Err(map_error(
                    format!("Confluence instance id: GET {url}"),
                    error,
                    failure,
                )
                .await);
            }
        };
        if manifest.id.trim().is_empty() {
            return Err(PortError::new(
                ErrorKind::InvalidResponse,
                format!(
                    "Confluence Data Center manifest at {url} did not contain a valid \"id\" field"
                ),
            ));
        }
        Ok(manifest.id)
    }
}

impl Flavor for DataCenterAdapter {
    fn common(&self) -> &Common {
        &self.common
    }

    fn instance_type(&self) -> InstanceType {
        InstanceType::DataCenter
    }

    async fn discover(&self, cql: String, kind: Discovery) -> Result<Vec<Listed>, PortError> {
        let attachments = self.common.attachments_enabled;
        let expand = self.common.discovery_expand();
        self.search_all(
            &cql,
            &expand,
            DISCOVERY_LIMIT,
            kind.start(),
            kind.purpose(),
            |c| mapping::confluence_dc::listed(c, attachments),
        )
        .await
    }

    async fn complete(&self, listed: Listed) -> Result<DiscoveredContent, PortError> {
        let mut content = listed.content;
        // The continuation is appended to the inline list (§5.5).
        if self.common.attachments_enabled
            && listed.inline.capped
            && let Some(next) = &listed.inline.next
        {
            let inline = content.attachments.len();
            content
                .attachments
                .extend(self.remaining_attachments(next, inline).await?);
        }
        dedupe_attachments(&mut content.attachments);
        Ok(content)
    }

    async fn bodies(&self, ids: &[ContentId]) -> Result<Vec<PageBody>, PortError> {
        // Data Center CQL supports `id IN (…)` too, so bodies are batched
        // through the search rather than C3 (ours, §13 #26).
        let limit = i32::try_from(BODY_BATCH).unwrap_or(i32::MAX);
        self.search_all(
            &cql::ids_in(ids),
            BODY_EXPAND,
            limit,
            Some(0),
            "batched body fetch",
            |c| Ok(mapping::confluence_dc::body(c)),
        )
        .await
    }

    async fn body(&self, id: &ContentId) -> Result<Option<PageBody>, PortError> {
        let url = format!("{}/rest/api/content/{id}", self.base_url);
        let request = self
            .client
            .get_content_by_id()
            .id(id.as_str())
            .expand(BODY_EXPAND);
        let (result, failure) = call(request.send()).await;
        match result {
            Ok(content) => Ok(Some(mapping::confluence_dc::body(content.into_inner()))),
            Err(error) => {
                let error =
                    map_error(format!("Confluence body fetch: GET {url}"), error, failure).await;
                if error.kind() == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
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
                        "Confluence {purpose}: GET {}/rest/api/content",
                        self.base_url
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
            .map(|c| mapping::confluence_dc::listed(c, self.common.attachments_enabled))
            .transpose()
            .map_err(|reason| missing_field(purpose, reason))
    }

    async fn download(
        &self,
        _page_id: &str,
        attachment: &AttachmentMeta,
    ) -> Result<ByteStream, PortError> {
        // C7: `{baseUrl}{_links.download}`, verbatim with its query.
        let url = format!("{}{}", self.base_url, attachment.download_path);
        let context = format!("Confluence attachment download: GET {url}");
        let request = self
            .common
            .hooks
            .get(&self.common.http, &url, "download_attachment");
        // Bounded per attempt, not as a whole (see the Cloud download).
        let (result, failure) = call(request).await;
        match result {
            Ok(response) => {
                let length = response.content_length();
                Ok(self
                    .common
                    .byte_stream(length, Box::pin(response.bytes_stream()), context))
            }
            Err(error) => Err(map_error(context, error, failure).await),
        }
    }

    async fn instance_id(&self) -> Result<String, PortError> {
        self.instance_id
            .get_or_try_init(|| self.fetch_instance_id())
            .await
            .cloned()
    }
}
