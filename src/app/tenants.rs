//! The composition root of one tenant: validated configuration in, a
//! [`SyncCycle`] over the concrete adapters out. The only place where the
//! configuration, the adapters and the sync meet.

use std::{
    num::NonZeroUsize,
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use crate::{
    adapters::{
        confluence::{
            ClientCredentials, ConfluenceAdapter, ConfluenceSettings, DataCenterAuth, Site,
            SyncLabels,
        },
        http::transport::{HEADERS_TIMEOUT, HttpClients},
        unique::{
            DEFAULT_MAX_CONCURRENT_CALLS, InvalidServiceHeader, UniqueAuth as AdapterUniqueAuth,
            UniqueKnowledgeBase, UniqueRetries, UniqueSettings,
        },
    },
    app::sync::{SyncCycle, TenantContext},
    config::{ConfluenceAuth, ConfluenceInstance, ProcessConfig, TenantConfig, UniqueAuth},
    domain::{
        attachment::AttachmentRules, backoff::RetryPolicy, discovery::DiscoveryRules,
        holds::HoldPolicy,
    },
    telemetry::DiagnosticsPolicy,
};

/// A tenant's cycle over the real adapters.
pub type TenantCycle = SyncCycle<ConfluenceAdapter, UniqueKnowledgeBase>;

/// The retry schedules of a tenant's adapters. The daemon and the CLI use
/// [`Retries::PRODUCTION`] (PROTOCOL §5.12, §6.4); tests and benchmarks
/// that inject faults shorten the waits so a retry costs milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retries {
    pub confluence: RetryPolicy,
    pub unique: UniqueRetries,
}

impl Retries {
    pub const PRODUCTION: Retries = Retries {
        confluence: RetryPolicy::CONFLUENCE,
        unique: UniqueRetries::PRODUCTION,
    };
}

/// Builds the cycle of `tenant` with the production retry schedules.
/// `clients` carries the process-wide transport settings (proxy, CAs,
/// timeouts).
///
/// # Errors
/// A `serviceExtraHeaders` entry is not a valid HTTP header (config
/// validation checks them too, so this is a last line of defence).
pub fn build_cycle(
    tenant: &TenantConfig,
    clients: &HttpClients,
    process: &ProcessConfig,
) -> Result<TenantCycle, InvalidServiceHeader> {
    build_cycle_with(tenant, clients, process, &Retries::PRODUCTION)
}

/// [`build_cycle`] with chosen retry schedules.
///
/// # Errors
/// As for [`build_cycle`].
pub fn build_cycle_with(
    tenant: &TenantConfig,
    clients: &HttpClients,
    process: &ProcessConfig,
    retries: &Retries,
) -> Result<TenantCycle, InvalidServiceHeader> {
    let mut settings = confluence_settings(tenant);
    settings.retry_policy = retries.confluence;
    let confluence = ConfluenceAdapter::new(clients.proxied.clone(), settings);
    // §2.2: cluster-local Unique traffic is direct, external goes through
    // the proxy like Confluence traffic.
    let (api, upload) = match tenant.unique.auth {
        UniqueAuth::ClusterLocal { .. } => (&clients.direct, &clients.direct_upload),
        UniqueAuth::External { .. } => (&clients.proxied_unique, &clients.proxied_upload),
    };
    let knowledge_base = UniqueKnowledgeBase::new(
        unique_settings(tenant, retries.unique, process.limits.upload_stall),
        api.clone(),
        upload.clone(),
    )?;
    Ok(SyncCycle::new(
        tenant_context(
            tenant,
            process.diagnostics_policy,
            Some(tenant_state_dir(&process.state_dir, tenant)),
        ),
        confluence,
        knowledge_base,
    ))
}

/// The directory under `state_root` that holds `tenant`'s durable state.
///
/// Named after the tenant and a digest of what identifies its data (the
/// Confluence instance, the Unique ingestion service and the root scope),
/// so state never carries over to a different knowledge base or instance
/// that happens to use the same tenant name.
pub fn tenant_state_dir(state_root: &Path, tenant: &TenantConfig) -> PathBuf {
    let instance = match &tenant.confluence.instance {
        ConfluenceInstance::Cloud { cloud_id, .. } => format!("cloud:{cloud_id}"),
        ConfluenceInstance::DataCenter => {
            format!("data-center:{}", tenant.confluence.base_url.as_str())
        }
    };
    let identity = [
        tenant.name.to_string(),
        instance,
        tenant.unique.ingestion_service_base_url.url().to_string(),
        tenant.ingestion.scope_id.clone(),
    ]
    .join("\n");
    let digest = Sha256::digest(identity.as_bytes());
    let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    state_root.join(format!("{}-{short}", tenant.name))
}

/// The settings the sync itself needs; `state_dir` is the tenant's own
/// directory ([`tenant_state_dir`]), `None` to keep state in memory.
pub fn tenant_context(
    tenant: &TenantConfig,
    diagnostics: DiagnosticsPolicy,
    state_dir: Option<PathBuf>,
) -> TenantContext {
    let attachments = &tenant.ingestion.attachments;
    TenantContext {
        name: tenant.name.to_string(),
        instance_type: tenant.confluence.instance_type(),
        cloud_id: match &tenant.confluence.instance {
            ConfluenceInstance::Cloud { cloud_id, .. } => Some(cloud_id.clone()),
            ConfluenceInstance::DataCenter => None,
        },
        base_url: tenant.confluence.base_url.as_str().to_owned(),
        root_scope_id: tenant.ingestion.scope_id.clone(),
        key_format: tenant.ingestion.key_format,
        deletion_hold: HoldPolicy::new(tenant.ingestion.deletion_hold),
        ingest_single_label: tenant.confluence.ingest_single_label.as_str().to_owned(),
        discovery: DiscoveryRules {
            ingest_all_label: tenant.confluence.ingest_all_label.as_str().to_owned(),
            max_items: tenant
                .processing
                .max_items_to_scan
                .map(|max| max.get() as usize),
            attachments: attachments.enabled.then(|| AttachmentRules {
                allowed_mime_types: attachments.allowed_mime_types.clone(),
                max_file_size_bytes: attachments.max_file_size_bytes(),
            }),
        },
        concurrency: tenant.processing.concurrency.get() as usize,
        store_internally: tenant.ingestion.store_internally,
        page_ingestion_config: tenant.ingestion.page_ingestion_config.clone(),
        image_ocr: attachments.image_ocr,
        inline_images: tenant.inline_images(),
        diagnostics,
        state_dir,
    }
}

fn confluence_settings(tenant: &TenantConfig) -> ConfluenceSettings {
    let confluence = &tenant.confluence;
    let base_url = confluence.base_url.as_str().to_owned();
    let credentials = |client_id: &str, client_secret: &secrecy::SecretString| ClientCredentials {
        client_id: client_id.to_owned(),
        client_secret: client_secret.clone(),
    };
    let site = match (&confluence.instance, &confluence.auth) {
        (
            ConfluenceInstance::Cloud {
                cloud_id,
                api_gateway_url,
            },
            auth,
        ) => Site::Cloud {
            base_url,
            api_gateway_url: api_gateway_url.as_str().to_owned(),
            cloud_id: cloud_id.clone(),
            credentials: match auth {
                ConfluenceAuth::OAuth2lo {
                    client_id,
                    client_secret,
                } => credentials(client_id, client_secret),
                // Validation rejects PAT and basic auth on Cloud (§3.4).
                ConfluenceAuth::Pat { .. } | ConfluenceAuth::Basic { .. } => {
                    unreachable!("config validation allows only oauth_2lo on Cloud")
                }
            },
        },
        (ConfluenceInstance::DataCenter, auth) => Site::DataCenter {
            base_url,
            auth: match auth {
                ConfluenceAuth::OAuth2lo {
                    client_id,
                    client_secret,
                } => DataCenterAuth::OAuth2(credentials(client_id, client_secret)),
                ConfluenceAuth::Pat { token } => DataCenterAuth::PersonalAccessToken(token.clone()),
                ConfluenceAuth::Basic { username, password } => DataCenterAuth::Basic {
                    username: username.clone(),
                    password: password.clone(),
                },
            },
        },
    };
    ConfluenceSettings::new(
        site,
        confluence.api_rate_limit_per_minute,
        SyncLabels {
            single: confluence.ingest_single_label.as_str().to_owned(),
            all: confluence.ingest_all_label.as_str().to_owned(),
        },
        tenant.ingestion.attachments.enabled,
    )
}

fn unique_settings(
    tenant: &TenantConfig,
    retries: UniqueRetries,
    upload_stall: std::time::Duration,
) -> UniqueSettings {
    let unique = &tenant.unique;
    let auth = match &unique.auth {
        UniqueAuth::ClusterLocal {
            service_extra_headers,
        } => AdapterUniqueAuth::ClusterLocal {
            service_extra_headers: service_extra_headers.clone(),
        },
        UniqueAuth::External {
            zitadel_oauth_token_url,
            zitadel_project_id,
            zitadel_client_id,
            zitadel_client_secret,
        } => AdapterUniqueAuth::External {
            token_url: zitadel_oauth_token_url.url().clone(),
            project_id: zitadel_project_id.clone(),
            client_id: zitadel_client_id.clone(),
            client_secret: zitadel_client_secret.clone(),
        },
    };
    UniqueSettings {
        ingestion_base_url: unique.ingestion_service_base_url.url().clone(),
        scope_management_base_url: unique.scope_management_service_base_url.url().clone(),
        auth,
        rate_limit_per_minute: unique.api_rate_limit_per_minute,
        max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS.max(
            NonZeroUsize::new(tenant.processing.concurrency.get() as usize * 2)
                .unwrap_or(DEFAULT_MAX_CONCURRENT_CALLS),
        ),
        request_timeout: HEADERS_TIMEOUT,
        upload_stall,
        retries,
    }
}
