//! The daemon in-process: schedules, health, metrics, drain.

use std::time::Duration;

use confluence_connector::{
    sim::{
        confluence::{Fault, Route},
        unique::{Operation, SeedContent, SeedScope, UniqueFault},
    },
    telemetry::metrics::names,
};
use serde_json::json;

use super::support::{Setup, TestDaemon, World, assert_consistent, within};

const ACME: (&str, &str) = ("tenant", "acme");

fn cycles(exposition: &super::support::Exposition, result: &str) -> f64 {
    exposition
        .value(
            "cfc_sync_duration_seconds_count",
            &[ACME, ("result", result)],
        )
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seconds_schedule_fires_after_the_start_up_cycle() {
    let daemon = World::new(Setup {
        cron: "* * * * * *".to_owned(),
        ..Setup::default()
    })
    .await
    .start()
    .await;
    // The start-up cycle plus at least two fire times of the schedule.
    let exposition = daemon
        .wait_for_metrics("three successful cycles", |e| cycles(e, "success") >= 3.0)
        .await;
    assert_eq!(cycles(&exposition, "failure"), 0.0, "{}", exposition.text);
    let (_, world) = stop(daemon).await;
    assert_consistent(&world.unique.snapshot());
    // The first cycle ingested everything; later ones found nothing to do.
    assert_eq!(world.unique.snapshot().contents.len(), 4 + 4);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_expose_every_name_with_seeded_and_bounded_series() {
    let world = World::new(Setup {
        with_deleted_tenant: true,
        ..Setup::default()
    })
    .await;
    // Provoke the series that only errors and slow calls create: a slow
    // Unique call (of whichever tenant comes first), a failed (then
    // retried) Unique call, a Confluence 429 and one download that fails
    // for good (400 is not retried).
    world.unique.fail_next(
        Operation::PaginatedScope,
        1,
        UniqueFault::Delay(Duration::from_millis(1_200)),
    );
    world
        .unique
        .fail_next(Operation::User, 1, UniqueFault::status(503));
    world
        .confluence
        .fail_next(Route::Search, 1, Fault::Status(429));
    world
        .confluence
        .fail_next(Route::Download, 1, Fault::Status(400));
    let daemon = world.start().await;
    let exposition = daemon
        .wait_for_metrics("the first cycle and the purge", |e| {
            cycles(e, "success") + cycles(e, "failure") >= 1.0
                && e.sum("cfc_cleanup_duration_seconds_count", &[("tenant", "gone")]) >= 1.0
        })
        .await;
    for name in names::ALL {
        assert!(
            exposition.has_family(name),
            "`{name}` missing from\n{}",
            exposition.text
        );
    }
    // §11.3 types.
    for (name, kind) in [
        (names::SYNC_DURATION, "histogram"),
        (names::PAGES_PROCESSED, "counter"),
        (names::SYNC_PHASE, "gauge"),
        (names::UNIQUE_REQUEST_DURATION, "histogram"),
        (names::CONFLUENCE_THROTTLE_EVENTS, "counter"),
    ] {
        assert_eq!(exposition.types[name], kind, "{name}");
    }
    let text = &exposition.text;
    // Ours: the cycle buckets, not OpenTelemetry's defaults.
    assert!(
        text.contains(
            "cfc_sync_duration_seconds_bucket{result=\"success\",tenant=\"acme\",le=\"1800\"}"
        ),
        "{text}"
    );
    // Seeded at registration, never touched by the cycle.
    assert_eq!(
        exposition.value(
            "cfc_file_diff_events_total",
            &[ACME, ("diff_result_type", "moved")]
        ),
        Some(0.0)
    );
    assert_eq!(
        exposition.value(
            "cfc_cleanup_scopes_deleted_total",
            &[("tenant", "gone"), ("result", "failure")]
        ),
        Some(0.0)
    );
    // What the cycle did.
    assert_eq!(
        exposition.value(
            "cfc_file_diff_events_total",
            &[ACME, ("diff_result_type", "new")]
        ),
        Some(8.0)
    );
    assert_eq!(
        exposition.value("cfc_pages_processed_total", &[ACME, ("result", "success")]),
        Some(4.0)
    );
    assert_eq!(
        exposition.value(
            "cfc_attachments_processed_total",
            &[ACME, ("result", "failure")]
        ),
        Some(1.0),
        "one download answered 400"
    );
    assert_eq!(
        exposition.value(
            "cfc_attachments_processed_total",
            &[ACME, ("result", "success")]
        ),
        Some(3.0)
    );
    assert_eq!(
        exposition.value("cfc_confluence_api_throttle_events_total", &[ACME]),
        Some(1.0),
        "one real 429"
    );
    assert!(
        exposition.sum(
            "cfc_confluence_api_errors_total",
            &[ACME, ("http_status_class", "400")]
        ) == 1.0
    );
    assert_eq!(
        exposition.value(
            "confluence_connector_unique_api_errors_total",
            &[
                ACME,
                ("operation", "graphql:scopeManagement:User"),
                ("status_code_class", "5xx")
            ]
        ),
        Some(1.0)
    );
    assert!(
        exposition.sum(
            "confluence_connector_unique_api_slow_requests_total",
            &[
                ("operation", "graphql:ingestion:PaginatedScope"),
                ("duration_bucket", ">1s")
            ]
        ) >= 1.0
    );
    assert!(
        exposition.sum(
            "confluence_connector_unique_api_requests_total",
            &[
                ACME,
                ("operation", "POST:/ingestion/v2/content/file-diff"),
                ("result", "success")
            ]
        ) >= 1.0
    );
    assert_eq!(
        exposition.value("cfc_sync_phase", &[ACME, ("phase", "idle")]),
        Some(1.0)
    );
    assert_eq!(exposition.sum("cfc_sync_phase", &[ACME]), 1.0);
    assert_eq!(exposition.value("cfc_sync_pages_total", &[ACME]), Some(4.0));
    // Ours: seeded at registration; the start-up cycle held nothing.
    assert_eq!(exposition.value("cfc_deletions_held", &[ACME]), Some(0.0));
    assert_eq!(
        exposition
            .types
            .get("cfc_deletions_held")
            .map(String::as_str),
        Some("gauge")
    );
    assert_eq!(
        exposition.value("cfc_sync_attachments_total", &[ACME]),
        Some(4.0)
    );
    assert_eq!(
        exposition.value("cfc_scan_duration_seconds_count", &[ACME]),
        Some(1.0)
    );
    assert!(
        text.contains("cfc_scan_duration_seconds_bucket{tenant=\"acme\",le=\"0.5\"}"),
        "ours: the scan buckets"
    );
    assert!(exposition.value("process_memory_usage", &[]).unwrap() > 0.0);
    let cpu = exposition.value("process_cpu_utilization", &[]).unwrap();
    assert!((0.0..=1.0).contains(&cpu), "{cpu}");
    // Bounded labels: no page or attachment id, no file name, no cloud id.
    for sample in &exposition.samples {
        for (label, value) in &sample.labels {
            // Page ids are 1000x, attachment ids att2000x.
            assert!(
                label == "le"
                    || !value.contains("1000")
                        && !value.contains("att2")
                        && !value.contains(".pdf")
                        && !value.contains("cloud-1"),
                "unbounded label value in {} {:?}",
                sample.name,
                sample.labels
            );
        }
    }
    assert!(
        exposition.samples.iter().any(|s| s.name
            == "cfc_confluence_api_request_duration_seconds_count"
            && s.labels.get("endpoint").map(String::as_str) == Some("download")),
        "{text}"
    );
    // The purge removed the deleted tenant's space scope.
    assert_eq!(
        exposition.value(
            "cfc_cleanup_scopes_deleted_total",
            &[("tenant", "gone"), ("result", "success")]
        ),
        Some(1.0)
    );
    let (_, world) = stop(daemon).await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_goes_down_with_unique_faults_and_recovers_when_they_stop() {
    let daemon = World::new(Setup {
        cron: "* * * * * *".to_owned(),
        env: vec![("HEALTH_SYNC_HISTORY_SIZE", "2".to_owned())],
        ..Setup::default()
    })
    .await
    .start()
    .await;
    let healthy = daemon
        .wait_for_health("healthy after a successful cycle", |status, body| {
            status == 200 && body["details"]["sync"]["tenants"]["acme"]["total"].as_u64() >= Some(1)
        })
        .await;
    assert_eq!(healthy["status"], "ok");
    assert_eq!(healthy["error"], json!({}));
    assert_eq!(
        healthy["info"]["uniqueApi"]["ingestion"],
        json!([{"tenant": "acme", "status": "reachable"}])
    );
    assert_eq!(
        healthy["info"]["connectivity"]["atlassian"], "reachable",
        "{healthy}"
    );
    let unique = &daemon.world.unique;
    // The health ping is `{ __typename }`; cycles fail at their first call.
    unique.fail_randomly(
        Operation::OtherGraphql,
        Some((1.0, UniqueFault::status(503))),
    );
    unique.fail_randomly(
        Operation::User,
        Some((
            1.0,
            UniqueFault::GraphqlError {
                code: "FORBIDDEN".to_owned(),
                status: 403,
            },
        )),
    );
    let unhealthy = daemon
        .wait_for_health("unhealthy while Unique fails", |status, body| {
            status == 503
                && body["error"]["sync"]["failingTenants"] == json!(["acme"])
                && body["error"]["uniqueApi"].is_object()
        })
        .await;
    assert_eq!(unhealthy["status"], "error");
    assert_eq!(
        unhealthy["error"]["uniqueApi"]["scopeManagement"],
        json!([{"tenant": "acme", "status": "unreachable", "error": "HTTP_503"}])
    );
    assert!(unhealthy["info"]["connectivity"].is_object(), "{unhealthy}");
    unique.clear_faults();
    let recovered = daemon
        .wait_for_health("healthy again", |status, _| status == 200)
        .await;
    assert_eq!(recovered["info"]["sync"]["status"], "up");
    let (_, world) = stop(daemon).await;
    world.stop().await;
}

/// Ours (§9.5): 30 stored items of space SP are gone from Confluence, more
/// than a cycle deletes without confirmation. The start-up cycle holds
/// them: `/health` shows them under the tenant and stays up (information,
/// not a failure), the gauge says 30, and nothing was deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_deletions_show_in_health_and_metrics_without_failing() {
    let world = World::new(Setup::default()).await;
    world.unique.seed_scope(
        SeedScope::new("scope-sp", "SP")
            .parent(super::support::ROOT)
            .external_id("confc:acme:space-1:SP"),
    );
    for i in 0..30 {
        world.unique.seed_content(SeedContent::new(
            format!("acme/space-1_SP/gone-{i}"),
            "scope-sp",
        ));
    }
    let daemon = world.start().await;
    let body = daemon
        .wait_for_health("the start-up cycle recorded", |_, body| {
            body["details"]["sync"]["tenants"]["acme"]["total"].as_u64() >= Some(1)
        })
        .await;
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(
        body["info"]["sync"]["tenants"]["acme"],
        json!({"failures": 0, "total": 1, "heldDeletions": 30})
    );
    let exposition = daemon.scrape().await;
    assert_eq!(exposition.value("cfc_deletions_held", &[ACME]), Some(30.0));
    let gone = daemon
        .world
        .unique
        .snapshot()
        .content_keys()
        .into_iter()
        .filter(|key| key.contains("/gone-"))
        .count();
    assert_eq!(gone, 30, "nothing deleted");
    let (_, world) = stop(daemon).await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_confluence_fails_connectivity_and_only_its_own_tenant() {
    let daemon = World::new(Setup {
        with_unreachable_tenant: true,
        // `down` keeps retrying; the test need not wait for its cycle.
        drain_timeout: Duration::from_millis(500),
        ..Setup::default()
    })
    .await
    .start()
    .await;
    let body = daemon
        .wait_for_health("connectivity down for `down` only", |status, body| {
            status == 503 && body["error"]["connectivity"].is_object()
        })
        .await;
    let entries = &body["error"]["connectivity"]["confluence"];
    assert!(
        entries
            .as_array()
            .unwrap()
            .contains(&json!({"tenant": "down", "status": "unreachable", "error": "ECONNREFUSED"})),
        "{body}"
    );
    assert!(
        entries
            .as_array()
            .unwrap()
            .contains(&json!({"tenant": "acme", "status": "reachable"})),
        "{body}"
    );
    // The other tenant syncs regardless.
    daemon
        .wait_for_metrics("acme's cycle succeeded", |e| cycles(e, "success") >= 1.0)
        .await;
    let (_, world) = stop(daemon).await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_and_scrape_answer_during_a_sync_and_ticks_meanwhile_are_skipped() {
    let world = World::new(Setup {
        cron: "* * * * * *".to_owned(),
        ..Setup::default()
    })
    .await;
    // Every blob PUT takes a while, so the first cycle runs for seconds.
    world.unique.fail_randomly(
        Operation::Upload,
        Some((1.0, UniqueFault::Delay(Duration::from_millis(700)))),
    );
    let daemon = world.start().await;
    let during = daemon
        .wait_for_metrics("a cycle in its ingestion phase", |e| {
            e.value("cfc_sync_phase", &[ACME, ("phase", "ingesting_pages")]) == Some(1.0)
                || e.value(
                    "cfc_sync_phase",
                    &[ACME, ("phase", "ingesting_attachments")],
                ) == Some(1.0)
        })
        .await;
    assert_eq!(cycles(&during, "success"), 0.0, "still the first cycle");
    let (status, body) = daemon.get(daemon.http, "/probe").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!({"version": env!("CARGO_PKG_VERSION")})
    );
    let (status, _) = daemon.get(daemon.http, "/health").await;
    assert_eq!(status, 200, "no record yet and Unique reachable");
    // The schedule fires every second while the cycle runs: skipped, counted.
    let exposition = daemon
        .wait_for_metrics("a skipped tick", |e| {
            e.value("cfc_sync_skipped_total", &[ACME])
                .is_some_and(|n| n >= 1.0)
        })
        .await;
    assert!(exposition.text.contains("cfc_sync_phase"));
    let (_, world) = stop(daemon).await;
    world.stop().await;
}

/// Waits until acme's cycle is ingesting and has registered an item.
async fn wait_for_an_item_in_flight(daemon: &mut TestDaemon) {
    daemon
        .wait_for_metrics("an item of the cycle in flight", |e| {
            e.value("cfc_sync_phase", &[ACME, ("phase", "idle")]) == Some(0.0)
                && e.sum(
                    "confluence_connector_unique_api_requests_total",
                    &[ACME, ("operation", "graphql:ingestion:ContentUpsert")],
                ) >= 1.0
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_in_the_middle_of_a_cycle_finishes_the_items_in_flight_and_leaves_nothing_half_registered()
 {
    let world = World::new(Setup::default()).await;
    world.unique.fail_randomly(
        Operation::Upload,
        Some((1.0, UniqueFault::Delay(Duration::from_millis(400)))),
    );
    let mut daemon = world.start().await;
    wait_for_an_item_in_flight(&mut daemon).await;
    let registered_before = daemon.world.unique.snapshot().contents.len();
    assert!(registered_before < 8, "the cycle is still running");
    let report = within("the drain", daemon.shutdown()).await;
    assert!(report.abandoned.is_empty(), "{report:?}");
    let snapshot = daemon.world.unique.snapshot();
    assert_consistent(&snapshot);
    // The items in flight finished; no new item was started after the
    // signal (the rest comes back in the next cycle's diff).
    assert!(
        snapshot.contents.len() >= registered_before && snapshot.contents.len() < 8,
        "{} items stored, {registered_before} registered at the signal",
        snapshot.contents.len()
    );
    // The servers are gone.
    assert!(
        daemon
            .client
            .get(format!("http://{}/probe", daemon.http))
            .send()
            .await
            .is_err()
    );
    let (world, _) = daemon.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_longer_than_the_drain_is_abandoned_and_reported() {
    let world = World::new(Setup {
        drain_timeout: Duration::from_millis(200),
        ..Setup::default()
    })
    .await;
    world.unique.fail_randomly(
        Operation::Upload,
        Some((1.0, UniqueFault::Delay(Duration::from_secs(5)))),
    );
    let mut daemon = world.start().await;
    // An item must be in flight (its upload takes 5 s): a cycle that has
    // not started an item yet stops at once at shutdown instead.
    wait_for_an_item_in_flight(&mut daemon).await;
    let report = within("the drain", daemon.shutdown()).await;
    assert_eq!(report.abandoned, ["acme"]);
    let (world, _) = daemon.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_answer_404_json_and_cors_reflects_the_origin() {
    let daemon = World::new(Setup::default()).await.start().await;
    let response = daemon
        .client
        .get(format!("http://{}/nope", daemon.http))
        .header("origin", "https://grafana.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://grafana.example"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["statusCode"], 404);
    let (status, _) = daemon.get(daemon.metrics, "/other").await;
    assert_eq!(status, 404);
    let (_, world) = stop(daemon).await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_fails_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let world = World::new(Setup {
        env: vec![("PORT", taken.local_addr().unwrap().port().to_string())],
        ..Setup::default()
    })
    .await;
    let env = world.env();
    let loaded = confluence_connector::config::load(|n| env.get(n).cloned(), &Default::default())
        .map_err(|_| "config")
        .unwrap();
    let options = confluence_connector::app::serve::ServeOptions::from_config(
        &loaded.process,
        Some("127.0.0.1"),
    )
    .unwrap();
    let err = confluence_connector::app::serve::Daemon::start(loaded, options)
        .await
        .expect_err("the port is taken");
    assert!(err.to_string().contains("PORT"), "{err}");
    world.stop().await;
}

async fn stop(
    daemon: TestDaemon,
) -> (
    Option<confluence_connector::app::serve::ShutdownReport>,
    World,
) {
    let (world, report) = daemon.stop().await;
    (report, world)
}

/// `/probe` is served from its own thread: it answers even while every
/// worker of the runtime that runs the cycles is blocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_answers_while_every_sync_worker_is_blocked() {
    use std::{
        io::{Read, Write},
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
            mpsc,
        },
    };

    let daemon = World::new(Setup::default()).await.start().await;
    let started = Arc::new(AtomicUsize::new(0));
    let mut releases = Vec::new();
    let mut blockers = Vec::new();
    for _ in 0..2 {
        let (release, released) = mpsc::channel::<()>();
        releases.push(release);
        let started = Arc::clone(&started);
        blockers.push(tokio::spawn(async move {
            started.fetch_add(1, Ordering::SeqCst);
            // Deliberately blocks the worker thread until the test says so.
            let _ = released.recv();
        }));
    }
    let addr = daemon.http;
    let answer = tokio::task::block_in_place(|| {
        let deadline = std::time::Instant::now() + super::support::DEADLINE;
        while started.load(Ordering::SeqCst) < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "blockers did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(super::support::DEADLINE))
            .unwrap();
        stream
            .write_all(b"GET /probe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        let read = stream.read_to_string(&mut answer);
        for release in &releases {
            let _ = release.send(());
        }
        read.map(|_| answer)
    });
    for blocker in blockers {
        blocker.await.unwrap();
    }
    let answer = answer.expect("/probe answered while the workers were blocked");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"version\""), "{answer}");
    let (_, world) = stop(daemon).await;
    world.stop().await;
}

/// Ours: a cycle running longer than `SYNC_CYCLE_STUCK_AFTER_SECONDS` makes
/// the tenant down in `/health` and raises `cfc_sync_cycle_stuck` while it
/// runs; when it ends (successfully) both recover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_running_past_the_stuck_bound_is_unhealthy_until_it_ends() {
    let world = World::new(Setup {
        env: vec![("SYNC_CYCLE_STUCK_AFTER_SECONDS", "1".to_owned())],
        ..Setup::default()
    })
    .await;
    // Every blob PUT takes a while, so the cycle runs for several seconds.
    world.unique.fail_randomly(
        Operation::Upload,
        Some((1.0, UniqueFault::Delay(Duration::from_millis(700)))),
    );
    let daemon = world.start().await;
    let stuck = daemon
        .wait_for_health("the running cycle reported stuck", |status, body| {
            status == 503 && body["error"]["sync"]["stuckTenants"] == json!(["acme"])
        })
        .await;
    assert_eq!(stuck["error"]["sync"]["stuckAfterSeconds"], json!(1));
    assert_eq!(
        stuck["error"]["sync"]["tenants"]["acme"]["stuck"],
        json!(true)
    );
    let during = daemon
        .wait_for_metrics("the stuck gauge raised", |e| {
            e.value(names::SYNC_CYCLE_STUCK, &[ACME]) == Some(1.0)
        })
        .await;
    assert_eq!(cycles(&during, "success"), 0.0, "still the first cycle");
    let after = daemon
        .wait_for_metrics("the cycle finished", |e| cycles(e, "success") >= 1.0)
        .await;
    assert_eq!(after.value(names::SYNC_CYCLE_STUCK, &[ACME]), Some(0.0));
    let healthy = daemon
        .wait_for_health("the tenant healthy again", |status, _| status == 200)
        .await;
    assert!(healthy["info"]["sync"].get("stuckTenants").is_none());
    let (_, world) = stop(daemon).await;
    world.stop().await;
}

/// Ours (§9.8): a cycle in which every attempted write failed (here every
/// blob PUT answers 404, as a misrouted upload path does) is recorded as a
/// failure in the health window, so `/health` reports the tenant failing
/// instead of green cycles over an empty knowledge base.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_whose_every_write_failed_counts_as_failed_in_health() {
    let world = World::new(Setup::default()).await;
    world
        .unique
        .fail_randomly(Operation::Upload, Some((1.0, UniqueFault::status(404))));
    let daemon = world.start().await;
    let body = daemon
        .wait_for_health("the failed cycle in the window", |status, body| {
            status == 503 && body["error"]["sync"]["failingTenants"] == json!(["acme"])
        })
        .await;
    assert_eq!(
        body["error"]["sync"]["tenants"]["acme"],
        json!({"failures": 1, "total": 1})
    );
    let exposition = daemon.scrape().await;
    assert_eq!(cycles(&exposition, "failure"), 1.0);
    assert_eq!(cycles(&exposition, "success"), 0.0);
    let (_, world) = stop(daemon).await;
    assert!(world.unique.snapshot().contents.is_empty());
    world.stop().await;
}
