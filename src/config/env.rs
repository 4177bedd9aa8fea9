//! Process settings from environment variables (PROTOCOL §2.1) and the CLI
//! flags that override them (§2.4).
//!
//! Variables are read through a lookup function, so tests never touch the
//! real process environment. An empty (or all-whitespace) value counts as
//! unset: deployment tooling commonly renders "no value" that way. Variables
//! not listed here are ignored; `MAX_HEAP_MB` (a Node heap size) and the
//! `OTEL_*` tracing and OTLP variables are accepted and ignored as well.

use std::{
    collections::BTreeMap,
    fmt,
    num::{NonZeroU16, NonZeroU32},
    path::PathBuf,
    time::Duration,
};

use secrecy::SecretString;

use super::error::{ConfigError, ConfigErrors, Setting};
use crate::telemetry::{DiagnosticsPolicy, LogFormat, LogLevel};

const TENANT_CONFIG_PATH_PATTERN: &str = "TENANT_CONFIG_PATH_PATTERN";
const LOG_LEVEL: &str = "LOG_LEVEL";
const NODE_ENV: &str = "NODE_ENV";
const STATE_DIR: &str = "CONFLUENCE_CONNECTOR_STATE_DIR";
const UPLOAD_STALL_TIMEOUT: &str = "UNIQUE_UPLOAD_STALL_TIMEOUT_SECONDS";
const CYCLE_STUCK_AFTER: &str = "SYNC_CYCLE_STUCK_AFTER_SECONDS";

/// CLI values that take precedence over their environment variables.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config-glob`, over `TENANT_CONFIG_PATH_PATTERN`.
    pub config_glob: Option<String>,
    /// `--log-level`, over `LOG_LEVEL`.
    pub log_level: Option<String>,
}

/// Everything the process reads from its environment.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// Glob of the tenant files (`TENANT_CONFIG_PATH_PATTERN` or `--config-glob`).
    pub tenant_config_path_pattern: String,
    /// `PORT`: HTTP port of `/probe` and `/health`.
    pub port: u16,
    pub node_env: NodeEnv,
    /// `LOG_LEVEL` or `--log-level`.
    pub log_level: LogLevel,
    /// `LOGS_DIAGNOSTICS_DATA_POLICY`.
    pub diagnostics_policy: DiagnosticsPolicy,
    pub health: HealthSettings,
    pub proxy: Proxy,
    /// `NO_PROXY`.
    pub no_proxy: NoProxy,
    /// `NODE_EXTRA_CA_CERTS`: extra trusted CAs (PEM) for all outbound TLS.
    pub extra_ca_certs: Option<PathBuf>,
    /// `SSL_CERT_FILE`: the same, under its conventional name.
    pub ssl_cert_file: Option<PathBuf>,
    pub metrics: MetricsSettings,
    /// `CONFLUENCE_CONNECTOR_STATE_DIR`: where each tenant keeps what must
    /// survive a restart (the repair journal, held deletions). Default
    /// `$TMPDIR/confluence-connector` (`/tmp/confluence-connector`), which
    /// the Helm chart backs with an `emptyDir` (a PVC optionally).
    pub state_dir: PathBuf,
    pub limits: WorkLimits,
}

/// Time limits of long-running work (ours): what a stalled upload or a
/// stuck cycle may cost before it is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkLimits {
    /// `UNIQUE_UPLOAD_STALL_TIMEOUT_SECONDS` (default 120): a blob upload
    /// during which no byte moves for this long (the receiver stopped
    /// reading, or never answers once everything was sent) fails.
    pub upload_stall: Duration,
    /// `SYNC_CYCLE_STUCK_AFTER_SECONDS` (default 14400, four hours): a cycle
    /// still running after this long is reported stuck (a warning, the
    /// `cfc_sync_cycle_stuck` gauge, and `/health` down for the tenant)
    /// until it ends.
    pub cycle_stuck_after: Duration,
}

impl Default for WorkLimits {
    fn default() -> Self {
        WorkLimits {
            upload_stall: Duration::from_secs(120),
            cycle_stuck_after: Duration::from_secs(4 * 3600),
        }
    }
}

impl ProcessConfig {
    /// Reads the real process environment, without CLI overrides.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_lookup(|name| std::env::var(name).ok(), &Overrides::default())
    }

    /// Reads every variable through `lookup`; reports every problem at once.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigErrors> {
        let env = Env {
            lookup: &lookup,
            errors: ConfigErrors::default(),
        };
        env.process_config(overrides)
    }
}

/// Where to find the tenant files, or why that is unknown.
pub(super) fn tenant_pattern(
    lookup: &dyn Fn(&str) -> Option<String>,
    overrides: &Overrides,
) -> Result<(String, Setting), ConfigError> {
    if let Some(glob) = overrides
        .config_glob
        .as_deref()
        .filter(|glob| !glob.trim().is_empty())
    {
        return Ok((glob.to_owned(), Setting::Flag("--config-glob")));
    }
    non_empty(lookup(TENANT_CONFIG_PATH_PATTERN))
        .map(|pattern| (pattern, Setting::Env(TENANT_CONFIG_PATH_PATTERN)))
        .ok_or_else(|| ConfigError::Setting {
            setting: Setting::Env(TENANT_CONFIG_PATH_PATTERN),
            problem: "is not set".to_owned(),
            fix: "set it to the glob of the tenant files, e.g. `/app/tenant-configs/*-tenant-config.yaml`, \
                  or pass `--config-glob`"
                .to_owned(),
        })
}

/// Log level and format for setting up logging before the configuration is
/// loaded (so that load warnings reach the log). An invalid value falls back
/// to its default here; loading reports it as an error.
pub fn log_settings(
    lookup: impl Fn(&str) -> Option<String>,
    overrides: &Overrides,
) -> (LogLevel, LogFormat) {
    let level = overrides
        .log_level
        .clone()
        .or_else(|| lookup(LOG_LEVEL))
        .and_then(|level| level.trim().parse().ok())
        .unwrap_or_default();
    let development = non_empty(lookup(NODE_ENV)).as_deref() == Some("development");
    (level, LogFormat::detect(development))
}

/// `NODE_ENV`; only `development` changes anything (human-readable logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeEnv {
    Development,
    #[default]
    Production,
    Test,
}

/// `HEALTH_*` (PROTOCOL §11.1, §11.2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthSettings {
    /// `HEALTH_SYNC_HISTORY_SIZE`: cycles remembered per tenant.
    pub sync_history_size: NonZeroU32,
    /// `HEALTH_SYNC_TENANT_FAILURE_THRESHOLD`: a tenant fails when its share
    /// of failed cycles is strictly greater.
    pub tenant_failure_threshold: f64,
    /// `HEALTH_CONNECTIVITY_TIMEOUT_MS`: per connectivity ping.
    pub connectivity_timeout: Duration,
}

/// The forward proxy (`PROXY_*`, PROTOCOL §2.3).
#[derive(Debug, Clone)]
pub enum Proxy {
    /// `PROXY_AUTH_MODE=none` or unset.
    Disabled,
    Enabled(ProxySettings),
}

/// A configured forward proxy.
#[derive(Clone)]
pub struct ProxySettings {
    pub protocol: ProxyProtocol,
    pub host: String,
    pub port: NonZeroU16,
    pub auth: ProxyAuth,
    /// `PROXY_SSL_CA_BUNDLE_PATH`: verifies the proxy's own certificate.
    pub ca_bundle_path: Option<PathBuf>,
    /// `PROXY_HEADERS`: sent on `CONNECT`. Values may be credentials, so
    /// `Debug` shows the names only.
    pub headers: BTreeMap<String, String>,
}

impl ProxySettings {
    /// `{protocol}://{host}:{port}`.
    pub fn url(&self) -> String {
        format!("{}://{}:{}", self.protocol.as_str(), self.host, self.port)
    }
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxySettings")
            .field("protocol", &self.protocol)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("auth", &self.auth)
            .field("ca_bundle_path", &self.ca_bundle_path)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `PROXY_PROTOCOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocol {
    Http,
    Https,
}

impl ProxyProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyProtocol::Http => "http",
            ProxyProtocol::Https => "https",
        }
    }
}

/// `PROXY_AUTH_MODE` other than `none`, with the fields of that mode.
#[derive(Debug, Clone)]
pub enum ProxyAuth {
    NoAuth,
    UsernamePassword {
        username: String,
        password: SecretString,
    },
    /// Client certificate and key (PEM) for the TLS handshake with the proxy.
    SslTls {
        cert_path: PathBuf,
        key_path: PathBuf,
    },
}

impl ProxyAuth {
    /// The `PROXY_AUTH_MODE` value.
    pub fn mode(&self) -> &'static str {
        match self {
            ProxyAuth::NoAuth => "no_auth",
            ProxyAuth::UsernamePassword { .. } => "username_password",
            ProxyAuth::SslTls { .. } => "ssl_tls",
        }
    }
}

/// `NO_PROXY`: hosts that bypass the proxy (ours, PROTOCOL §2.3).
///
/// Comma-separated, case-insensitive. An entry matches the host itself and
/// its subdomains (`example.com` matches `example.com` and `a.example.com`);
/// a leading `.` or `*.` limits it to subdomains; `*` matches every host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy(Vec<String>);

impl NoProxy {
    fn parse(text: &str) -> Self {
        NoProxy(
            text.split(',')
                .map(|entry| entry.trim().to_ascii_lowercase())
                .filter(|entry| !entry.is_empty())
                .collect(),
        )
    }

    pub fn entries(&self) -> &[String] {
        &self.0
    }

    /// Whether requests to `host` go direct.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.0.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            match entry.strip_prefix("*.").or_else(|| entry.strip_prefix('.')) {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == *entry || host.ends_with(&format!(".{entry}")),
            }
        })
    }
}

/// `OTEL_METRICS_EXPORTER` and the Prometheus exporter's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    pub exporter: MetricsExporter,
    /// `OTEL_EXPORTER_PROMETHEUS_HOST`.
    pub prometheus_host: String,
    /// `OTEL_EXPORTER_PROMETHEUS_PORT`.
    pub prometheus_port: u16,
}

/// `OTEL_METRICS_EXPORTER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsExporter {
    Otlp,
    Prometheus,
    Console,
    None,
}

impl MetricsExporter {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricsExporter::Otlp => "otlp",
            MetricsExporter::Prometheus => "prometheus",
            MetricsExporter::Console => "console",
            MetricsExporter::None => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProxyMode {
    NoAuth,
    UsernamePassword,
    SslTls,
}

/// Reads variables and collects what is wrong with them.
struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    errors: ConfigErrors,
}

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        non_empty((self.lookup)(name))
    }

    fn error(&mut self, setting: Setting, problem: impl Into<String>, fix: impl Into<String>) {
        self.errors.push(ConfigError::Setting {
            setting,
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    /// The parsed variable, `default` when unset, `None` (recorded) when invalid.
    fn parsed<T>(
        &mut self,
        name: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Option<T>,
        fix: &str,
    ) -> Option<T> {
        let Some(text) = self.get(name) else {
            return Some(default);
        };
        let value = parse(&text);
        if value.is_none() {
            self.error(Setting::Env(name), format!("`{text}` is not valid"), fix);
        }
        value
    }

    fn choice<T: Copy>(
        &mut self,
        setting: Setting,
        text: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        if let Some(&(_, value)) = options.iter().find(|(name, _)| *name == text) {
            return Some(value);
        }
        let names: Vec<_> = options
            .iter()
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        self.error(
            setting,
            format!("unknown value `{text}`"),
            format!("use one of {}", names.join(", ")),
        );
        None
    }

    fn optional_choice<T: Copy>(
        &mut self,
        name: &'static str,
        options: &[(&str, T)],
        default: T,
    ) -> Option<T> {
        match self.get(name) {
            None => Some(default),
            Some(text) => self.choice(Setting::Env(name), &text, options),
        }
    }

    /// A variable the proxy mode requires.
    fn required_for(&mut self, name: &'static str, mode: &str, what: &str) -> Option<String> {
        let value = self.get(name);
        if value.is_none() {
            self.error(
                Setting::Env(name),
                format!("is required with `PROXY_AUTH_MODE={mode}`"),
                format!("set it to {what}"),
            );
        }
        value
    }

    fn process_config(mut self, overrides: &Overrides) -> Result<ProcessConfig, ConfigErrors> {
        let pattern = tenant_pattern(self.lookup, overrides)
            .map_err(|e| self.errors.push(e))
            .ok();
        let port = self.parsed(
            "PORT",
            51349,
            |t| t.parse().ok(),
            "use a port number from 0 to 65535",
        );
        let node_env = self.optional_choice(
            NODE_ENV,
            &[
                ("development", NodeEnv::Development),
                ("production", NodeEnv::Production),
                ("test", NodeEnv::Test),
            ],
            NodeEnv::Production,
        );
        let log_level = self.log_level(overrides);
        let diagnostics_policy = self.optional_choice(
            "LOGS_DIAGNOSTICS_DATA_POLICY",
            &[
                ("conceal", DiagnosticsPolicy::Conceal),
                ("disclose", DiagnosticsPolicy::Disclose),
            ],
            DiagnosticsPolicy::Conceal,
        );
        let health = self.health();
        let proxy = self.proxy();
        let no_proxy = self
            .get("NO_PROXY")
            .map(|text| NoProxy::parse(&text))
            .unwrap_or_default();
        let extra_ca_certs = self.get("NODE_EXTRA_CA_CERTS").map(PathBuf::from);
        let ssl_cert_file = self.get("SSL_CERT_FILE").map(PathBuf::from);
        let metrics = self.metrics();
        let state_dir = self.state_dir();
        let limits = self.limits();

        let build = || {
            Some(ProcessConfig {
                tenant_config_path_pattern: pattern?.0,
                port: port?,
                node_env: node_env?,
                log_level: log_level?,
                diagnostics_policy: diagnostics_policy?,
                health: health?,
                proxy: proxy?,
                no_proxy,
                extra_ca_certs,
                ssl_cert_file,
                metrics: metrics?,
                state_dir: state_dir?,
                limits: limits?,
            })
        };
        match build() {
            Some(config) => self.errors.into_result(config),
            None => Err(self.errors),
        }
    }

    /// `CONFLUENCE_CONNECTOR_STATE_DIR`, else `confluence-connector` in
    /// `TMPDIR` (else `/tmp`). Must be absolute: a relative path would move
    /// with the working directory and silently lose the state.
    fn state_dir(&mut self) -> Option<PathBuf> {
        match self.get(STATE_DIR) {
            Some(dir) if PathBuf::from(&dir).is_absolute() => Some(PathBuf::from(dir)),
            Some(dir) => {
                self.error(
                    Setting::Env(STATE_DIR),
                    format!("`{dir}` is not an absolute path"),
                    "use an absolute directory path, e.g. `/var/lib/confluence-connector`",
                );
                None
            }
            None => Some(
                self.get("TMPDIR")
                    .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
                    .join("confluence-connector"),
            ),
        }
    }

    fn limits(&mut self) -> Option<WorkLimits> {
        let defaults = WorkLimits::default();
        let seconds = |t: &str| t.parse::<u64>().ok().filter(|&s| s > 0);
        let upload_stall = self.parsed(
            UPLOAD_STALL_TIMEOUT,
            defaults.upload_stall.as_secs(),
            seconds,
            "use a whole number of seconds, at least 1, such as `120`",
        );
        let cycle_stuck_after = self.parsed(
            CYCLE_STUCK_AFTER,
            defaults.cycle_stuck_after.as_secs(),
            seconds,
            "use a whole number of seconds, at least 1, such as `14400` (four hours)",
        );
        Some(WorkLimits {
            upload_stall: Duration::from_secs(upload_stall?),
            cycle_stuck_after: Duration::from_secs(cycle_stuck_after?),
        })
    }

    fn log_level(&mut self, overrides: &Overrides) -> Option<LogLevel> {
        let (setting, text) = match overrides.log_level.as_deref() {
            Some(text) => (Setting::Flag("--log-level"), text.trim().to_owned()),
            None => match self.get(LOG_LEVEL) {
                Some(text) => (Setting::Env(LOG_LEVEL), text),
                None => return Some(LogLevel::default()),
            },
        };
        let levels = LogLevel::ALL.map(|level| (level.as_str(), level));
        self.choice(setting, &text, &levels)
    }

    fn health(&mut self) -> Option<HealthSettings> {
        let history = self.parsed(
            "HEALTH_SYNC_HISTORY_SIZE",
            NonZeroU32::new(5).expect("5 is not zero"),
            |t| t.parse().ok(),
            "use a whole number of at least 1",
        );
        let threshold = self.parsed(
            "HEALTH_SYNC_TENANT_FAILURE_THRESHOLD",
            0.5,
            |t| t.parse::<f64>().ok().filter(|f| (0.0..=1.0).contains(f)),
            "use a number from 0 to 1, such as `0.5`",
        );
        let timeout_ms = self.parsed(
            "HEALTH_CONNECTIVITY_TIMEOUT_MS",
            3000,
            |t| t.parse::<u64>().ok().filter(|&ms| ms > 0),
            "use a whole number of milliseconds, at least 1",
        );
        Some(HealthSettings {
            sync_history_size: history?,
            tenant_failure_threshold: threshold?,
            connectivity_timeout: Duration::from_millis(timeout_ms?),
        })
    }

    fn proxy(&mut self) -> Option<Proxy> {
        // Checked in every mode, so that a broken value is found before it is needed.
        let headers = self.proxy_headers();
        let modes = [
            ("none", None),
            ("no_auth", Some(ProxyMode::NoAuth)),
            ("username_password", Some(ProxyMode::UsernamePassword)),
            ("ssl_tls", Some(ProxyMode::SslTls)),
        ];
        let Some(mode) = self.optional_choice("PROXY_AUTH_MODE", &modes, None)? else {
            return Some(Proxy::Disabled);
        };
        let mode_name = modes
            .iter()
            .find(|(_, m)| *m == Some(mode))
            .map_or("", |(name, _)| name);
        let host = self.required_for("PROXY_HOST", mode_name, "the proxy's host name");
        let port = self
            .required_for("PROXY_PORT", mode_name, "the proxy's port")
            .and_then(|text| {
                let port = text.parse::<NonZeroU16>().ok();
                if port.is_none() {
                    self.error(
                        Setting::Env("PROXY_PORT"),
                        format!("`{text}` is not valid"),
                        "use a port number from 1 to 65535",
                    );
                }
                port
            });
        let protocol = self
            .required_for("PROXY_PROTOCOL", mode_name, "`http` or `https`")
            .and_then(|text| {
                self.choice(
                    Setting::Env("PROXY_PROTOCOL"),
                    &text,
                    &[
                        ("http", ProxyProtocol::Http),
                        ("https", ProxyProtocol::Https),
                    ],
                )
            });
        let auth = match mode {
            ProxyMode::NoAuth => Some(ProxyAuth::NoAuth),
            ProxyMode::UsernamePassword => {
                let username =
                    self.required_for("PROXY_USERNAME", mode_name, "the proxy user name");
                let password = self
                    .required_for("PROXY_PASSWORD", mode_name, "the proxy password")
                    .map(SecretString::from);
                username
                    .zip(password)
                    .map(|(username, password)| ProxyAuth::UsernamePassword { username, password })
            }
            ProxyMode::SslTls => {
                let cert = self.required_for(
                    "PROXY_SSL_CERT_PATH",
                    mode_name,
                    "the client certificate (PEM) path",
                );
                let key =
                    self.required_for("PROXY_SSL_KEY_PATH", mode_name, "the client key (PEM) path");
                cert.zip(key).map(|(cert, key)| ProxyAuth::SslTls {
                    cert_path: cert.into(),
                    key_path: key.into(),
                })
            }
        };
        Some(Proxy::Enabled(ProxySettings {
            protocol: protocol?,
            host: host?,
            port: port?,
            auth: auth?,
            ca_bundle_path: self.get("PROXY_SSL_CA_BUNDLE_PATH").map(PathBuf::from),
            headers: headers?,
        }))
    }

    /// `PROXY_HEADERS`. Its values may be credentials, so neither the value
    /// nor serde_json's message (which can quote it) is repeated.
    fn proxy_headers(&mut self) -> Option<BTreeMap<String, String>> {
        let Some(text) = self.get("PROXY_HEADERS") else {
            return Some(BTreeMap::new());
        };
        serde_json::from_str(&text)
            .map_err(|e| {
                self.error(
                    Setting::Env("PROXY_HEADERS"),
                    format!("is not a JSON object of strings (line {}, column {})", e.line(), e.column()),
                    "use a JSON object of header names to string values, such as `{\"X-Proxy-Team\":\"search\"}`",
                );
            })
            .ok()
    }

    fn metrics(&mut self) -> Option<MetricsSettings> {
        let exporter = self.optional_choice(
            "OTEL_METRICS_EXPORTER",
            &[
                ("otlp", MetricsExporter::Otlp),
                ("prometheus", MetricsExporter::Prometheus),
                ("console", MetricsExporter::Console),
                ("none", MetricsExporter::None),
            ],
            MetricsExporter::Otlp,
        );
        let port = self.parsed(
            "OTEL_EXPORTER_PROMETHEUS_PORT",
            8081,
            |t| t.parse().ok(),
            "use a port number from 0 to 65535",
        );
        Some(MetricsSettings {
            exporter: exporter?,
            prometheus_host: self
                .get("OTEL_EXPORTER_PROMETHEUS_HOST")
                .unwrap_or_else(|| "localhost".to_owned()),
            prometheus_port: port?,
        })
    }
}

/// Trimmed, and `None` when empty.
fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    const PATTERN: (&str, &str) = (
        "TENANT_CONFIG_PATH_PATTERN",
        "/app/tenant-configs/*-tenant-config.yaml",
    );

    fn load(vars: &[(&str, &str)]) -> Result<ProcessConfig, Vec<String>> {
        load_with(vars, &Overrides::default())
    }

    fn load_with(
        vars: &[(&str, &str)],
        overrides: &Overrides,
    ) -> Result<ProcessConfig, Vec<String>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ProcessConfig::from_lookup(|name| vars.get(name).cloned(), overrides)
            .map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }

    fn invalid(vars: &[(&str, &str)]) -> Vec<String> {
        load(vars).expect_err("expected errors")
    }

    #[test]
    fn only_the_pattern_is_required_and_everything_else_has_its_default() {
        let config = load(&[PATTERN]).unwrap();
        assert_eq!(config.tenant_config_path_pattern, PATTERN.1);
        assert_eq!(config.port, 51349);
        assert_eq!(config.node_env, NodeEnv::Production);
        assert_eq!(config.log_level, LogLevel::Info);
        assert_eq!(config.diagnostics_policy, DiagnosticsPolicy::Conceal);
        assert_eq!(config.health.sync_history_size.get(), 5);
        assert_eq!(config.health.tenant_failure_threshold, 0.5);
        assert_eq!(
            config.health.connectivity_timeout,
            Duration::from_millis(3000)
        );
        assert!(matches!(config.proxy, Proxy::Disabled));
        assert!(config.no_proxy.entries().is_empty());
        assert_eq!(config.extra_ca_certs, None);
        assert_eq!(config.ssl_cert_file, None);
        assert_eq!(
            config.limits,
            WorkLimits {
                upload_stall: Duration::from_secs(120),
                cycle_stuck_after: Duration::from_secs(14400),
            }
        );
        assert_eq!(
            config.metrics,
            MetricsSettings {
                exporter: MetricsExporter::Otlp,
                prometheus_host: "localhost".to_owned(),
                prometheus_port: 8081
            }
        );
    }

    #[test]
    fn the_state_directory_defaults_to_tmpdir_and_must_be_absolute() {
        let default = load(&[PATTERN]).unwrap().state_dir;
        assert_eq!(default, PathBuf::from("/tmp/confluence-connector"));
        let in_tmpdir = load(&[PATTERN, ("TMPDIR", "/scratch")]).unwrap();
        assert_eq!(
            in_tmpdir.state_dir,
            PathBuf::from("/scratch/confluence-connector")
        );
        let chosen = load(&[PATTERN, (STATE_DIR, "/var/lib/cc")]).unwrap();
        assert_eq!(chosen.state_dir, PathBuf::from("/var/lib/cc"));
        assert_eq!(
            invalid(&[PATTERN, (STATE_DIR, "state")]),
            [
                "environment variable `CONFLUENCE_CONNECTOR_STATE_DIR`: `state` is not an \
                 absolute path; use an absolute directory path, e.g. `/var/lib/confluence-connector`"
            ]
        );
    }

    #[test]
    fn every_variable_is_read() {
        let config = load(&[
            PATTERN,
            ("PORT", "8080"),
            ("NODE_ENV", "development"),
            ("LOG_LEVEL", "debug"),
            ("LOGS_DIAGNOSTICS_DATA_POLICY", "disclose"),
            ("HEALTH_SYNC_HISTORY_SIZE", "10"),
            ("HEALTH_SYNC_TENANT_FAILURE_THRESHOLD", "0.25"),
            ("HEALTH_CONNECTIVITY_TIMEOUT_MS", "1500"),
            ("NO_PROXY", "internal.example, .svc.cluster.local"),
            ("NODE_EXTRA_CA_CERTS", "/etc/ssl/extra.pem"),
            ("SSL_CERT_FILE", "/etc/ssl/cert.pem"),
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0"),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", "51350"),
            ("MAX_HEAP_MB", "not even a number"),
            ("SOMETHING_ELSE", "ignored"),
            ("UNIQUE_UPLOAD_STALL_TIMEOUT_SECONDS", "30"),
            ("SYNC_CYCLE_STUCK_AFTER_SECONDS", "7200"),
        ])
        .unwrap();
        assert_eq!(config.limits.upload_stall, Duration::from_secs(30));
        assert_eq!(config.limits.cycle_stuck_after, Duration::from_secs(7200));
        assert_eq!(config.port, 8080);
        assert_eq!(config.node_env, NodeEnv::Development);
        assert_eq!(config.log_level, LogLevel::Debug);
        assert_eq!(config.diagnostics_policy, DiagnosticsPolicy::Disclose);
        assert_eq!(config.health.sync_history_size.get(), 10);
        assert_eq!(config.health.tenant_failure_threshold, 0.25);
        assert_eq!(
            config.health.connectivity_timeout,
            Duration::from_millis(1500)
        );
        assert_eq!(
            config.no_proxy.entries(),
            ["internal.example", ".svc.cluster.local"]
        );
        assert_eq!(
            config.extra_ca_certs,
            Some(PathBuf::from("/etc/ssl/extra.pem"))
        );
        assert_eq!(
            config.ssl_cert_file,
            Some(PathBuf::from("/etc/ssl/cert.pem"))
        );
        assert_eq!(config.metrics.exporter, MetricsExporter::Prometheus);
        assert_eq!(config.metrics.prometheus_host, "0.0.0.0");
        assert_eq!(config.metrics.prometheus_port, 51350);
    }

    #[test]
    fn work_limits_must_be_positive_whole_seconds() {
        for value in ["0", "-5", "1.5", "two minutes"] {
            let errors = invalid(&[PATTERN, ("UNIQUE_UPLOAD_STALL_TIMEOUT_SECONDS", value)]);
            assert_eq!(
                errors,
                [format!(
                    "environment variable `UNIQUE_UPLOAD_STALL_TIMEOUT_SECONDS`: `{value}` is not valid; \
                     use a whole number of seconds, at least 1, such as `120`"
                )]
            );
        }
        let errors = invalid(&[PATTERN, ("SYNC_CYCLE_STUCK_AFTER_SECONDS", "0")]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("environment variable `SYNC_CYCLE_STUCK_AFTER_SECONDS`: `0` is not valid; use a whole number of seconds"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_missing_pattern_says_how_to_set_it() {
        let errors = invalid(&[]);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with(
                "environment variable `TENANT_CONFIG_PATH_PATTERN`: is not set; set it to"
            ),
            "{errors:?}"
        );
        assert!(errors[0].contains("--config-glob"), "{errors:?}");
    }

    #[test]
    fn empty_values_count_as_unset() {
        assert!(load(&[PATTERN, ("PORT", ""), ("LOG_LEVEL", "  ")]).is_ok());
        assert!(load(&[("TENANT_CONFIG_PATH_PATTERN", " ")]).is_err());
    }

    #[test]
    fn cli_flags_override_their_variables() {
        let overrides = Overrides {
            config_glob: Some("/x/*-tenant-config.yaml".to_owned()),
            log_level: Some("trace".to_owned()),
        };
        let config = load_with(&[PATTERN, ("LOG_LEVEL", "nonsense")], &overrides).unwrap();
        assert_eq!(config.tenant_config_path_pattern, "/x/*-tenant-config.yaml");
        assert_eq!(config.log_level, LogLevel::Trace);
        let config = load_with(
            &[("LOG_LEVEL", "warn")],
            &Overrides {
                config_glob: Some("/y/*".to_owned()),
                log_level: None,
            },
        )
        .unwrap();
        assert_eq!(
            (config.tenant_config_path_pattern.as_str(), config.log_level),
            ("/y/*", LogLevel::Warn)
        );
    }

    #[test]
    fn an_invalid_log_level_names_the_variable_or_the_flag_and_the_choices() {
        assert_eq!(
            invalid(&[PATTERN, ("LOG_LEVEL", "verbose")]),
            [
                "environment variable `LOG_LEVEL`: unknown value `verbose`; use one of `fatal`, `error`, `warn`, `info`, `debug`, `trace`, `silent`"
            ]
        );
        let overrides = Overrides {
            log_level: Some("loud".to_owned()),
            ..Overrides::default()
        };
        let errors = load_with(&[PATTERN], &overrides).unwrap_err();
        assert!(
            errors[0].starts_with("`--log-level`: unknown value `loud`"),
            "{errors:?}"
        );
    }

    #[test]
    fn every_invalid_variable_is_reported_at_once() {
        let errors = invalid(&[
            ("PORT", "70000"),
            ("NODE_ENV", "staging"),
            ("LOGS_DIAGNOSTICS_DATA_POLICY", "reveal"),
            ("HEALTH_SYNC_HISTORY_SIZE", "0"),
            ("HEALTH_SYNC_TENANT_FAILURE_THRESHOLD", "1.5"),
            ("HEALTH_CONNECTIVITY_TIMEOUT_MS", "-1"),
            ("OTEL_METRICS_EXPORTER", "statsd"),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", "x"),
        ]);
        let variables: Vec<_> = errors.iter().filter_map(|e| e.split('`').nth(1)).collect();
        assert_eq!(
            variables,
            [
                "TENANT_CONFIG_PATH_PATTERN",
                "PORT",
                "NODE_ENV",
                "LOGS_DIAGNOSTICS_DATA_POLICY",
                "HEALTH_SYNC_HISTORY_SIZE",
                "HEALTH_SYNC_TENANT_FAILURE_THRESHOLD",
                "HEALTH_CONNECTIVITY_TIMEOUT_MS",
                "OTEL_METRICS_EXPORTER",
                "OTEL_EXPORTER_PROMETHEUS_PORT",
            ]
        );
        assert!(
            errors[1].contains("`70000` is not valid; use a port number from 0 to 65535"),
            "{errors:#?}"
        );
        assert!(
            errors[3].contains("use one of `conceal`, `disclose`"),
            "{errors:#?}"
        );
    }

    #[test]
    fn proxy_modes_require_their_fields() {
        let errors = invalid(&[PATTERN, ("PROXY_AUTH_MODE", "no_auth")]);
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(
            errors[0].starts_with(
                "environment variable `PROXY_HOST`: is required with `PROXY_AUTH_MODE=no_auth`"
            ),
            "{errors:#?}"
        );
        let errors = invalid(&[
            PATTERN,
            ("PROXY_AUTH_MODE", "username_password"),
            ("PROXY_HOST", "proxy"),
            ("PROXY_PORT", "3128"),
            ("PROXY_PROTOCOL", "http"),
        ]);
        let variables: Vec<_> = errors.iter().filter_map(|e| e.split('`').nth(1)).collect();
        assert_eq!(variables, ["PROXY_USERNAME", "PROXY_PASSWORD"]);
        let errors = invalid(&[
            PATTERN,
            ("PROXY_AUTH_MODE", "ssl_tls"),
            ("PROXY_HOST", "proxy"),
            ("PROXY_PORT", "0"),
            ("PROXY_PROTOCOL", "socks"),
        ]);
        let variables: Vec<_> = errors.iter().filter_map(|e| e.split('`').nth(1)).collect();
        assert_eq!(
            variables,
            [
                "PROXY_PORT",
                "PROXY_PROTOCOL",
                "PROXY_SSL_CERT_PATH",
                "PROXY_SSL_KEY_PATH"
            ]
        );
        assert_eq!(
            invalid(&[PATTERN, ("PROXY_AUTH_MODE", "kerberos")]).len(),
            1
        );
    }

    #[test]
    fn a_complete_proxy() {
        let config = load(&[
            PATTERN,
            ("PROXY_AUTH_MODE", "username_password"),
            ("PROXY_HOST", "proxy.corp"),
            ("PROXY_PORT", "3128"),
            ("PROXY_PROTOCOL", "https"),
            ("PROXY_USERNAME", "svc"),
            ("PROXY_PASSWORD", "proxy-password-value"),
            ("PROXY_SSL_CA_BUNDLE_PATH", "/etc/proxy-ca.pem"),
            (
                "PROXY_HEADERS",
                r#"{"Proxy-Authorization":"Bearer header-secret-value"}"#,
            ),
        ])
        .unwrap();
        let Proxy::Enabled(proxy) = &config.proxy else {
            panic!("expected a proxy")
        };
        assert_eq!(proxy.url(), "https://proxy.corp:3128");
        assert_eq!(
            proxy.ca_bundle_path,
            Some(PathBuf::from("/etc/proxy-ca.pem"))
        );
        assert_eq!(
            proxy.headers["Proxy-Authorization"],
            "Bearer header-secret-value"
        );
        let ProxyAuth::UsernamePassword { username, password } = &proxy.auth else {
            panic!("expected username_password")
        };
        assert_eq!(
            (username.as_str(), password.expose_secret()),
            ("svc", "proxy-password-value")
        );
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("proxy-password-value") && !debug.contains("header-secret-value"),
            "{debug}"
        );
        assert!(debug.contains("Proxy-Authorization"), "{debug}");
    }

    #[test]
    fn proxy_headers_must_be_a_json_object_and_are_not_echoed() {
        let errors = invalid(&[
            PATTERN,
            (
                "PROXY_HEADERS",
                r#"{"Proxy-Authorization": ["s3cr3t-token"]}"#,
            ),
        ]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("environment variable `PROXY_HEADERS`: is not a JSON object of strings (line 1, column"), "{errors:?}");
        assert!(!errors[0].contains("s3cr3t-token"), "{errors:?}");
    }

    #[test]
    fn no_proxy_matches_hosts_and_their_subdomains() {
        let no_proxy = NoProxy::parse("Corp.Example, .svc.local,*.internal, ,");
        assert_eq!(
            no_proxy.entries(),
            ["corp.example", ".svc.local", "*.internal"]
        );
        assert!(no_proxy.matches("corp.example"));
        assert!(no_proxy.matches("wiki.CORP.example."));
        assert!(!no_proxy.matches("notcorp.example"));
        assert!(no_proxy.matches("unique.svc.local"));
        assert!(!no_proxy.matches("svc.local"));
        assert!(no_proxy.matches("a.internal"));
        assert!(!no_proxy.matches("internal"));
        assert!(NoProxy::parse("*").matches("anything.example"));
        assert!(!NoProxy::default().matches("anything.example"));
    }

    #[test]
    fn log_settings_fall_back_to_defaults_on_invalid_values() {
        let vars = |name: &str| (name == "LOG_LEVEL").then(|| "nonsense".to_owned());
        assert_eq!(log_settings(vars, &Overrides::default()).0, LogLevel::Info);
        let overrides = Overrides {
            log_level: Some("error".to_owned()),
            ..Overrides::default()
        };
        assert_eq!(log_settings(vars, &overrides).0, LogLevel::Error);
    }
}
