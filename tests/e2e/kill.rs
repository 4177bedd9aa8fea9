//! The real binary killed with SIGKILL in each phase of an item's write,
//! after Unique acted and before its answer arrived, then a new process:
//! the tenant ends exactly in sync (ADR 0007).

use std::time::{Duration, Instant};

use confluence_connector::sim::{
    confluence::{Flavor, SimPage},
    unique::{Operation, SeedContent, UniqueFault},
};

use crate::support::*;

both_flavors!(
    killed_after_a_registration_committed,
    killed_after_an_upload_landed,
    killed_after_a_finalize_committed,
    killed_after_a_deletion_committed,
);

const V1: &str = "<p>version one</p>";
const V2: &str = "<p>version two</p>";

/// How long Unique holds back the answer the process is killed waiting for.
const HELD: Duration = Duration::from_secs(2);

/// A new page `p1`, a page `p2` whose stored copy is stale, and a stored
/// `gone` whose page no longer exists.
async fn app(flavor: Flavor) -> TestApp {
    let data = dataset(flavor)
        .page(SimPage::new("p1", "SP").labels([SINGLE]).body(V1))
        .page(SimPage::new("p2", "SP").labels([SINGLE]).body(V2));
    let app = spawn_app(flavor, data).await;
    seed_space(&app, "scope-sp", space_id(flavor), "SP");
    for (item, body) in [("p2", V1), ("gone", V1)] {
        app.seed_content(
            SeedContent::new(sp(flavor, item), "scope-sp")
                .updated_at("2026-01-01T00:00:00.000Z")
                .body(body),
        );
    }
    app
}

/// Runs `sync`, kills it once `operation` has been called `calls` times
/// (its last call executed, its answer held back), then runs `sync` in a
/// new process and checks the exact final state and a quiet third run.
async fn kill_then_restart(app: TestApp, operation: Operation, calls: u64) {
    let flavor = app.flavor();
    let mut child = app.spawn_binary(&["sync"]);
    let started = Instant::now();
    while app.unique.counters().calls(operation) < calls {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{operation} was never called {calls} times"
        );
        assert!(
            child.try_wait().expect("child status").is_none(),
            "the binary ended early"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The simulator executes the call as soon as it arrives; the answer is
    // held for `HELD`.
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("the killed binary is reaped");
    app.unique.clear_faults();

    let output = app.run_binary(&["sync"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let snapshot = app.snapshot();
    assert_eq!(
        keys(&snapshot),
        sorted([sp(flavor, "p1"), sp(flavor, "p2")])
    );
    for (item, body) in [("p1", V1), ("p2", V2)] {
        assert_eq!(html(&snapshot, &sp(flavor, item)), body, "{item}");
    }

    app.unique.reset_counters();
    let quiet = app.run_binary(&["sync"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(app.unique.counters().calls(Operation::ContentUpsert), 0);
    assert_eq!(app.unique.counters().calls(Operation::Upload), 0);
    app.finish().await;
}

async fn killed_after_a_registration_committed(flavor: Flavor) {
    let app = app(flavor).await;
    app.unique
        .fail_next(Operation::ContentUpsert, 1, UniqueFault::AnswerAfter(HELD));
    kill_then_restart(app, Operation::ContentUpsert, 1).await;
}

async fn killed_after_an_upload_landed(flavor: Flavor) {
    let app = app(flavor).await;
    app.unique
        .fail_next(Operation::Upload, 1, UniqueFault::AnswerAfter(HELD));
    kill_then_restart(app, Operation::Upload, 1).await;
}

async fn killed_after_a_finalize_committed(flavor: Flavor) {
    let app = app(flavor).await;
    // Two registrations pass; the first finalize is held (the two pages
    // are written concurrently, so it is either page's).
    app.unique
        .fail_next(Operation::ContentUpsert, 2, UniqueFault::Proceed);
    app.unique
        .fail_next(Operation::ContentUpsert, 1, UniqueFault::AnswerAfter(HELD));
    kill_then_restart(app, Operation::ContentUpsert, 3).await;
}

async fn killed_after_a_deletion_committed(flavor: Flavor) {
    let app = app(flavor).await;
    app.unique.fail_next(
        Operation::ContentDeleteByContentIds,
        1,
        UniqueFault::AnswerAfter(HELD),
    );
    kill_then_restart(app, Operation::ContentDeleteByContentIds, 1).await;
}
