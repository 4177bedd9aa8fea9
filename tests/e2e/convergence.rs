//! Property: for a random workload (new, stale, current and vanished
//! pages, some with an attachment) and a random schedule of faults on
//! Unique's writes and lookups (lost answers after the server acted, 5xx)
//! and on Confluence's searches and downloads (5xx beyond the retries),
//! one faulty cycle then two fault-free cycles end in exactly the expected
//! state, and no cycle ever deletes an item that Confluence still has and
//! Unique held complete.

use std::collections::BTreeMap;

use confluence_connector::sim::{
    confluence::{Fault, Flavor, Route, SimAttachment, SimPage},
    unique::{Operation, SeedContent, UniqueFault},
};
use proptest::prelude::*;

use crate::support::*;

/// What one page of the workload is, on each side.
#[derive(Debug, Clone, Copy)]
enum Page {
    /// In Confluence only.
    New { attachment: bool },
    /// In both; Unique's copy is older.
    Stale { attachment: bool },
    /// In both, up to date.
    Current,
    /// In Unique only (deleted in Confluence).
    Vanished,
}

fn page() -> impl Strategy<Value = Page> {
    prop_oneof![
        any::<bool>().prop_map(|attachment| Page::New { attachment }),
        any::<bool>().prop_map(|attachment| Page::Stale { attachment }),
        Just(Page::Current),
        Just(Page::Vanished),
    ]
}

fn fault() -> impl Strategy<Value = UniqueFault> {
    prop_oneof![
        Just(UniqueFault::Proceed),
        Just(UniqueFault::AnswerLost),
        Just(UniqueFault::status(500)),
        Just(UniqueFault::status(502)),
    ]
}

const FAULTED: [Operation; 6] = [
    Operation::ContentUpsert,
    Operation::Upload,
    Operation::ContentDeleteByContentIds,
    Operation::PaginatedContent,
    Operation::FileDiff,
    Operation::GenerateScopesBasedOnPaths,
];

fn schedule() -> impl Strategy<Value = Vec<Vec<UniqueFault>>> {
    proptest::collection::vec(proptest::collection::vec(fault(), 0..5), FAULTED.len())
}

/// How many 5xx answers Confluence's searches and downloads get; more than
/// the retries absorb (5) fails that request for good.
fn confluence_schedule() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..9usize, 2)
}

fn body(id: &str) -> String {
    format!("<p>{id}, the newest version</p>")
}

fn attachment(id: &str) -> SimAttachment {
    SimAttachment::new(format!("{id}-att"), "notes.txt", "text/plain", 700)
        .with_seed(id.len() as u64)
}

/// Sets up both sides; returns the expected final state (key → sha256) and
/// the keys Unique holds complete that must never be deleted.
async fn workload(
    flavor: Flavor,
    pages: &[Page],
) -> (TestApp, BTreeMap<String, String>, Vec<String>) {
    let mut data = dataset(flavor);
    let mut expected = BTreeMap::new();
    let mut seeds = Vec::new();
    for (index, page) in pages.iter().enumerate() {
        let id = format!("p{index}");
        let in_confluence = !matches!(page, Page::Vanished);
        if in_confluence {
            let mut sim_page = SimPage::new(&id, "SP").labels([SINGLE]).body(body(&id));
            if let Page::New { attachment: true } | Page::Stale { attachment: true } = page {
                let att = attachment(&id);
                expected.insert(
                    sp(flavor, &format!("{id}::{}", att.id)),
                    attachment_sha256(&att),
                );
                sim_page = sim_page.attachment(att);
            }
            data = data.page(sim_page);
            expected.insert(sp(flavor, &id), sha256(body(&id).as_bytes()));
        }
        match page {
            Page::New { .. } => {}
            Page::Stale { .. } => {
                seeds.push((id, "2026-01-01T00:00:00.000Z", "<p>old</p>".to_owned()))
            }
            Page::Current => seeds.push((id.clone(), "2026-05-01T10:00:00.000Z", body(&id))),
            Page::Vanished => {
                seeds.push((id, "2026-01-01T00:00:00.000Z", "<p>gone</p>".to_owned()))
            }
        }
    }
    let app = spawn_app(flavor, data).await;
    seed_space(&app, "scope-sp", space_id(flavor), "SP");
    let mut protected = Vec::new();
    for (id, updated_at, stored_body) in seeds {
        let key = sp(flavor, &id);
        if expected.contains_key(&key) {
            protected.push(key.clone());
        }
        app.seed_content(
            SeedContent::new(key, "scope-sp")
                .updated_at(updated_at)
                .body(stored_body),
        );
    }
    (app, expected, protected)
}

fn assert_nothing_wrongly_deleted(app: &TestApp, protected: &[String], when: &str) {
    let snapshot = app.snapshot();
    for key in protected {
        assert!(snapshot.content(key).is_some(), "{key} was deleted {when}");
    }
}

async fn faulty_cycle_then_two_clean_ones(
    flavor: Flavor,
    pages: Vec<Page>,
    schedule: Vec<Vec<UniqueFault>>,
    confluence: Vec<usize>,
) {
    let (app, expected, protected) = workload(flavor, &pages).await;
    for (route, count) in [Route::Search, Route::Download].into_iter().zip(confluence) {
        app.confluence.fail_next(route, count, Fault::Status(503));
    }
    for (operation, faults) in FAULTED.iter().zip(schedule) {
        for fault in faults {
            app.unique.fail_next(*operation, 1, fault);
        }
    }
    // The faulty cycle may fail as a whole (a file-diff that keeps failing).
    app.cycle().await;
    assert_nothing_wrongly_deleted(&app, &protected, "by the faulty cycle");
    app.unique.clear_faults();
    app.confluence.clear_faults();
    for when in ["by the first clean cycle", "by the second clean cycle"] {
        app.successful_cycle().await;
        assert_nothing_wrongly_deleted(&app, &protected, when);
    }

    let snapshot = app.snapshot();
    let held: BTreeMap<String, String> = snapshot
        .contents
        .iter()
        .map(|content| {
            assert!(content.finalized, "{} is finalized", content.key);
            let sha = content
                .blob
                .as_ref()
                .map(|b| b.sha256.clone())
                .unwrap_or_default();
            (content.key.clone(), sha)
        })
        .collect();
    assert_eq!(held, expected, "faults {:?}", app.unique.counters());
    // Every write completed and was confirmed: nothing left to repair.
    app.successful_cycle().await;
    assert_eq!(app.repair_journal(), "");
    app.finish().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_faults_then_two_clean_cycles_converge_exactly(
        cloud in any::<bool>(),
        // A space with nothing left in Confluence is an empty discovery,
        // which never deletes (an outage looks the same).
        pages in proptest::collection::vec(page(), 1..7)
            .prop_filter("something left in Confluence", |pages| {
                pages.iter().any(|page| !matches!(page, Page::Vanished))
            }),
        schedule in schedule(),
        confluence in confluence_schedule(),
    ) {
        let flavor = if cloud { Flavor::Cloud } else { Flavor::DataCenter };
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(faulty_cycle_then_two_clean_ones(flavor, pages, schedule, confluence));
    }
}
