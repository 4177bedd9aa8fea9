//! `check-config` (PROTOCOL §2.4): validates the environment and every
//! tenant file exactly as `serve` would, without any network I/O, and prints
//! a per-tenant summary to stdout (text, or JSON with `--json`). Logs and
//! errors go to stderr.
//!
//! Secrets are never printed: where a secret field is shown at all, its
//! value is `[Redacted]`.

use std::{
    io::{self, Write},
    process::ExitCode,
};

use serde_json::{Value as Json, json};

use super::{
    cli::{GlobalArgs, OutputArgs},
    exit, load_config,
};
use crate::{
    config::{
        ConfluenceAuth, ConfluenceInstance, KeyFormat, LoadedConfig, MetricsExporter,
        ProcessConfig, Proxy, ProxyAuth, TenantConfig, UniqueAuth,
    },
    telemetry::DiagnosticsPolicy,
};

const REDACTED: &str = "[Redacted]";

pub fn run(global: &GlobalArgs, args: &OutputArgs) -> ExitCode {
    let config = match load_config(global) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let output = if args.json {
        json_summary(&config).to_string()
    } else {
        text_summary(&config)
    };
    match writeln!(io::stdout().lock(), "{output}") {
        // A reader that stops early (`| head`) does not make the configuration invalid.
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("error: cannot write the summary: {e}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// Running tenants and inactive ones, in file order.
fn all_tenants(config: &LoadedConfig) -> Vec<&TenantConfig> {
    let mut tenants: Vec<_> = config.tenants.iter().chain(&config.inactive).collect();
    tenants.sort_by(|a, b| a.file.cmp(&b.file));
    tenants
}

fn warnings_of(config: &LoadedConfig, tenant: &TenantConfig) -> Vec<String> {
    config
        .warnings
        .iter()
        .filter(|warning| warning.file() == tenant.file)
        .map(|warning| warning.message())
        .collect()
}

fn enabled(on: bool) -> &'static str {
    if on { "enabled" } else { "disabled" }
}

fn policy(policy: DiagnosticsPolicy) -> &'static str {
    match policy {
        DiagnosticsPolicy::Conceal => "conceal",
        DiagnosticsPolicy::Disclose => "disclose",
    }
}

/// `deletionHold` as the summary shows it.
fn deletion_hold(threshold: u32) -> String {
    if threshold == 0 {
        "off".to_owned()
    } else {
        format!("more than {threshold} items or 10 % of the stored items, or several space scopes")
    }
}

fn key_format(format: KeyFormat) -> &'static str {
    match format {
        KeyFormat::Current => "current",
        KeyFormat::V1 => "v1",
    }
}

fn proxy_text(process: &ProcessConfig) -> String {
    match &process.proxy {
        Proxy::Disabled => "none".to_owned(),
        Proxy::Enabled(proxy) => {
            let auth = match &proxy.auth {
                ProxyAuth::NoAuth => String::new(),
                ProxyAuth::UsernamePassword { username, .. } => {
                    format!(", user {username}, password {REDACTED}")
                }
                ProxyAuth::SslTls {
                    cert_path,
                    key_path,
                } => {
                    format!(
                        ", client cert {}, key {}",
                        cert_path.display(),
                        key_path.display()
                    )
                }
            };
            format!("{} ({}{auth})", proxy.url(), proxy.auth.mode())
        }
    }
}

fn confluence_auth_text(auth: &ConfluenceAuth) -> String {
    let details = match auth {
        ConfluenceAuth::OAuth2lo { client_id, .. } => {
            format!("client id {client_id}, client secret {REDACTED}")
        }
        ConfluenceAuth::Pat { .. } => format!("token {REDACTED}"),
        ConfluenceAuth::Basic { .. } => format!("username {REDACTED}, password {REDACTED}"),
    };
    format!("{} ({details})", auth.mode())
}

fn unique_auth_text(auth: &UniqueAuth) -> String {
    let details = match auth {
        UniqueAuth::ClusterLocal {
            service_extra_headers,
        } => {
            let headers: Vec<_> = service_extra_headers
                .iter()
                .map(|(name, value)| format!("{name}: {value}"))
                .collect();
            format!("headers {}", headers.join(", "))
        }
        UniqueAuth::External {
            zitadel_oauth_token_url,
            zitadel_client_id,
            ..
        } => format!(
            "token URL {zitadel_oauth_token_url}, client id {zitadel_client_id}, \
             project id {REDACTED}, client secret {REDACTED}"
        ),
    };
    format!("{} ({details})", auth.mode())
}

fn text_summary(config: &LoadedConfig) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: &dyn std::fmt::Display| {
        out.push_str(&format!("  {label:<19}{value}\n"))
    };
    let process = &config.process;
    line("tenant files", &process.tenant_config_path_pattern);
    line("port", &process.port);
    line("log level", &process.log_level);
    line("diagnostics policy", &policy(process.diagnostics_policy));
    line("proxy", &proxy_text(process));
    let metrics = &process.metrics;
    line(
        "metrics exporter",
        &match metrics.exporter {
            MetricsExporter::Prometheus => format!(
                "prometheus on {}:{}",
                metrics.prometheus_host, metrics.prometheus_port
            ),
            other => other.as_str().to_owned(),
        },
    );
    let mut text = format!(
        "configuration is valid: {} tenant(s) to run, {} inactive, {} warning(s)\n\nprocess\n{out}",
        config.tenants.len(),
        config.inactive.len(),
        config.warnings.len()
    );
    for tenant in all_tenants(config) {
        text.push('\n');
        text.push_str(&tenant_text(config, tenant));
    }
    text.trim_end().to_owned()
}

fn tenant_text(config: &LoadedConfig, tenant: &TenantConfig) -> String {
    let mut out = format!("tenant {}\n", tenant.name);
    let mut line = |label: &str, value: &dyn std::fmt::Display| {
        out.push_str(&format!("  {label:<19}{value}\n"))
    };
    let TenantConfig {
        confluence,
        unique,
        processing,
        ingestion,
        ..
    } = tenant;
    line("file", &tenant.file.display());
    line("status", &tenant.status.as_str());
    line("instance type", &confluence.instance_type().as_str());
    line("base URL", &confluence.base_url);
    if let ConfluenceInstance::Cloud {
        cloud_id,
        api_gateway_url,
    } = &confluence.instance
    {
        line("cloud id", cloud_id);
        line("API gateway", api_gateway_url);
    }
    line("confluence auth", &confluence_auth_text(&confluence.auth));
    line(
        "confluence limit",
        &format!("{} requests/min", confluence.api_rate_limit_per_minute),
    );
    line(
        "labels",
        &format!(
            "{} (page), {} (page and descendants)",
            confluence.ingest_single_label, confluence.ingest_all_label
        ),
    );
    line("unique auth", &unique_auth_text(&unique.auth));
    line("unique ingestion", &unique.ingestion_service_base_url);
    line("unique scopes", &unique.scope_management_service_base_url);
    line(
        "unique limit",
        &format!(
            "{} requests/min per client",
            unique.api_rate_limit_per_minute
        ),
    );
    line("root scope id", &ingestion.scope_id);
    line("schedule", &processing.scan_interval.as_str());
    line("concurrency", &processing.concurrency);
    line(
        "max items to scan",
        &processing
            .max_items_to_scan
            .map_or_else(|| "unlimited".to_owned(), |n| n.to_string()),
    );
    line("store internally", &enabled(ingestion.store_internally));
    line("key format", &key_format(ingestion.key_format));
    line("deletion hold", &deletion_hold(ingestion.deletion_hold));
    let attachments = &ingestion.attachments;
    line(
        "attachments",
        &format!(
            "{}, max {} MiB, image OCR {}",
            enabled(attachments.enabled),
            attachments.max_file_size_mb,
            enabled(attachments.image_ocr)
        ),
    );
    line("allowed types", &attachments.allowed_mime_types.join(", "));
    line(
        "image inlining",
        &if tenant.inline_images() { "on" } else { "off" },
    );
    let warnings = warnings_of(config, tenant);
    if warnings.is_empty() {
        line("warnings", &"none");
    } else {
        line("warnings", &warnings.len());
        for warning in warnings {
            out.push_str(&format!("    - {warning}\n"));
        }
    }
    out
}

fn json_summary(config: &LoadedConfig) -> Json {
    let process = &config.process;
    let proxy = match &process.proxy {
        Proxy::Disabled => json!({ "mode": "none" }),
        Proxy::Enabled(proxy) => {
            let mut value = json!({ "mode": proxy.auth.mode(), "url": proxy.url() });
            match &proxy.auth {
                ProxyAuth::NoAuth => {}
                ProxyAuth::UsernamePassword { username, .. } => {
                    value["username"] = json!(username);
                    value["password"] = json!(REDACTED);
                }
                ProxyAuth::SslTls {
                    cert_path,
                    key_path,
                } => {
                    value["certPath"] = json!(cert_path);
                    value["keyPath"] = json!(key_path);
                }
            }
            value
        }
    };
    json!({
        "valid": true,
        "process": {
            "tenantConfigPathPattern": process.tenant_config_path_pattern,
            "port": process.port,
            "logLevel": process.log_level.as_str(),
            "diagnosticsPolicy": policy(process.diagnostics_policy),
            "proxy": proxy,
            "metricsExporter": process.metrics.exporter.as_str(),
            "prometheusHost": process.metrics.prometheus_host,
            "prometheusPort": process.metrics.prometheus_port,
        },
        "tenants": all_tenants(config).into_iter().map(|tenant| tenant_json(config, tenant)).collect::<Vec<_>>(),
        "warnings": config.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn tenant_json(config: &LoadedConfig, tenant: &TenantConfig) -> Json {
    let TenantConfig {
        confluence,
        unique,
        processing,
        ingestion,
        ..
    } = tenant;
    let mut confluence_json = json!({
        "instanceType": confluence.instance_type().as_str(),
        "baseUrl": confluence.base_url.as_str(),
        "apiRateLimitPerMinute": confluence.api_rate_limit_per_minute,
        "ingestSingleLabel": confluence.ingest_single_label.as_str(),
        "ingestAllLabel": confluence.ingest_all_label.as_str(),
        "auth": confluence_auth_json(&confluence.auth),
    });
    if let ConfluenceInstance::Cloud {
        cloud_id,
        api_gateway_url,
    } = &confluence.instance
    {
        confluence_json["cloudId"] = json!(cloud_id);
        confluence_json["apiGatewayUrl"] = json!(api_gateway_url.as_str());
    }
    let attachments = &ingestion.attachments;
    json!({
        "name": tenant.name.as_str(),
        "file": tenant.file,
        "status": tenant.status.as_str(),
        "confluence": confluence_json,
        "unique": {
            "auth": unique_auth_json(&unique.auth),
            "ingestionServiceBaseUrl": unique.ingestion_service_base_url.as_str(),
            "scopeManagementServiceBaseUrl": unique.scope_management_service_base_url.as_str(),
            "apiRateLimitPerMinute": unique.api_rate_limit_per_minute,
        },
        "processing": {
            "concurrency": processing.concurrency,
            "scanIntervalCron": processing.scan_interval.as_str(),
            "maxItemsToScan": processing.max_items_to_scan,
        },
        "ingestion": {
            "scopeId": ingestion.scope_id,
            "storeInternally": enabled(ingestion.store_internally),
            "keyFormat": key_format(ingestion.key_format),
            "deletionHold": ingestion.deletion_hold,
            "attachments": {
                "mode": enabled(attachments.enabled),
                "allowedMimeTypes": attachments.allowed_mime_types,
                "maxFileSizeMb": attachments.max_file_size_mb,
                "imageOcr": enabled(attachments.image_ocr),
            },
            "inlineImages": tenant.inline_images(),
        },
        "warnings": warnings_of(config, tenant),
    })
}

fn confluence_auth_json(auth: &ConfluenceAuth) -> Json {
    let mut value = match auth {
        ConfluenceAuth::OAuth2lo { client_id, .. } => {
            json!({ "clientId": client_id, "clientSecret": REDACTED })
        }
        ConfluenceAuth::Pat { .. } => json!({ "token": REDACTED }),
        ConfluenceAuth::Basic { .. } => json!({ "username": REDACTED, "password": REDACTED }),
    };
    value["mode"] = json!(auth.mode());
    value
}

fn unique_auth_json(auth: &UniqueAuth) -> Json {
    let mut value = match auth {
        UniqueAuth::ClusterLocal {
            service_extra_headers,
        } => {
            json!({ "serviceExtraHeaders": service_extra_headers })
        }
        UniqueAuth::External {
            zitadel_oauth_token_url,
            zitadel_client_id,
            ..
        } => json!({
            "zitadelOauthTokenUrl": zitadel_oauth_token_url.as_str(),
            "zitadelClientId": zitadel_client_id,
            "zitadelProjectId": REDACTED,
            "zitadelClientSecret": REDACTED,
        }),
    };
    value["serviceAuthMode"] = json!(auth.mode());
    value
}
