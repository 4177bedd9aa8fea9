//! A tenant file pointing at running simulators, for `demo`, `simulate
//! --tenant-file`, the end-to-end tests and the benchmarks: the PROTOCOL
//! §12 harness tenant (labels `ai-ingest`/`ai-ingest-all`, Cloud through
//! `apiGatewayUrl` or Data Center with a PAT, cluster-local Unique).
//!
//! Secrets stay references: `os.environ/CONFLUENCE_CLIENT_SECRET` (the
//! simulator accepts `secret`) and `os.environ/CONFLUENCE_PAT`
//! (`pat-token`); [`SECRET_ENV`] lists the values to put in the environment.

use serde_json::{Value, json};

use super::{
    confluence::{Flavor, SimHandle},
    unique::{UniqueSimAuth, UniqueSimHandle},
};

/// The environment the tenant file's `os.environ/` references need.
pub const SECRET_ENV: [(&str, &str); 2] = [
    ("CONFLUENCE_CLIENT_SECRET", "secret"),
    ("CONFLUENCE_PAT", "pat-token"),
];

/// The tenant file (as JSON, to be written as YAML) of a tenant syncing
/// `confluence` into `unique` under `root_scope_id`. Rate limits are high
/// enough never to slow a run down; tests patch what they need.
pub fn tenant_file(confluence: &SimHandle, unique: &UniqueSimHandle, root_scope_id: &str) -> Value {
    let mut site = match confluence.flavor() {
        Flavor::Cloud => json!({
            "instanceType": "cloud",
            "baseUrl": "https://tenant1.atlassian.net",
            "cloudId": confluence.settings().cloud_id,
            "apiGatewayUrl": confluence.gateway_url(),
            "auth": {"mode": "oauth_2lo", "clientId": "client", "clientSecret": "os.environ/CONFLUENCE_CLIENT_SECRET"},
        }),
        Flavor::DataCenter => json!({
            "instanceType": "data-center",
            "baseUrl": confluence.base_url(),
            "auth": {"mode": "pat", "token": "os.environ/CONFLUENCE_PAT"},
        }),
    };
    site["apiRateLimitPerMinute"] = json!(60_000);
    site["ingestSingleLabel"] = json!("ai-ingest");
    site["ingestAllLabel"] = json!("ai-ingest-all");
    let headers: serde_json::Map<String, Value> = match &unique.settings().auth {
        UniqueSimAuth::ClusterLocal { required_headers } => required_headers
            .iter()
            .filter(|(name, _)| name.as_str() != "x-service-id")
            .map(|(name, value)| (name.clone(), json!(value)))
            .collect(),
        UniqueSimAuth::External { .. } => serde_json::Map::new(),
    };
    json!({
        "status": "active",
        "confluence": site,
        "unique": {
            "serviceAuthMode": "cluster_local",
            "serviceExtraHeaders": headers,
            "ingestionServiceBaseUrl": unique.ingestion_base_url(),
            "scopeManagementServiceBaseUrl": unique.scope_management_base_url(),
            "apiRateLimitPerMinute": 60_000,
        },
        "processing": {"concurrency": 4},
        "ingestion": {"scopeId": root_scope_id, "storeInternally": "enabled"},
    })
}

/// Deep-merges `patch` into `target` (objects merge, anything else
/// replaces), for adjusting a tenant file.
pub fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch,
    }
}
