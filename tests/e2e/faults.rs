//! 5 % injected faults on both simulators: the cycles converge to the same
//! final state as a fault-free run within two cycles, and nothing is ever
//! wrongly deleted on the way.
//!
//! The first cycle draws faults on every Confluence route and every Unique
//! operation. The second keeps drawing faults on the calls the connector
//! retries (Confluence GETs, file-diff, queries, the idempotent mutations),
//! so only the retry layer stands between it and a failure; items that
//! failed in the first cycle must come back (new again, or remembered as a
//! failed update by the long-lived cycle, as in `serve`).

use std::collections::{BTreeMap, BTreeSet};

use confluence_connector::{
    app::sync::{CycleResult, NoObserver},
    sim::{
        confluence::{Dataset, Fault, Flavor, Route, SimAttachment, SimPage, SimSpace},
        unique::{AccessType, Operation, SeedContent, UniqueFault, UniqueSnapshot},
    },
};
use serde_json::Value;

use crate::support::*;

both_flavors!(faulty_runs_converge_to_the_fault_free_state);

const RATE: f64 = 0.05;

const CONFLUENCE_ROUTES: [Route; 6] = [
    Route::Search,
    Route::ContentById,
    Route::AttachmentsV2,
    Route::ChildAttachments,
    Route::Download,
    Route::Manifest,
];

/// Calls the connector retries (§5.12, §6.4 and ours).
const RETRIED: [Operation; 7] = [
    Operation::User,
    Operation::CreateScopeAccesses,
    Operation::PaginatedScope,
    Operation::UpdateScope,
    Operation::PaginatedContent,
    Operation::PaginatedContentCount,
    Operation::FileDiff,
];

/// Calls it never repeats: a fault fails the item or the step.
const NOT_RETRIED: [Operation; 5] = [
    Operation::GenerateScopesBasedOnPaths,
    Operation::ContentUpsert,
    Operation::Upload,
    Operation::ContentDeleteByContentIds,
    Operation::DeleteFolder,
];

/// Two spaces, nested pages with attachments (some past the 25 inlined),
/// and a Unique that already holds stale, current and vanished items.
fn world(flavor: Flavor) -> (Dataset, [&'static str; 2]) {
    let ids = match flavor {
        Flavor::Cloud => ["space-a", "space-b"],
        Flavor::DataCenter => ["4001", "4002"],
    };
    let mut data = Dataset::new()
        .space(SimSpace::new(ids[0], "A", "Space A"))
        .space(SimSpace::new(ids[1], "B", "Space B"));
    for space in ["A", "B"] {
        let root = format!("{space}-root");
        data = data.page(SimPage::new(&root, space).labels([ALL]));
        for n in 0..12 {
            let mut page = SimPage::new(format!("{space}-{n}"), space)
                .parent(&root)
                .body(format!("<p>{space} page {n} — ünïcødé</p>"));
            let attachments = if n == 0 { 30 } else { n % 3 };
            for a in 0..attachments {
                page = page.attachment(
                    SimAttachment::new(
                        format!("att-{space}-{n}-{a}"),
                        format!("file-{a}.pdf"),
                        "application/pdf",
                        1_000 + 97 * a,
                    )
                    .with_seed(n * 100 + a),
                );
            }
            data = data.page(page);
        }
    }
    (data, ids)
}

/// The Unique state left by an earlier sync: A's scope with a stale page,
/// a current page and a page that has vanished from Confluence.
fn seed(app: &TestApp, ids: [&str; 2]) {
    app.unique.grant_service_user(
        ROOT,
        &[AccessType::Manage, AccessType::Read, AccessType::Write],
    );
    app.unique
        .set_external_id(ROOT, Some(root_mark(app.flavor())));
    seed_space(app, "scope-a", ids[0], "A");
    app.seed_content(
        SeedContent::new(key(ids[0], "A", "A-1"), "scope-a")
            .updated_at("2026-01-01T00:00:00.000Z")
            .body("<p>stale</p>"),
    );
    app.seed_content(
        SeedContent::new(key(ids[0], "A", "A-2"), "scope-a").body("<p>A page 2 — ünïcødé</p>"),
    );
    app.seed_content(SeedContent::new(key(ids[0], "A", "vanished"), "scope-a"));
}

/// What a comparison of final states looks at: per key, title, MIME type,
/// metadata, owner path and the bytes' hash; scopes by path and mark.
type State = (
    BTreeMap<
        String,
        (
            Option<String>,
            String,
            Option<Value>,
            Option<String>,
            Option<String>,
        ),
    >,
    BTreeMap<String, Option<String>>,
);

fn state(snapshot: &UniqueSnapshot) -> State {
    let contents = snapshot
        .contents
        .iter()
        .map(|c| {
            (
                c.key.clone(),
                (
                    c.title.clone(),
                    c.mime_type.clone(),
                    c.metadata.clone(),
                    c.owner_path.clone(),
                    c.blob
                        .as_ref()
                        .filter(|_| c.finalized)
                        .map(|b| b.sha256.clone()),
                ),
            )
        })
        .collect();
    (contents, scopes(snapshot))
}

async fn faulty_runs_converge_to_the_fault_free_state(flavor: Flavor) {
    let (data, ids) = world(flavor);

    let clean = spawn_app(flavor, data.clone()).await;
    seed(&clean, ids);
    clean.successful_cycle().await;
    let expected = state(&clean.snapshot());
    let expected_keys: BTreeSet<String> = expected.0.keys().cloned().collect();
    // Per space: 13 pages, 30 attachments on page 0, `n % 3` on pages 1–11.
    assert_eq!(expected_keys.len(), 2 * (13 + 30 + 12));
    assert!(!expected_keys.contains(&key(ids[0], "A", "vanished")));
    clean.finish().await;

    let faulty = spawn_app(flavor, data).await;
    seed(&faulty, ids);
    for route in CONFLUENCE_ROUTES {
        faulty
            .confluence
            .fail_randomly(route, Some((RATE, Fault::Status(503))));
    }
    for operation in RETRIED.into_iter().chain(NOT_RETRIED) {
        faulty
            .unique
            .fail_randomly(operation, Some((RATE, UniqueFault::status(503))));
    }
    let daemon = faulty.daemon_cycle();
    let first = daemon.run(&NoObserver).await;
    assert!(
        first.failed() > 0 || first.result != CycleResult::Success,
        "the injected faults must bite: {first:#?}"
    );
    // Nothing wrongly deleted: every key that should survive and was there
    // before is still there, and nothing outside the expected set appeared
    // (half-registered items excepted: they are finished next cycle).
    let after_first = faulty.snapshot();
    for survivor in [key(ids[0], "A", "A-1"), key(ids[0], "A", "A-2")] {
        assert!(
            after_first.content(&survivor).is_some(),
            "{survivor} was deleted"
        );
    }
    for content in &after_first.contents {
        assert!(
            expected_keys.contains(&content.key) || content.key == key(ids[0], "A", "vanished"),
            "unexpected {}",
            content.key
        );
    }

    for operation in NOT_RETRIED {
        faulty.unique.fail_randomly(operation, None);
    }
    let second = daemon.run(&NoObserver).await;
    assert_eq!(
        second.result,
        CycleResult::Success,
        "first: {first:#?}\nsecond: {second:#?}"
    );
    assert_eq!(
        state(&faulty.snapshot()),
        expected,
        "first: {first:#?}\nsecond: {second:#?}"
    );
    faulty.finish().await;
}
