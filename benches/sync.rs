//! Benchmarks with the connector in its own process (`confluence-connector
//! sync`) against the simulators in another (`confluence-connector
//! simulate`). Each scenario runs several times on a fresh simulator and
//! prints the median; nothing here asserts a timing.
//!
//! `cargo bench --bench sync` runs all scenarios; `cargo bench --bench sync
//! -- initial` (or `steady`, `large`, `rate`) runs the named ones. `RUNS=5`
//! changes the number of runs (default 3).
//!
//! Figures per scenario: wall time of the `sync` process, its peak RSS
//! (`VmHWM` of /proc, polled), Confluence API requests per ingested page
//! (downloads excluded), Unique API calls per item, and Unique writes.

use std::{
    io::{BufRead, BufReader},
    process::{Child, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

use confluence_connector::sim::unique::Operation;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_confluence-connector");

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let wanted =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    println!("machine: {}", machine());
    if wanted("initial") || wanted("steady") {
        initial_and_steady(runs);
    }
    if wanted("large") {
        large_attachment(runs);
    }
    if wanted("rate") {
        rate_limited(runs);
    }
}

/// 20,000 pages (10 spaces × 2,000) and 2,000 attachments, then a second
/// cycle with nothing changed.
fn initial_and_steady(runs: usize) {
    let spec = json!({"spaces": 10, "pages": 2000, "attachments": 200, "seed": 1});
    let mut initial = Vec::new();
    let mut steady = Vec::new();
    let mut expected = (0, 0);
    for _ in 0..runs {
        let mut sim = Simulator::start(&spec, |_| {});
        expected = sim.expected;
        let first = sim.sync();
        let after_first = sim.counters();
        let second = sim.sync();
        let after_second = sim.counters();
        initial.push(Measured::new(&first, &Counters::default(), &after_first));
        steady.push(Measured::new(&second, &after_first, &after_second));
        sim.stop();
    }
    report("initial sync, 20,000 pages + 2,000 attachments", &initial);
    println!(
        "  the workload expects      {} pages, {} attachments",
        expected.0, expected.1
    );
    report("steady-state cycle (nothing changed)", &steady);
}

/// One 1 GiB attachment streamed from Confluence to Unique.
fn large_attachment(runs: usize) {
    let spec =
        json!({"spaces": 1, "pages": 1, "attachments": 0, "seed": 1, "big_attachment_mb": 1024});
    let mut measured = Vec::new();
    for _ in 0..runs {
        let mut sim = Simulator::start(&spec, |tenant| {
            tenant["ingestion"]["attachments"]["maxFileSizeMb"] = json!(2048);
        });
        let run = sim.sync();
        let counters = sim.counters();
        measured.push(Measured::new(&run, &Counters::default(), &counters));
        sim.stop();
    }
    report("one 1 GiB attachment", &measured);
}

/// `apiRateLimitPerMinute: 600` with 2,000 pages and 1,000 attachments:
/// the wall time against the lower bound the limiter allows. governor's
/// GCRA lets a whole minute's budget through at once, then one request per
/// 100 ms, so the bound is `(requests − 600) / 10 per s`.
fn rate_limited(runs: usize) {
    let spec = json!({"spaces": 1, "pages": 2000, "attachments": 1000, "seed": 2});
    let mut measured = Vec::new();
    let mut bounds = Vec::new();
    for _ in 0..runs {
        let mut sim = Simulator::start(&spec, |tenant| {
            tenant["confluence"]["apiRateLimitPerMinute"] = json!(600);
        });
        let run = sim.sync();
        let counters = sim.counters();
        let requests = counters.confluence_api + counters.tokens;
        bounds.push(requests.saturating_sub(600) as f64 / 10.0);
        measured.push(Measured::new(&run, &Counters::default(), &counters));
        sim.stop();
    }
    report(
        "rate-limited, 600/min, 2,000 pages + 1,000 attachments",
        &measured,
    );
    println!(
        "  lower bound from the limiter: {:.1} s (median); wall / bound = {:.2}",
        median(&bounds),
        median(&measured.iter().map(|m| m.wall).collect::<Vec<_>>())
            / median(&bounds).max(f64::EPSILON)
    );
}

/// A `simulate` process and the tenant directory pointing at it.
struct Simulator {
    child: Child,
    stdout: BufReader<ChildStdout>,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    expected: (u64, u64),
}

impl Simulator {
    fn start(spec: &Value, patch: impl FnOnce(&mut Value)) -> Simulator {
        let dir = tempfile::tempdir().expect("temporary directory");
        let dataset = dir.path().join("dataset.json");
        std::fs::write(&dataset, spec.to_string()).expect("dataset written");
        let tenant = dir.path().join("bench-tenant-config.yaml");
        let mut child = Command::new(BIN)
            .args([
                "simulate",
                "--confluence-port",
                "0",
                "--unique-port",
                "0",
                "--dataset",
            ])
            .arg(&dataset)
            .arg("--tenant-file")
            .arg(&tenant)
            .stdout(Stdio::piped())
            .spawn()
            .expect("simulate starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let started = read_json_line(&mut stdout);
        let mut file: Value =
            serde_yaml::from_str(&std::fs::read_to_string(&tenant).expect("tenant file"))
                .expect("YAML");
        patch(&mut file);
        std::fs::write(&tenant, serde_yaml::to_string(&file).expect("YAML")).expect("tenant file");
        let mut env: Vec<(String, String)> = started["env"]
            .as_array()
            .expect("env list")
            .iter()
            .filter_map(|pair| {
                pair.as_str()?
                    .split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect();
        env.push((
            "TENANT_CONFIG_PATH_PATTERN".into(),
            format!("{}/*-tenant-config.yaml", dir.path().display()),
        ));
        env.push(("OTEL_METRICS_EXPORTER".into(), "none".into()));
        // The repair journal of each run stays with the run's simulator.
        env.push((
            "CONFLUENCE_CONNECTOR_STATE_DIR".into(),
            dir.path().join("state").display().to_string(),
        ));
        env.push(("LOG_LEVEL".into(), "error".into()));
        let expected = (
            started["expected"]["pages"].as_u64().expect("pages"),
            started["expected"]["attachments"]
                .as_u64()
                .expect("attachments"),
        );
        Simulator {
            child,
            stdout,
            dir,
            env,
            expected,
        }
    }

    /// Runs `confluence-connector sync` to completion.
    fn sync(&self) -> Run {
        let started = Instant::now();
        let mut child = Command::new(BIN)
            .arg("sync")
            .env_clear()
            .envs(self.env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sync starts");
        let mut peak_kib = 0;
        let status = loop {
            if let Some(kib) = vm_hwm_kib(child.id()) {
                peak_kib = peak_kib.max(kib);
            }
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let wall = started.elapsed().as_secs_f64();
        let mut summary = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().expect("piped"), &mut summary)
            .expect("summary");
        assert!(status.success(), "sync failed: {summary}");
        Run {
            wall,
            peak_kib,
            summary,
        }
    }

    /// Asks the simulator for its counters (SIGUSR1).
    fn counters(&mut self) -> Counters {
        signal(self.child.id(), "USR1");
        Counters::from(&read_json_line(&mut self.stdout))
    }

    fn stop(mut self) {
        signal(self.child.id(), "TERM");
        let _ = self.child.wait();
        drop(self.dir);
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}

fn read_json_line(reader: &mut BufReader<ChildStdout>) -> Value {
    let mut line = String::new();
    reader.read_line(&mut line).expect("simulate prints a line");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// Peak resident set size of a live process, in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

struct Run {
    wall: f64,
    peak_kib: u64,
    summary: String,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    confluence_api: u64,
    downloads: u64,
    tokens: u64,
    unique_calls: u64,
    unique_writes: u64,
}

impl From<&Value> for Counters {
    fn from(line: &Value) -> Self {
        let c = &line["counters"]["confluence"];
        let u = &line["counters"]["unique"];
        let calls = |name: &str| u["calls"][name].as_u64().unwrap_or(0);
        Counters {
            confluence_api: c["api_requests"].as_u64().unwrap_or(0),
            downloads: c["by_route"]["download"].as_u64().unwrap_or(0),
            tokens: c["tokens_issued"].as_u64().unwrap_or(0),
            unique_calls: u["graphql_calls"].as_u64().unwrap_or(0) + calls("FileDiff"),
            // `simulate` names operations as `Operation` displays them.
            unique_writes: Operation::WRITES
                .iter()
                .map(|operation| calls(&operation.to_string()))
                .sum(),
        }
    }
}

/// One run's figures, from the counters' difference over the run.
struct Measured {
    wall: f64,
    peak_mib: f64,
    pages: u64,
    attachments: u64,
    confluence_per_page: f64,
    confluence_requests: u64,
    unique_per_item: f64,
    unique_writes: u64,
}

impl Measured {
    fn new(run: &Run, before: &Counters, after: &Counters) -> Self {
        let ingested_pages = ingested(&run.summary, "pages");
        let ingested_attachments = ingested(&run.summary, "attachments");
        let confluence =
            (after.confluence_api - before.confluence_api) - (after.downloads - before.downloads);
        let unique = after.unique_calls - before.unique_calls;
        let items = ingested_pages + ingested_attachments;
        Measured {
            wall: run.wall,
            peak_mib: run.peak_kib as f64 / 1024.0,
            pages: ingested_pages,
            attachments: ingested_attachments,
            confluence_per_page: confluence as f64 / ingested_pages.max(1) as f64,
            confluence_requests: confluence,
            unique_per_item: unique as f64 / items.max(1) as f64,
            unique_writes: after.unique_writes - before.unique_writes,
        }
    }
}

/// `ingested       N pages, M attachments` from the sync summary.
fn ingested(summary: &str, what: &str) -> u64 {
    let line = summary
        .lines()
        .find(|line| line.trim_start().starts_with("ingested"))
        .unwrap_or_else(|| panic!("no `ingested` line in: {summary}"));
    line.split(',')
        .find(|part| part.contains(what))
        .and_then(|part| part.split_whitespace().rev().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn report(name: &str, runs: &[Measured]) {
    let m = |f: fn(&Measured) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    println!("{name} (median of {} runs)", runs.len());
    println!("  wall time                 {:.2} s", m(|r| r.wall));
    println!("  connector peak RSS        {:.1} MiB", m(|r| r.peak_mib));
    println!(
        "  ingested                  {:.0} pages, {:.0} attachments",
        m(|r| r.pages as f64),
        m(|r| r.attachments as f64)
    );
    println!(
        "  Confluence requests       {:.0} (downloads excluded)",
        m(|r| r.confluence_requests as f64)
    );
    println!(
        "  Confluence req. per page  {:.3}",
        m(|r| r.confluence_per_page)
    );
    println!(
        "  Unique calls per item     {:.2}",
        m(|r| r.unique_per_item)
    );
    println!(
        "  Unique writes             {:.0}",
        m(|r| r.unique_writes as f64)
    );
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .map(|kib| {
                    kib.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .unwrap_or(0)
                        / 1024
                        / 1024
                })
        })
        .unwrap_or(0);
    format!("{cpu}, {cores} cores, {mem} GiB")
}
