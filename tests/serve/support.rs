//! The daemon in-process against both simulators: tenant files in a
//! temporary directory, every listener on 127.0.0.1 port 0, and helpers to
//! read `/probe`, `/health` and `/metrics`. Every test stops what it
//! starts ([`TestDaemon::stop`]).

use std::{
    collections::BTreeMap,
    future::Future,
    net::SocketAddr,
    time::{Duration, Instant},
};

use confluence_connector::{
    adapters::http::transport::HttpClients,
    app::serve::{Daemon, ServeOptions, ShutdownReport},
    config::{self, Overrides},
    sim::{
        confluence::{
            ConfluenceSim, Dataset, SimAttachment, SimHandle, SimPage, SimSettings, SimSpace,
        },
        unique::{
            AccessType, SeedScope, UniqueSim, UniqueSimHandle, UniqueSimSettings, UniqueSnapshot,
        },
    },
};
use serde_json::Value;
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

pub use super::prometheus::{Exposition, parse as parse_exposition};

/// Root scope of the active tenant `acme`.
pub const ROOT: &str = "root-scope-id";
/// Root scope of the deleted tenant `gone`, marked as a Data Center
/// instance's so that its purge proceeds.
pub const GONE_ROOT: &str = "gone-root-scope";

/// Distinctive secrets, so a test can prove they never reach a log line.
pub const CLIENT_SECRET: &str = "cs-7f3a9e41-never-logged";
pub const PAT: &str = "pat-5c2d8b17-never-logged";

/// Root scope of the active tenant `down`.
pub const DOWN_ROOT: &str = "down-root-scope";

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// Generous: the machine is shared and slow; assertions poll until then.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// Two spaces' worth of labelled pages with PDF attachments.
pub fn dataset() -> Dataset {
    let pdf = |id: &str, n: u64| {
        SimAttachment::new(id, format!("{id}.pdf"), "application/pdf", 2_000 + n)
    };
    Dataset::new()
        .space(SimSpace::new("space-1", "SP", "Space One"))
        .space(SimSpace::new("space-2", "OPS", "Operations"))
        .page(
            SimPage::new("10001", "SP")
                .title("Handbook")
                .labels(["ai-ingest"])
                .attachment(pdf("att20001", 1))
                .attachment(pdf("att20002", 2)),
        )
        .page(
            SimPage::new("10002", "SP")
                .title("Runbooks")
                .labels(["ai-ingest-all"])
                .attachment(pdf("att20003", 3)),
        )
        .page(SimPage::new("10003", "SP").title("Child").parent("10002"))
        .page(
            SimPage::new("10004", "OPS")
                .title("On call")
                .labels(["ai-ingest"])
                .attachment(pdf("att20004", 4)),
        )
}

/// What a test may change before the daemon starts.
pub struct Setup {
    /// `processing.scanIntervalCron` of `acme`.
    pub cron: String,
    /// Also run the deleted tenant `gone`.
    pub with_deleted_tenant: bool,
    /// Also run the active Data Center tenant `down`, whose Confluence
    /// refuses connections (nothing listens on its port).
    pub with_unreachable_tenant: bool,
    /// Extra environment (e.g. `HEALTH_SYNC_HISTORY_SIZE`).
    pub env: Vec<(&'static str, String)>,
    pub dataset: Dataset,
    pub drain_timeout: Duration,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            // Once a year: only the start-up cycle runs during a test.
            cron: "0 0 1 1 *".to_owned(),
            with_deleted_tenant: false,
            with_unreachable_tenant: false,
            env: Vec::new(),
            dataset: dataset(),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// The simulators and the tenant files, before the daemon starts (so that
/// a test can inject faults first).
pub struct World {
    pub confluence: SimHandle,
    pub unique: UniqueSimHandle,
    pub dir: TempDir,
    pub setup: Setup,
}

impl World {
    pub async fn new(setup: Setup) -> World {
        let mut settings = SimSettings::cloud();
        settings.auth.oauth_clients = vec![("client".to_owned(), CLIENT_SECRET.to_owned())];
        settings.auth.personal_tokens = vec![PAT.to_owned()];
        let confluence = ConfluenceSim::start(settings, setup.dataset.clone())
            .await
            .expect("Confluence simulator starts");
        let unique =
            UniqueSim::start(UniqueSimSettings::cluster_local().keep_bodies_up_to(1 << 20))
                .await
                .expect("Unique simulator starts");
        unique.seed_scope(SeedScope::new(ROOT, "Confluence"));
        let dir = tempfile::tempdir().expect("temporary directory");
        let world = World {
            confluence,
            unique,
            dir,
            setup,
        };
        world.write("acme-tenant-config.yaml", &world.acme_yaml());
        if world.setup.with_deleted_tenant {
            // The purge does not self-grant (§9.12): the service user must
            // already hold its accesses.
            world.unique.seed_scope(
                SeedScope::new(GONE_ROOT, "Gone")
                    .external_id("confc:data-center:dc-instance")
                    .grant(
                        "test-user-id",
                        &[AccessType::Manage, AccessType::Read, AccessType::Write],
                    ),
            );
            // Marked for `gone`: a purge removes only its own scopes.
            world.unique.seed_scope(
                SeedScope::new("gone-space", "OLD")
                    .parent(GONE_ROOT)
                    .external_id("confc:gone:1:OLD"),
            );
            // Deleted: the purge sends no Confluence traffic, so port 9 is
            // never contacted.
            world.write(
                "gone-tenant-config.yaml",
                &world.data_center_yaml("deleted", 9, GONE_ROOT),
            );
        }
        if world.setup.with_unreachable_tenant {
            world.unique.seed_scope(SeedScope::new(DOWN_ROOT, "Down"));
            world.write(
                "down-tenant-config.yaml",
                &world.data_center_yaml("active", closed_port(), DOWN_ROOT),
            );
        }
        world
    }

    /// A Data Center tenant with `status` whose Confluence is at `port`
    /// and whose root scope is `root`; scheduled once a year, so only the
    /// start-up cycle runs.
    fn data_center_yaml(&self, status: &str, port: u16, root: &str) -> String {
        format!(
            "status: {status}
confluence:
  instanceType: data-center
  baseUrl: http://127.0.0.1:{port}/confluence
  auth:
    mode: pat
    token: os.environ/CONFLUENCE_PAT
  apiRateLimitPerMinute: 100
  ingestSingleLabel: ai-ingest
  ingestAllLabel: ai-ingest-all
{unique}processing:
  scanIntervalCron: \"0 0 1 1 *\"
ingestion:
  scopeId: {root}
",
            unique = self.unique_yaml(),
        )
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).expect("tenant file written");
    }

    pub fn glob(&self) -> String {
        format!("{}/*-tenant-config.yaml", self.dir.path().display())
    }

    fn unique_yaml(&self) -> String {
        format!(
            "unique:
  serviceAuthMode: cluster_local
  serviceExtraHeaders:
    x-company-id: test-company-id
    x-user-id: header-user-id
  ingestionServiceBaseUrl: {}
  scopeManagementServiceBaseUrl: {}
  apiRateLimitPerMinute: 100000
",
            self.unique.ingestion_base_url(),
            self.unique.scope_management_base_url()
        )
    }

    fn acme_yaml(&self) -> String {
        format!(
            "confluence:
  instanceType: cloud
  baseUrl: https://tenant1.atlassian.net
  cloudId: {cloud_id}
  apiGatewayUrl: {gateway}
  auth:
    mode: oauth_2lo
    clientId: client
    clientSecret: os.environ/CONFLUENCE_CLIENT_SECRET
  apiRateLimitPerMinute: 100000
  ingestSingleLabel: ai-ingest
  ingestAllLabel: ai-ingest-all
{unique}processing:
  scanIntervalCron: \"{cron}\"
  concurrency: 2
ingestion:
  scopeId: {ROOT}
",
            cloud_id = self.confluence.settings().cloud_id,
            gateway = self.confluence.gateway_url(),
            unique = self.unique_yaml(),
            cron = self.setup.cron,
        )
    }

    /// The environment the daemon sees (in-process through `config::load`,
    /// or as the real process environment of the binary).
    pub fn env(&self) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = [
            ("TENANT_CONFIG_PATH_PATTERN", self.glob()),
            (
                "CONFLUENCE_CONNECTOR_STATE_DIR",
                self.dir.path().join("state").display().to_string(),
            ),
            ("PORT", "0".to_owned()),
            ("CFC_HTTP_HOST", "127.0.0.1".to_owned()),
            ("OTEL_METRICS_EXPORTER", "prometheus".to_owned()),
            ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1".to_owned()),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", "0".to_owned()),
            ("HEALTH_CONNECTIVITY_TIMEOUT_MS", "5000".to_owned()),
            ("CONFLUENCE_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("CONFLUENCE_PAT", PAT.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (name, value) in &self.setup.env {
            env.insert((*name).to_owned(), value.clone());
        }
        env
    }

    /// Starts the daemon in-process.
    pub async fn start(self) -> TestDaemon {
        let env = self.env();
        let lookup = |name: &str| env.get(name).cloned();
        let loaded = config::load(lookup, &Overrides::default()).unwrap_or_else(|errors| {
            panic!(
                "tenant files load: {}",
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        });
        let mut options = ServeOptions::from_config(&loaded.process, Some("127.0.0.1"))
            .expect("addresses resolve");
        options.drain_timeout = self.setup.drain_timeout;
        let daemon = Daemon::start(loaded, options).await.expect("daemon starts");
        let http = daemon.http_addr();
        let metrics = daemon.metrics_addr().expect("the exporter is on");
        assert!(http.ip().is_loopback() && metrics.ip().is_loopback());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(daemon.run_until(async {
            let _ = stopped.await;
        }));
        TestDaemon {
            world: self,
            http,
            metrics,
            client: HttpClients::loopback().direct,
            stop: Some(stop),
            task: Some(task),
        }
    }
}

/// A running daemon with its simulators.
pub struct TestDaemon {
    pub world: World,
    pub http: SocketAddr,
    pub metrics: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<ShutdownReport>>,
}

impl TestDaemon {
    pub async fn get(&self, addr: SocketAddr, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("http://{addr}{path}"))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    pub async fn health(&self) -> (u16, Value) {
        let (status, body) = self.get(self.http, "/health").await;
        (
            status,
            serde_json::from_str(&body).expect("/health is JSON"),
        )
    }

    pub async fn scrape(&self) -> Exposition {
        let (status, body) = self.get(self.metrics, "/metrics").await;
        assert_eq!(status, 200, "{body}");
        parse_exposition(&body).unwrap_or_else(|e| panic!("/metrics does not parse: {e}\n{body}"))
    }

    /// Polls until `check` holds for a scrape; panics with the last
    /// exposition after [`DEADLINE`].
    pub async fn wait_for_metrics(
        &self,
        what: &str,
        check: impl Fn(&Exposition) -> bool,
    ) -> Exposition {
        let started = Instant::now();
        loop {
            let exposition = self.scrape().await;
            if check(&exposition) {
                return exposition;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "timed out waiting for {what}; last scrape:\n{}",
                exposition.text
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls `/health` until `check` holds.
    pub async fn wait_for_health(&self, what: &str, check: impl Fn(u16, &Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let (status, body) = self.health().await;
            if check(status, &body) {
                return body;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "timed out waiting for {what}; last /health: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends the shutdown signal and waits for the drain to end.
    pub async fn shutdown(&mut self) -> ShutdownReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("shut down once");
        task.await.expect("the daemon task does not panic")
    }

    /// Stops the daemon (if still running) and the simulators.
    pub async fn stop(mut self) -> (World, Option<ShutdownReport>) {
        let report = if self.task.is_some() {
            Some(self.shutdown().await)
        } else {
            None
        };
        (self.world, report)
    }
}

impl World {
    pub async fn stop(self) {
        self.confluence.shutdown().await;
        self.unique.shutdown().await;
    }
}

/// Nothing half-registered: every content item is finalized and has its
/// bytes (§9.1, §9.8).
pub fn assert_consistent(snapshot: &UniqueSnapshot) {
    for content in &snapshot.contents {
        assert!(
            content.finalized && content.blob.as_ref().is_some_and(|b| b.size > 0),
            "content `{}` is registered without its bytes: finalized={}, blob={:?}",
            content.key,
            content.finalized,
            content.blob.as_ref().map(|b| b.size)
        );
    }
}

/// Runs `future` with the deadline, for awaits that could hang.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}
