//! The real binary: exit codes of §2.4 and SIGTERM in the middle of a cycle.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use confluence_connector::sim::unique::{Operation, UniqueFault};

use super::support::{
    CLIENT_SECRET, DEADLINE, PAT, Setup, World, assert_consistent, parse_exposition,
};

const BINARY: &str = env!("CARGO_BIN_EXE_confluence-connector");

/// The binary with exactly `world`'s environment.
fn spawn(world: &World) -> Child {
    Command::new(BINARY)
        .env_clear()
        .envs(world.env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

/// Collects stderr lines on a thread; yields them through the channel.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("piped stderr");
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

/// Waits for the process to exit, without blocking the runtime.
async fn exit_code(child: &mut Child) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("the daemon did not exit");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_cycle_drains_and_exits_0_with_a_consistent_knowledge_base() {
    let world = World::new(Setup::default()).await;
    world.unique.fail_randomly(
        Operation::Upload,
        Some((1.0, UniqueFault::Delay(Duration::from_millis(400)))),
    );
    let mut child = spawn(&world);
    let log = lines(&mut child);
    // The "serving" line names the bound addresses (ports were 0).
    let started = Instant::now();
    let mut seen = Vec::new();
    let serving = loop {
        match log.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let parsed: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| panic!("a log line is not JSON: {line}"));
                if parsed["msg"] == "serving" {
                    break parsed;
                }
                seen.push(line);
            }
            Err(_) => assert!(
                started.elapsed() < DEADLINE && child.try_wait().unwrap().is_none(),
                "no `serving` line; stderr so far:\n{}",
                seen.join("\n")
            ),
        }
    };
    // pino-compatible fields (§11.4, §14.8).
    assert_eq!(serving["level"], 30);
    assert!(serving["time"].as_u64().is_some(), "{serving}");
    assert!(serving["pid"].as_u64().is_some(), "{serving}");
    let metrics = serving["metrics"]
        .as_str()
        .expect("metrics address")
        .to_owned();
    let client = confluence_connector::adapters::http::transport::HttpClients::loopback().direct;
    // Wait until the start-up cycle is ingesting.
    let started = Instant::now();
    loop {
        let text = client
            .get(format!("http://{metrics}/metrics"))
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .unwrap();
        let exposition = parse_exposition(&text).expect("parses");
        if exposition.value("cfc_sync_phase", &[("tenant", "acme"), ("phase", "idle")]) == Some(0.0)
            && exposition.sum(
                "confluence_connector_unique_api_requests_total",
                &[
                    ("tenant", "acme"),
                    ("operation", "graphql:ingestion:ContentUpsert"),
                ],
            ) >= 1.0
        {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the cycle never started ingesting:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(world.unique.snapshot().contents.len() < 8, "mid-cycle");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    assert_eq!(exit_code(&mut child).await, Some(0));
    let snapshot = world.unique.snapshot();
    assert_consistent(&snapshot);
    assert!(
        !snapshot.contents.is_empty() && snapshot.contents.len() < 8,
        "the items in flight were finished, no new one started: {}",
        snapshot.contents.len()
    );
    // Log lines of the cycle carry the tenant and the cycle id.
    // The process has exited, so the reader thread ends at EOF: `iter`
    // returns every remaining line.
    let rest: Vec<serde_json::Value> = log
        .iter()
        .chain(seen)
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect();
    assert!(
        rest.iter().any(|l| l["tenantName"] == "acme"
            && l["cycle_id"].is_string()
            && l["phase"].is_string()),
        "no cycle log line with tenantName, cycle_id and phase"
    );
    assert!(
        rest.iter().any(|l| l["tenantName"] == "acme"
            && l["space"].is_string()
            && l["cycle_id"].is_string()),
        "no log line of a space (tenantName, cycle_id and space)"
    );
    for line in &rest {
        let text = line.to_string();
        assert!(
            !text.contains(CLIENT_SECRET) && !text.contains(PAT),
            "a secret reached the log: {text}"
        );
    }
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_error_exits_2_and_a_taken_port_exits_1() {
    let world = World::new(Setup::default()).await;
    let mut env = world.env();
    env.insert("CONFLUENCE_CLIENT_SECRET".into(), String::new());
    env.remove("CONFLUENCE_CLIENT_SECRET");
    let output = Command::new(BINARY)
        .env_clear()
        .envs(&env)
        .arg("serve")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("CONFLUENCE_CLIENT_SECRET"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut env = world.env();
    env.insert(
        "PORT".into(),
        taken.local_addr().unwrap().port().to_string(),
    );
    let output = Command::new(BINARY)
        .env_clear()
        .envs(&env)
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    world.stop().await;
}
