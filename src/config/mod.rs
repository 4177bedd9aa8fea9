//! Configuration: the process environment (PROTOCOL §2.1) and the tenant
//! files (§3), loaded once at start.
//!
//! [`load`] reads both and reports every problem it finds in one
//! [`ConfigErrors`], each naming the variable or the file and field path,
//! and the fix. Tenant files go through two layers: a serde mirror of the
//! YAML (`raw`), then validation into the types of [`validated`] (`validate`).
//! Unknown keys are warnings, not errors (`ADR/0003`).
//!
//! Secrets (`os.environ/NAME` references and literal values alike) are
//! [`secrecy::SecretString`]s from the moment they are read; no `Debug` or
//! `Display` here shows one.
//!
//! All environment access goes through a lookup function, so callers (and
//! tests) decide where variables come from.

mod env;
mod error;
mod load;
mod raw;
mod secret;
mod validate;
pub mod validated;

pub use env::{
    HealthSettings, MetricsExporter, MetricsSettings, NoProxy, NodeEnv, Overrides, ProcessConfig,
    Proxy, ProxyAuth, ProxyProtocol, ProxySettings, WorkLimits, log_settings,
};
pub use error::{ConfigError, ConfigErrors, ConfigWarning, Setting};
pub use validated::{
    AttachmentsConfig, ConfiguredUrl, ConfluenceAuth, ConfluenceConfig, ConfluenceInstance,
    CronSchedule, IngestionConfig, InstanceType, KeyFormat, Label, ProcessingConfig, TenantConfig,
    TenantName, TenantStatus, UniqueAuth, UniqueConfig,
};

/// A configuration that passed every check.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub process: ProcessConfig,
    /// The tenants to run: `active` ones sync, `deleted` ones purge (§9.12).
    /// In file (glob) order.
    pub tenants: Vec<TenantConfig>,
    /// `status: inactive` tenants: fully validated, then not run at all
    /// (no schedule, no health entry, no metrics). Kept for reporting.
    pub inactive: Vec<TenantConfig>,
    /// Everything worth the operator's attention; each was also logged at
    /// `warn` during [`load`].
    pub warnings: Vec<ConfigWarning>,
}

impl LoadedConfig {
    /// The tenant called `name`, among those that run.
    pub fn tenant(&self, name: &str) -> Option<&TenantConfig> {
        self.tenants
            .iter()
            .find(|tenant| tenant.name.as_str() == name)
    }
}

/// Loads the process settings and every tenant file.
///
/// `lookup` returns the value of an environment variable (for example
/// `|name| std::env::var(name).ok()`); it serves both the variables of
/// §2.1 and the `os.environ/NAME` references of the tenant files.
/// Nothing is sent over the network.
///
/// # Errors
///
/// Every problem found: invalid variables, unreadable or invalid tenant
/// files, duplicate tenant names or instances, no tenant left to run. The
/// tenant files are checked even when some variable is invalid, as long as
/// the file pattern is known.
pub fn load(
    lookup: impl Fn(&str) -> Option<String>,
    overrides: &Overrides,
) -> Result<LoadedConfig, ConfigErrors> {
    let lookup: &dyn Fn(&str) -> Option<String> = &lookup;
    let mut errors = ConfigErrors::default();
    let process = ProcessConfig::from_lookup(lookup, overrides)
        .map_err(|e| errors.extend(e))
        .ok();

    let mut warnings = Vec::new();
    // `from_lookup` has reported a missing pattern already.
    let tenants = env::tenant_pattern(lookup, overrides)
        .ok()
        .map(|(pattern, origin)| {
            load::tenants(&pattern, origin, lookup, &mut errors, &mut warnings)
        });
    for warning in &warnings {
        warning.log();
    }
    match (process, tenants) {
        (Some(process), Some(tenants)) => errors.into_result(LoadedConfig {
            process,
            tenants: tenants.running,
            inactive: tenants.inactive,
            warnings,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, fs, path::Path};

    use super::*;

    /// Distinctive values that must never appear in any output.
    const SECRETS: [&str; 7] = [
        "PAT-9f8e7d6c5b4a",
        "CLIENT-SECRET-1a2b3c4d",
        "ZITADEL-SECRET-5e6f7a8b",
        "ZITADEL-PROJECT-0c9d8e7f",
        "BASIC-PASSWORD-3b4c5d6e",
        "PROXY-PASSWORD-7f8a9b0c",
        "BASIC-USERNAME-2a3b4c5d",
    ];

    /// Writes `{name}-tenant-config.yaml`; `scopeId: root` becomes
    /// `root-{name}`, since files may not share a root scope.
    fn write(dir: &Path, name: &str, yaml: &str) {
        let yaml = yaml.replace("scopeId: root\n", &format!("scopeId: root-{name}\n"));
        fs::write(dir.join(format!("{name}-tenant-config.yaml")), yaml).unwrap();
    }

    /// Three tenants using every secret field, plus a proxy password.
    fn secret_fixture(dir: &Path) -> HashMap<String, String> {
        let unique_external = "\
unique:
  serviceAuthMode: external
  zitadelOauthTokenUrl: https://id.example.com/oauth/v2/token
  zitadelProjectId: os.environ/ZITADEL_PROJECT_ID
  zitadelClientId: connector
  zitadelClientSecret: os.environ/ZITADEL_CLIENT_SECRET
  ingestionServiceBaseUrl: https://gw.example.com/ingestion
  scopeManagementServiceBaseUrl: https://gw.example.com/scope-management
ingestion:
  scopeId: root
";
        let confluence = |instance: &str, auth: &str| {
            format!(
                "confluence:\n  {instance}\n  auth: {auth}\n  apiRateLimitPerMinute: 60\n  ingestSingleLabel: a\n  ingestAllLabel: b\n{unique_external}"
            )
        };
        write(
            dir,
            "cloud",
            &confluence(
                "instanceType: cloud\n  baseUrl: https://acme.atlassian.net\n  cloudId: c1",
                "{mode: oauth_2lo, clientId: id, clientSecret: os.environ/CONFLUENCE_CLIENT_SECRET}",
            ),
        );
        write(
            dir,
            "pat",
            &confluence(
                "instanceType: data-center\n  baseUrl: https://one.example",
                "{mode: pat, token: os.environ/CONFLUENCE_PAT}",
            ),
        );
        write(
            dir,
            "basic",
            &confluence(
                "instanceType: data-center\n  baseUrl: https://two.example",
                "{mode: basic, username: os.environ/CONFLUENCE_USERNAME, password: BASIC-PASSWORD-3b4c5d6e}",
            ),
        );
        [
            (
                "TENANT_CONFIG_PATH_PATTERN",
                format!("{}/*-tenant-config.yaml", dir.display()),
            ),
            ("CONFLUENCE_PAT", SECRETS[0].to_owned()),
            ("CONFLUENCE_CLIENT_SECRET", SECRETS[1].to_owned()),
            ("ZITADEL_CLIENT_SECRET", SECRETS[2].to_owned()),
            ("ZITADEL_PROJECT_ID", SECRETS[3].to_owned()),
            ("PROXY_PASSWORD", SECRETS[5].to_owned()),
            ("CONFLUENCE_USERNAME", SECRETS[6].to_owned()),
            ("PROXY_AUTH_MODE", "username_password".to_owned()),
            ("PROXY_HOST", "proxy.corp".to_owned()),
            ("PROXY_PORT", "3128".to_owned()),
            ("PROXY_PROTOCOL", "http".to_owned()),
            ("PROXY_USERNAME", "svc".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    fn assert_no_secret(text: &str) {
        for secret in SECRETS {
            assert!(!text.contains(secret), "`{secret}` leaked into:\n{text}");
        }
    }

    #[test]
    fn no_secret_appears_in_the_debug_of_the_loaded_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let env = secret_fixture(dir.path());
        let config = load(|name| env.get(name).cloned(), &Overrides::default()).unwrap();
        assert_eq!(config.tenants.len(), 3);
        assert_no_secret(&format!("{config:?}"));
        assert_no_secret(&format!("{config:#?}"));
    }

    #[test]
    fn no_secret_appears_in_errors_or_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = secret_fixture(dir.path());
        // Secret values in places that produce errors and warnings.
        write(
            dir.path(),
            "broken",
            "confluence:\n  instanceType: data-center\n  baseUrl: https://three.example\n  \
             auth: {mode: basic, username: 'BASIC-USERNAME-2a3b4c5d', password: [BASIC-PASSWORD-3b4c5d6e]}\n\
             unique:\n  serviceAuthMode: external\n  zitadelClientSecret: 7777777\n  zitadelProjectId: '   '\n\
             ingestion:\n  scopeId: root\n  unknownKey: PAT-9f8e7d6c5b4a\n",
        );
        env.insert(
            "CONFLUENCE_PAT".to_owned(),
            "<TO BE SET MANUALLY>".to_owned(),
        );
        env.insert(
            "PROXY_HEADERS".to_owned(),
            r#"{"Proxy-Authorization": ["PROXY-PASSWORD-7f8a9b0c"]}"#.to_owned(),
        );
        let errors = load(|name| env.get(name).cloned(), &Overrides::default()).unwrap_err();
        assert!(errors.len() >= 5, "{errors}");
        assert_no_secret(&errors.to_string());
        assert_no_secret(&format!("{errors:?}"));
        assert!(!errors.to_string().contains("7777777"), "{errors}");

        // Warnings come with a successful load; remove the broken file.
        fs::remove_file(dir.path().join("broken-tenant-config.yaml")).unwrap();
        env.remove("PROXY_HEADERS");
        let config = load(|name| env.get(name).cloned(), &Overrides::default()).unwrap();
        assert!(
            config
                .warnings
                .iter()
                .any(|w| matches!(w, ConfigWarning::Placeholder { .. })),
            "{:?}",
            config.warnings
        );
        for warning in &config.warnings {
            assert_no_secret(&format!("{warning} {warning:?}"));
        }
    }

    #[test]
    fn an_error_about_a_secret_field_does_not_echo_its_value() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = secret_fixture(dir.path());
        // A numeric literal is a wrong type; the message must not quote it.
        fs::write(
            dir.path().join("pat-tenant-config.yaml"),
            fs::read_to_string(dir.path().join("pat-tenant-config.yaml"))
                .unwrap()
                .replace("os.environ/CONFLUENCE_PAT", "9876543210123"),
        )
        .unwrap();
        env.insert("CONFLUENCE_CLIENT_SECRET".to_owned(), "   ".to_owned());
        let errors = load(|name| env.get(name).cloned(), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            errors.contains("`confluence.auth.token`: must be a string"),
            "{errors}"
        );
        assert!(!errors.contains("9876543210123"), "{errors}");
        assert!(errors.contains("`confluence.auth.clientSecret`: environment variable `CONFLUENCE_CLIENT_SECRET` is empty"), "{errors}");
    }

    #[test]
    fn environment_and_file_errors_are_reported_together() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = secret_fixture(dir.path());
        env.insert("LOG_LEVEL".to_owned(), "chatty".to_owned());
        env.remove("CONFLUENCE_PAT");
        let errors: Vec<_> = load(|name| env.get(name).cloned(), &Overrides::default())
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors[0].starts_with("environment variable `LOG_LEVEL`"),
            "{errors:#?}"
        );
        assert!(
            errors[1].contains("environment variable `CONFLUENCE_PAT` is not set"),
            "{errors:#?}"
        );
    }

    #[test]
    fn tenants_are_found_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let env = secret_fixture(dir.path());
        let config = load(|name| env.get(name).cloned(), &Overrides::default()).unwrap();
        assert_eq!(
            config.tenant("pat").map(|t| t.confluence.auth.mode()),
            Some("pat")
        );
        assert!(config.tenant("nobody").is_none());
    }
}
