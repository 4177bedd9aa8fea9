//! What the sync needs from Confluence. Read-only: every request behind this
//! port is a GET, apart from the OAuth token request.
//!
//! Pagination, attachment completion, authentication, rate limiting and
//! retries all stay behind the port: callers get whole metadata lists and
//! one batch of bodies at a time.

use std::{future::Future, pin::Pin};

use bytes::Bytes;
use futures::Stream;

use super::PortError;
use crate::domain::model::{AttachmentMeta, DiscoveredContent, PageBody};

/// Attachment bytes as they arrive from Confluence; never buffered whole.
pub struct ByteStream {
    /// `Content-Length` of the download response, when the server sent one.
    pub content_length: Option<u64>,
    pub chunks: Pin<Box<dyn Stream<Item = Result<Bytes, PortError>> + Send>>,
}

impl std::fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteStream")
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

/// The outcome of fetching one page's body within a batch.
#[derive(Debug, Clone)]
pub enum BodyFetch {
    /// The body (possibly empty: the sync skips empty bodies).
    Found(PageBody),
    /// The page no longer exists (deleted mid-cycle): skip, not a failure.
    NotFound,
    /// The body could not be fetched even singly: this page fails this cycle.
    Failed(PortError),
}

/// A Confluence instance as one tenant sees it (Cloud or Data Center).
#[cfg_attr(test, mockall::automock)]
pub trait ConfluenceSource: Send + Sync {
    /// The instance id used in the root scope's ownership mark: the
    /// configured cloud id (Cloud), or the applinks manifest `id` (Data
    /// Center, fetched once and cached).
    ///
    /// # Errors
    /// Data Center: the manifest cannot be fetched or has no non-empty `id`.
    fn instance_id(&self) -> impl Future<Output = Result<String, PortError>> + Send;

    /// Content carrying either sync label in the flavour's space types
    /// (PROTOCOL §5.2 C1), all result pages, attachments completed (§5.5),
    /// in discovery order.
    ///
    /// # Errors
    /// Any request failing after retries, or a response missing a field the
    /// sync needs: discovery must then abort the cycle.
    fn labeled_content(
        &self,
    ) -> impl Future<Output = Result<Vec<DiscoveredContent>, PortError>> + Send;

    /// How many listings of this source so far (searches and attachment
    /// listings) ended at a result page that was empty but still carried a
    /// `next` link (Cloud's search does this mid-listing). The listing
    /// stops there, since following such links may never end, so items
    /// after it were not seen. A cycle compares the
    /// count before and after its discovery: a difference means that
    /// deletions derived from this discovery must be held (ours, §9.3
    /// step 7, §9.5).
    fn listings_ended_early(&self) -> u64;

    /// Descendants of `root_ids` (§5.2 C2, `ancestor IN (…)` in batches of
    /// at most 100, sequential), de-duplicated by id, attachments completed.
    /// Here and in [`labeled_content`](Self::labeled_content), content whose
    /// id is not of the form `[0-9A-Za-z_-]+` is skipped with a warning (it
    /// could not be placed in CQL), and unknown content types are returned
    /// as [`ContentType::Other`](crate::domain::model::ContentType::Other).
    ///
    /// # Errors
    /// As for [`labeled_content`](Self::labeled_content).
    fn descendants(
        &self,
        root_ids: &[String],
    ) -> impl Future<Output = Result<Vec<DiscoveredContent>, PortError>> + Send;

    /// Bodies of `page_ids`, one CQL `id IN (…)` request per
    /// [`BODY_BATCH`] ids; a failed
    /// batch, and ids a batch did not return, fall back to single fetches
    /// (C3). One result per requested id, in request order. Callers pass at
    /// most `BODY_BATCH` ids to hold one result page of bodies at a time.
    ///
    /// # Errors
    /// Never for a single page (see [`BodyFetch`]: a page gone is
    /// `NotFound`, any other failure `Failed`); only when the call itself
    /// cannot proceed (`Unauthorized`: credentials refused even after a
    /// fresh token).
    fn page_bodies(
        &self,
        page_ids: &[String],
    ) -> impl Future<Output = Result<Vec<(String, BodyFetch)>, PortError>> + Send;

    /// The page titled `title` in space `space_key` (§5.2 C6, for images of
    /// another page), with its attachments completed; `None` if there is none.
    ///
    /// # Errors
    /// The request fails after retries.
    fn page_by_title(
        &self,
        space_key: &str,
        title: &str,
    ) -> impl Future<Output = Result<Option<DiscoveredContent>, PortError>> + Send;

    /// Streams the bytes of `attachment` of page `page_id` (§5.2 C7: Cloud
    /// by page and attachment id, following the media-host redirect without
    /// credentials; Data Center by `attachment.download_path`). The stream
    /// fails with `Transient` when no data arrives within the idle timeout.
    ///
    /// # Errors
    /// `NotFound` when the attachment is gone; other kinds as usual.
    fn download(
        &self,
        page_id: &str,
        attachment: &AttachmentMeta,
    ) -> impl Future<Output = Result<ByteStream, PortError>> + Send;
}

/// Page ids per body request, and the most a caller should pass to one
/// [`ConfluenceSource::page_bodies`] call: one result page of bodies, which
/// bounds the memory a batch holds. 50 is what Confluence serves per page
/// when `body` is expanded (Data Center caps content search at 50 results
/// with a body expansion; Cloud accepts it for `body.storage`).
pub const BODY_BATCH: usize = 50;
