//! Ingestion of new and updated items (PROTOCOL §9.7, §9.8, §7.3): pages
//! first, then attachments, each through a pool of `concurrency` workers.
//! One item's failure never stops the others.

use std::{collections::HashMap, future::Future, time::Instant};

use bytes::Bytes;
use futures::{FutureExt as _, StreamExt, stream::FuturesUnordered};
use serde_json::json;
use tracing::{Instrument, debug, info, info_span, warn};

use super::{
    CycleObserver, Phase, SyncCycle,
    cycle::{Work, WorkItem, attachment_url},
    journal::OpenJournal,
    report::{CycleReport, ItemResult, SkipReason},
};
use crate::{
    domain::{
        attachment,
        discovery::{AttachmentItem, PageItem},
        inline_images::ImageIndex,
        keys::ItemKey,
        repair::{self, Record},
        urls,
    },
    ports::{
        BodyFetch, ConfluenceSource, ErrorKind, KnowledgeBase, PortError,
        confluence::BODY_BATCH,
        knowledge_base::{ContentUpsert, UploadBody},
    },
};

/// Items between two progress lines in the log.
const PROGRESS_EVERY: usize = 100;

impl<C: ConfluenceSource, K: KnowledgeBase> SyncCycle<C, K> {
    pub(super) async fn ingest(
        &self,
        work: &Work<'_>,
        scopes: &HashMap<String, String>,
        images: &ImageIndex<'_>,
        report: &mut CycleReport,
        observer: &dyn CycleObserver,
        journal: &OpenJournal<'_>,
    ) {
        let tenant = self.tenant.name.as_str();
        observer.phase(tenant, Phase::IngestingPages);
        let mut done = 0;
        for batch in work.pages.chunks(BODY_BATCH) {
            if self.stopping() {
                break;
            }
            for (key, result) in self.ingest_page_batch(batch, scopes, images, journal).await {
                record(report, key, result, true);
                observer.page_done(tenant, result);
                done += 1;
                if done % PROGRESS_EVERY == 0 {
                    info!(tenant, done, total = work.pages.len(), "ingesting pages");
                }
            }
        }
        not_started(report, true, work.pages.len() - done);
        info!(
            tenant,
            pages = work.pages.len(),
            succeeded = report.pages.success,
            failed = report.pages.failure,
            skipped = report.pages.skipped,
            "pages done"
        );

        observer.phase(tenant, Phase::IngestingAttachments);
        // A pool refilled by hand rather than `buffer_unordered` over a
        // closure: the closure's borrowed argument makes the cycle's future
        // not provably `Send`, and the scheduler spawns cycles.
        let mut pending = work.attachments.iter();
        let mut in_flight = FuturesUnordered::new();
        let mut done = 0;
        loop {
            while in_flight.len() < self.tenant.concurrency && !self.stopping() {
                let Some(item) = pending.next() else { break };
                in_flight.push(
                    self.ingest_attachment(item, scopes, journal)
                        .instrument(info_span!("item", space = %item.item.space.key)),
                );
            }
            let Some((key, result, upload)) = in_flight.next().await else {
                break;
            };
            record(report, key, result, false);
            observer.attachment_done(tenant, result, upload);
            done += 1;
            if done % PROGRESS_EVERY == 0 {
                info!(
                    tenant,
                    done,
                    total = work.attachments.len(),
                    "ingesting attachments"
                );
            }
        }
        not_started(report, false, work.attachments.len() - done);
        info!(
            tenant,
            attachments = work.attachments.len(),
            succeeded = report.attachments.success,
            failed = report.attachments.failure,
            skipped = report.attachments.skipped,
            "attachments done"
        );
    }

    /// Fetches one batch of bodies (one request where possible), then
    /// uploads them with the configured concurrency. Returns each page's
    /// full key with its result.
    async fn ingest_page_batch(
        &self,
        batch: &[WorkItem<'_, PageItem>],
        scopes: &HashMap<String, String>,
        images: &ImageIndex<'_>,
        journal: &OpenJournal<'_>,
    ) -> Vec<(String, ItemResult)> {
        let ids: Vec<String> = batch.iter().map(|work| work.item.id.clone()).collect();
        let mut bodies: HashMap<String, BodyFetch> = match self.confluence.page_bodies(&ids).await {
            Ok(bodies) => bodies.into_iter().collect(),
            Err(err) => {
                warn!(tenant = %self.tenant.name, pages = ids.len(), error = %err, "page bodies could not be fetched");
                return batch
                    .iter()
                    .map(|work| (page_key(work), ItemResult::Failure))
                    .collect();
            }
        };
        let mut pending = batch.iter();
        let mut in_flight = FuturesUnordered::new();
        let mut results = Vec::with_capacity(batch.len());
        loop {
            while in_flight.len() < self.tenant.concurrency && !self.stopping() {
                let Some(work) = pending.next() else { break };
                let fetch = bodies.remove(&work.item.id).unwrap_or_else(|| {
                    BodyFetch::Failed(PortError::new(
                        ErrorKind::InvalidResponse,
                        "page body missing from the batch answer",
                    ))
                });
                let page_images = images
                    .get(work.item.id.as_str())
                    .map_or(&[][..], Vec::as_slice);
                in_flight.push(
                    self.ingest_page(work, fetch, scopes, page_images, journal)
                        .map(|result| (page_key(work), result))
                        .instrument(info_span!("item", space = %work.item.space.key)),
                );
            }
            let Some(result) = in_flight.next().await else {
                break;
            };
            results.push(result);
        }
        results
    }

    async fn ingest_page(
        &self,
        work: &WorkItem<'_, PageItem>,
        fetch: BodyFetch,
        scopes: &HashMap<String, String>,
        images: &[&AttachmentItem],
        journal: &OpenJournal<'_>,
    ) -> ItemResult {
        let page = work.item;
        let fetch = self.fresh_body(page, fetch).await;
        let skip = |reason| {
            nothing_written(
                journal,
                work.is_new,
                work.partial_key.content_key(&ItemKey::page(&page.id)),
            );
            ItemResult::Skipped(reason)
        };
        let body = match fetch {
            BodyFetch::Found(body) if body.storage.is_empty() => {
                return skip(SkipReason::EmptyBody);
            }
            BodyFetch::Found(body) => body,
            BodyFetch::NotFound => return skip(SkipReason::NotFound),
            BodyFetch::Failed(err) => {
                warn!(tenant = %self.tenant.name, page_id = %page.id, error = %err, "page body fetch failed");
                return ItemResult::Failure;
            }
        };
        let Some(scope_id) = scopes.get(&page.space.key) else {
            return ItemResult::Failure;
        };
        let tenant = &self.tenant;
        let excluded = [
            tenant.ingest_single_label.as_str(),
            tenant.discovery.ingest_all_label.as_str(),
        ];
        let mut labels: Vec<&str> = body
            .labels
            .iter()
            .map(String::as_str)
            .filter(|l| !excluded.contains(l))
            .collect();
        labels.sort_unstable();
        let storage = if tenant.inline_images {
            self.inline_images(page, body.storage, images).await
        } else {
            body.storage
        };
        // What the journal records as uploaded: the body's own version
        // (discovery's when the answer had none). A later cycle re-ingests
        // the page if Confluence then reports a newer one: an edit between
        // this body fetch and the registration below is stamped earlier
        // than the registration, so the diff alone would never report it.
        let version = body
            .version_when
            .clone()
            .unwrap_or_else(|| page.version_when.clone());
        // `byteSize` is the length of what is uploaded: the inlined body.
        let html = Bytes::from(storage);
        let upsert = ContentUpsert {
            key: page_key(work),
            title: page.title.clone(),
            mime_type: "text/html".to_owned(),
            url: urls::page_url(
                tenant.instance_type,
                &tenant.base_url,
                &page.id,
                &page.web_ui,
            ),
            byte_size: html.len() as u64,
            metadata: json!({
                "confluenceLabels": labels,
                "spaceKey": page.space.key,
                "spaceName": page.space.name,
            }),
            ingestion_config: tenant.page_ingestion_config.clone(),
            scope_id: scope_id.clone(),
            source_kind: tenant.instance_type.source_kind().to_owned(),
            source_name: tenant.base_url.clone(),
            store_internally: tenant.store_internally,
        };
        let result = self
            .upsert(&upsert, work.is_new, || async {
                Ok(UploadBody::Bytes(html))
            })
            .await;
        if result == ItemResult::Success {
            journal.record(Record::Written {
                key: upsert.key,
                version,
            });
        }
        result
    }

    /// A body older than discovery's version came from a lagging search
    /// index (the batched fetch searches by id); fetch that page alone,
    /// which reads the page itself. Whatever version the body then has is
    /// what the journal records, so a body that is still stale is written
    /// again by a later cycle.
    async fn fresh_body(&self, page: &PageItem, fetch: BodyFetch) -> BodyFetch {
        let BodyFetch::Found(body) = &fetch else {
            return fetch;
        };
        let stale = body
            .version_when
            .as_deref()
            .is_some_and(|version| repair::is_later(&page.version_when, version));
        if !stale {
            return fetch;
        }
        debug!(tenant = %self.tenant.name, page_id = %page.id, "body older than discovery; fetching the page alone");
        match self
            .confluence
            .page_bodies(std::slice::from_ref(&page.id))
            .await
        {
            Ok(mut single) if single.len() == 1 => single.remove(0).1,
            // The batched answer is still a body; keep it.
            _ => fetch,
        }
    }

    /// Register, download, upload, finalize (§7.3 order for attachments).
    /// Returns the full key, the result and, on success, how long
    /// download+upload took.
    async fn ingest_attachment(
        &self,
        work: &WorkItem<'_, AttachmentItem>,
        scopes: &HashMap<String, String>,
        journal: &OpenJournal<'_>,
    ) -> (String, ItemResult, Option<std::time::Duration>) {
        let item = work.item;
        let key = attachment_key(work);
        if item.meta.file_size == 0 {
            nothing_written(journal, work.is_new, key.clone());
            return (key, ItemResult::Skipped(SkipReason::ZeroBytes), None);
        }
        let Some(scope_id) = scopes.get(&item.space.key) else {
            return (key, ItemResult::Failure, None);
        };
        let tenant = &self.tenant;
        let upsert = ContentUpsert {
            key: key.clone(),
            title: item.meta.title.clone(),
            mime_type: item.meta.media_type.clone(),
            url: attachment_url(tenant.instance_type, &tenant.base_url, item),
            byte_size: item.meta.file_size,
            metadata: json!({"spaceKey": item.space.key, "spaceName": item.space.name}),
            ingestion_config: attachment::ingestion_config(&item.meta.media_type, tenant.image_ocr),
            scope_id: scope_id.clone(),
            source_kind: tenant.instance_type.source_kind().to_owned(),
            source_name: tenant.base_url.clone(),
            store_internally: tenant.store_internally,
        };
        let started = Instant::now();
        let result = self
            .upsert(&upsert, work.is_new, || async {
                let stream = self.confluence.download(&item.page_id, &item.meta).await?;
                // §5.10 (ours): the download's own length wins when it
                // differs from discovery; without one, discovery's size is
                // declared and the upload fails if the bytes disagree, so
                // nothing is ever buffered or spooled.
                let length = stream.content_length.unwrap_or(item.meta.file_size);
                Ok(UploadBody::Stream { length, stream })
            })
            .await;
        let upload = (result == ItemResult::Success).then(|| started.elapsed());
        if result == ItemResult::Success {
            // Registered before its bytes were read: a later change is
            // stamped later than the registration and reported by the diff.
            journal.record(Record::Done { key: key.clone() });
        }
        (key, result, upload)
    }

    /// The two-phase upsert of one item with the cleanup rules of §9.8.
    async fn upsert<F, Fut>(&self, upsert: &ContentUpsert, is_new: bool, body: F) -> ItemResult
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<UploadBody, PortError>>,
    {
        let kb = &self.knowledge_base;
        let registered = match kb.register_content(upsert).await {
            Ok(registered) => registered,
            Err(err) => {
                warn!(tenant = %self.tenant.name, key = %upsert.key, error = %err, "registration failed");
                return ItemResult::Failure;
            }
        };
        // Where a failure came from decides what it means: the source
        // answering 404/410 means the item was deleted in Confluence during
        // the cycle (a skip), while a 404 from Unique (a misrouted upload
        // path, a finalize on a vanished registration) is a failure like
        // any other — never "source vanished".
        let outcome = async {
            let body = body().await.map_err(Failed::Source)?;
            kb.upload_content(&registered, &upsert.mime_type, body)
                .await
                .map_err(Failed::KnowledgeBase)?;
            kb.finalize_content(upsert, &registered.read_url)
                .await
                .map_err(Failed::KnowledgeBase)
        }
        .await;
        // Whatever happens below, the journal keeps the key pending until a
        // write of it completes (ADR 0007): the next cycle repairs it even
        // when the diff calls it current.
        let err = match outcome {
            Ok(_) => return ItemResult::Success,
            Err(err) => err,
        };
        if is_new {
            // A half-registered new item would look ingested to the next
            // diff; remove it so the item comes back as new.
            let deletion = kb
                .delete_content(std::slice::from_ref(&registered.id))
                .await;
            if let Some(cleanup) = deletion.error {
                warn!(tenant = %self.tenant.name, key = %upsert.key, error = %cleanup, "cleanup of a failed registration failed");
            }
        }
        match err {
            Failed::Source(err) if err.kind() == ErrorKind::NotFound => {
                info!(tenant = %self.tenant.name, key = %upsert.key, error = %err, "skipped: deleted in Confluence during the cycle");
                ItemResult::Skipped(SkipReason::NotFound)
            }
            Failed::Source(err) | Failed::KnowledgeBase(err) => {
                warn!(tenant = %self.tenant.name, key = %upsert.key, error = %err, "ingestion failed");
                ItemResult::Failure
            }
        }
    }
}

/// A new item skipped before its registration left nothing in Unique: the
/// journal forgets it. An update skipped so stays pending: an earlier write
/// of it may have stopped half-way.
fn nothing_written(journal: &OpenJournal<'_>, is_new: bool, key: String) {
    if is_new {
        journal.record(Record::Done { key });
    }
}

/// Which side of an upsert failed after registration.
#[derive(Debug)]
enum Failed {
    /// Confluence: the body or the attachment download.
    Source(PortError),
    /// Unique: the blob upload (a download that breaks while it streams
    /// into the upload surfaces here too, and fails the item alike) or the
    /// finalize.
    KnowledgeBase(PortError),
}

fn page_key(work: &WorkItem<'_, PageItem>) -> String {
    work.partial_key.content_key(&ItemKey::page(&work.item.id))
}

fn attachment_key(work: &WorkItem<'_, AttachmentItem>) -> String {
    work.partial_key
        .content_key(&ItemKey::attachment(&work.item.page_id, &work.item.meta.id))
}

/// Items a shutdown kept from starting: never registered, so the next
/// cycle's diff brings them back.
fn not_started(report: &mut CycleReport, page: bool, count: usize) {
    if count > 0 {
        let counts = if page {
            &mut report.pages
        } else {
            &mut report.attachments
        };
        counts.skipped += count;
        report.skip(SkipReason::Shutdown, count);
    }
}

fn record(report: &mut CycleReport, key: String, result: ItemResult, page: bool) {
    if page {
        report.pages.record(result);
    } else {
        report.attachments.record(result);
    }
    if result == ItemResult::Failure {
        report.failed_items.push(key);
    }
    if let ItemResult::Skipped(reason) = result {
        report.skip(reason, 1);
    }
}
