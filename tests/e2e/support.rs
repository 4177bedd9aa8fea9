//! `spawn_app()`-style set-up for end-to-end cycles: both embedded
//! simulators on 127.0.0.1, a tenant file written to a temporary directory
//! (the §12 harness defaults), and the configuration loaded exactly as the
//! binary loads it. Cycles run through `app::oneshot::sync_tenants`, the code
//! behind `confluence-connector sync`.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    process::Output,
    time::Duration,
};

use confluence_connector::{
    adapters::http::transport::HttpClients,
    adapters::unique::UniqueRetries,
    app::{
        oneshot::{self, TenantOutcome},
        sync::{CycleReport, CycleResult, PlanReport, PurgeReport},
        tenants::{Retries, TenantCycle, build_cycle_with},
    },
    config::{self, LoadedConfig, Overrides},
    domain::backoff::RetryPolicy,
    sim::{
        confluence::{
            ConfluenceSim, Dataset, Flavor, SimAttachment, SimHandle, SimSettings, SimSpace,
        },
        tenant::{self, merge},
        unique::{
            ContentSnapshot, Operation, SeedContent, SeedScope, UniqueSim, UniqueSimHandle,
            UniqueSimSettings, UniqueSnapshot,
        },
    },
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

pub const TENANT: &str = "tenant1";
pub const ROOT: &str = "root-scope-id";
pub const SINGLE: &str = "ai-ingest";
pub const ALL: &str = "ai-ingest-all";
/// Unique's clock during tests: after the datasets' default page version
/// (`2026-05-01`), before the versions tests give edited pages.
pub const UNIQUE_NOW: &str = "2026-06-01T00:00:00.000Z";

/// The production schedules' shape (attempt counts, `Retry-After`
/// honoured) with millisecond waits, so injected faults keep tests fast.
pub const FAST_RETRIES: Retries = Retries {
    confluence: RetryPolicy {
        max_retries: 5,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(40),
        retry_after_cap: Duration::from_secs(2),
        jitter: 0.2,
    },
    unique: UniqueRetries {
        file_diff: RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(40),
            retry_after_cap: Duration::from_secs(2),
            jitter: 0.2,
        },
        idempotent_calls: RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(40),
            retry_after_cap: Duration::from_secs(2),
            jitter: 0.2,
        },
    },
};

/// Both simulators and the tenant file pointed at them.
pub struct TestApp {
    pub confluence: SimHandle,
    pub unique: UniqueSimHandle,
    dir: TempDir,
    env: HashMap<String, String>,
    /// The tenant file as JSON, written as YAML before every run.
    pub tenant_file: Value,
    /// The tenant name, i.e. the tenant file's name before
    /// `-tenant-config.yaml` ([`TENANT`] unless renamed).
    name: String,
}

/// Starts the simulators (Confluence of `flavor` serving `dataset`, Unique
/// cluster-local with the root `/Confluence`) and writes the §12 harness
/// tenant file.
pub async fn spawn_app(flavor: Flavor, dataset: Dataset) -> TestApp {
    spawn_app_with(
        SimSettings::for_flavor(flavor),
        dataset,
        UniqueSimSettings::cluster_local(),
    )
    .await
}

pub async fn spawn_app_with(
    confluence: SimSettings,
    dataset: Dataset,
    unique: UniqueSimSettings,
) -> TestApp {
    let confluence = ConfluenceSim::start(confluence, dataset)
        .await
        .expect("Confluence simulator starts");
    let unique = UniqueSim::start(unique.keep_bodies_up_to(4 << 20))
        .await
        .expect("Unique simulator starts");
    unique.set_now(Some(UNIQUE_NOW));
    unique.seed_scope(SeedScope::new(ROOT, "Confluence"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut env = HashMap::new();
    env.insert(
        "TENANT_CONFIG_PATH_PATTERN".to_owned(),
        format!("{}/*-tenant-config.yaml", dir.path().display()),
    );
    for (name, value) in tenant::SECRET_ENV {
        env.insert(name.to_owned(), value.to_owned());
    }
    env.insert("OTEL_METRICS_EXPORTER".to_owned(), "none".to_owned());
    // Each test keeps its durable state (repair journal, held deletions)
    // apart, as a fresh machine would.
    env.insert(
        "CONFLUENCE_CONNECTOR_STATE_DIR".to_owned(),
        dir.path().join("state").display().to_string(),
    );
    let tenant_file = harness_tenant_file(&confluence, &unique);
    TestApp {
        confluence,
        unique,
        dir,
        env,
        tenant_file,
        name: TENANT.to_owned(),
    }
}

/// The §12 harness tenant: the simulators' tenant file plus allowlist
/// pdf/jpeg/png/text, 50 MiB, OCR off, attachments on, inlining off.
fn harness_tenant_file(confluence: &SimHandle, unique: &UniqueSimHandle) -> Value {
    let mut file = tenant::tenant_file(confluence, unique, ROOT);
    merge(
        &mut file,
        json!({"ingestion": {"attachments": {
            "mode": "enabled",
            "allowedMimeTypes": ["application/pdf", "image/jpeg", "image/png", "text/plain"],
            "maxFileSizeMb": 50,
            "imageOcr": "disabled",
        }}}),
    );
    file
}

impl TestApp {
    pub fn flavor(&self) -> Flavor {
        self.confluence.flavor()
    }

    /// Changes the tenant file for the next runs (deep merge).
    pub fn configure(&mut self, patch: Value) {
        merge(&mut self.tenant_file, patch);
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}-tenant-config.yaml", self.name))
    }

    /// Renames the tenant file, as an operator renaming a tenant would:
    /// the next runs load it under the new tenant name.
    pub fn rename_tenant(&mut self, name: &str) {
        let old = self.config_path();
        if old.exists() {
            std::fs::remove_file(&old).expect("the old tenant file is removed");
        }
        self.name = name.to_owned();
    }

    /// The tenant's state directory root (`CONFLUENCE_CONNECTOR_STATE_DIR`).
    pub fn state_root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn write_config(&self) {
        let yaml = serde_yaml::to_string(&self.tenant_file).expect("tenant file serializes");
        std::fs::write(self.config_path(), yaml).expect("tenant file is written");
    }

    /// Loads the configuration as the binary does (from this app's
    /// environment, never the process's).
    pub fn load(&self) -> LoadedConfig {
        self.write_config();
        let env = self.env.clone();
        config::load(move |name| env.get(name).cloned(), &Overrides::default())
            .unwrap_or_else(|errors| panic!("the tenant file is valid: {errors}"))
    }

    /// One `sync` pass over the tenant.
    pub async fn sync(&self) -> TenantOutcome {
        let config = self.load();
        let tenants = oneshot::select_tenants(&config, None).expect("tenant selected");
        let mut outcomes =
            oneshot::sync_tenants(&config, &tenants, &HttpClients::loopback(), &FAST_RETRIES).await;
        assert_eq!(outcomes.len(), 1);
        outcomes.remove(0)
    }

    /// Sets a process environment variable for later runs (e.g. `PROXY_*`).
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.insert(name.to_owned(), value.to_owned());
    }

    /// One cycle with the HTTP clients the process configuration asks for
    /// (proxy, CA bundles), as the binary builds them, instead of plain
    /// loopback clients.
    pub async fn cycle_with_configured_clients(&self) -> CycleReport {
        let config = self.load();
        let clients = HttpClients::from_config(&config.process).expect("clients build");
        let tenants = oneshot::select_tenants(&config, None).expect("tenant selected");
        match oneshot::sync_tenants(&config, &tenants, &clients, &FAST_RETRIES)
            .await
            .remove(0)
        {
            TenantOutcome::Synced(report) => *report,
            other => panic!("expected a sync cycle, got {other:?}"),
        }
    }

    /// One cycle of the (active) tenant.
    pub async fn cycle(&self) -> CycleReport {
        match self.sync().await {
            TenantOutcome::Synced(report) => *report,
            other => panic!("expected a sync cycle, got {other:?}"),
        }
    }

    /// One cycle that must succeed.
    pub async fn successful_cycle(&self) -> CycleReport {
        let report = self.cycle().await;
        assert_eq!(report.result, CycleResult::Success, "{report:#?}");
        report
    }

    /// One purge of the (deleted) tenant.
    pub async fn purge(&self) -> PurgeReport {
        match self.sync().await {
            TenantOutcome::Purged(report) => report,
            other => panic!("expected a purge, got {other:?}"),
        }
    }

    /// The tenant's cycle as `serve` holds it: built once and run many
    /// times, so what it keeps in memory between cycles (failed updates to
    /// retry, the Data Center instance id) carries over.
    pub fn daemon_cycle(&self) -> TenantCycle {
        let config = self.load();
        build_cycle_with(
            &config.tenants[0],
            &HttpClients::loopback(),
            &config.process,
            &FAST_RETRIES,
        )
        .expect("the cycle builds")
    }

    pub async fn plan(&self) -> PlanReport {
        let config = self.load();
        let tenants = oneshot::select_tenants(&config, None).expect("tenant selected");
        let mut plans =
            oneshot::plan_tenants(&config, &tenants, &HttpClients::loopback(), &FAST_RETRIES).await;
        let (_, plan) = plans.remove(0);
        plan.expect("plan succeeds").expect("active tenant")
    }

    /// Runs the real binary with `args`, this app's environment and tenant
    /// directory (the simulators keep serving from this process).
    pub fn run_binary(&self, args: &[&str]) -> Output {
        self.binary(args).output().expect("the binary runs")
    }

    /// Starts the real binary with `args` like [`run_binary`](Self::run_binary),
    /// without waiting for it (a test kills it mid-cycle).
    pub fn spawn_binary(&self, args: &[&str]) -> std::process::Child {
        self.binary(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts")
    }

    /// The repair journal of the tenant, as the last cycle left it (empty
    /// when no cycle wrote one).
    pub fn repair_journal(&self) -> String {
        let state = self.dir.path().join("state");
        let Ok(tenants) = std::fs::read_dir(&state) else {
            return String::new();
        };
        tenants
            .map(|entry| {
                entry
                    .expect("state entry")
                    .path()
                    .join("repair-journal.jsonl")
            })
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .collect()
    }

    fn binary(&self, args: &[&str]) -> std::process::Command {
        self.write_config();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_confluence-connector"));
        command
            .args(args)
            .env_clear()
            .envs(&self.env)
            .env("LOG_LEVEL", "warn");
        command
    }

    pub fn snapshot(&self) -> UniqueSnapshot {
        self.unique.snapshot()
    }

    /// Adds content to Unique as a previous sync would have left it.
    pub fn seed_content(&self, content: SeedContent) -> String {
        self.unique.seed_content(content)
    }

    /// Stops both simulators; every test ends here. The connector never
    /// writes to Confluence, so only GETs (and token POSTs) arrived.
    pub async fn finish(self) {
        assert_eq!(
            self.confluence.counters().non_get,
            0,
            "only GET requests (and token POSTs) reach Confluence"
        );
        self.confluence.shutdown().await;
        self.unique.shutdown().await;
    }
}

/// The partial key of the harness space `space-1`/`SP` (or another).
pub fn key(space_id: &str, space_key: &str, item: &str) -> String {
    format!("{TENANT}/{space_id}_{space_key}/{item}")
}

/// The harness space on each flavor: Data Center space ids are numbers
/// (served as JSON numbers, coerced to decimal strings by the adapter).
pub fn space_id(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Cloud => "space-1",
        Flavor::DataCenter => "1001",
    }
}

pub fn sp(flavor: Flavor, item: &str) -> String {
    key(space_id(flavor), "SP", item)
}

pub fn root_mark(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Cloud => "confc:cloud:cloud-1",
        Flavor::DataCenter => "confc:data-center:dc-instance-1",
    }
}

/// Hex SHA-256 of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Hex SHA-256 of what the Confluence simulator serves for `attachment`.
pub fn attachment_sha256(attachment: &SimAttachment) -> String {
    attachment
        .content()
        .sha256()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The stored content at `key`, which must exist, be finalized and carry
/// its bytes.
pub fn stored<'a>(snapshot: &'a UniqueSnapshot, key: &str) -> &'a ContentSnapshot {
    let content = snapshot
        .content(key)
        .unwrap_or_else(|| panic!("{key} is stored; keys: {:?}", snapshot.content_keys()));
    assert!(content.finalized, "{key} is finalized");
    assert!(content.blob.is_some(), "{key} has its bytes");
    content
}

/// The stored page HTML at `key`.
pub fn html<'a>(snapshot: &'a UniqueSnapshot, key: &str) -> &'a str {
    stored(snapshot, key)
        .blob
        .as_ref()
        .and_then(|blob| blob.text())
        .unwrap_or_else(|| panic!("{key} has a kept UTF-8 body"))
}

/// Scope path → external id, for exact comparisons.
pub fn scopes(snapshot: &UniqueSnapshot) -> BTreeMap<String, Option<String>> {
    snapshot
        .scopes
        .iter()
        .map(|scope| (scope.path.clone(), scope.external_id.clone()))
        .collect()
}

/// Content keys, sorted, owned.
pub fn keys(snapshot: &UniqueSnapshot) -> Vec<String> {
    snapshot
        .content_keys()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Sorted owned strings.
pub fn sorted<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut items: Vec<String> = items.into_iter().map(Into::into).collect();
    items.sort();
    items
}

/// The §12 harness space `SP` ("Space One") with the flavour's id.
pub fn harness_space(flavor: Flavor) -> SimSpace {
    SimSpace::new(space_id(flavor), "SP", "Space One")
}

/// A dataset holding only the harness space.
pub fn dataset(flavor: Flavor) -> Dataset {
    Dataset::new().space(harness_space(flavor))
}

/// The web URL the connector sends for page `id` of the harness site.
pub fn page_url(app: &TestApp, space_key: &str, id: &str) -> String {
    match app.flavor() {
        Flavor::Cloud => {
            format!("https://tenant1.atlassian.net/wiki/spaces/{space_key}/pages/{id}")
        }
        Flavor::DataCenter => format!(
            "{}/pages/viewpage.action?pageId={id}",
            app.confluence.base_url()
        ),
    }
}

pub fn source_kind(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Cloud => "ATLASSIAN_CONFLUENCE_CLOUD",
        Flavor::DataCenter => "ATLASSIAN_CONFLUENCE_ONPREM",
    }
}

/// The space scope external id of the harness tenant.
pub fn space_mark(space_id: &str, space_key: &str) -> String {
    format!("confc:{TENANT}:{space_id}:{space_key}")
}

/// Content keys that received bytes, one entry per accepted upload, in
/// arrival order (blob slots are named `{content key}/{n}`).
pub fn uploaded_keys(snapshot: &UniqueSnapshot) -> Vec<String> {
    snapshot
        .uploads
        .iter()
        .map(|upload| {
            let (key, _slot) = upload.key.rsplit_once('/').expect("slot suffix");
            key.to_owned()
        })
        .collect()
}

/// None of `operations` reached the Unique simulator.
pub fn assert_no_writes(app: &TestApp, operations: &[Operation]) {
    let counters = app.unique.counters();
    for operation in operations {
        assert_eq!(counters.calls(*operation), 0, "{operation} was called");
    }
}

/// Seeds a space scope under the root with its proper external id, as an
/// earlier sync would have left it.
pub fn seed_space(app: &TestApp, scope_id: &str, space_id: &str, space_key: &str) {
    app.unique.seed_scope(
        SeedScope::new(scope_id, space_key)
            .parent(ROOT)
            .external_id(space_mark(space_id, space_key)),
    );
}
