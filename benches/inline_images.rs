//! Figures, not a timed test: one sync cycle of a page with 50 images of
//! 2 MiB each, inlining on, against the embedded simulators in this
//! process (Cloud flavour). Prints wall time and peak RSS (`VmHWM`, reset
//! before each run through `/proc/self/clear_refs`) per run and their
//! medians. The simulators share the process, so the peak includes what
//! they hold (the Confluence simulator generates bytes block by block; the
//! Unique simulator hashes uploads as they stream and keeps no body this
//! large).
//!
//! Run with `cargo bench --bench inline_images` (`BENCH_RUNS=5` for more
//! runs; at least 3 are made).
//!
//! The 50 images (about 133 MiB of base64) exceed the 64 MiB cap of an
//! inlined body (ours, PROTOCOL §10.5), so the run also shows where the cap
//! stops inlining.

use std::time::{Duration, Instant};

use confluence_connector::sim::confluence::{Flavor, Route, SimAttachment, SimPage};
use serde_json::json;

// The end-to-end harness, reused as is; the benchmark needs only part of it.
#[allow(dead_code)]
#[path = "../tests/e2e/support.rs"]
mod support;

use support::{SINGLE, dataset, sp, spawn_app};

const IMAGES: usize = 50;
const IMAGE_BYTES: u64 = 2 << 20;

struct Sample {
    wall: Duration,
    /// KiB.
    peak_rss: u64,
    /// KiB, just before the cycle.
    rss_before: u64,
    body_bytes: i64,
    downloads: u64,
}

fn main() {
    let runs = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(3usize)
        .max(3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut samples = Vec::with_capacity(runs);
    for run in 1..=runs {
        let sample = runtime.block_on(one_cycle());
        println!(
            "run {run}: wall {:.3} s, peak RSS {:.1} MiB (before the cycle {:.1} MiB), \
             inlined body {:.1} MiB, {} images downloaded",
            sample.wall.as_secs_f64(),
            mib(sample.peak_rss),
            mib(sample.rss_before),
            sample.body_bytes as f64 / 1_048_576.0,
            sample.downloads,
        );
        samples.push(sample);
    }
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    let mut peaks: Vec<u64> = samples.iter().map(|s| s.peak_rss).collect();
    walls.sort_unstable();
    peaks.sort_unstable();
    println!(
        "median of {runs} runs ({IMAGES} images of {} MiB, one page): wall {:.3} s, peak RSS {:.1} MiB",
        IMAGE_BYTES >> 20,
        walls[runs / 2].as_secs_f64(),
        mib(peaks[runs / 2]),
    );
}

async fn one_cycle() -> Sample {
    let mut body = String::from("<h1>Fifty images</h1>");
    let mut page = SimPage::new("p1", "SP").labels([SINGLE]);
    for n in 0..IMAGES {
        let filename = format!("image-{n:02}.png");
        body.push_str(&format!(
            r#"<p>figure {n}</p><ac:image ac:width="640"><ri:attachment ri:filename="{filename}" /></ac:image>"#
        ));
        page = page.attachment(
            SimAttachment::new(format!("att{n}"), filename, "image/png", IMAGE_BYTES)
                .with_seed(n as u64),
        );
    }
    let flavor = Flavor::Cloud;
    let mut app = spawn_app(flavor, dataset(flavor).page(page.body(body))).await;
    app.configure(
        json!({"ingestion": {"pageIngestionConfig": {"htmlConfig": {"imageContentExtraction": {
            "enabled": true,
            "languageModel": "some-visual-llm",
        }}}}}),
    );
    let rss_before = status_kib("VmRSS");
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    assert!(
        reset,
        "the peak RSS can be reset (Linux /proc/self/clear_refs)"
    );
    let started = Instant::now();
    let report = app.successful_cycle().await;
    let wall = started.elapsed();
    let peak_rss = status_kib("VmHWM");
    assert_eq!(report.pages.success, 1, "{report:#?}");
    let body_bytes = app
        .snapshot()
        .content(&sp(flavor, "p1"))
        .and_then(|page| page.byte_size)
        .expect("the page is stored");
    let downloads = app.confluence.counters().requests(Route::Download);
    app.finish().await;
    Sample {
        wall,
        peak_rss,
        rss_before,
        body_bytes,
        downloads,
    }
}

/// A `kB` field of `/proc/self/status`.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
