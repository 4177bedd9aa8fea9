//! Interaction tests of the cycle against mocked ports: what must and must
//! not be called. Anything called without an expectation panics, so a
//! missing expectation is itself an assertion ("no write at all").

use std::{future::Future, pin::Pin, sync::Arc};

use serde_json::json;

use super::*;
use crate::{
    domain::{
        attachment::{AttachmentRules, MIB},
        model::{ContentType, DiscoveredContent, PageBody, Space},
    },
    ports::{
        BodyFetch, ErrorKind, PortError,
        confluence::MockConfluenceSource,
        knowledge_base::{
            ContentDeletion, DeleteFolderOutcome, FileDiff, MockKnowledgeBase, RegisteredContent,
            Scope, StoredContent,
        },
    },
};

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn ready<T: Send + 'static>(value: T) -> Boxed<T> {
    Box::pin(async move { value })
}

const MARK: &str = "confc:cloud:cloud-1";

pub(super) fn tenant() -> TenantContext {
    TenantContext {
        name: "tenant1".into(),
        instance_type: InstanceType::Cloud,
        cloud_id: Some("cloud-1".into()),
        base_url: "https://tenant1.atlassian.net".into(),
        root_scope_id: "root-scope-id".into(),
        key_format: KeyFormat::Current,
        deletion_hold: HoldPolicy::new(25),
        ingest_single_label: "ai-ingest".into(),
        discovery: DiscoveryRules {
            ingest_all_label: "ai-ingest-all".into(),
            max_items: None,
            attachments: Some(AttachmentRules {
                allowed_mime_types: vec!["application/pdf".into()],
                max_file_size_bytes: 50 * MIB,
            }),
        },
        concurrency: 4,
        store_internally: true,
        page_ingestion_config: None,
        image_ocr: false,
        inline_images: false,
        diagnostics: DiagnosticsPolicy::Conceal,
        state_dir: None,
    }
}

fn root(external_id: Option<&str>) -> Scope {
    Scope {
        id: "root-scope-id".into(),
        name: "Confluence".into(),
        parent_id: None,
        external_id: external_id.map(Into::into),
    }
}

fn page(id: &str, labels: &[&str]) -> DiscoveredContent {
    DiscoveredContent {
        id: id.into(),
        title: format!("Page {id}"),
        content_type: ContentType::Page,
        space: Space {
            id: "space-1".into(),
            key: "SP".into(),
            name: "Space One".into(),
        },
        version_when: "2026-05-01T10:00:00.000Z".into(),
        web_ui: format!("/spaces/SP/pages/{id}"),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        attachments: Vec::new(),
        vanished: false,
    }
}

/// A child scope of the root, named after its id.
fn child(id: &str, mark: Option<&str>) -> Scope {
    Scope {
        id: id.into(),
        name: id.into(),
        parent_id: Some("root-scope-id".into()),
        external_id: mark.map(Into::into),
    }
}

/// A knowledge base that passes initialization with the root owned by us.
fn initialized_kb(root_mark: Option<&'static str>) -> MockKnowledgeBase {
    let mut kb = MockKnowledgeBase::new();
    kb.expect_current_user_id()
        .returning(|| ready(Ok("test-user-id".into())));
    kb.expect_grant_scope_access()
        .returning(|_, _, _| ready(Ok(())));
    kb.expect_scope_by_id()
        .withf(|id| id == "root-scope-id")
        .returning(move |_| ready(Ok(Some(root(root_mark)))));
    kb
}

fn confluence_with(pages: Vec<DiscoveredContent>) -> MockConfluenceSource {
    let mut confluence = MockConfluenceSource::new();
    confluence
        .expect_instance_id()
        .returning(|| ready(Ok("cloud-1".into())));
    confluence
        .expect_labeled_content()
        .returning(move || ready(Ok(pages.clone())));
    confluence.expect_listings_ended_early().return_const(0u64);
    confluence
}

fn diff(new: &[&str], updated: &[&str], deleted: &[&str]) -> FileDiff {
    let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect();
    FileDiff {
        new: keys(new),
        updated: keys(updated),
        moved: Vec::new(),
        deleted: keys(deleted),
    }
}

#[tokio::test]
async fn a_tripped_guard_means_no_ingestion_and_no_delete() {
    let mut kb = initialized_kb(Some(MARK));
    kb.expect_file_diff()
        .returning(|_| ready(Ok(diff(&[], &[], &["p9"]))));
    kb.expect_count_with_key_prefix()
        .withf(|prefix| prefix == "tenant1/space-1_SP/")
        .returning(|_| ready(Ok(1)));
    let cycle = SyncCycle::new(
        tenant(),
        confluence_with(vec![page("p1", &["ai-ingest"])]),
        kb,
    );
    let report = cycle.run(&NoObserver).await;
    let CycleResult::Failure(message) = report.result else {
        panic!("expected a failure, got {:?}", report.result);
    };
    assert!(
        message.contains("would delete all 1 stored item"),
        "{message}"
    );
}

#[tokio::test]
async fn an_ownership_mismatch_writes_nothing() {
    let kb = initialized_kb(Some("confc:cloud:other-instance"));
    let mut confluence = MockConfluenceSource::new();
    confluence
        .expect_instance_id()
        .returning(|| ready(Ok("cloud-1".into())));
    let cycle = SyncCycle::new(tenant(), confluence, kb);
    let report = cycle.run(&NoObserver).await;
    assert_eq!(
        report.result,
        CycleResult::Failure(
            "Root scope ownership mismatch: expected confc:cloud:cloud-1, found confc:cloud:other-instance".into()
        )
    );
}

#[tokio::test]
async fn a_discovery_error_aborts_and_deletes_nothing() {
    let kb = initialized_kb(Some(MARK));
    let mut confluence = MockConfluenceSource::new();
    confluence
        .expect_instance_id()
        .returning(|| ready(Ok("cloud-1".into())));
    confluence.expect_labeled_content().returning(|| {
        ready(Err(PortError::new(
            ErrorKind::Transient,
            "GET /wiki/rest/api/content/search",
        )))
    });
    confluence.expect_listings_ended_early().return_const(0u64);
    let cycle = SyncCycle::new(tenant(), confluence, kb);
    let report = cycle.run(&NoObserver).await;
    assert!(
        matches!(report.result, CycleResult::Failure(ref m) if m.contains("discovery")),
        "{:?}",
        report.result
    );
}

#[tokio::test]
async fn an_unowned_root_is_claimed_after_checking_for_an_old_root() {
    let mut kb = initialized_kb(None);
    kb.expect_scope_by_external_id()
        .withf(|mark| mark == MARK)
        .returning(|_| ready(Ok(None)));
    kb.expect_set_scope_external_id()
        .withf(|id, mark| id == "root-scope-id" && mark.as_deref() == Some(MARK))
        .times(1)
        .returning(|_, _| ready(Ok(root(Some(MARK)))));
    kb.expect_file_diff()
        .returning(|_| ready(Ok(diff(&[], &[], &[]))));
    kb.expect_child_scopes()
        .returning(|_| ready(Ok(Vec::new())));
    let cycle = SyncCycle::new(
        tenant(),
        confluence_with(vec![page("p1", &["ai-ingest"])]),
        kb,
    );
    assert_eq!(cycle.run(&NoObserver).await.result, CycleResult::Success);
}

/// A knowledge base ready to ingest into space SP; `upload_fails` makes the
/// PUT fail.
fn ingesting_kb(diff_answer: FileDiff, upload_fails: bool) -> MockKnowledgeBase {
    let mut kb = initialized_kb(Some(MARK));
    kb.expect_file_diff()
        .returning(move |_| ready(Ok(diff_answer.clone())));
    kb.expect_ensure_scope_paths()
        .withf(|paths| paths == ["/Confluence/SP"])
        .returning(|_| {
            ready(Ok(vec![Scope {
                id: "scope-sp".into(),
                name: "SP".into(),
                parent_id: Some("root-scope-id".into()),
                external_id: Some("confc:tenant1:space-1:SP".into()),
            }]))
        });
    kb.expect_register_content().returning(|upsert| {
        let key = upsert.key.clone();
        ready(Ok(RegisteredContent {
            id: format!("id-{key}"),
            write_url: format!("http://blob/{key}?key={key}"),
            read_url: format!("http://blob/{key}"),
        }))
    });
    kb.expect_upload_content().returning(move |_, _, _| {
        ready(if upload_fails {
            Err(PortError::new(ErrorKind::Transient, "PUT").with_status(503))
        } else {
            Ok(())
        })
    });
    kb.expect_child_scopes()
        .returning(|_| ready(Ok(Vec::new())));
    kb
}

fn confluence_serving_body(pages: Vec<DiscoveredContent>) -> MockConfluenceSource {
    let mut confluence = confluence_with(pages);
    confluence.expect_page_bodies().returning(|ids| {
        let bodies = ids
            .iter()
            .map(|id| {
                let body = PageBody {
                    id: id.clone(),
                    storage: "<p>Hello, integration!</p>".into(),
                    labels: vec!["zeta".into(), "ai-ingest".into(), "engineering".into()],
                    version_when: Some("2026-05-01T10:00:00.000Z".into()),
                };
                (id.clone(), BodyFetch::Found(body))
            })
            .collect();
        ready(Ok(bodies))
    });
    confluence
}

#[tokio::test]
async fn a_new_page_is_registered_uploaded_and_finalized_with_reference_fields() {
    let mut kb = ingesting_kb(diff(&["p1"], &[], &[]), false);
    kb.expect_finalize_content()
        .withf(|upsert, read_url| {
            upsert.key == "tenant1/space-1_SP/p1"
                && upsert.mime_type == "text/html"
                && upsert.byte_size == 26
                && upsert.url == "https://tenant1.atlassian.net/wiki/spaces/SP/pages/p1"
                && upsert.metadata
                    == json!({"confluenceLabels": ["engineering", "zeta"], "spaceKey": "SP", "spaceName": "Space One"})
                && upsert.scope_id == "scope-sp"
                && upsert.source_kind == "ATLASSIAN_CONFLUENCE_CLOUD"
                && read_url == "http://blob/tenant1/space-1_SP/p1"
        })
        .times(1)
        .returning(|_, _| ready(Ok("id-p1".into())));
    let cycle = SyncCycle::new(
        tenant(),
        confluence_serving_body(vec![page("p1", &["ai-ingest"])]),
        kb,
    );
    let report = cycle.run(&NoObserver).await;
    assert_eq!(report.result, CycleResult::Success);
    assert_eq!(report.pages.success, 1);
    assert_eq!(report.new, 1);
}

#[tokio::test]
async fn a_failed_new_item_is_removed_but_a_failed_update_keeps_the_old_version() {
    let mut kb = ingesting_kb(diff(&["p1"], &["p2"], &[]), true);
    kb.expect_delete_content()
        .withf(|ids| ids == ["id-tenant1/space-1_SP/p1"])
        .times(1)
        .returning(|ids| {
            ready(ContentDeletion {
                confirmed: ids.to_vec(),
                error: None,
            })
        });
    let pages = vec![page("p1", &["ai-ingest"]), page("p2", &["ai-ingest"])];
    let cycle = SyncCycle::new(tenant(), confluence_serving_body(pages), kb);
    let report = cycle.run(&NoObserver).await;
    // Both writes failed and nothing else was written: a failed cycle
    // (ours, §9.8), with both keys named.
    assert!(
        matches!(&report.result, CycleResult::Failure(why) if why.contains("every attempted write failed")),
        "{:?}",
        report.result
    );
    assert_eq!(report.pages.failure, 2);
    let mut failed = report.failed_items.clone();
    failed.sort();
    assert_eq!(failed, ["tenant1/space-1_SP/p1", "tenant1/space-1_SP/p2"]);
}

#[tokio::test]
async fn deletions_resolve_keys_and_count_confirmed_ids() {
    let mut kb = initialized_kb(Some(MARK));
    kb.expect_file_diff()
        .returning(|_| ready(Ok(diff(&[], &[], &["removed"]))));
    kb.expect_count_with_key_prefix()
        .returning(|_| ready(Ok(2)));
    kb.expect_content_by_keys()
        .withf(|keys| keys == ["tenant1/space-1_SP/removed"])
        .returning(|_| {
            ready(Ok(vec![StoredContent {
                id: "c-removed".into(),
                key: "tenant1/space-1_SP/removed".into(),
                owner_id: Some("scope-sp".into()),
                byte_size: None,
                metadata: None,
            }]))
        });
    kb.expect_delete_content()
        .withf(|ids| ids == ["c-removed"])
        .returning(|ids| {
            ready(ContentDeletion {
                confirmed: ids.to_vec(),
                error: None,
            })
        });
    kb.expect_child_scopes()
        .returning(|_| ready(Ok(Vec::new())));
    let cycle = SyncCycle::new(
        tenant(),
        confluence_with(vec![page("keeper", &["ai-ingest"])]),
        kb,
    );
    let report = cycle.run(&NoObserver).await;
    assert_eq!(report.result, CycleResult::Success);
    assert_eq!((report.deleted, report.delete_failures), (1, 0));
}

#[tokio::test]
async fn a_hold_that_cannot_be_recorded_fails_the_cycle_before_any_deletion() {
    // The state directory is writable (the repair journal opens), but the
    // held set cannot be written: a directory stands where its file goes.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("held-deletions.json")).unwrap();
    let mut tenant = tenant();
    tenant.state_dir = Some(dir.path().to_owned());
    let mut kb = initialized_kb(Some(MARK));
    let gone: Vec<String> = (0..30).map(|i| format!("gone-{i}")).collect();
    kb.expect_file_diff().returning(move |_| {
        let gone: Vec<&str> = gone.iter().map(String::as_str).collect();
        ready(Ok(diff(&[], &[], &gone)))
    });
    kb.expect_count_with_key_prefix()
        .returning(|_| ready(Ok(31)));
    kb.expect_child_scopes()
        .returning(|_| ready(Ok(Vec::new())));
    // No expectation for content_by_keys or delete_content: a deletion
    // would panic.
    let cycle = SyncCycle::new(
        tenant,
        confluence_with(vec![page("keeper", &["ai-ingest"])]),
        kb,
    );
    let report = cycle.run(&NoObserver).await;
    let CycleResult::Failure(message) = report.result else {
        panic!("expected a failure, got {:?}", report.result);
    };
    assert!(
        message.starts_with("could not record held deletions (")
            && message.ends_with(
                "); nothing was deleted this cycle: make the state directory writable (CONFLUENCE_CONNECTOR_STATE_DIR)"
            ),
        "{message}"
    );
    assert_eq!(report.deleted, 0);
}

#[tokio::test]
async fn orphan_cleanup_is_skipped_when_nothing_was_discovered() {
    // No expectation for child_scopes: listing them would panic.
    let kb = initialized_kb(Some(MARK));
    let cycle = SyncCycle::new(tenant(), confluence_with(Vec::new()), kb);
    assert_eq!(cycle.run(&NoObserver).await.result, CycleResult::Success);
}

#[tokio::test]
async fn orphan_space_scopes_of_this_tenant_are_removed_and_foreign_ones_kept() {
    let mut kb = initialized_kb(Some(MARK));
    kb.expect_file_diff()
        .returning(|_| ready(Ok(diff(&[], &[], &[]))));
    kb.expect_child_scopes().returning(|_| {
        ready(Ok(vec![
            child("scope-sp", Some("confc:tenant1:space-1:SP")),
            child("scope-hr", Some("confc:tenant1:space-hr:HR")),
            child("scope-foreign", Some("confc:other:space-x:X")),
            child("scope-unmarked", None),
        ]))
    });
    kb.expect_count_with_key_prefix()
        .withf(|prefix| prefix == "tenant1/space-hr_HR/")
        .returning(|_| ready(Ok(1)));
    // The live scope of SP holds only current keys: not listed.
    kb.expect_count_with_key_prefix()
        .withf(|prefix| prefix == "tenant1/space-1_SP/")
        .returning(|_| ready(Ok(1)));
    kb.expect_count_in_scope()
        .withf(|id, prefix| (id == "scope-sp" || id == "scope-hr") && prefix.is_none())
        .returning(|_, _| ready(Ok(1)));
    let mut listed = 0;
    kb.expect_content_with_key_prefix()
        .withf(|prefix| prefix == "tenant1/space-hr_HR/")
        .returning(move |_| {
            listed += 1;
            ready(Ok(if listed == 1 {
                vec![StoredContent {
                    id: "c-hr".into(),
                    key: "tenant1/space-hr_HR/hr-1".into(),
                    owner_id: None,
                    byte_size: None,
                    metadata: None,
                }]
            } else {
                Vec::new()
            }))
        });
    kb.expect_delete_content().returning(|ids| {
        ready(ContentDeletion {
            confirmed: ids.to_vec(),
            error: None,
        })
    });
    // After the prefix deletion the scope holds no old-key copies.
    kb.expect_content_in_scope()
        .withf(|id| id == "scope-hr")
        .returning(|_| ready(Ok(Vec::new())));
    kb.expect_delete_scope()
        .withf(|id, recursive| id == "scope-hr" && !recursive)
        .times(1)
        .returning(|id, _| {
            ready(Ok(DeleteFolderOutcome {
                deleted: vec![id.to_owned()],
                failed: Vec::new(),
            }))
        });
    let cycle = SyncCycle::new(
        tenant(),
        confluence_with(vec![page("p1", &["ai-ingest"])]),
        kb,
    );
    let report = cycle.run(&NoObserver).await;
    assert_eq!(report.result, CycleResult::Success);
    assert_eq!(
        (report.orphan_scopes_removed, report.orphan_files_removed),
        (1, 1)
    );
}

#[tokio::test]
async fn a_second_run_while_one_is_in_progress_is_skipped() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let mut kb = MockKnowledgeBase::new();
    let waiting = Arc::clone(&gate);
    kb.expect_current_user_id().returning(move || {
        let gate = Arc::clone(&waiting);
        Box::pin(async move {
            gate.notified().await;
            Err(PortError::new(ErrorKind::Transient, "user"))
        })
    });
    let cycle = Arc::new(SyncCycle::new(tenant(), MockConfluenceSource::new(), kb));
    let first = tokio::spawn({
        let cycle = Arc::clone(&cycle);
        async move { cycle.run(&NoObserver).await }
    });
    // Let the first run reach the gate.
    while !cycle.running.load(std::sync::atomic::Ordering::Acquire) {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        cycle.run(&NoObserver).await.result,
        CycleResult::Skipped("sync_in_progress")
    );
    assert_eq!(
        cycle.purge().await.outcome,
        PurgeOutcome::Skipped("scan_in_progress")
    );
    gate.notify_one();
    assert!(matches!(
        first.await.unwrap().result,
        CycleResult::Failure(_)
    ));
}

#[tokio::test]
async fn purge_refuses_a_root_marked_by_another_instance() {
    let mut kb = MockKnowledgeBase::new();
    kb.expect_scope_by_id()
        .returning(|_| ready(Ok(Some(root(Some("confc:cloud:someone-else"))))));
    let cycle = SyncCycle::new(tenant(), MockConfluenceSource::new(), kb);
    assert_eq!(
        cycle.purge().await.outcome,
        PurgeOutcome::Skipped("foreign_owner")
    );
}

#[tokio::test]
async fn purge_keeps_the_mark_when_a_folder_cannot_be_deleted() {
    let mut kb = MockKnowledgeBase::new();
    kb.expect_scope_by_id()
        .returning(|_| ready(Ok(Some(root(Some(MARK))))));
    kb.expect_child_scopes().returning(|_| {
        ready(Ok(vec![Scope {
            id: "scope-eng".into(),
            name: "ENG".into(),
            parent_id: Some("root-scope-id".into()),
            external_id: Some("confc:tenant1:space-eng:ENG".into()),
        }]))
    });
    kb.expect_content_in_scope().returning(|_| {
        ready(Ok(vec![StoredContent {
            id: "c1".into(),
            key: "tenant1/space-eng_ENG/p1".into(),
            owner_id: Some("scope-eng".into()),
            byte_size: None,
            metadata: None,
        }]))
    });
    kb.expect_delete_content().returning(|ids| {
        ready(ContentDeletion {
            confirmed: ids.to_vec(),
            error: None,
        })
    });
    kb.expect_delete_scope()
        .returning(|_, _| ready(Err(PortError::new(ErrorKind::Transient, "DeleteFolder"))));
    // No expectation for set_scope_external_id: clearing the mark would panic.
    let cycle = SyncCycle::new(tenant(), MockConfluenceSource::new(), kb);
    let report = cycle.purge().await;
    assert_eq!(report.outcome, PurgeOutcome::Failure { failures: 1 });
    assert_eq!(report.content_deleted, 1);
}

#[tokio::test]
async fn purge_removes_only_what_carries_this_tenants_marks() {
    let mut kb = MockKnowledgeBase::new();
    kb.expect_scope_by_id()
        .returning(|_| ready(Ok(Some(root(Some(MARK))))));
    kb.expect_child_scopes().returning(|_| {
        ready(Ok(vec![
            child("scope-eng", Some("confc:tenant1:space-eng:ENG")),
            child("scope-mixed", Some("confc:tenant1:space-hr:HR")),
            child("scope-other", Some("confc:other:space-x:X")),
            child("scope-unmarked", None),
        ]))
    });
    let stored = |id: &str, key: &str| StoredContent {
        id: id.into(),
        key: key.into(),
        owner_id: None,
        byte_size: None,
        metadata: None,
    };
    kb.expect_content_in_scope()
        .withf(|id| id == "scope-eng")
        .returning(move |_| ready(Ok(vec![stored("c-eng", "tenant1/space-eng_ENG/p1")])));
    kb.expect_content_in_scope()
        .withf(|id| id == "scope-mixed")
        .returning(move |_| {
            ready(Ok(vec![
                stored("c-hr", "tenant1/space-hr_HR/p2"),
                stored("c-foreign", "other/space-hr_HR/p2"),
            ]))
        });
    kb.expect_delete_content()
        .withf(|ids| ids == ["c-eng"] || ids == ["c-hr"])
        .times(2)
        .returning(|ids| {
            ready(ContentDeletion {
                confirmed: ids.to_vec(),
                error: None,
            })
        });
    kb.expect_delete_scope()
        .withf(|id, recursive| id == "scope-eng" && *recursive)
        .times(1)
        .returning(|id, _| {
            ready(Ok(DeleteFolderOutcome {
                deleted: vec![id.to_owned()],
                failed: Vec::new(),
            }))
        });
    kb.expect_set_scope_external_id()
        .withf(|id, mark| id == "root-scope-id" && mark.is_none())
        .times(1)
        .returning(|_, _| ready(Ok(root(None))));
    let cycle = SyncCycle::new(tenant(), MockConfluenceSource::new(), kb);
    let report = cycle.purge().await;
    assert_eq!(report.outcome, PurgeOutcome::Success);
    assert_eq!(
        (
            report.content_deleted,
            report.scopes_deleted,
            report.scopes_left,
            report.content_left
        ),
        (2, 1, 3, 1)
    );
}

#[tokio::test]
async fn purge_of_an_already_cleaned_root_is_skipped() {
    let mut kb = MockKnowledgeBase::new();
    kb.expect_scope_by_id()
        .returning(|_| ready(Ok(Some(root(None)))));
    let cycle = SyncCycle::new(tenant(), MockConfluenceSource::new(), kb);
    assert_eq!(
        cycle.purge().await.outcome,
        PurgeOutcome::Skipped("already_cleaned_up")
    );
}

/// A body older than discovery's version came from a lagging search index:
/// the page is fetched alone, and that newer body is what gets uploaded.
#[tokio::test]
async fn a_body_older_than_discovery_is_fetched_again_alone() {
    let mut confluence = confluence_with(vec![page("p1", &["ai-ingest"])]);
    let body = |storage: &str, version: &str| PageBody {
        id: "p1".into(),
        storage: storage.into(),
        labels: vec![],
        version_when: Some(version.into()),
    };
    let stale = body("<p>stale</p>", "2026-04-01T00:00:00.000Z");
    let fresh = body("<p>fresh</p>", "2026-05-01T10:00:00.000Z");
    let mut sequence = mockall::Sequence::new();
    for answer in [stale, fresh] {
        confluence
            .expect_page_bodies()
            .withf(|ids| ids == ["p1"])
            .times(1)
            .in_sequence(&mut sequence)
            .returning(move |_| ready(Ok(vec![("p1".into(), BodyFetch::Found(answer.clone()))])));
    }
    let mut kb = ingesting_kb(diff(&["p1"], &[], &[]), false);
    kb.expect_finalize_content()
        .withf(|upsert, _| upsert.byte_size == "<p>fresh</p>".len() as u64)
        .times(1)
        .returning(|_, _| ready(Ok("id-p1".into())));
    let report = SyncCycle::new(tenant(), confluence, kb)
        .run(&NoObserver)
        .await;
    assert_eq!(report.pages.success, 1);
}

#[tokio::test]
async fn a_loop_in_the_root_scopes_ancestors_fails_the_cycle_naming_the_ids() {
    let mut kb = MockKnowledgeBase::new();
    kb.expect_current_user_id()
        .returning(|| ready(Ok("test-user-id".into())));
    kb.expect_grant_scope_access()
        .returning(|_, _, _| ready(Ok(())));
    // root → a → b → a → … : without a bound the walk never ends.
    kb.expect_scope_by_id().returning(|id| {
        let (name, parent) = match id {
            "root-scope-id" => ("Confluence", "a"),
            "a" => ("A", "b"),
            _ => ("B", "a"),
        };
        ready(Ok(Some(Scope {
            id: id.to_owned(),
            name: name.into(),
            parent_id: Some(parent.into()),
            external_id: (id == "root-scope-id").then(|| MARK.to_owned()),
        })))
    });
    let mut confluence = MockConfluenceSource::new();
    confluence
        .expect_instance_id()
        .returning(|| ready(Ok("cloud-1".into())));
    let cycle = SyncCycle::new(tenant(), confluence, kb);
    let report = cycle.run(&NoObserver).await;
    assert_eq!(
        report.result,
        CycleResult::Failure(
            "Root scope path: the root scope's ancestors form a loop: scope a is its own ancestor (root-scope-id → a → b → a); fix the parent of one of these scopes in Unique".into()
        )
    );
}
