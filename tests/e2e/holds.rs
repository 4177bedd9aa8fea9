//! Held bulk deletions (ours, PROTOCOL §9.5): a bulk unlabel completes in
//! exactly two cycles, a listing that ended early deletes nothing,
//! `deletionHold: 0` switches holding off, several vanished spaces wait for
//! confirmation, and the plan shows what would be held.

use std::collections::BTreeMap;

use confluence_connector::{
    app::sync::HELD_DELETIONS_FILE,
    sim::{
        confluence::{Dataset, EarlyEnd, Flavor, SimPage},
        unique::{Operation, SeedContent, UniqueSnapshot},
    },
};
use serde_json::json;

use crate::support::*;

both_flavors!(
    a_bulk_unlabel_completes_in_exactly_two_cycles,
    a_listing_that_ended_early_then_a_healthy_one_deletes_nothing,
    a_listing_that_silently_stops_early_deletes_nothing,
    held_deletions_are_logged_per_space_and_summarised,
    a_zero_deletion_hold_deletes_at_once,
    several_vanished_spaces_are_removed_one_cycle_later,
);

/// Key → (sha256 of the stored bytes, owning scope path): the exact state.
fn state(snapshot: &UniqueSnapshot) -> BTreeMap<String, (String, Option<String>)> {
    snapshot
        .contents
        .iter()
        .map(|content| {
            let sha = content
                .blob
                .as_ref()
                .map(|blob| blob.sha256.clone())
                .unwrap_or_default();
            (content.key.clone(), (sha, content.owner_path.clone()))
        })
        .collect()
}

/// `count` labelled pages `p0…` in the harness space.
fn pages(flavor: Flavor, count: usize) -> Dataset {
    (0..count).fold(dataset(flavor), |data, i| {
        data.page(SimPage::new(format!("p{i}"), "SP").labels([SINGLE]))
    })
}

fn held_file_exists(app: &TestApp) -> bool {
    std::fs::read_dir(app.state_root())
        .map(|dirs| {
            dirs.flatten()
                .any(|dir| dir.path().join(HELD_DELETIONS_FILE).exists())
        })
        .unwrap_or(false)
}

/// 30 pages, 28 lose their label: more than the default 25, so the first
/// cycle holds them (nothing deleted), the second deletes them.
async fn a_bulk_unlabel_completes_in_exactly_two_cycles(flavor: Flavor) {
    let app = spawn_app(flavor, pages(flavor, 30)).await;
    assert_eq!(app.successful_cycle().await.new, 30);
    let full = state(&app.snapshot());
    assert_eq!(full.len(), 30);

    app.confluence.update_dataset(|d| {
        for i in 2..30 {
            d.page_mut(&format!("p{i}")).unwrap().labels.clear();
        }
    });
    // The plan shows the hold before any cycle applies it.
    let plan = app.plan().await;
    assert_eq!(plan.spaces[0].deleted.len(), 28);
    assert_eq!(plan.spaces[0].held, plan.spaces[0].deleted);
    assert_eq!(
        plan.hold_reason.as_deref(),
        Some("28 item(s) would be deleted, more than the 25 a cycle deletes without confirmation")
    );

    let text = app.run_binary(&["plan"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("0 new, 0 updated, 0 to repair, 28 deleted (28 held)"),
        "{text}"
    );
    assert!(text.contains("    held     p2\n"), "{text}");
    assert!(
        text.contains(
            "  deletions would be held until the cycle after confirms them: \
             28 item(s) would be deleted, more than the 25 a cycle deletes without confirmation"
        ),
        "{text}"
    );

    app.unique.reset_counters();
    let first = app.successful_cycle().await;
    assert_eq!((first.deleted, first.held), (0, 28));
    assert_eq!(first.spaces[0].held, 28);
    assert_no_writes(&app, &[Operation::ContentDeleteByContentIds]);
    assert_eq!(state(&app.snapshot()), full, "nothing deleted yet");
    assert!(held_file_exists(&app));

    let output = app.run_binary(&["plan", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let printed: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("plan --json is JSON");
    let plan = &printed[0]["plan"];
    assert_eq!(plan["held_by_last_cycle"], json!(28), "{plan}");
    // Wanted again, so the next cycle would delete them: nothing held.
    assert_eq!(plan["spaces"][0]["held"], json!([]));
    assert_eq!(plan["hold_reason"], json!(null));

    let second = app.successful_cycle().await;
    assert_eq!((second.deleted, second.held), (28, 0));
    let kept: BTreeMap<_, _> = full
        .into_iter()
        .filter(|(key, _)| *key == sp(flavor, "p0") || *key == sp(flavor, "p1"))
        .collect();
    assert_eq!(state(&app.snapshot()), kept);
    assert!(!held_file_exists(&app));
    app.finish().await;
}

/// Discovery stops at an empty result page that still carries `next`
/// after 38 of 40 pages: the two "vanished" pages are held even though two
/// is a small deletion; the next, complete listing wants nothing deleted,
/// so the hold is dropped and the state is exactly the full one.
async fn a_listing_that_ended_early_then_a_healthy_one_deletes_nothing(flavor: Flavor) {
    let app = spawn_app(flavor, pages(flavor, 40)).await;
    app.successful_cycle().await;
    let full = state(&app.snapshot());
    assert_eq!(full.len(), 40);

    app.confluence
        .end_listings_early(Some((38, EarlyEnd::EmptyPageWithNext)));
    app.unique.reset_counters();
    let truncated = app.successful_cycle().await;
    assert_eq!(truncated.discovered_pages, 38);
    assert_eq!((truncated.deleted, truncated.held), (0, 2));
    assert_eq!(
        truncated.hold_reason.as_deref(),
        Some("the Confluence listing ended early, so missing items may still exist")
    );
    assert_no_writes(&app, &Operation::WRITES);
    assert_eq!(state(&app.snapshot()), full);

    app.confluence.end_listings_early(None);
    let healthy = app.successful_cycle().await;
    assert_eq!(healthy.discovered_pages, 40);
    assert_eq!((healthy.deleted, healthy.held), (0, 0));
    assert_no_writes(&app, &Operation::WRITES);
    assert_eq!(state(&app.snapshot()), full);
    assert!(!held_file_exists(&app));
    app.finish().await;
}

/// A listing that just stops after 5 of 40 pages (a lagging index; the
/// connector cannot tell): 35 deletions are more than a cycle deletes
/// without confirmation, so they are held; the next, whole listing wants
/// nothing deleted, and the state is exactly the full one.
async fn a_listing_that_silently_stops_early_deletes_nothing(flavor: Flavor) {
    let app = spawn_app(flavor, pages(flavor, 40)).await;
    app.successful_cycle().await;
    let full = state(&app.snapshot());

    app.confluence
        .end_listings_early(Some((5, EarlyEnd::Silently)));
    app.unique.reset_counters();
    let short = app.successful_cycle().await;
    assert_eq!(short.discovered_pages, 5);
    assert_eq!((short.deleted, short.held), (0, 35));
    assert_eq!(
        short.hold_reason.as_deref(),
        Some("35 item(s) would be deleted, more than the 25 a cycle deletes without confirmation")
    );
    assert_no_writes(&app, &Operation::WRITES);

    app.confluence.end_listings_early(None);
    let whole = app.successful_cycle().await;
    assert_eq!((whole.deleted, whole.held), (0, 0));
    assert_no_writes(&app, &Operation::WRITES);
    assert_eq!(state(&app.snapshot()), full);
    assert!(!held_file_exists(&app));
    app.finish().await;
}

/// The real binary: `sync` prints the hold in its summary, and logs one
/// `warn` line (pino-style JSON on stderr) for the space with held deletions, naming
/// the space, the count and the reason.
async fn held_deletions_are_logged_per_space_and_summarised(flavor: Flavor) {
    let app = spawn_app(flavor, pages(flavor, 30)).await;
    app.successful_cycle().await;
    app.confluence.update_dataset(|d| {
        for i in 1..30 {
            d.page_mut(&format!("p{i}")).unwrap().labels.clear();
        }
    });
    let output = app.run_binary(&["sync"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "held           29 deletion(s) until the next cycle confirms them: \
             29 item(s) would be deleted, more than the 25 a cycle deletes without confirmation"
        ),
        "{stdout}"
    );
    let held_lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["msg"] == "deletions held until the next cycle confirms them")
        .collect();
    assert_eq!(held_lines.len(), 1, "{stderr}");
    let fields = &held_lines[0];
    // Pino levels: 40 is `warn`.
    assert_eq!(fields["level"], 40, "{stderr}");
    assert_eq!(fields["space"], "SP", "{stderr}");
    assert_eq!(fields["held"], 29, "{stderr}");
    assert_eq!(
        fields["reason"],
        "29 item(s) would be deleted, more than the 25 a cycle deletes without confirmation"
    );
    assert_eq!(keys(&app.snapshot()).len(), 30, "nothing deleted");
    app.finish().await;
}

/// `deletionHold: 0`: the same bulk unlabel is deleted by the first cycle.
async fn a_zero_deletion_hold_deletes_at_once(flavor: Flavor) {
    let mut app = spawn_app(flavor, pages(flavor, 30)).await;
    app.configure(json!({"ingestion": {"deletionHold": 0}}));
    app.successful_cycle().await;
    app.confluence.update_dataset(|d| {
        for i in 1..30 {
            d.page_mut(&format!("p{i}")).unwrap().labels.clear();
        }
    });
    let report = app.successful_cycle().await;
    assert_eq!((report.deleted, report.held), (29, 0));
    assert_eq!(keys(&app.snapshot()), [sp(flavor, "p0")]);
    assert!(!held_file_exists(&app));
    app.finish().await;
}

/// Two spaces vanish at once (one item each, a small deletion): removing
/// several space scopes is held; the next cycle removes both.
async fn several_vanished_spaces_are_removed_one_cycle_later(flavor: Flavor) {
    let data = dataset(flavor).page(SimPage::new("keeper", "SP").labels([SINGLE]));
    let app = spawn_app(flavor, data).await;
    seed_space(&app, "scope-sp", space_id(flavor), "SP");
    seed_space(&app, "scope-eng", "81", "ENG");
    seed_space(&app, "scope-hr", "82", "HR");
    app.seed_content(SeedContent::new(sp(flavor, "keeper"), "scope-sp"));
    app.seed_content(SeedContent::new(key("81", "ENG", "e1"), "scope-eng"));
    app.seed_content(SeedContent::new(key("82", "HR", "h1"), "scope-hr"));
    let before = state(&app.snapshot());

    let first = app.successful_cycle().await;
    assert_eq!(first.orphan_scopes_removed, 0);
    assert_eq!(first.held_scopes, ["ENG", "HR"]);
    assert_eq!(first.held, 2);
    assert_eq!(
        first.hold_reason.as_deref(),
        Some("2 space scopes would be removed at once")
    );
    let snapshot = app.snapshot();
    assert_eq!(state(&snapshot), before);
    assert_eq!(scopes(&snapshot).len(), 4, "root, SP, ENG, HR");

    let second = app.successful_cycle().await;
    assert_eq!(
        (
            second.orphan_scopes_removed,
            second.orphan_files_removed,
            second.held
        ),
        (2, 2, 0)
    );
    let snapshot = app.snapshot();
    assert_eq!(keys(&snapshot), [sp(flavor, "keeper")]);
    assert_eq!(
        scopes(&snapshot),
        BTreeMap::from([
            ("/Confluence".to_owned(), Some(root_mark(flavor).to_owned())),
            (
                "/Confluence/SP".to_owned(),
                Some(space_mark(space_id(flavor), "SP"))
            ),
        ])
    );
    app.finish().await;
}
