//! Image inlining while a page is ingested (PROTOCOL §10): the domain finds
//! the `ac:image` macros; this resolves them against the page's image
//! attachments (or another page's, through C6), streams each image straight
//! into its base64 text, and lets the domain splice the tags in.
//!
//! Inlining never fails a page: an image that cannot be resolved, passes no
//! filter or cannot be downloaded stays a macro (logged), and a body the
//! tokenizer cannot read, or any unexpected failure, is uploaded unchanged.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    panic::{AssertUnwindSafe, catch_unwind},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use futures::{StreamExt as _, future::join_all};
use tracing::{debug, info, warn};

use super::SyncCycle;
use crate::{
    domain::{
        attachment::{AttachmentRules, is_image, normalize_media_type},
        discovery::{AttachmentItem, PageItem},
        inline_images::{
            BodyBudget, DOWNLOAD_BATCH, ImageMacro, ImageReference, ImgTag, MAX_INLINED_BODY_BYTES,
            Orphan, Replacement, apply, base64_len, find_image_macros,
        },
        model::{AttachmentMeta, DiscoveredContent},
    },
    ports::{ConfluenceSource, KnowledgeBase, PortError},
};

/// An image to fetch: what it replaces and where its bytes come from.
struct Candidate {
    /// The macro span it replaces; `None` for an appended orphan.
    span: Option<(usize, usize)>,
    tag: ImgTag,
    /// The page owning the attachment (the download needs it).
    owner_page_id: String,
    meta: AttachmentMeta,
}

impl Candidate {
    /// Bytes it removes from the body.
    fn removed(&self) -> usize {
        self.span.map_or(0, |(start, end)| end - start)
    }

    /// Bytes it adds to the body with `base64_len` bytes of payload.
    fn added(&self, base64_len: usize) -> usize {
        match self.span {
            Some(_) => self.tag.len(base64_len),
            None => self.tag.orphan_len(base64_len),
        }
    }
}

/// Why one image was left as it was.
#[derive(Debug, Clone)]
enum FetchError {
    Download(PortError),
    /// More bytes arrived (or were announced) than `maxFileSizeMb` allows.
    TooLarge {
        limit: u64,
    },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Download(err) => write!(f, "download failed: {err}"),
            FetchError::TooLarge { limit } => {
                write!(f, "download exceeds the size limit of {limit} bytes")
            }
        }
    }
}

/// (space key, page title) of a cross-page reference.
type PageRef = (String, String);

impl<C: ConfluenceSource, K: KnowledgeBase> SyncCycle<C, K> {
    /// The body to upload for `page`: with its images inlined, or `body`
    /// itself when nothing was inlined or the body cannot be read.
    /// `images` are the page's accepted image attachments, in discovery order.
    pub(super) async fn inline_images(
        &self,
        page: &PageItem,
        body: String,
        images: &[&AttachmentItem],
    ) -> String {
        let tenant = self.tenant.name.as_str();
        // The domain functions are pure and property-tested; a panic there
        // would still be a bug, and must not take the page (or the cycle's
        // task) with it.
        let found = match catch_unwind(AssertUnwindSafe(|| find_image_macros(&body))) {
            Ok(Ok(found)) => found,
            Ok(Err(malformed)) => {
                warn!(tenant, page_id = %page.id, error = %malformed, "page body could not be read for image inlining; uploaded unchanged");
                return body;
            }
            Err(_) => {
                warn!(tenant, page_id = %page.id, "image inlining failed unexpectedly; body uploaded unchanged");
                return body;
            }
        };
        let Some((replacements, orphans)) = self.fetch_images(page, &body, &found, images).await
        else {
            return body;
        };
        match catch_unwind(AssertUnwindSafe(|| apply(&body, replacements, orphans))) {
            Ok(inlined) => inlined,
            Err(_) => {
                warn!(tenant, page_id = %page.id, "image inlining failed unexpectedly; body uploaded unchanged");
                body
            }
        }
    }

    /// Resolves and downloads the images of one page (macros first, then
    /// orphans, each in batches of [`DOWNLOAD_BATCH`]) within the body cap.
    /// `None` when there is nothing to inline.
    async fn fetch_images(
        &self,
        page: &PageItem,
        body: &str,
        found: &[ImageMacro],
        images: &[&AttachmentItem],
    ) -> Option<(Vec<Replacement>, Vec<Orphan>)> {
        // Attachments off: no image is known and cross-page references
        // short-circuit (§3.7).
        let rules = self.tenant.discovery.attachments.as_ref()?;
        if found.is_empty() && images.is_empty() {
            return None;
        }
        let (macros, referenced) = self.macro_candidates(page, found, images, rules).await;
        let orphans: Vec<Candidate> = images
            .iter()
            .filter(|item| !referenced.contains(item.meta.title.as_str()))
            .filter(|item| self.admissible(page, &item.meta, rules))
            .map(|item| Candidate {
                span: None,
                tag: ImgTag::for_orphan(
                    &item.meta.title,
                    &normalize_media_type(&item.meta.media_type),
                ),
                owner_page_id: item.page_id.clone(),
                meta: item.meta.clone(),
            })
            .collect();

        let mut budget = BodyBudget::new(body.len(), MAX_INLINED_BODY_BYTES);
        let mut capped = false;
        let mut replacements = Vec::new();
        let mut appended = Vec::new();
        for candidates in [macros, orphans] {
            for batch in candidates.chunks(DOWNLOAD_BATCH) {
                if capped {
                    break;
                }
                // Only download what fits by the size discovery announced;
                // the real size is checked again below.
                let mut estimate = budget;
                let mut planned = Vec::with_capacity(batch.len());
                let mut full_by_estimate = false;
                for candidate in batch {
                    let added = candidate.added(base64_len(candidate.meta.file_size));
                    if !estimate.take(candidate.removed(), added) {
                        full_by_estimate = true;
                        break;
                    }
                    planned.push(candidate);
                }
                // One download per attachment, however many macros of the
                // batch show it.
                let mut fetches: Vec<&Candidate> = Vec::new();
                let mut slots = Vec::with_capacity(planned.len());
                for candidate in &planned {
                    let slot = fetches.iter().position(|f| {
                        f.owner_page_id == candidate.owner_page_id && f.meta.id == candidate.meta.id
                    });
                    slots.push(slot.unwrap_or_else(|| {
                        fetches.push(candidate);
                        fetches.len() - 1
                    }));
                }
                let mut uses = vec![0usize; fetches.len()];
                for &slot in &slots {
                    uses[slot] += 1;
                }
                let mut fetched: Vec<Option<Result<String, FetchError>>> = join_all(
                    fetches
                        .iter()
                        .map(|c| self.fetch_base64(c, rules.max_file_size_bytes)),
                )
                .await
                .into_iter()
                .map(Some)
                .collect();
                for (candidate, slot) in planned.into_iter().zip(slots) {
                    // The last use of a download takes it, earlier ones copy.
                    uses[slot] -= 1;
                    let result = if uses[slot] == 0 {
                        fetched[slot].take()
                    } else {
                        fetched[slot].clone()
                    };
                    let Some(result) = result else { continue };
                    let base64 = match result {
                        Ok(base64) => base64,
                        Err(err) => {
                            warn!(
                                tenant = %self.tenant.name,
                                page_id = %page.id,
                                attachment_id = %candidate.meta.id,
                                filename = %self.tenant.diagnostics.show(&candidate.meta.title),
                                error = %err,
                                "image could not be inlined; left as it is"
                            );
                            continue;
                        }
                    };
                    if capped || !budget.take(candidate.removed(), candidate.added(base64.len())) {
                        capped = true;
                        continue;
                    }
                    let tag = candidate.tag.clone();
                    match candidate.span {
                        Some((start, end)) => replacements.push(Replacement {
                            start,
                            end,
                            tag,
                            base64,
                        }),
                        None => appended.push(Orphan { tag, base64 }),
                    }
                }
                capped |= full_by_estimate;
            }
        }
        if capped {
            warn!(
                tenant = %self.tenant.name,
                page_id = %page.id,
                cap_bytes = MAX_INLINED_BODY_BYTES,
                inlined = replacements.len() + appended.len(),
                "inlined page body reached its size cap; further images left as they are"
            );
        }
        if replacements.is_empty() && appended.is_empty() {
            return None;
        }
        info!(
            tenant = %self.tenant.name,
            page_id = %page.id,
            replaced = replacements.len(),
            appended = appended.len(),
            body_bytes = budget.size(),
            "images inlined"
        );
        Some((replacements, appended))
    }

    /// The macros that resolve to an admissible image (§10.2), and the file
    /// names of all current-page references (resolved or not), which are
    /// not orphans (§10.4).
    async fn macro_candidates<'m>(
        &self,
        page: &PageItem,
        found: &'m [ImageMacro],
        images: &[&AttachmentItem],
        rules: &AttachmentRules,
    ) -> (Vec<Candidate>, HashSet<&'m str>) {
        // Exact title match; with two images of one title the last wins.
        let by_title: HashMap<&str, &AttachmentItem> = images
            .iter()
            .map(|item| (item.meta.title.as_str(), *item))
            .collect();
        let other_pages = self.other_pages(page, found).await;
        let mut referenced = HashSet::new();
        let mut candidates = Vec::new();
        for image in found {
            let resolved = match &image.reference {
                ImageReference::CurrentPage { filename } => {
                    referenced.insert(filename.as_str());
                    by_title
                        .get(filename.as_str())
                        .map(|item| (item.page_id.clone(), item.meta.clone()))
                }
                ImageReference::OtherPage {
                    filename,
                    space_key,
                    title,
                } => {
                    let key = other_page_key(page, space_key.as_deref(), title);
                    other_pages.get(&key).and_then(|other| {
                        other
                            .attachments
                            .iter()
                            .rev()
                            .find(|meta| meta.title == *filename)
                            .map(|meta| (other.id.clone(), meta.clone()))
                    })
                }
                ImageReference::External => {
                    debug!(tenant = %self.tenant.name, page_id = %page.id, "external image left as it is");
                    continue;
                }
                ImageReference::Unknown(reason) => {
                    warn!(tenant = %self.tenant.name, page_id = %page.id, reason = reason.as_str(), "image reference not understood; left as it is");
                    continue;
                }
            };
            let Some((owner_page_id, meta)) = resolved else {
                warn!(
                    tenant = %self.tenant.name,
                    page_id = %page.id,
                    filename = %self.tenant.diagnostics.show(image.reference.filename().unwrap_or_default()),
                    "referenced image not found (or not accepted by the attachment filters); left as it is"
                );
                continue;
            };
            if !self.admissible(page, &meta, rules) {
                continue;
            }
            let Some(tag) = ImgTag::for_macro(image, &normalize_media_type(&meta.media_type))
            else {
                continue;
            };
            candidates.push(Candidate {
                span: Some((image.start, image.end)),
                tag,
                owner_page_id,
                meta,
            });
        }
        (candidates, referenced)
    }

    /// C6 for each distinct page referenced by another-page macros, in
    /// batches of [`DOWNLOAD_BATCH`]. Pages not found or failing are left
    /// out (their macros stay as they are).
    async fn other_pages(
        &self,
        page: &PageItem,
        found: &[ImageMacro],
    ) -> HashMap<PageRef, DiscoveredContent> {
        let mut wanted: Vec<PageRef> = Vec::new();
        for image in found {
            if let ImageReference::OtherPage {
                space_key, title, ..
            } = &image.reference
            {
                let key = other_page_key(page, space_key.as_deref(), title);
                if !wanted.contains(&key) {
                    wanted.push(key);
                }
            }
        }
        let mut pages = HashMap::new();
        for batch in wanted.chunks(DOWNLOAD_BATCH) {
            let answers = join_all(
                batch
                    .iter()
                    .map(|(space_key, title)| self.confluence.page_by_title(space_key, title)),
            )
            .await;
            for (key, answer) in batch.iter().zip(answers) {
                match answer {
                    Ok(Some(other)) => {
                        pages.insert(key.clone(), other);
                    }
                    Ok(None) => debug!(
                        tenant = %self.tenant.name,
                        page_id = %page.id,
                        space_key = %key.0,
                        title = %self.tenant.diagnostics.show(&key.1),
                        "page of a referenced image not found"
                    ),
                    Err(err) => warn!(
                        tenant = %self.tenant.name,
                        page_id = %page.id,
                        space_key = %key.0,
                        title = %self.tenant.diagnostics.show(&key.1),
                        error = %err,
                        "page of a referenced image could not be fetched"
                    ),
                }
            }
        }
        pages
    }

    /// §10.2 filters: an image type, in the allow-list, within the size limit.
    fn admissible(&self, page: &PageItem, meta: &AttachmentMeta, rules: &AttachmentRules) -> bool {
        let admitted =
            is_image(&meta.media_type) && rules.admit(&meta.media_type, meta.file_size).is_ok();
        if !admitted {
            warn!(
                tenant = %self.tenant.name,
                page_id = %page.id,
                attachment_id = %meta.id,
                filename = %self.tenant.diagnostics.show(&meta.title),
                file_size = meta.file_size,
                "image not inlined: type not allowed or over the size limit; left as it is"
            );
        }
        admitted
    }

    /// Downloads one image straight into its base64 text, so its bytes are
    /// never held twice; aborts as soon as more than `limit` bytes arrive.
    async fn fetch_base64(&self, candidate: &Candidate, limit: u64) -> Result<String, FetchError> {
        let mut stream = self
            .confluence
            .download(&candidate.owner_page_id, &candidate.meta)
            .await
            .map_err(FetchError::Download)?;
        if stream.content_length.is_some_and(|length| length > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let expected = stream
            .content_length
            .unwrap_or(candidate.meta.file_size)
            .min(limit);
        let mut encoder = Base64Encoder::with_capacity(base64_len(expected));
        let mut received: u64 = 0;
        while let Some(chunk) = stream.chunks.next().await {
            let chunk = chunk.map_err(FetchError::Download)?;
            received += chunk.len() as u64;
            if received > limit {
                return Err(FetchError::TooLarge { limit });
            }
            encoder.push(&chunk);
        }
        Ok(encoder.finish())
    }
}

/// The space key and title C6 is asked for: a reference without a space
/// means the referencing page's space (§10.1).
fn other_page_key(page: &PageItem, space_key: Option<&str>, title: &str) -> PageRef {
    (
        space_key.unwrap_or(&page.space.key).to_owned(),
        title.to_owned(),
    )
}

/// Standard padded base64 of a byte stream, fed chunk by chunk: whole
/// 3-byte groups are encoded at once, at most two bytes wait for the next
/// chunk.
struct Base64Encoder {
    out: String,
    pending: [u8; 3],
    pending_len: usize,
}

impl Base64Encoder {
    fn with_capacity(capacity: usize) -> Self {
        Base64Encoder {
            out: String::with_capacity(capacity),
            pending: [0; 3],
            pending_len: 0,
        }
    }

    fn push(&mut self, mut chunk: &[u8]) {
        if self.pending_len > 0 {
            let take = (3 - self.pending_len).min(chunk.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&chunk[..take]);
            self.pending_len += take;
            chunk = &chunk[take..];
            if self.pending_len < 3 {
                return;
            }
            STANDARD.encode_string(self.pending, &mut self.out);
            self.pending_len = 0;
        }
        let whole = chunk.len() / 3 * 3;
        STANDARD.encode_string(&chunk[..whole], &mut self.out);
        let rest = &chunk[whole..];
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    fn finish(mut self) -> String {
        STANDARD.encode_string(&self.pending[..self.pending_len], &mut self.out);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use std::{future::Future, pin::Pin};

    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::{
        app::sync::TenantContext,
        domain::{attachment::MIB, model::Space},
        ports::{
            confluence::{ByteStream, MockConfluenceSource},
            knowledge_base::MockKnowledgeBase,
        },
    };

    type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

    /// The interaction tests' tenant with inlining on and PNG images only.
    fn tenant(max_file_size_bytes: u64) -> TenantContext {
        let mut tenant = crate::app::sync::tests::tenant();
        tenant.inline_images = true;
        tenant.discovery.attachments = Some(AttachmentRules {
            allowed_mime_types: vec!["image/png".into()],
            max_file_size_bytes,
        });
        tenant
    }

    fn space() -> Space {
        Space {
            id: "space-1".into(),
            key: "SP".into(),
            name: "Space One".into(),
        }
    }

    fn page() -> PageItem {
        PageItem {
            id: "p1".into(),
            title: "Page p1".into(),
            space: space(),
            version_when: "2026-05-01T10:00:00.000Z".into(),
            web_ui: "/spaces/SP/pages/p1".into(),
            labels: vec![],
        }
    }

    fn png(id: &str, file_size: u64) -> AttachmentItem {
        AttachmentItem {
            page_id: "p1".into(),
            space: space(),
            meta: AttachmentMeta {
                id: id.into(),
                title: format!("{id}.png"),
                media_type: "image/png".into(),
                file_size,
                version_when: None,
                download_path: format!("/download/{id}"),
            },
            version_when: "2026-05-01T10:00:00.000Z".into(),
        }
    }

    fn image(id: &str) -> String {
        format!(r#"<ac:image><ri:attachment ri:filename="{id}.png"/></ac:image>"#)
    }

    fn stream(
        content_length: Option<u64>,
        chunks: Vec<&'static [u8]>,
    ) -> Boxed<Result<ByteStream, PortError>> {
        let chunks = chunks.into_iter().map(|c| Ok(Bytes::from_static(c)));
        let stream = ByteStream {
            content_length,
            chunks: Box::pin(futures::stream::iter(chunks.collect::<Vec<_>>())),
        };
        Box::pin(async move { Ok(stream) })
    }

    fn cycle(
        max_file_size_bytes: u64,
        confluence: MockConfluenceSource,
    ) -> SyncCycle<MockConfluenceSource, MockKnowledgeBase> {
        SyncCycle::new(
            tenant(max_file_size_bytes),
            confluence,
            MockKnowledgeBase::new(),
        )
    }

    #[tokio::test]
    async fn the_size_limit_is_enforced_while_reading() {
        let mut confluence = MockConfluenceSource::new();
        // Announced within the limit, but the bytes keep coming.
        confluence
            .expect_download()
            .withf(|_, meta| meta.id == "long")
            .times(1)
            .returning(|_, _| stream(None, vec![&[1; 60], &[2; 60]]));
        // Announced over the limit: not read at all.
        confluence
            .expect_download()
            .withf(|_, meta| meta.id == "announced")
            .times(1)
            .returning(|_, _| stream(Some(101), vec![]));
        confluence
            .expect_download()
            .withf(|_, meta| meta.id == "fits")
            .times(1)
            .returning(|_, _| stream(None, vec![b"ab", b"c"]));
        let cycle = cycle(100, confluence);
        let (long, announced, fits) = (png("long", 10), png("announced", 10), png("fits", 3));
        let body = format!("{}{}{}", image("long"), image("announced"), image("fits"));
        let inlined = cycle
            .inline_images(&page(), body, &[&long, &announced, &fits])
            .await;
        assert_eq!(
            inlined,
            format!(
                r#"{}{}<img src="data:image/png;base64,YWJj" alt="fits.png" />"#,
                image("long"),
                image("announced")
            )
        );
    }

    #[tokio::test]
    async fn images_that_would_pass_the_body_cap_are_not_downloaded() {
        let mut confluence = MockConfluenceSource::new();
        // 40 MiB announced: ~53 MiB of base64, so a second one cannot fit
        // under the 64 MiB cap and is never requested.
        confluence
            .expect_download()
            .withf(|_, meta| meta.id == "first")
            .times(1)
            .returning(|_, _| stream(None, vec![b"abc"]));
        let cycle = cycle(50 * MIB, confluence);
        let (first, second) = (png("first", 40 * MIB), png("second", 40 * MIB));
        let body = format!("{}{}", image("first"), image("second"));
        let inlined = cycle.inline_images(&page(), body, &[&first, &second]).await;
        assert_eq!(
            inlined,
            format!(
                r#"<img src="data:image/png;base64,YWJj" alt="first.png" />{}"#,
                image("second")
            )
        );
    }

    #[tokio::test]
    async fn an_unreadable_body_is_uploaded_unchanged_without_any_request() {
        // No expectations: any request would panic the test.
        let cycle = cycle(100, MockConfluenceSource::new());
        let body = format!("<p>{}<!-- never closed", image("fits"));
        let fits = png("fits", 3);
        assert_eq!(
            cycle.inline_images(&page(), body.clone(), &[&fits]).await,
            body
        );
    }

    proptest! {
        #[test]
        fn chunked_encoding_equals_one_shot_encoding(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut encoder = Base64Encoder::with_capacity(0);
            let mut from = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                encoder.push(&bytes[from..cut]);
                from = cut;
            }
            let encoded = encoder.finish();
            prop_assert_eq!(encoded.len(), base64_len(bytes.len() as u64));
            prop_assert_eq!(encoded, STANDARD.encode(&bytes));
        }
    }
}
