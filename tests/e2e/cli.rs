//! The `sync` and `plan` subcommands of the real binary (PROTOCOL §2.4):
//! summaries, exit codes, and a plan that writes nothing.

use confluence_connector::sim::{
    confluence::{Flavor, SimPage},
    unique::{Operation, SeedContent},
};
use serde_json::json;

use crate::support::*;

/// `sync --help` of the real binary documents every exit status.
#[test]
fn sync_help_lists_the_exit_statuses() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_confluence-connector"))
        .args(["sync", "--help"])
        .env_clear()
        .output()
        .expect("the binary runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{help}");
    for line in [
        "0  every discovered item is in sync",
        "1  a tenant's cycle failed (including a cycle in which every attempted write failed)",
        "2  configuration error",
        "3  the cycles completed but some items failed; the summary names them",
    ] {
        assert!(help.contains(line), "{line:?} missing from:\n{help}");
    }
}

both_flavors!(
    sync_prints_a_summary_and_exits_0,
    a_failed_cycle_exits_1,
    plan_reports_without_writing,
);

/// `sync` runs one cycle and prints the per-tenant summary.
async fn sync_prints_a_summary_and_exits_0(flavor: Flavor) {
    let data = dataset(flavor)
        .page(SimPage::new("p1", "SP").labels([SINGLE]))
        .page(
            SimPage::new("db", "SP")
                .labels([SINGLE])
                .content_type("database"),
        );
    let app = spawn_app(flavor, data).await;
    let output = app.run_binary(&["sync"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("tenant tenant1: success"), "{stdout}");
    assert!(
        stdout.contains("discovered     1 pages, 0 attachments"),
        "{stdout}"
    );
    assert!(
        stdout.contains("diff           1 new, 0 updated, 0 moved"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ingested       1 pages, 0 attachments"),
        "{stdout}"
    );
    assert!(stdout.contains("skipped        content_type 1"), "{stdout}");
    assert_eq!(keys(&app.snapshot()), [sp(flavor, "p1")]);
    app.finish().await;
}

/// A failed cycle (foreign root) exits 1; an unknown `--tenant` exits 2.
async fn a_failed_cycle_exits_1(flavor: Flavor) {
    let app = spawn_app(
        flavor,
        dataset(flavor).page(SimPage::new("p1", "SP").labels([SINGLE])),
    )
    .await;
    app.unique
        .set_external_id(ROOT, Some("confc:cloud:someone-else"));
    let output = app.run_binary(&["sync", "--tenant", "tenant1"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("tenant tenant1: failure: Root scope ownership mismatch"),
        "{stdout}"
    );

    let unknown = app.run_binary(&["sync", "--tenant", "nobody"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown tenant `nobody`"));
    app.finish().await;
}

/// `plan` lists new, updated and deleted keys and orphan scopes, and the
/// simulator's counters prove it called no Unique mutation and no upload.
async fn plan_reports_without_writing(flavor: Flavor) {
    let data = dataset(flavor)
        .page(SimPage::new("new-page", "SP").labels([SINGLE]))
        .page(SimPage::new("stale-page", "SP").labels([SINGLE]));
    let app = spawn_app(flavor, data).await;
    seed_space(&app, "scope-sp", space_id(flavor), "SP");
    seed_space(&app, "scope-old", "9", "OLD");
    app.seed_content(
        SeedContent::new(sp(flavor, "stale-page"), "scope-sp")
            .updated_at("2026-01-01T00:00:00.000Z"),
    );
    app.seed_content(SeedContent::new(sp(flavor, "gone-page"), "scope-sp"));
    let before = app.snapshot();

    let plan = app.plan().await;
    assert_eq!(plan.ownership, "would_claim");
    assert!(!plan.would_abort);
    assert_eq!(plan.spaces.len(), 1);
    assert_eq!(plan.spaces[0].new, ["new-page"]);
    assert_eq!(plan.spaces[0].updated, ["stale-page"]);
    assert_eq!(plan.spaces[0].deleted, ["gone-page"]);
    assert_eq!(plan.orphan_scopes, ["OLD"]);

    let output = app.run_binary(&["plan", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let printed: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("plan --json is JSON");
    assert_eq!(printed[0]["tenant"], json!("tenant1"));
    assert_eq!(
        printed[0]["plan"]["spaces"][0]["deleted"],
        json!(["gone-page"])
    );

    let counters = app.unique.counters();
    assert_eq!(
        counters.mutations, 0,
        "plan executed a mutation: {counters:?}"
    );
    assert_no_writes(&app, &[Operation::CreateScopeAccesses]);
    assert_no_writes(&app, &Operation::WRITES);
    assert_eq!(app.snapshot(), before);
    app.finish().await;
}
