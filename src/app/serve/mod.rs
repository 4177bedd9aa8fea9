//! `serve` (PROTOCOL §2.4, §9.1, §11): the daemon.
//!
//! [`Daemon::start`] binds the HTTP port (`/probe`, `/health`) and the
//! Prometheus exporter, registers every tenant's metrics, starts one cycle
//! per tenant at once and then one per cron fire time. [`Daemon::run_until`]
//! waits for a shutdown signal, stops scheduling, lets running cycles
//! finish for up to [`DRAIN_TIMEOUT`], and stops the servers. [`run`] is
//! the CLI arm around both, with the exit codes of §2.4.
//!
//! Tests start the daemon in-process with [`ServeOptions`] that bind
//! loopback port 0 and read the chosen ports back from the [`Daemon`].

mod health;
mod observer;
mod scheduler;
mod server;

use std::{
    future::Future,
    net::{SocketAddr, ToSocketAddrs},
    process::ExitCode,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{error, info, warn};

pub use self::health::{ConfluenceTarget, Health, HealthReport, HealthTarget, SyncHistory};
use self::{
    observer::TenantRecorder,
    scheduler::{ScheduledTenant, Scheduler, TenantKind},
    server::ServerThread,
};
use super::{cli::GlobalArgs, exit, tenants};
use crate::{
    adapters::http::transport::{HttpClients, TransportError},
    config::{LoadedConfig, MetricsExporter, ProcessConfig, TenantStatus},
    telemetry::metrics::Metrics,
};

/// How long shutdown waits for running cycles (ours, §9.1).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Ours: the interface `PORT` binds. The contract binds all interfaces;
/// this lets a test (or a sidecar set-up) bind loopback only.
pub const HTTP_HOST_VARIABLE: &str = "CFC_HTTP_HOST";

/// Where the daemon listens and how long it drains.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `/probe` and `/health`: all interfaces on `PORT` by default.
    pub http: SocketAddr,
    /// The Prometheus exporter; `None` when `OTEL_METRICS_EXPORTER` is not
    /// `prometheus`.
    pub metrics: Option<SocketAddr>,
    pub drain_timeout: Duration,
}

impl ServeOptions {
    /// The addresses the configuration asks for. `http_host` overrides the
    /// all-interfaces default of `PORT`.
    ///
    /// # Errors
    /// `OTEL_EXPORTER_PROMETHEUS_HOST` (or `http_host`) does not resolve.
    pub fn from_config(
        process: &ProcessConfig,
        http_host: Option<&str>,
    ) -> Result<Self, StartError> {
        let http = resolve(
            http_host.unwrap_or("0.0.0.0"),
            process.port,
            HTTP_HOST_VARIABLE,
        )?;
        let metrics = match process.metrics.exporter {
            MetricsExporter::Prometheus => Some(resolve(
                &process.metrics.prometheus_host,
                process.metrics.prometheus_port,
                "OTEL_EXPORTER_PROMETHEUS_HOST",
            )?),
            MetricsExporter::None => None,
            other => {
                warn!(
                    exporter = other.as_str(),
                    "OTEL_METRICS_EXPORTER is not supported by this build; metrics are not exported"
                );
                None
            }
        };
        Ok(ServeOptions {
            http,
            metrics,
            drain_timeout: DRAIN_TIMEOUT,
        })
    }
}

/// The address to bind for `host`. A name with IPv4 and IPv6 addresses
/// (the default `localhost`) binds its IPv4 one, which is what scrapers
/// configured with `127.0.0.1` reach.
fn resolve(host: &str, port: u16, setting: &'static str) -> Result<SocketAddr, StartError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map(Iterator::collect)
        .unwrap_or_default();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| StartError::Resolve {
            setting,
            host: host.to_owned(),
        })
}

/// Why the daemon could not start (exit 1, §2.4).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr} for {what}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{setting} `{host}` does not resolve to an address")]
    Resolve { setting: &'static str, host: String },
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("tenant `{tenant}`: {message}")]
    Tenant { tenant: String, message: String },
    #[error("cannot start the HTTP server thread: {0}")]
    Thread(std::io::Error),
}

/// How shutdown went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Tenants whose cycle was still running when the drain time was up.
    pub abandoned: Vec<String>,
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    http_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    metrics: Arc<Metrics>,
    scheduler: Arc<Scheduler>,
    tenant_tasks: TaskTracker,
    server: ServerThread,
    drain_timeout: Duration,
}

impl Daemon {
    /// Starts everything. Must be called inside a multi-threaded tokio
    /// runtime, which then runs the cycles.
    ///
    /// # Errors
    /// A port cannot be bound, the HTTP clients cannot be built (CA or
    /// proxy files), or a tenant's adapters cannot be built.
    pub async fn start(config: LoadedConfig, options: ServeOptions) -> Result<Daemon, StartError> {
        let bind = |what, addr| {
            std::net::TcpListener::bind(addr).map_err(|source| StartError::Bind {
                what,
                addr,
                source,
            })
        };
        let http_listener = bind("/probe and /health (PORT)", options.http)?;
        let metrics_listener = options
            .metrics
            .map(|addr| bind("/metrics (OTEL_EXPORTER_PROMETHEUS_PORT)", addr))
            .transpose()?;
        let http_addr = http_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                what: "PORT",
                addr: options.http,
                source,
            })?;
        let metrics_addr = metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok());

        let clients = HttpClients::from_config(&config.process)?;
        let metrics = Arc::new(Metrics::new());
        let mut scheduled = Vec::new();
        let mut targets = Vec::new();
        for tenant in &config.tenants {
            let kind = match tenant.status {
                TenantStatus::Active => TenantKind::Active,
                TenantStatus::Deleted => TenantKind::Deleted,
                // `load` keeps inactive tenants apart (§9.13).
                TenantStatus::Inactive => continue,
            };
            let name = tenant.name.to_string();
            let cycle = tenants::build_cycle(tenant, &clients, &config.process).map_err(|err| {
                StartError::Tenant {
                    tenant: name.clone(),
                    message: err.to_string(),
                }
            })?;
            let recorder = Arc::new(TenantRecorder {
                tenant: name.clone(),
                metrics: Arc::clone(&metrics),
            });
            cycle
                .confluence()
                .observations()
                .set_recorder(recorder.clone());
            cycle.knowledge_base().set_call_recorder(recorder);
            match kind {
                TenantKind::Active => metrics.register_active_tenant(&name),
                TenantKind::Deleted => metrics.register_deleted_tenant(&name),
            }
            let cycle = Arc::new(cycle);
            targets.push(HealthTarget {
                tenant: name.clone(),
                confluence: (kind == TenantKind::Active).then(|| ConfluenceTarget::of(tenant)),
                cycle: Arc::clone(&cycle),
            });
            scheduled.push(Arc::new(ScheduledTenant {
                name,
                kind,
                cron: tenant.processing.scan_interval.cron().clone(),
                cycle,
            }));
        }
        let health = Arc::new(Health {
            history: SyncHistory::new(&config.process.health),
            targets,
            confluence_client: clients.proxied.clone(),
            timeout: config.process.health.connectivity_timeout,
            stuck_after: config.process.limits.cycle_stuck_after,
        });
        let server = ServerThread::start(
            http_listener,
            metrics_listener,
            Arc::clone(&health),
            Arc::clone(&metrics),
            tokio::runtime::Handle::current(),
        )
        .map_err(StartError::Thread)?;
        let metrics_text = metrics_addr.map_or_else(|| "none".to_owned(), |addr| addr.to_string());
        info!(http = %http_addr, metrics = %metrics_text, tenants = scheduled.len(), "serving");

        let scheduler = Arc::new(Scheduler {
            metrics: Arc::clone(&metrics),
            health,
            stop_scheduling: CancellationToken::new(),
            abandon: CancellationToken::new(),
            cycles: TaskTracker::new(),
            abandoned: Mutex::new(Vec::new()),
        });
        let tenant_tasks = TaskTracker::new();
        for tenant in scheduled {
            tenant_tasks.spawn(Arc::clone(&scheduler).run_tenant(tenant));
        }
        tenant_tasks.close();
        Ok(Daemon {
            http_addr,
            metrics_addr,
            metrics,
            scheduler,
            tenant_tasks,
            server,
            drain_timeout: options.drain_timeout,
        })
    }

    /// The bound address of `/probe` and `/health`.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound address of `/metrics`, if exported.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Runs until `shutdown` completes, then drains (§9.1): no new cycles,
    /// running ones get up to the drain timeout, then the servers stop.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> ShutdownReport {
        shutdown.await;
        info!("shutdown requested: no new cycles; waiting for running ones");
        let scheduler = &self.scheduler;
        scheduler.stop_scheduling.cancel();
        // Running cycles finish the items in flight and start no new one,
        // so the drain is about one item's time, not a whole cycle's.
        for target in &scheduler.health.targets {
            target.cycle.stop_new_work();
        }
        self.tenant_tasks.wait().await;
        scheduler.cycles.close();
        if tokio::time::timeout(self.drain_timeout, scheduler.cycles.wait())
            .await
            .is_err()
        {
            scheduler.abandon.cancel();
            scheduler.cycles.wait().await;
        }
        self.server.stop().await;
        let abandoned = scheduler.abandoned.lock().expect("not poisoned").clone();
        info!(abandoned = abandoned.len(), "shut down");
        ShutdownReport { abandoned }
    }
}

/// Installs the SIGTERM and SIGINT handlers and returns a future that
/// resolves on the first of them.
///
/// # Errors
/// The handlers cannot be installed (called outside a tokio runtime).
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => info!(signal = "SIGTERM", "signal received"),
            _ = int.recv() => info!(signal = "SIGINT", "signal received"),
        }
    })
}

/// The `serve` subcommand (and the default without one).
pub fn run(global: &GlobalArgs) -> ExitCode {
    // A configuration error stops the start with exit 2, errors printed.
    let config = match super::load_config(global) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cfc-sync")
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            error!(error = %err, "cannot start the runtime");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let host = std::env::var(HTTP_HOST_VARIABLE).ok();
    let code = runtime.block_on(async {
        // Installed before anything starts, so an early signal is not lost.
        let signal = match shutdown_signal() {
            Ok(signal) => signal,
            Err(err) => {
                error!(error = %err, "cannot install the signal handlers");
                return exit::FAILURE;
            }
        };
        let options = match ServeOptions::from_config(&config.process, host.as_deref()) {
            Ok(options) => options,
            Err(err) => {
                error!(error = %err, "cannot start");
                return exit::FAILURE;
            }
        };
        match Daemon::start(config, options).await {
            Ok(daemon) => {
                daemon.run_until(signal).await;
                exit::OK
            }
            Err(err) => {
                error!(error = %err, "cannot start");
                exit::FAILURE
            }
        }
    });
    // Cycles abandoned at the drain deadline are cancelled here.
    runtime.shutdown_timeout(Duration::from_secs(1));
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_binds_its_ipv4_address_and_bad_hosts_are_errors() {
        let addr = resolve("localhost", 8081, "OTEL_EXPORTER_PROMETHEUS_HOST").unwrap();
        assert_eq!(addr, "127.0.0.1:8081".parse::<SocketAddr>().unwrap());
        assert_eq!(
            resolve("0.0.0.0", 51350, "x").unwrap(),
            "0.0.0.0:51350".parse::<SocketAddr>().unwrap()
        );
        let err = resolve("no such host.invalid", 1, "OTEL_EXPORTER_PROMETHEUS_HOST").unwrap_err();
        assert!(
            err.to_string().contains("OTEL_EXPORTER_PROMETHEUS_HOST"),
            "{err}"
        );
    }

    fn options(exporter: &str) -> ServeOptions {
        let env = [
            ("TENANT_CONFIG_PATH_PATTERN", "/x/*-tenant-config.yaml"),
            ("PORT", "51349"),
            ("OTEL_METRICS_EXPORTER", exporter),
            ("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0"),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", "51350"),
        ];
        let lookup = |name: &str| {
            env.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let process = ProcessConfig::from_lookup(lookup, &crate::config::Overrides::default())
            .expect("valid environment");
        ServeOptions::from_config(&process, None).unwrap()
    }

    #[test]
    fn only_the_prometheus_exporter_opens_a_metrics_port() {
        let prometheus = options("prometheus");
        assert_eq!(prometheus.http, "0.0.0.0:51349".parse().unwrap());
        assert_eq!(prometheus.metrics, Some("0.0.0.0:51350".parse().unwrap()));
        assert_eq!(prometheus.drain_timeout, DRAIN_TIMEOUT);
        for exporter in ["none", "otlp", "console"] {
            assert_eq!(options(exporter).metrics, None, "{exporter}");
        }
    }
}
