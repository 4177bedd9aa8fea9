//! Validated tenant configuration (PROTOCOL §3), the second of two layers.
//!
//! Every value here has passed its rule, defaults are applied, and secrets
//! are [`SecretString`]s. Invalid states are unrepresentable where that is
//! cheap: the Confluence instance, Confluence auth and Unique auth are enums
//! whose variants carry exactly the fields of their mode.

use std::{collections::BTreeMap, fmt, num::NonZeroU32, path::PathBuf};

use secrecy::SecretString;

pub use crate::domain::{keys::KeyFormat, model::InstanceType};

/// The Cloud API gateway when `confluence.apiGatewayUrl` is not set (§2.5).
pub const DEFAULT_API_GATEWAY_URL: &str = "https://api.atlassian.com";
/// `processing.scanIntervalCron` when not set.
pub const DEFAULT_SCAN_INTERVAL_CRON: &str = "*/15 * * * *";
/// `unique.apiRateLimitPerMinute` when not set.
pub const DEFAULT_UNIQUE_RATE_LIMIT_PER_MINUTE: NonZeroU32 = NonZeroU32::new(100).unwrap();
/// `ingestion.deletionHold` when unset: deletions of up to this many items
/// (or 10 % of the stored items, whichever is more) proceed at once.
pub const DEFAULT_DELETION_HOLD: u32 = 25;
/// `ingestion.attachments.maxFileSizeMb` when not set.
pub const DEFAULT_MAX_FILE_SIZE_MB: NonZeroU32 = NonZeroU32::new(200).unwrap();
/// `ingestion.attachments.allowedMimeTypes` when not set (§3.7).
pub const DEFAULT_ALLOWED_MIME_TYPES: [&str; 9] = [
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "text/plain",
    "text/csv",
    "text/html",
    "image/png",
    "image/jpeg",
];

/// One tenant: one file, one Confluence instance, one Unique root scope.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    pub name: TenantName,
    /// The file it was loaded from, as the glob returned it.
    pub file: PathBuf,
    pub status: TenantStatus,
    pub confluence: ConfluenceConfig,
    pub unique: UniqueConfig,
    pub processing: ProcessingConfig,
    pub ingestion: IngestionConfig,
}

impl TenantConfig {
    /// Whether pages get their images inlined (§3.7, §10).
    pub fn inline_images(&self) -> bool {
        self.ingestion.inline_images
    }
}

/// A tenant name: the file name minus `-tenant-config.yaml`, matching
/// `^[a-z0-9]+(-[a-z0-9]+)*$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantName(String);

impl TenantName {
    /// `None` unless the name follows the §3.1 rule.
    pub fn parse(name: &str) -> Option<Self> {
        let valid = !name.is_empty()
            && name.split('-').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        valid.then(|| TenantName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `status` (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    /// Synced on its schedule.
    Active,
    /// Validated, then not run at all.
    Inactive,
    /// Its content is purged from Unique on its schedule (§9.12).
    Deleted,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Inactive => "inactive",
            TenantStatus::Deleted => "deleted",
        }
    }
}

/// An absolute `http`/`https` URL without a trailing `/`.
///
/// Keeps the string exactly as configured: it ends up in keys, source names
/// and request paths, where `url`'s normalisation (which adds a `/` to a
/// bare origin, among other things) would change compatibility-relevant
/// bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfiguredUrl {
    configured: String,
    parsed: url::Url,
}

impl ConfiguredUrl {
    /// Checks the URL rule of §3.4; the error explains what is wrong.
    ///
    /// The error does not quote the URL: a malformed one may still hold
    /// credentials.
    pub fn parse(text: &str) -> Result<Self, String> {
        // `url` would trim it silently, but the configured string is what is used.
        if text.trim() != text {
            return Err("has leading or trailing whitespace".to_owned());
        }
        let parsed = url::Url::parse(text).map_err(|e| format!("is not an absolute URL ({e})"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "has the scheme `{}`, not http or https",
                parsed.scheme()
            ));
        }
        if !parsed.has_host() {
            return Err("has no host".to_owned());
        }
        // Credentials in a URL would end up in logs and in `check-config`.
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("contains credentials (`user:password@`)".to_owned());
        }
        if text.ends_with('/') {
            return Err("ends with `/`".to_owned());
        }
        Ok(ConfiguredUrl {
            configured: text.to_owned(),
            parsed,
        })
    }

    /// The URL exactly as configured.
    pub fn as_str(&self) -> &str {
        &self.configured
    }

    /// The parsed form, for taking it apart (host, path, …).
    pub fn url(&self) -> &url::Url {
        &self.parsed
    }
}

impl fmt::Debug for ConfiguredUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.configured)
    }
}

impl fmt::Display for ConfiguredUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.configured)
    }
}

/// `confluence` (§3.4).
#[derive(Debug, Clone)]
pub struct ConfluenceConfig {
    pub instance: ConfluenceInstance,
    /// Cloud: the site (web links, source names, health). Data Center: the
    /// API root including any context path.
    pub base_url: ConfiguredUrl,
    pub api_rate_limit_per_minute: NonZeroU32,
    pub ingest_single_label: Label,
    pub ingest_all_label: Label,
    pub auth: ConfluenceAuth,
}

impl ConfluenceConfig {
    pub fn instance_type(&self) -> InstanceType {
        match self.instance {
            ConfluenceInstance::Cloud { .. } => InstanceType::Cloud,
            ConfluenceInstance::DataCenter => InstanceType::DataCenter,
        }
    }

    /// The identity used to refuse two active tenants on one instance (§3.1):
    /// `cloud:{cloudId}` or `data-center:{baseUrl}`.
    pub fn instance_key(&self) -> String {
        match &self.instance {
            ConfluenceInstance::Cloud { cloud_id, .. } => format!("cloud:{cloud_id}"),
            ConfluenceInstance::DataCenter => format!("data-center:{}", self.base_url),
        }
    }
}

/// `confluence.instanceType` with the fields only one kind has.
#[derive(Debug, Clone)]
pub enum ConfluenceInstance {
    Cloud {
        cloud_id: String,
        /// Host part of the token endpoint and the API base (§2.5).
        api_gateway_url: ConfiguredUrl,
    },
    DataCenter,
}

/// A sync label: non-empty, without `"` or `\`, which would break the CQL
/// literal it is placed in (§5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    /// Checks the label rule; the error explains what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("is empty".to_owned());
        }
        if let Some(c) = text.chars().find(|c| matches!(c, '"' | '\\')) {
            return Err(format!(
                "`{text}` contains `{c}`, which cannot be used in a CQL label query"
            ));
        }
        Ok(Label(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `confluence.auth` by `mode`.
#[derive(Debug, Clone)]
pub enum ConfluenceAuth {
    /// OAuth 2.0 client credentials, Cloud or Data Center (§4.1, §4.2).
    OAuth2lo {
        client_id: String,
        client_secret: SecretString,
    },
    /// Personal access token, Data Center only.
    Pat { token: SecretString },
    /// HTTP basic auth, Data Center only.
    Basic {
        username: SecretString,
        password: SecretString,
    },
}

impl ConfluenceAuth {
    /// The `mode` value as written in the file.
    pub fn mode(&self) -> &'static str {
        match self {
            ConfluenceAuth::OAuth2lo { .. } => "oauth_2lo",
            ConfluenceAuth::Pat { .. } => "pat",
            ConfluenceAuth::Basic { .. } => "basic",
        }
    }
}

/// `unique` (§3.5).
#[derive(Debug, Clone)]
pub struct UniqueConfig {
    pub ingestion_service_base_url: ConfiguredUrl,
    pub scope_management_service_base_url: ConfiguredUrl,
    /// Size of each of the tenant's three Unique reservoirs (§6.4).
    pub api_rate_limit_per_minute: NonZeroU32,
    pub auth: UniqueAuth,
}

/// `unique.serviceAuthMode` with the fields of that mode.
#[derive(Debug, Clone)]
pub enum UniqueAuth {
    /// In-cluster service headers, no token (§6.2).
    ClusterLocal {
        /// Contains at least `x-company-id` and `x-user-id`.
        service_extra_headers: BTreeMap<String, String>,
    },
    /// Zitadel client-credentials token (§6.2).
    External {
        zitadel_oauth_token_url: ConfiguredUrl,
        zitadel_project_id: SecretString,
        zitadel_client_id: String,
        zitadel_client_secret: SecretString,
    },
}

impl UniqueAuth {
    /// The `serviceAuthMode` value as written in the file.
    pub fn mode(&self) -> &'static str {
        match self {
            UniqueAuth::ClusterLocal { .. } => "cluster_local",
            UniqueAuth::External { .. } => "external",
        }
    }
}

/// `processing` (§3.6).
#[derive(Debug, Clone)]
pub struct ProcessingConfig {
    pub concurrency: NonZeroU32,
    pub scan_interval: CronSchedule,
    /// `None` = unlimited.
    pub max_items_to_scan: Option<NonZeroU32>,
}

/// A validated cron expression: 5 fields, or 6 with leading seconds.
#[derive(Clone)]
pub struct CronSchedule {
    expression: String,
    cron: croner::Cron,
}

impl CronSchedule {
    /// Checks the expression; the error explains what is wrong.
    pub fn parse(expression: &str) -> Result<Self, String> {
        let fields = expression.split_whitespace().count();
        if !matches!(fields, 5 | 6) {
            return Err(format!("`{expression}` has {fields} field(s)"));
        }
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build();
        let cron = parser
            .parse(expression)
            .map_err(|e| format!("`{expression}` is not a valid cron expression ({e})"))?;
        Ok(CronSchedule {
            expression: expression.to_owned(),
            cron,
        })
    }

    /// The expression as configured.
    pub fn as_str(&self) -> &str {
        &self.expression
    }

    /// The parsed schedule, for computing fire times.
    pub fn cron(&self) -> &croner::Cron {
        &self.cron
    }
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.expression)
    }
}

/// `ingestion` (§3.7). `ingestionMode` is not kept: `flat` is its only value.
#[derive(Debug, Clone)]
pub struct IngestionConfig {
    /// The root scope in Unique.
    pub scope_id: String,
    pub store_internally: bool,
    pub key_format: KeyFormat,
    /// `deletionHold`: the smallest number of deletions a cycle holds for
    /// confirmation by the next cycle; `0` disables holding.
    pub deletion_hold: u32,
    pub attachments: AttachmentsConfig,
    /// Forwarded verbatim as `ingestionConfig` of page upserts.
    pub page_ingestion_config: Option<serde_json::Value>,
    /// Derived from `page_ingestion_config` (§3.7).
    pub inline_images: bool,
}

/// `ingestion.attachments` (§3.7).
#[derive(Debug, Clone)]
pub struct AttachmentsConfig {
    pub enabled: bool,
    /// Lower-cased; compared with the normalised attachment media type.
    pub allowed_mime_types: Vec<String>,
    pub max_file_size_mb: NonZeroU32,
    pub image_ocr: bool,
}

impl AttachmentsConfig {
    /// The size limit in bytes (MiB × 1 048 576); larger items are skipped.
    pub fn max_file_size_bytes(&self) -> u64 {
        u64::from(self.max_file_size_mb.get()) * 1_048_576
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_follow_the_file_name_rule() {
        for good in ["acme", "corp-dc", "a1-b2-c3", "0"] {
            assert!(TenantName::parse(good).is_some(), "{good}");
        }
        for bad in [
            "", "Acme", "corp_dc", "-acme", "acme-", "a--b", "ä", "acme.x",
        ] {
            assert!(TenantName::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn urls_keep_their_configured_spelling() {
        let url = ConfiguredUrl::parse("https://confluence.corp/wiki").unwrap();
        assert_eq!(url.as_str(), "https://confluence.corp/wiki");
        assert_eq!(
            ConfiguredUrl::parse("https://acme.atlassian.net")
                .unwrap()
                .as_str(),
            "https://acme.atlassian.net"
        );
    }

    #[test]
    fn urls_must_be_absolute_http_without_trailing_slash_or_credentials() {
        let problem = |text: &str| ConfiguredUrl::parse(text).unwrap_err();
        assert_eq!(problem("https://x.example/"), "ends with `/`");
        assert_eq!(
            problem(" https://x.example"),
            "has leading or trailing whitespace"
        );
        assert!(problem("x.example").starts_with("is not an absolute URL"));
        assert_eq!(
            problem("ftp://x.example"),
            "has the scheme `ftp`, not http or https"
        );
        assert_eq!(
            problem("https://me:hunter2@x.example/"),
            "contains credentials (`user:password@`)"
        );
    }

    #[test]
    fn labels_reject_what_would_break_cql() {
        assert_eq!(Label::parse("ai-ingest").unwrap().as_str(), "ai-ingest");
        assert_eq!(Label::parse(" ").unwrap_err(), "is empty");
        assert!(Label::parse("a\"b").unwrap_err().contains("contains `\"`"));
        assert!(Label::parse("a\\b").unwrap_err().contains("contains `\\`"));
    }

    #[test]
    fn cron_takes_five_or_six_fields() {
        assert_eq!(
            CronSchedule::parse("*/15 * * * *").unwrap().as_str(),
            "*/15 * * * *"
        );
        assert!(CronSchedule::parse("*/10 * * * * *").is_ok());
        assert!(
            CronSchedule::parse("* * * *")
                .unwrap_err()
                .contains("4 field(s)")
        );
        assert!(
            CronSchedule::parse("@hourly")
                .unwrap_err()
                .contains("1 field(s)")
        );
        assert!(CronSchedule::parse("0 0 * * * * 2030").is_err());
        assert!(
            CronSchedule::parse("61 * * * *")
                .unwrap_err()
                .contains("not a valid cron expression")
        );
    }

    #[test]
    fn max_file_size_is_in_mebibytes() {
        let attachments = AttachmentsConfig {
            enabled: true,
            allowed_mime_types: Vec::new(),
            max_file_size_mb: DEFAULT_MAX_FILE_SIZE_MB,
            image_ocr: true,
        };
        assert_eq!(attachments.max_file_size_bytes(), 200 * 1024 * 1024);
    }
}
