//! Raw → validated tenant configuration (PROTOCOL §3.3–§3.7).
//!
//! A [`Checker`] walks one file's [`RawTenant`] and records every problem
//! with its field path instead of stopping at the first. A field whose check
//! failed yields `None`, and whatever depends on it is skipped rather than
//! reported again: an unknown `auth.mode` gives one error, not one per
//! missing credential of some guessed mode.
//!
//! `?` appears only where a value is finally assembled, after every check
//! of that part has run; an early return would hide later problems.
//!
//! This is a function over a context rather than `TryFrom`, because the
//! conversion needs the file path (for messages) and the environment lookup
//! (for `os.environ/` references).

use std::{
    collections::BTreeMap,
    num::NonZeroU32,
    path::{Path, PathBuf},
};

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value as Json;
use serde_yaml::Value;

use super::{
    error::{ConfigError, ConfigWarning},
    raw::{
        Leaf, RawAttachments, RawConfluence, RawConfluenceAuth, RawIngestion, RawProcessing,
        RawTenant, RawUnique, Section, kind,
    },
    secret::{self, REFERENCE_PREFIX},
    validated::{
        AttachmentsConfig, ConfiguredUrl, ConfluenceAuth, ConfluenceConfig, ConfluenceInstance,
        CronSchedule, DEFAULT_ALLOWED_MIME_TYPES, DEFAULT_API_GATEWAY_URL, DEFAULT_DELETION_HOLD,
        DEFAULT_MAX_FILE_SIZE_MB, DEFAULT_SCAN_INTERVAL_CRON, DEFAULT_UNIQUE_RATE_LIMIT_PER_MINUTE,
        IngestionConfig, InstanceType, KeyFormat, Label, ProcessingConfig, TenantConfig,
        TenantName, TenantStatus, UniqueAuth, UniqueConfig,
    },
};

const STATUSES: [(&str, TenantStatus); 3] = [
    ("active", TenantStatus::Active),
    ("inactive", TenantStatus::Inactive),
    ("deleted", TenantStatus::Deleted),
];
const INSTANCE_TYPES: [(&str, InstanceType); 2] = [
    ("cloud", InstanceType::Cloud),
    ("data-center", InstanceType::DataCenter),
];
/// `cluster_local` tenants identify themselves to Unique with these (§6.2).
const REQUIRED_SERVICE_HEADERS: [&str; 2] = ["x-company-id", "x-user-id"];
const TOGGLE: [(&str, bool); 2] = [("enabled", true), ("disabled", false)];

#[derive(Clone, Copy, PartialEq, Eq)]
enum AuthMode {
    OAuth2lo,
    Pat,
    Basic,
}
const AUTH_MODES: [(&str, AuthMode); 3] = [
    ("oauth_2lo", AuthMode::OAuth2lo),
    ("pat", AuthMode::Pat),
    ("basic", AuthMode::Basic),
];

#[derive(Clone, Copy)]
enum ServiceAuthMode {
    ClusterLocal,
    External,
}
const SERVICE_AUTH_MODES: [(&str, ServiceAuthMode); 2] = [
    ("cluster_local", ServiceAuthMode::ClusterLocal),
    ("external", ServiceAuthMode::External),
];

/// Whether a numeric field also accepts a quoted number (PROTOCOL §3.4,
/// §3.6 say which ones do).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Numeric {
    StringsCoerced,
    YamlNumberOnly,
}

/// Validation state of one tenant file.
pub(super) struct Checker<'a> {
    file: &'a Path,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
}

impl<'a> Checker<'a> {
    pub fn new(file: &'a Path, lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Checker {
            file,
            lookup,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn path(&self) -> PathBuf {
        self.file.to_owned()
    }

    fn error(&mut self, field: &str, problem: impl Into<String>, fix: impl Into<String>) {
        self.errors.push(ConfigError::Field {
            path: self.path(),
            field: field.to_owned(),
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    /// Warns about a key that is valid in the schema but ignored here.
    fn unused(&mut self, field: &str, value: &Leaf, reason: &str) {
        if value.is_some() {
            self.warnings.push(ConfigWarning::UnusedKey {
                path: self.path(),
                key: field.to_owned(),
                reason: reason.to_owned(),
            });
        }
    }

    /// The value of a required key, or an error naming an example value.
    fn require(&mut self, field: &str, value: Leaf, example: &str) -> Option<Value> {
        if value.is_none() {
            let fix = match field.rsplit_once('.') {
                Some((parent, key)) => format!("add `{key}: {example}` under `{parent}`"),
                None => format!("add `{field}: {example}`"),
            };
            self.error(field, "is missing or empty", fix);
        }
        value
    }

    fn section<T: Default>(
        &mut self,
        field: &str,
        section: Section<T>,
        required: bool,
    ) -> Option<T> {
        match section {
            Section::Present(raw) => Some(raw),
            Section::Absent if !required => Some(T::default()),
            Section::Absent => {
                self.error(
                    field,
                    "is missing or empty",
                    "add this section; docs/configuration.md lists its keys",
                );
                None
            }
            Section::NotAMapping(found) => {
                self.error(
                    field,
                    format!("must be a mapping, found {found}"),
                    "write it as indented `key: value` lines",
                );
                None
            }
        }
    }

    /// A non-empty string taken literally.
    fn text(&mut self, field: &str, value: Value) -> Option<String> {
        match value {
            Value::String(text) if text.trim().is_empty() => {
                self.error(field, "is empty", "set a value");
                None
            }
            Value::String(text) => {
                self.warn_if_reference(field, &text);
                Some(text)
            }
            other => {
                self.error(
                    field,
                    format!("must be a string, found {}", kind(&other)),
                    "put the value in quotes",
                );
                None
            }
        }
    }

    /// `os.environ/` on a field that does not resolve it is probably a
    /// mistake, but the reference takes it literally, so this only warns.
    fn warn_if_reference(&mut self, field: &str, text: &str) {
        if text.trim_start().starts_with(REFERENCE_PREFIX) {
            self.warnings.push(ConfigWarning::LiteralReference {
                path: self.path(),
                field: field.to_owned(),
            });
        }
    }

    fn choice<T: Copy>(&mut self, field: &str, value: Value, options: &[(&str, T)]) -> Option<T> {
        let names = options
            .iter()
            .map(|(name, _)| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let problem = match &value {
            Value::String(text) => match options.iter().find(|(name, _)| name == text) {
                Some(&(_, choice)) => return Some(choice),
                None => format!("unknown value `{text}`"),
            },
            other => format!("must be a string, found {}", kind(other)),
        };
        self.error(field, problem, format!("use one of {names}"));
        None
    }

    /// `enabled` / `disabled`. An empty string counts as unset, because the
    /// reference chart renders unset values that way (PROTOCOL §14.8).
    fn toggle(&mut self, field: &str, value: Leaf, default: bool) -> Option<bool> {
        match value {
            None => Some(default),
            Some(Value::String(text)) if text.is_empty() => Some(default),
            Some(value) => self.choice(field, value, &TOGGLE),
        }
    }

    fn positive_int(&mut self, field: &str, value: &Value, numeric: Numeric) -> Option<NonZeroU32> {
        let fix = "set a whole number of at least 1";
        let number = match value {
            Value::Number(number) => {
                match number
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| number.as_u64().map(i128::from))
                {
                    Some(n) => n,
                    // JavaScript, and so the reference, has no separate
                    // integer type: `100.0` is the integer 100.
                    None => match number.as_f64() {
                        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => f as i128,
                        _ => {
                            self.error(field, format!("`{number}` is not a whole number"), fix);
                            return None;
                        }
                    },
                }
            }
            Value::String(text) if numeric == Numeric::StringsCoerced => {
                match text.trim().parse::<i128>() {
                    Ok(n) => n,
                    Err(_) => {
                        self.error(field, format!("`{text}` is not a whole number"), fix);
                        return None;
                    }
                }
            }
            Value::String(_) => {
                self.error(
                    field,
                    "must be a YAML number, not a string",
                    "remove the quotes around the number",
                );
                return None;
            }
            other => {
                self.error(
                    field,
                    format!("must be a whole number, found {}", kind(other)),
                    fix,
                );
                return None;
            }
        };
        match u32::try_from(number).ok().and_then(NonZeroU32::new) {
            Some(n) => Some(n),
            None if number < 1 => {
                self.error(field, format!("must be at least 1, found {number}"), fix);
                None
            }
            None => {
                self.error(
                    field,
                    format!("{number} is too large (at most {})", u32::MAX),
                    fix,
                );
                None
            }
        }
    }

    /// A whole number of at least 0 (YAML number only: a quoted `"0"` is
    /// more likely a mistake than a choice, and `0` switches a safety off).
    fn count(&mut self, field: &str, value: &Value) -> Option<u32> {
        let fix = "set a whole number of at least 0 (0 switches holding off)";
        match value {
            Value::Number(number) => match number.as_u64().map(u32::try_from) {
                Some(Ok(n)) => Some(n),
                Some(Err(_)) => {
                    self.error(
                        field,
                        format!("{number} is too large (at most {})", u32::MAX),
                        fix,
                    );
                    None
                }
                None if number.as_i64().is_some_and(|n| n < 0) => {
                    self.error(field, format!("must be at least 0, found {number}"), fix);
                    None
                }
                None => {
                    self.error(field, format!("`{number}` is not a whole number"), fix);
                    None
                }
            },
            Value::String(_) => {
                self.error(
                    field,
                    "must be a YAML number, not a string",
                    "remove the quotes around the number",
                );
                None
            }
            other => {
                self.error(
                    field,
                    format!("must be a whole number, found {}", kind(other)),
                    fix,
                );
                None
            }
        }
    }

    fn url(&mut self, field: &str, value: Value) -> Option<ConfiguredUrl> {
        let fix = "write an absolute http(s) URL without a trailing `/`, such as `https://confluence.example.com`";
        let Value::String(text) = value else {
            self.error(
                field,
                format!("must be a URL string, found {}", kind(&value)),
                fix,
            );
            return None;
        };
        ConfiguredUrl::parse(&text)
            .map_err(|problem| self.error(field, problem, fix))
            .ok()
    }

    fn label(&mut self, field: &str, value: Value) -> Option<Label> {
        let fix = "use a plain Confluence label such as `ai-ingest`";
        let Value::String(text) = value else {
            self.error(
                field,
                format!("must be a string, found {}", kind(&value)),
                fix,
            );
            return None;
        };
        self.warn_if_reference(field, &text);
        Label::parse(&text)
            .map_err(|problem| self.error(field, problem, fix))
            .ok()
    }

    fn cron(&mut self, field: &str, value: Value) -> Option<CronSchedule> {
        let fix = "use 5 fields (`minute hour day-of-month month day-of-week`) or 6 with leading seconds, \
                   such as `*/15 * * * *`";
        let Value::String(text) = value else {
            self.error(
                field,
                format!("must be a string, found {}", kind(&value)),
                fix,
            );
            return None;
        };
        CronSchedule::parse(&text)
            .map_err(|problem| self.error(field, problem, fix))
            .ok()
    }

    /// A secret field: a literal or `os.environ/NAME` (§3.2).
    fn secret(&mut self, field: &str, value: Value) -> Option<SecretString> {
        match secret::resolve(&value, self.lookup) {
            Ok(resolved) => {
                if resolved.is_placeholder() {
                    self.warnings.push(ConfigWarning::Placeholder {
                        path: self.path(),
                        field: field.to_owned(),
                        variable: resolved.variable,
                    });
                }
                Some(resolved.value)
            }
            Err(problem) => {
                let (problem, fix) = problem.describe();
                self.error(field, problem, fix);
                None
            }
        }
    }

    /// A client id: resolved like a secret (our superset of §3.2), but an
    /// identifier, so it is kept in the clear.
    fn client_id(&mut self, field: &str, value: Value) -> Option<String> {
        self.secret(field, value)
            .map(|id| id.expose_secret().to_owned())
    }

    fn service_headers(&mut self, field: &str, value: Value) -> Option<BTreeMap<String, String>> {
        let Value::Mapping(mapping) = value else {
            self.error(
                field,
                format!(
                    "must be a mapping of header names to values, found {}",
                    kind(&value)
                ),
                "list the headers as `name: value` lines, including `x-company-id` and `x-user-id`",
            );
            return None;
        };
        let before = self.errors.len();
        let mut headers = BTreeMap::new();
        let mut names = Vec::new();
        for (name, value) in mapping {
            let Value::String(name) = name else {
                self.error(
                    field,
                    format!("has a header name that is {}", kind(&name)),
                    "write header names as text",
                );
                continue;
            };
            let entry = format!("{field}.{name}");
            names.push(name.clone());
            if name.is_empty() || !name.bytes().all(is_header_name_byte) {
                self.error(
                    &entry,
                    "is not a valid HTTP header name",
                    "use letters, digits and `-` only",
                );
            }
            match value {
                Value::String(value)
                    if value.trim().is_empty()
                        && REQUIRED_SERVICE_HEADERS.contains(&name.as_str()) =>
                {
                    self.error(
                        &entry,
                        "is empty",
                        "set the value; `cluster_local` requires it",
                    );
                }
                Value::String(value) if value.chars().any(char::is_control) => {
                    self.error(
                        &entry,
                        "contains a control character",
                        "remove line breaks and tabs from the value",
                    );
                }
                Value::String(value) => {
                    headers.insert(name, value);
                }
                other => self.error(
                    &entry,
                    format!("must be a string, found {}", kind(&other)),
                    format!("quote the value, e.g. `{name}: \"…\"`"),
                ),
            }
        }
        // A required header that is present but invalid was reported above.
        for name in REQUIRED_SERVICE_HEADERS
            .into_iter()
            .filter(|name| !names.iter().any(|n| n == name))
        {
            self.error(
                &format!("{field}.{name}"),
                "is missing",
                format!("add `{name}: \"…\"` under `{field}`; `cluster_local` requires it"),
            );
        }
        let valid = self.errors.len() == before;
        valid.then_some(headers)
    }
}

/// RFC 9110 `token` characters.
fn is_header_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Validates a whole file. `None` when the file has errors (they are in the
/// checker), or when the file name gave no valid tenant name.
pub(super) fn tenant(
    c: &mut Checker<'_>,
    raw: RawTenant,
    name: Option<TenantName>,
) -> Option<TenantConfig> {
    let status = match raw.status {
        None => Some(TenantStatus::Active),
        Some(value) => c.choice("status", value, &STATUSES),
    };
    let confluence = c
        .section("confluence", raw.confluence, true)
        .and_then(|raw| confluence(c, raw));
    let unique = c
        .section("unique", raw.unique, true)
        .and_then(|raw| unique(c, raw));
    // Missing or `null` is `{}` (PROTOCOL §3.3, §14.8).
    let processing = c
        .section("processing", raw.processing, false)
        .and_then(|raw| processing(c, raw));
    let ingestion = c
        .section("ingestion", raw.ingestion, true)
        .and_then(|raw| ingestion(c, raw));
    Some(TenantConfig {
        name: name?,
        file: c.path(),
        status: status?,
        confluence: confluence?,
        unique: unique?,
        processing: processing?,
        ingestion: ingestion?,
    })
}

fn confluence(c: &mut Checker<'_>, raw: RawConfluence) -> Option<ConfluenceConfig> {
    let instance_type = c
        .require("confluence.instanceType", raw.instance_type, "cloud")
        .and_then(|value| c.choice("confluence.instanceType", value, &INSTANCE_TYPES));
    let base_url = c
        .require(
            "confluence.baseUrl",
            raw.base_url,
            "https://acme.atlassian.net",
        )
        .and_then(|value| c.url("confluence.baseUrl", value));
    let rate_limit = c
        .require(
            "confluence.apiRateLimitPerMinute",
            raw.api_rate_limit_per_minute,
            "100",
        )
        .and_then(|value| {
            c.positive_int(
                "confluence.apiRateLimitPerMinute",
                &value,
                Numeric::StringsCoerced,
            )
        });
    let single_label = c
        .require(
            "confluence.ingestSingleLabel",
            raw.ingest_single_label,
            "ai-ingest",
        )
        .and_then(|value| c.label("confluence.ingestSingleLabel", value));
    let all_label = c
        .require(
            "confluence.ingestAllLabel",
            raw.ingest_all_label,
            "ai-ingest-all",
        )
        .and_then(|value| c.label("confluence.ingestAllLabel", value));

    let instance = match instance_type {
        Some(InstanceType::Cloud) => {
            let cloud_id = c
                .require(
                    "confluence.cloudId",
                    raw.cloud_id,
                    "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
                )
                .and_then(|value| c.text("confluence.cloudId", value));
            let api_gateway_url = match raw.api_gateway_url {
                None => Some(
                    ConfiguredUrl::parse(DEFAULT_API_GATEWAY_URL)
                        .expect("the default gateway URL follows the URL rule"),
                ),
                Some(value) => c.url("confluence.apiGatewayUrl", value),
            };
            cloud_id
                .zip(api_gateway_url)
                .map(|(cloud_id, api_gateway_url)| ConfluenceInstance::Cloud {
                    cloud_id,
                    api_gateway_url,
                })
        }
        Some(InstanceType::DataCenter) => {
            c.unused(
                "confluence.cloudId",
                &raw.cloud_id,
                "only Cloud tenants have a cloud id",
            );
            if raw.api_gateway_url.is_some() {
                c.error(
                    "confluence.apiGatewayUrl",
                    "is only valid for Cloud tenants (`instanceType: cloud`)",
                    "remove it; Data Center is reached directly at `baseUrl`",
                );
                None
            } else {
                Some(ConfluenceInstance::DataCenter)
            }
        }
        None => None,
    };
    let auth = c
        .section("confluence.auth", raw.auth, true)
        .and_then(|raw| confluence_auth(c, raw, instance_type));
    Some(ConfluenceConfig {
        instance: instance?,
        base_url: base_url?,
        api_rate_limit_per_minute: rate_limit?,
        ingest_single_label: single_label?,
        ingest_all_label: all_label?,
        auth: auth?,
    })
}

fn confluence_auth(
    c: &mut Checker<'_>,
    mut raw: RawConfluenceAuth,
    instance_type: Option<InstanceType>,
) -> Option<ConfluenceAuth> {
    // An unknown mode stops here: listing the credentials some other mode
    // would need is noise.
    let mode = c
        .require("confluence.auth.mode", raw.mode.take(), "oauth_2lo")
        .and_then(|value| c.choice("confluence.auth.mode", value, &AUTH_MODES))?;
    let cloud_refused = mode != AuthMode::OAuth2lo && instance_type == Some(InstanceType::Cloud);
    if cloud_refused {
        c.error(
            "confluence.auth.mode",
            "`pat` and `basic` are only available on Data Center",
            "use `mode: oauth_2lo` with `clientId` and `clientSecret` for Cloud",
        );
    }
    let auth = match mode {
        AuthMode::OAuth2lo => oauth_2lo(c, raw),
        AuthMode::Pat => pat(c, raw),
        AuthMode::Basic => basic(c, raw),
    };
    auth.filter(|_| !cloud_refused)
}

fn oauth_2lo(c: &mut Checker<'_>, raw: RawConfluenceAuth) -> Option<ConfluenceAuth> {
    for (field, value) in [
        ("confluence.auth.token", &raw.token),
        ("confluence.auth.username", &raw.username),
        ("confluence.auth.password", &raw.password),
    ] {
        c.unused(field, value, "not used with `mode: oauth_2lo`");
    }
    let client_id = c
        .require("confluence.auth.clientId", raw.client_id, "my-client-id")
        .and_then(|value| c.client_id("confluence.auth.clientId", value));
    let client_secret = c
        .require(
            "confluence.auth.clientSecret",
            raw.client_secret,
            "os.environ/CONFLUENCE_CLIENT_SECRET",
        )
        .and_then(|value| c.secret("confluence.auth.clientSecret", value));
    Some(ConfluenceAuth::OAuth2lo {
        client_id: client_id?,
        client_secret: client_secret?,
    })
}

fn pat(c: &mut Checker<'_>, raw: RawConfluenceAuth) -> Option<ConfluenceAuth> {
    for (field, value) in [
        ("confluence.auth.clientId", &raw.client_id),
        ("confluence.auth.clientSecret", &raw.client_secret),
        ("confluence.auth.username", &raw.username),
        ("confluence.auth.password", &raw.password),
    ] {
        c.unused(field, value, "not used with `mode: pat`");
    }
    let token = c
        .require(
            "confluence.auth.token",
            raw.token,
            "os.environ/CONFLUENCE_PAT",
        )
        .and_then(|value| c.secret("confluence.auth.token", value));
    Some(ConfluenceAuth::Pat { token: token? })
}

fn basic(c: &mut Checker<'_>, raw: RawConfluenceAuth) -> Option<ConfluenceAuth> {
    for (field, value) in [
        ("confluence.auth.clientId", &raw.client_id),
        ("confluence.auth.clientSecret", &raw.client_secret),
        ("confluence.auth.token", &raw.token),
    ] {
        c.unused(field, value, "not used with `mode: basic`");
    }
    let username = c
        .require("confluence.auth.username", raw.username, "service-user")
        .and_then(|value| c.secret("confluence.auth.username", value));
    let password = c
        .require(
            "confluence.auth.password",
            raw.password,
            "os.environ/CONFLUENCE_PASSWORD",
        )
        .and_then(|value| c.secret("confluence.auth.password", value));
    Some(ConfluenceAuth::Basic {
        username: username?,
        password: password?,
    })
}

fn unique(c: &mut Checker<'_>, mut raw: RawUnique) -> Option<UniqueConfig> {
    let mode = c
        .require(
            "unique.serviceAuthMode",
            raw.service_auth_mode.take(),
            "cluster_local",
        )
        .and_then(|value| c.choice("unique.serviceAuthMode", value, &SERVICE_AUTH_MODES));
    let ingestion_url = c
        .require(
            "unique.ingestionServiceBaseUrl",
            raw.ingestion_service_base_url.take(),
            "http://node-ingestion.unique:8091",
        )
        .and_then(|value| c.url("unique.ingestionServiceBaseUrl", value));
    let scope_url = c
        .require(
            "unique.scopeManagementServiceBaseUrl",
            raw.scope_management_service_base_url.take(),
            "http://node-scope-management.unique:8094",
        )
        .and_then(|value| c.url("unique.scopeManagementServiceBaseUrl", value));
    let rate_limit = match &raw.api_rate_limit_per_minute {
        None => Some(DEFAULT_UNIQUE_RATE_LIMIT_PER_MINUTE),
        Some(value) => c.positive_int(
            "unique.apiRateLimitPerMinute",
            value,
            Numeric::StringsCoerced,
        ),
    };
    // Accepted for compatibility and not used (§3.5); only its shape is checked.
    if let Some(value) = raw
        .ingestion_config
        .as_ref()
        .filter(|value| !value.is_mapping())
    {
        c.error(
            "unique.ingestionConfig",
            format!("must be a mapping, found {}", kind(value)),
            "remove it (the connector does not use it) or write it as a mapping",
        );
    }
    // An unknown mode gives one error, not one per field of a guessed mode.
    let auth = mode.and_then(|mode| match mode {
        ServiceAuthMode::ClusterLocal => cluster_local(c, raw),
        ServiceAuthMode::External => external(c, raw),
    });
    Some(UniqueConfig {
        ingestion_service_base_url: ingestion_url?,
        scope_management_service_base_url: scope_url?,
        api_rate_limit_per_minute: rate_limit?,
        auth: auth?,
    })
}

fn cluster_local(c: &mut Checker<'_>, raw: RawUnique) -> Option<UniqueAuth> {
    for (field, value) in [
        ("unique.zitadelOauthTokenUrl", &raw.zitadel_oauth_token_url),
        ("unique.zitadelProjectId", &raw.zitadel_project_id),
        ("unique.zitadelClientId", &raw.zitadel_client_id),
        ("unique.zitadelClientSecret", &raw.zitadel_client_secret),
    ] {
        c.unused(
            field,
            value,
            "not used with `serviceAuthMode: cluster_local`",
        );
    }
    let headers = c
        .require(
            "unique.serviceExtraHeaders",
            raw.service_extra_headers,
            "{x-company-id: \"…\", x-user-id: \"…\"}",
        )
        .and_then(|value| c.service_headers("unique.serviceExtraHeaders", value));
    Some(UniqueAuth::ClusterLocal {
        service_extra_headers: headers?,
    })
}

fn external(c: &mut Checker<'_>, raw: RawUnique) -> Option<UniqueAuth> {
    c.unused(
        "unique.serviceExtraHeaders",
        &raw.service_extra_headers,
        "not used with `serviceAuthMode: external`",
    );
    let token_url = c
        .require(
            "unique.zitadelOauthTokenUrl",
            raw.zitadel_oauth_token_url,
            "https://id.example.com/oauth/v2/token",
        )
        .and_then(|value| c.url("unique.zitadelOauthTokenUrl", value));
    let project_id = c
        .require(
            "unique.zitadelProjectId",
            raw.zitadel_project_id,
            "os.environ/ZITADEL_PROJECT_ID",
        )
        .and_then(|value| c.secret("unique.zitadelProjectId", value));
    let client_id = c
        .require(
            "unique.zitadelClientId",
            raw.zitadel_client_id,
            "confluence-connector",
        )
        .and_then(|value| c.client_id("unique.zitadelClientId", value));
    let client_secret = c
        .require(
            "unique.zitadelClientSecret",
            raw.zitadel_client_secret,
            "os.environ/ZITADEL_CLIENT_SECRET",
        )
        .and_then(|value| c.secret("unique.zitadelClientSecret", value));
    Some(UniqueAuth::External {
        zitadel_oauth_token_url: token_url?,
        zitadel_project_id: project_id?,
        zitadel_client_id: client_id?,
        zitadel_client_secret: client_secret?,
    })
}

fn processing(c: &mut Checker<'_>, raw: RawProcessing) -> Option<ProcessingConfig> {
    let concurrency = match raw.concurrency {
        None => Some(NonZeroU32::MIN),
        Some(value) => c.positive_int("processing.concurrency", &value, Numeric::StringsCoerced),
    };
    let scan_interval = match raw.scan_interval_cron {
        None => Some(
            CronSchedule::parse(DEFAULT_SCAN_INTERVAL_CRON).expect("the default schedule is valid"),
        ),
        Some(value) => c.cron("processing.scanIntervalCron", value),
    };
    let max_items_to_scan = match raw.max_items_to_scan {
        None => Some(None),
        Some(Value::String(text)) if text.is_empty() => Some(None),
        Some(value) => c
            .positive_int("processing.maxItemsToScan", &value, Numeric::YamlNumberOnly)
            .map(Some),
    };
    Some(ProcessingConfig {
        concurrency: concurrency?,
        scan_interval: scan_interval?,
        max_items_to_scan: max_items_to_scan?,
    })
}

fn ingestion(c: &mut Checker<'_>, raw: RawIngestion) -> Option<IngestionConfig> {
    if let Some(value) = raw.ingestion_mode {
        c.choice("ingestion.ingestionMode", value, &[("flat", ())]);
    }
    let scope_id = c
        .require("ingestion.scopeId", raw.scope_id, "scope_abc123")
        .and_then(|value| c.text("ingestion.scopeId", value));
    let store_internally = c.toggle("ingestion.storeInternally", raw.store_internally, true);
    let key_format = c
        .toggle("ingestion.useV1KeyFormat", raw.use_v1_key_format, false)
        .map(|v1| {
            if v1 {
                KeyFormat::V1
            } else {
                KeyFormat::Current
            }
        });
    let deletion_hold = match raw.deletion_hold {
        None => Some(DEFAULT_DELETION_HOLD),
        Some(value) => c.count("ingestion.deletionHold", &value),
    };
    let attachments = c
        .section("ingestion.attachments", raw.attachments, false)
        .and_then(|raw| attachments(c, raw));
    let page_ingestion_config = match raw.page_ingestion_config {
        None => Some(None),
        Some(value) => page_ingestion_config(c, value).map(Some),
    };
    let inline_images = page_ingestion_config
        .as_ref()
        .and_then(|config| inline_images(c, config.as_ref()));
    Some(IngestionConfig {
        scope_id: scope_id?,
        store_internally: store_internally?,
        key_format: key_format?,
        deletion_hold: deletion_hold?,
        attachments: attachments?,
        page_ingestion_config: page_ingestion_config?,
        inline_images: inline_images?,
    })
}

fn attachments(c: &mut Checker<'_>, raw: RawAttachments) -> Option<AttachmentsConfig> {
    let enabled = c.toggle("ingestion.attachments.mode", raw.mode, true);
    let allowed_mime_types = match raw.allowed_mime_types {
        None => Some(DEFAULT_ALLOWED_MIME_TYPES.map(str::to_owned).to_vec()),
        Some(value) => mime_types(c, value),
    };
    let max_file_size_mb = match raw.max_file_size_mb {
        None => Some(DEFAULT_MAX_FILE_SIZE_MB),
        Some(value) => c.positive_int(
            "ingestion.attachments.maxFileSizeMb",
            &value,
            Numeric::YamlNumberOnly,
        ),
    };
    let image_ocr = c.toggle("ingestion.attachments.imageOcr", raw.image_ocr, true);
    Some(AttachmentsConfig {
        enabled: enabled?,
        allowed_mime_types: allowed_mime_types?,
        max_file_size_mb: max_file_size_mb?,
        image_ocr: image_ocr?,
    })
}

/// Lower-cased (and trimmed) so that they compare with normalised media types.
fn mime_types(c: &mut Checker<'_>, value: Value) -> Option<Vec<String>> {
    const FIELD: &str = "ingestion.attachments.allowedMimeTypes";
    let Value::Sequence(items) = value else {
        c.error(
            FIELD,
            format!("must be a list, found {}", kind(&value)),
            "list the types, e.g. `[application/pdf, text/plain]`",
        );
        return None;
    };
    let before = c.errors.len();
    let types: Vec<String> = items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| match item {
            Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_lowercase()),
            other => {
                let found = if other.is_string() {
                    "an empty string"
                } else {
                    kind(&other)
                };
                c.error(
                    &format!("{FIELD}.{i}"),
                    format!("must be a media type, found {found}"),
                    "write a type such as `application/pdf`",
                );
                None
            }
        })
        .collect();
    (c.errors.len() == before).then_some(types)
}

fn page_ingestion_config(c: &mut Checker<'_>, value: Value) -> Option<Json> {
    const FIELD: &str = "ingestion.pageIngestionConfig";
    if !value.is_mapping() {
        c.error(
            FIELD,
            format!("must be a mapping, found {}", kind(&value)),
            "write it as a mapping or remove it",
        );
        return None;
    }
    // It is forwarded as JSON on every page upsert, so it must be expressible as JSON.
    serde_json::to_value(&value)
        .map_err(|e| {
            c.error(
                FIELD,
                format!("cannot be sent as JSON ({e})"),
                "use text keys and plain values only",
            )
        })
        .ok()
}

/// The image-inlining switch derived from `pageIngestionConfig` (§3.7).
fn inline_images(c: &mut Checker<'_>, config: Option<&Json>) -> Option<bool> {
    let extraction = config.and_then(|config| config.pointer("/htmlConfig/imageContentExtraction"));
    let enabled = extraction.and_then(|e| e.get("enabled")) == Some(&Json::Bool(true));
    if !enabled {
        return Some(false);
    }
    match extraction
        .and_then(|e| e.get("languageModel"))
        .and_then(Json::as_str)
    {
        Some(model) if !model.trim().is_empty() => Some(true),
        _ => {
            c.error(
                "ingestion.pageIngestionConfig.htmlConfig.imageContentExtraction.languageModel",
                "must name a language model when `imageContentExtraction.enabled` is `true`",
                "set it to the vision model to use, or set `enabled: false`",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use secrecy::ExposeSecret;

    use super::*;
    use crate::config::{error::ConfigErrors, load::parse_file};

    const FILE: &str = "/etc/cfc/acme-tenant-config.yaml";

    const CLOUD: &str = "\
confluence:
  instanceType: cloud
  baseUrl: https://acme.atlassian.net
  cloudId: cloud-1
  auth:
    mode: oauth_2lo
    clientId: client-1
    clientSecret: os.environ/CONFLUENCE_CLIENT_SECRET
  apiRateLimitPerMinute: 100
  ingestSingleLabel: ai-ingest
  ingestAllLabel: ai-ingest-all
unique:
  serviceAuthMode: external
  zitadelOauthTokenUrl: https://id.example.com/oauth/v2/token
  zitadelProjectId: os.environ/ZITADEL_PROJECT_ID
  zitadelClientId: connector
  zitadelClientSecret: os.environ/ZITADEL_CLIENT_SECRET
  ingestionServiceBaseUrl: https://gw.example.com/ingestion
  scopeManagementServiceBaseUrl: https://gw.example.com/scope-management
ingestion:
  scopeId: scope_1
";

    const DATA_CENTER: &str = "\
confluence:
  instanceType: data-center
  baseUrl: https://confluence.corp.example
  auth:
    mode: pat
    token: os.environ/CONFLUENCE_PAT
  apiRateLimitPerMinute: 600
  ingestSingleLabel: ai-ingest
  ingestAllLabel: ai-ingest-all
unique:
  serviceAuthMode: cluster_local
  serviceExtraHeaders:
    x-company-id: company_1
    x-user-id: \"42\"
  ingestionServiceBaseUrl: http://node-ingestion:8091
  scopeManagementServiceBaseUrl: http://node-scope-management:8094
processing: {}
ingestion:
  scopeId: scope_dc
";

    fn env(name: &str) -> Option<String> {
        let value = match name {
            "CONFLUENCE_CLIENT_SECRET" => " client-secret-value\n",
            "CONFLUENCE_PAT" => "pat-value",
            "ZITADEL_PROJECT_ID" => "project-value",
            "ZITADEL_CLIENT_SECRET" => "zitadel-secret-value",
            "CLIENT_ID" => "client-id-from-env",
            "PLACEHOLDER" => "<TO BE SET MANUALLY>",
            "EMPTY" => "",
            _ => return None,
        };
        Some(value.to_owned())
    }

    struct Outcome {
        tenant: Option<TenantConfig>,
        errors: Vec<String>,
        warnings: Vec<String>,
    }

    fn check(yaml: &str) -> Outcome {
        let mut errors = ConfigErrors::default();
        let mut warnings = Vec::new();
        let tenant = parse_file(
            Path::new(FILE),
            yaml,
            TenantName::parse("acme"),
            &env,
            &mut errors,
            &mut warnings,
        );
        Outcome {
            tenant,
            errors: errors.iter().map(ToString::to_string).collect(),
            warnings: warnings.iter().map(ToString::to_string).collect(),
        }
    }

    fn valid(yaml: &str) -> TenantConfig {
        let outcome = check(yaml);
        assert!(
            outcome.errors.is_empty(),
            "unexpected errors: {:#?}",
            outcome.errors
        );
        outcome.tenant.expect("a tenant without errors")
    }

    /// The errors of a file that must be invalid.
    fn invalid(yaml: &str) -> Vec<String> {
        let outcome = check(yaml);
        assert!(outcome.tenant.is_none());
        assert!(!outcome.errors.is_empty(), "expected errors for:\n{yaml}");
        outcome.errors
    }

    /// The single error of a file; asserts that it names the file and the field.
    fn single_error(yaml: &str, field: &str) -> String {
        let errors = invalid(yaml);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        let error = errors.into_iter().next().unwrap_or_default();
        assert!(
            error.starts_with(&format!("{FILE}: `{field}`: ")),
            "{error}"
        );
        error
    }

    /// `base` with each `from` replaced by `to` (each must occur).
    fn with(base: &str, edits: &[(&str, &str)]) -> String {
        edits.iter().fold(base.to_owned(), |yaml, (from, to)| {
            assert!(yaml.contains(from), "`{from}` is not in the base document");
            yaml.replacen(from, to, 1)
        })
    }

    #[test]
    fn a_minimal_cloud_file_gets_every_default() {
        let tenant = valid(CLOUD);
        assert_eq!(tenant.name.as_str(), "acme");
        assert_eq!(tenant.status, TenantStatus::Active);
        let ConfluenceInstance::Cloud {
            cloud_id,
            api_gateway_url,
        } = &tenant.confluence.instance
        else {
            panic!("expected a Cloud instance");
        };
        assert_eq!(cloud_id, "cloud-1");
        assert_eq!(api_gateway_url.as_str(), "https://api.atlassian.com");
        assert_eq!(tenant.confluence.instance_type(), InstanceType::Cloud);
        assert_eq!(tenant.confluence.instance_key(), "cloud:cloud-1");
        assert_eq!(tenant.unique.api_rate_limit_per_minute.get(), 100);
        assert_eq!(tenant.processing.concurrency.get(), 1);
        assert_eq!(tenant.processing.scan_interval.as_str(), "*/15 * * * *");
        assert_eq!(tenant.processing.max_items_to_scan, None);
        let ingestion = &tenant.ingestion;
        assert!(ingestion.store_internally);
        assert_eq!(ingestion.key_format, KeyFormat::Current);
        assert!(ingestion.attachments.enabled);
        assert!(ingestion.attachments.image_ocr);
        assert_eq!(ingestion.attachments.max_file_size_mb.get(), 200);
        assert_eq!(
            ingestion.attachments.allowed_mime_types,
            DEFAULT_ALLOWED_MIME_TYPES
        );
        assert_eq!(ingestion.page_ingestion_config, None);
        assert!(!tenant.inline_images());
    }

    #[test]
    fn secrets_resolve_from_the_environment_trimmed() {
        let tenant = valid(CLOUD);
        let ConfluenceAuth::OAuth2lo {
            client_id,
            client_secret,
        } = &tenant.confluence.auth
        else {
            panic!("expected oauth_2lo");
        };
        assert_eq!(client_id, "client-1");
        assert_eq!(client_secret.expose_secret(), "client-secret-value");
        let UniqueAuth::External {
            zitadel_project_id,
            zitadel_client_secret,
            ..
        } = &tenant.unique.auth
        else {
            panic!("expected external");
        };
        assert_eq!(zitadel_project_id.expose_secret(), "project-value");
        assert_eq!(
            zitadel_client_secret.expose_secret(),
            "zitadel-secret-value"
        );
    }

    #[test]
    fn client_ids_may_come_from_the_environment() {
        let tenant = valid(&with(
            CLOUD,
            &[("clientId: client-1", "clientId: os.environ/CLIENT_ID")],
        ));
        assert!(
            matches!(&tenant.confluence.auth, ConfluenceAuth::OAuth2lo { client_id, .. } if client_id == "client-id-from-env")
        );
    }

    #[test]
    fn a_data_center_file_with_pat_and_cluster_local() {
        let tenant = valid(DATA_CENTER);
        assert!(matches!(
            tenant.confluence.instance,
            ConfluenceInstance::DataCenter
        ));
        assert_eq!(
            tenant.confluence.instance_key(),
            "data-center:https://confluence.corp.example"
        );
        assert!(
            matches!(&tenant.confluence.auth, ConfluenceAuth::Pat { token } if token.expose_secret() == "pat-value")
        );
        let UniqueAuth::ClusterLocal {
            service_extra_headers,
        } = &tenant.unique.auth
        else {
            panic!("expected cluster_local");
        };
        assert_eq!(service_extra_headers["x-user-id"], "42");
    }

    #[test]
    fn basic_auth_on_data_center() {
        let yaml = with(
            DATA_CENTER,
            &[(
                "mode: pat\n    token: os.environ/CONFLUENCE_PAT",
                "mode: basic\n    username: svc\n    password: os.environ/CONFLUENCE_PAT",
            )],
        );
        let tenant = valid(&yaml);
        let ConfluenceAuth::Basic { username, password } = &tenant.confluence.auth else {
            panic!("expected basic");
        };
        assert_eq!(
            (username.expose_secret(), password.expose_secret()),
            ("svc", "pat-value")
        );
    }

    #[test]
    fn status_values() {
        for (text, status) in [
            ("active", TenantStatus::Active),
            ("inactive", TenantStatus::Inactive),
            ("deleted", TenantStatus::Deleted),
        ] {
            assert_eq!(valid(&format!("status: {text}\n{CLOUD}")).status, status);
        }
        let error = single_error(&format!("status: paused\n{CLOUD}"), "status");
        assert!(
            error.contains("unknown value `paused`")
                && error.contains("use one of `active`, `inactive`, `deleted`"),
            "{error}"
        );
    }

    #[test]
    fn processing_may_be_missing_null_or_empty() {
        for processing in [
            "",
            "processing:\n",
            "processing: null\n",
            "processing: {}\n",
        ] {
            let tenant = valid(&format!("{CLOUD}{processing}"));
            assert_eq!(tenant.processing.concurrency.get(), 1, "{processing:?}");
            assert_eq!(
                tenant.processing.scan_interval.as_str(),
                DEFAULT_SCAN_INTERVAL_CRON
            );
        }
    }

    #[test]
    fn empty_strings_mean_unset_for_enabled_disabled_keys() {
        let yaml = format!("{CLOUD}  storeInternally: \"\"\n  useV1KeyFormat: \"\"\n");
        let tenant = valid(&yaml);
        assert!(tenant.ingestion.store_internally);
        assert_eq!(tenant.ingestion.key_format, KeyFormat::Current);
        let tenant = valid(&format!(
            "{CLOUD}  storeInternally: disabled\n  useV1KeyFormat: enabled\n"
        ));
        assert!(!tenant.ingestion.store_internally);
        assert_eq!(tenant.ingestion.key_format, KeyFormat::V1);
        let error = single_error(
            &format!("{CLOUD}  storeInternally: yes\n"),
            "ingestion.storeInternally",
        );
        assert!(
            error.contains("use one of `enabled`, `disabled`"),
            "{error}"
        );
    }

    #[test]
    fn rate_limits_and_concurrency_coerce_numeric_strings() {
        let yaml = with(
            CLOUD,
            &[(
                "apiRateLimitPerMinute: 100",
                "apiRateLimitPerMinute: \"250\"",
            )],
        );
        let tenant = valid(&format!("{yaml}processing:\n  concurrency: '3'\n"));
        assert_eq!(tenant.confluence.api_rate_limit_per_minute.get(), 250);
        assert_eq!(tenant.processing.concurrency.get(), 3);
        let tenant = valid(&with(
            CLOUD,
            &[("apiRateLimitPerMinute: 100", "apiRateLimitPerMinute: 100.0")],
        ));
        assert_eq!(tenant.confluence.api_rate_limit_per_minute.get(), 100);
    }

    #[test]
    fn positive_integers_reject_zero_negatives_fractions_text_and_overflow() {
        for (value, expected) in [
            ("0", "must be at least 1, found 0"),
            ("-5", "must be at least 1, found -5"),
            ("1.5", "`1.5` is not a whole number"),
            ("lots", "`lots` is not a whole number"),
            ("99999999999", "is too large"),
            ("[1]", "must be a whole number, found a list"),
        ] {
            let yaml = with(
                CLOUD,
                &[(
                    "apiRateLimitPerMinute: 100",
                    &format!("apiRateLimitPerMinute: {value}"),
                )],
            );
            let error = single_error(&yaml, "confluence.apiRateLimitPerMinute");
            assert!(error.contains(expected), "{value}: {error}");
        }
    }

    #[test]
    fn rate_limit_is_required() {
        let error = single_error(
            &with(CLOUD, &[("  apiRateLimitPerMinute: 100\n", "")]),
            "confluence.apiRateLimitPerMinute",
        );
        assert!(
            error.contains(
                "is missing or empty; add `apiRateLimitPerMinute: 100` under `confluence`"
            ),
            "{error}"
        );
    }

    #[test]
    fn deletion_hold_defaults_to_25_and_accepts_zero() {
        let hold = |value: &str| format!("{CLOUD}  deletionHold: {value}\n");
        assert_eq!(valid(CLOUD).ingestion.deletion_hold, DEFAULT_DELETION_HOLD);
        assert_eq!(DEFAULT_DELETION_HOLD, 25);
        assert_eq!(valid(&hold("0")).ingestion.deletion_hold, 0);
        assert_eq!(valid(&hold("500")).ingestion.deletion_hold, 500);
        for (value, expected) in [
            (
                "-1",
                "must be at least 0, found -1; set a whole number of at least 0 (0 switches holding off)",
            ),
            ("2.5", "`2.5` is not a whole number"),
            (
                "\"10\"",
                "must be a YAML number, not a string; remove the quotes around the number",
            ),
            ("[1]", "must be a whole number, found a list"),
            ("99999999999", "is too large"),
        ] {
            let error = single_error(&hold(value), "ingestion.deletionHold");
            assert!(error.contains(expected), "{value}: {error}");
        }
    }

    #[test]
    fn max_file_size_needs_a_yaml_number() {
        let attachments =
            |size: &str| format!("{CLOUD}  attachments:\n    maxFileSizeMb: {size}\n");
        assert_eq!(
            valid(&attachments("50"))
                .ingestion
                .attachments
                .max_file_size_mb
                .get(),
            50
        );
        let error = single_error(
            &attachments("\"50\""),
            "ingestion.attachments.maxFileSizeMb",
        );
        assert!(
            error.contains("must be a YAML number, not a string; remove the quotes"),
            "{error}"
        );
    }

    #[test]
    fn max_items_to_scan_is_a_positive_number_or_empty() {
        let processing = |value: &str| format!("{CLOUD}processing:\n  maxItemsToScan: {value}\n");
        assert_eq!(
            valid(&processing("5000"))
                .processing
                .max_items_to_scan
                .map(NonZeroU32::get),
            Some(5000)
        );
        assert_eq!(valid(&processing("''")).processing.max_items_to_scan, None);
        single_error(&processing("0"), "processing.maxItemsToScan");
    }

    #[test]
    fn cron_is_checked_at_load() {
        let processing =
            |cron: &str| format!("{CLOUD}processing:\n  scanIntervalCron: \"{cron}\"\n");
        assert_eq!(
            valid(&processing("0 */2 * * *"))
                .processing
                .scan_interval
                .as_str(),
            "0 */2 * * *"
        );
        assert!(
            valid(&processing("30 */5 * * * *"))
                .processing
                .scan_interval
                .cron()
                .pattern
                .to_string()
                .contains('5')
        );
        let error = single_error(&processing("every hour"), "processing.scanIntervalCron");
        assert!(
            error.contains("`every hour` has 2 field(s)") && error.contains("use 5 fields"),
            "{error}"
        );
        single_error(&processing("99 * * * *"), "processing.scanIntervalCron");
    }

    #[test]
    fn unknown_instance_type_is_one_error() {
        let error = single_error(
            &with(CLOUD, &[("instanceType: cloud", "instanceType: server")]),
            "confluence.instanceType",
        );
        assert!(
            error.contains("unknown value `server`; use one of `cloud`, `data-center`"),
            "{error}"
        );
    }

    #[test]
    fn cloud_needs_a_cloud_id_and_data_center_ignores_it() {
        let error = single_error(
            &with(CLOUD, &[("  cloudId: cloud-1\n", "")]),
            "confluence.cloudId",
        );
        assert!(error.contains("is missing"), "{error}");
        let outcome = check(&with(
            DATA_CENTER,
            &[(
                "instanceType: data-center",
                "instanceType: data-center\n  cloudId: x",
            )],
        ));
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        assert!(
            outcome
                .warnings
                .iter()
                .any(|w| w.contains("`confluence.cloudId` has no effect")),
            "{:?}",
            outcome.warnings
        );
    }

    #[test]
    fn api_gateway_url_is_cloud_only() {
        let yaml = with(
            CLOUD,
            &[(
                "cloudId: cloud-1",
                "cloudId: cloud-1\n  apiGatewayUrl: http://127.0.0.1:8080",
            )],
        );
        let tenant = valid(&yaml);
        assert!(
            matches!(&tenant.confluence.instance, ConfluenceInstance::Cloud { api_gateway_url, .. } if api_gateway_url.as_str() == "http://127.0.0.1:8080")
        );
        let yaml = with(
            CLOUD,
            &[(
                "cloudId: cloud-1",
                "cloudId: cloud-1\n  apiGatewayUrl: https://gw.example.com/",
            )],
        );
        assert!(single_error(&yaml, "confluence.apiGatewayUrl").contains("ends with `/`"));
        let yaml = with(
            DATA_CENTER,
            &[(
                "instanceType: data-center",
                "instanceType: data-center\n  apiGatewayUrl: https://api.atlassian.com",
            )],
        );
        let error = single_error(&yaml, "confluence.apiGatewayUrl");
        assert!(error.contains("only valid for Cloud tenants"), "{error}");
    }

    #[test]
    fn urls_must_be_absolute_and_without_trailing_slash() {
        let error = single_error(
            &with(
                CLOUD,
                &[(
                    "baseUrl: https://acme.atlassian.net",
                    "baseUrl: https://acme.atlassian.net/",
                )],
            ),
            "confluence.baseUrl",
        );
        assert!(
            error.contains("ends with `/`") && error.contains("without a trailing `/`"),
            "{error}"
        );
        let error = single_error(
            &with(
                CLOUD,
                &[(
                    "https://gw.example.com/ingestion",
                    "gw.example.com/ingestion",
                )],
            ),
            "unique.ingestionServiceBaseUrl",
        );
        assert!(error.contains("is not an absolute URL"), "{error}");
    }

    #[test]
    fn labels_must_be_usable_in_cql() {
        for (label, expected) in [
            ("'a\"b'", "contains `\"`"),
            ("'a\\b'", "contains `\\`"),
            ("''", "is empty"),
        ] {
            let error = single_error(
                &with(
                    CLOUD,
                    &[(
                        "ingestSingleLabel: ai-ingest",
                        &format!("ingestSingleLabel: {label}"),
                    )],
                ),
                "confluence.ingestSingleLabel",
            );
            assert!(error.contains(expected), "{label}: {error}");
        }
        single_error(
            &with(CLOUD, &[("  ingestAllLabel: ai-ingest-all\n", "")]),
            "confluence.ingestAllLabel",
        );
    }

    #[test]
    fn unknown_auth_mode_is_one_error_without_follow_ups() {
        let error = single_error(
            &with(CLOUD, &[("mode: oauth_2lo", "mode: saml")]),
            "confluence.auth.mode",
        );
        assert!(
            error.contains("unknown value `saml`; use one of `oauth_2lo`, `pat`, `basic`"),
            "{error}"
        );
    }

    #[test]
    fn pat_and_basic_are_refused_on_cloud() {
        let yaml = with(
            CLOUD,
            &[(
                "mode: oauth_2lo",
                "mode: pat\n    token: os.environ/CONFLUENCE_PAT",
            )],
        );
        let error = single_error(&yaml, "confluence.auth.mode");
        assert!(error.contains("only available on Data Center"), "{error}");
    }

    #[test]
    fn credentials_of_the_mode_are_required() {
        let error = single_error(
            &with(
                CLOUD,
                &[(
                    "    clientSecret: os.environ/CONFLUENCE_CLIENT_SECRET\n",
                    "",
                )],
            ),
            "confluence.auth.clientSecret",
        );
        assert!(
            error.contains(
                "add `clientSecret: os.environ/CONFLUENCE_CLIENT_SECRET` under `confluence.auth`"
            ),
            "{error}"
        );
        single_error(
            &with(
                DATA_CENTER,
                &[("    token: os.environ/CONFLUENCE_PAT\n", "")],
            ),
            "confluence.auth.token",
        );
    }

    #[test]
    fn credentials_of_other_modes_are_warned_about() {
        let outcome = check(&with(
            DATA_CENTER,
            &[("mode: pat", "mode: pat\n    clientId: leftover")],
        ));
        assert!(outcome.errors.is_empty());
        assert!(
            outcome.warnings.iter().any(|w| w
                .contains("`confluence.auth.clientId` has no effect (not used with `mode: pat`)")),
            "{:?}",
            outcome.warnings
        );
    }

    #[test]
    fn unset_environment_reference_names_field_and_variable() {
        let yaml = with(
            CLOUD,
            &[(
                "os.environ/CONFLUENCE_CLIENT_SECRET",
                "os.environ/ACME_SECRET",
            )],
        );
        let error = single_error(&yaml, "confluence.auth.clientSecret");
        assert_eq!(
            error,
            format!(
                "{FILE}: `confluence.auth.clientSecret`: environment variable `ACME_SECRET` is not set; export it or change the reference"
            )
        );
        let error = single_error(
            &with(
                CLOUD,
                &[("os.environ/CONFLUENCE_CLIENT_SECRET", "os.environ/EMPTY")],
            ),
            "confluence.auth.clientSecret",
        );
        assert!(
            error.contains("environment variable `EMPTY` is empty"),
            "{error}"
        );
    }

    #[test]
    fn the_terraform_placeholder_is_a_warning() {
        let outcome = check(&with(
            CLOUD,
            &[(
                "os.environ/CONFLUENCE_CLIENT_SECRET",
                "os.environ/PLACEHOLDER",
            )],
        ));
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        assert!(outcome.tenant.is_some());
        assert_eq!(
            outcome.warnings,
            [format!(
                "{FILE}: `confluence.auth.clientSecret` still holds the placeholder `<TO BE SET MANUALLY>` (from `PLACEHOLDER`); store the real secret in `PLACEHOLDER`"
            )]
        );
    }

    #[test]
    fn cluster_local_needs_both_service_headers() {
        let error = single_error(
            &with(DATA_CENTER, &[("    x-user-id: \"42\"\n", "")]),
            "unique.serviceExtraHeaders.x-user-id",
        );
        assert!(
            error.contains("is missing") && error.contains("`cluster_local` requires it"),
            "{error}"
        );
        let error = single_error(
            &with(DATA_CENTER, &[("x-user-id: \"42\"", "x-user-id: 42")]),
            "unique.serviceExtraHeaders.x-user-id",
        );
        assert!(
            error.contains("must be a string, found a number; quote the value"),
            "{error}"
        );
        single_error(
            &with(
                DATA_CENTER,
                &[("    x-company-id: company_1\n    x-user-id: \"42\"\n", "")],
            ),
            "unique.serviceExtraHeaders",
        );
    }

    #[test]
    fn external_needs_every_zitadel_field_and_cluster_local_ignores_them() {
        let errors = invalid(&with(
            CLOUD,
            &[
                ("  zitadelClientId: connector\n", ""),
                ("  zitadelProjectId: os.environ/ZITADEL_PROJECT_ID\n", ""),
            ],
        ));
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors[0].contains("`unique.zitadelProjectId`: is missing"),
            "{errors:#?}"
        );
        assert!(
            errors[1].contains("`unique.zitadelClientId`: is missing"),
            "{errors:#?}"
        );
        let outcome = check(&with(
            DATA_CENTER,
            &[(
                "serviceAuthMode: cluster_local",
                "serviceAuthMode: cluster_local\n  zitadelClientId: x",
            )],
        ));
        assert!(outcome.errors.is_empty());
        assert!(
            outcome
                .warnings
                .iter()
                .any(|w| w.contains("`unique.zitadelClientId` has no effect")),
            "{:?}",
            outcome.warnings
        );
    }

    #[test]
    fn unique_ingestion_config_is_accepted_and_ignored() {
        valid(&with(
            CLOUD,
            &[(
                "unique:\n",
                "unique:\n  ingestionConfig:\n    anything: [1, 2]\n",
            )],
        ));
        single_error(
            &with(CLOUD, &[("unique:\n", "unique:\n  ingestionConfig: 5\n")]),
            "unique.ingestionConfig",
        );
    }

    #[test]
    fn attachment_settings_and_mime_types_are_lower_cased() {
        let yaml = format!(
            "{CLOUD}  attachments:\n    mode: disabled\n    imageOcr: disabled\n    allowedMimeTypes: [Application/PDF, ' text/plain ']\n"
        );
        let attachments = valid(&yaml).ingestion.attachments;
        assert!(!attachments.enabled && !attachments.image_ocr);
        assert_eq!(
            attachments.allowed_mime_types,
            ["application/pdf", "text/plain"]
        );
        let error = single_error(
            &format!("{CLOUD}  attachments:\n    allowedMimeTypes: [text/plain, 7]\n"),
            "ingestion.attachments.allowedMimeTypes.1",
        );
        assert!(
            error.contains("must be a media type, found a number"),
            "{error}"
        );
    }

    #[test]
    fn page_ingestion_config_is_kept_as_json_and_drives_image_inlining() {
        let page = |block: &str| {
            format!(
                "{CLOUD}  pageIngestionConfig:\n    htmlConfig:\n      imageContentExtraction:\n{block}"
            )
        };
        let tenant = valid(&page(
            "        enabled: true\n        languageModel: vision-1\n",
        ));
        assert!(tenant.inline_images());
        assert_eq!(
            tenant.ingestion.page_ingestion_config,
            Some(
                serde_json::json!({"htmlConfig": {"imageContentExtraction": {"enabled": true, "languageModel": "vision-1"}}})
            )
        );
        assert!(!valid(&page("        enabled: false\n")).inline_images());
        // Only the boolean `true` switches it on, as in the reference.
        assert!(!valid(&page("        enabled: \"true\"\n")).inline_images());
        let error = single_error(
            &page("        enabled: true\n        languageModel: ' '\n"),
            "ingestion.pageIngestionConfig.htmlConfig.imageContentExtraction.languageModel",
        );
        assert!(error.contains("must name a language model"), "{error}");
    }

    #[test]
    fn ingestion_mode_is_flat_only_and_scope_id_required() {
        valid(&format!("{CLOUD}  ingestionMode: flat\n"));
        single_error(
            &format!("{CLOUD}  ingestionMode: nested\n"),
            "ingestion.ingestionMode",
        );
        let error = single_error(
            &with(CLOUD, &[("  scopeId: scope_1\n", "  scopeId: \"\"\n")]),
            "ingestion.scopeId",
        );
        assert!(error.contains("is empty"), "{error}");
    }

    #[test]
    fn unknown_keys_are_warnings_with_their_paths() {
        let yaml = format!(
            "extra: 1\n{}",
            with(
                CLOUD,
                &[(
                    "  cloudId: cloud-1\n",
                    "  cloudId: cloud-1\n  clouldId: typo\n"
                )]
            )
        );
        let outcome = check(&format!("{yaml}  attachments:\n    maxSizeMb: 3\n"));
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        assert!(outcome.tenant.is_some());
        assert_eq!(
            outcome.warnings,
            [
                format!(
                    "{FILE}: unknown key `extra` is ignored; check its spelling and position, or remove it"
                ),
                format!(
                    "{FILE}: unknown key `confluence.clouldId` is ignored; check its spelling and position, or remove it"
                ),
                format!(
                    "{FILE}: unknown key `ingestion.attachments.maxSizeMb` is ignored; check its spelling and position, or remove it"
                ),
            ]
        );
    }

    #[test]
    fn os_environ_on_a_plain_field_is_literal_with_a_warning() {
        let outcome = check(&with(
            CLOUD,
            &[("scopeId: scope_1", "scopeId: os.environ/SCOPE")],
        ));
        assert_eq!(
            outcome.tenant.map(|t| t.ingestion.scope_id),
            Some("os.environ/SCOPE".to_owned())
        );
        assert!(
            outcome
                .warnings
                .iter()
                .any(|w| w.contains("`ingestion.scopeId` starts with `os.environ/`")),
            "{:?}",
            outcome.warnings
        );
    }

    #[test]
    fn documents_that_are_not_mappings_or_not_yaml() {
        for (yaml, expected) in [
            ("", "the document is empty"),
            ("- a\n- b\n", "the document is a list"),
            ("just text\n", "the document is a string"),
        ] {
            let errors = invalid(yaml);
            assert_eq!(errors.len(), 1);
            assert!(
                errors[0].starts_with(&format!(
                    "{FILE}: {expected}, but a tenant file must be a mapping"
                )),
                "{errors:?}"
            );
        }
        let errors = invalid("confluence:\n  baseUrl: [\n");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("invalid YAML") && errors[0].contains("line 3 column 1"),
            "{errors:?}"
        );
        let errors = invalid("status: active\nstatus: deleted\n");
        assert!(
            errors[0].contains("duplicate entry with key \"status\""),
            "{errors:?}"
        );
    }

    #[test]
    fn a_section_of_the_wrong_kind_is_one_error_and_the_rest_is_still_checked() {
        let errors = invalid(&with(
            CLOUD,
            &[
                ("ingestion:\n  scopeId: scope_1\n", "ingestion: [scope_1]\n"),
                ("instanceType: cloud", "instanceType: 3"),
            ],
        ));
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors[0].contains("`confluence.instanceType`: must be a string, found a number"),
            "{errors:#?}"
        );
        assert!(
            errors[1].contains("`ingestion`: must be a mapping, found a list"),
            "{errors:#?}"
        );
    }

    #[test]
    fn missing_sections_are_reported_by_name() {
        let errors = invalid("status: active\n");
        assert_eq!(errors.len(), 3, "{errors:#?}");
        for (error, section) in errors.iter().zip(["confluence", "unique", "ingestion"]) {
            assert!(
                error.contains(&format!("`{section}`: is missing or empty")),
                "{error}"
            );
        }
    }

    #[test]
    fn every_error_of_a_file_is_reported_together() {
        let yaml = with(
            CLOUD,
            &[
                (
                    "instanceType: cloud",
                    "instanceType: cloud\n  apiGatewayUrl: not a url",
                ),
                ("os.environ/CONFLUENCE_CLIENT_SECRET", "os.environ/MISSING"),
                ("ingestAllLabel: ai-ingest-all", "ingestAllLabel: 'x\"y'"),
                (
                    "scopeId: scope_1",
                    "scopeId: scope_1\n  attachments:\n    maxFileSizeMb: -1",
                ),
            ],
        );
        let errors = invalid(&format!("{yaml}processing:\n  scanIntervalCron: nope\n"));
        let fields: Vec<_> = errors.iter().filter_map(|e| e.split('`').nth(1)).collect();
        assert_eq!(
            fields,
            [
                "confluence.ingestAllLabel",
                "confluence.apiGatewayUrl",
                "confluence.auth.clientSecret",
                "processing.scanIntervalCron",
                "ingestion.attachments.maxFileSizeMb",
            ],
            "{errors:#?}"
        );
    }
}
