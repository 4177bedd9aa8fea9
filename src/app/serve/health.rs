//! `/health` (PROTOCOL §11.1, §11.2): the sliding window of cycle results
//! per tenant, and the connectivity pings to Confluence and Unique.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value as Json, json};

use crate::{
    adapters::{http::ping::error_code, unique::PingFailure},
    app::tenants::TenantCycle,
    config::{
        ConfluenceInstance, HealthSettings, TenantConfig, validated::DEFAULT_API_GATEWAY_URL,
    },
};

/// The last `size` results of each active tenant (§11.2). In memory only.
#[derive(Debug)]
pub struct SyncHistory {
    size: usize,
    threshold: f64,
    records: Mutex<BTreeMap<String, VecDeque<Record>>>,
    /// Deletions each tenant's last successful cycle held (ours, §9.5):
    /// information for operators, never a failure.
    held: Mutex<BTreeMap<String, usize>>,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    at: DateTime<Utc>,
    failure: bool,
}

impl SyncHistory {
    pub fn new(settings: &HealthSettings) -> Self {
        SyncHistory {
            size: settings.sync_history_size.get() as usize,
            threshold: settings.tenant_failure_threshold,
            records: Mutex::new(BTreeMap::new()),
            held: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records the result of an active tenant's cycle that ran (not a skip,
    /// not a purge), stamped with its completion time, and, for a cycle
    /// that reached its deletion step, how many deletions it held.
    pub fn record(&self, tenant: &str, failure: bool, held: Option<usize>) {
        if let Some(held) = held {
            self.held
                .lock()
                .expect("not poisoned")
                .insert(tenant.to_owned(), held);
        }
        let mut records = self.records.lock().expect("not poisoned");
        let window = records.entry(tenant.to_owned()).or_default();
        window.push_back(Record {
            at: Utc::now(),
            failure,
        });
        while window.len() > self.size {
            window.pop_front();
        }
    }

    /// The `sync` check: up unless a tenant's share of failures exceeds the
    /// threshold (strictly), or a tenant's cycle is `stuck` (ours: running
    /// longer than the bound, with how long it has run).
    fn check(&self, stuck: &[(String, Duration)], stuck_after: Duration) -> (bool, Json) {
        let records = self.records.lock().expect("not poisoned");
        let newest = records.values().flatten().map(|r| r.at).max();
        if newest.is_none() && stuck.is_empty() {
            return (
                true,
                json!({"status": "up", "message": "No sync records yet"}),
            );
        }
        let held = self.held.lock().expect("not poisoned");
        let mut tenants = Map::new();
        let mut failing = Vec::new();
        for (tenant, window) in records.iter() {
            let total = window.len();
            let failures = window.iter().filter(|r| r.failure).count();
            if total > 0 && failures as f64 / total as f64 > self.threshold {
                failing.push(tenant.clone());
            }
            let mut entry = json!({"failures": failures, "total": total});
            if let Some(&held) = held.get(tenant).filter(|&&held| held > 0) {
                entry["heldDeletions"] = json!(held);
            }
            tenants.insert(tenant.clone(), entry);
        }
        for (tenant, running_for) in stuck {
            if !failing.contains(tenant) {
                failing.push(tenant.clone());
            }
            let entry = tenants
                .entry(tenant.clone())
                .or_insert_with(|| json!({"failures": 0, "total": 0}));
            entry["stuck"] = json!(true);
            entry["runningForSeconds"] = json!(running_for.as_secs());
        }
        let up = failing.is_empty();
        let mut details = json!({
            "status": if up { "up" } else { "down" },
            "tenants": tenants,
        });
        if let Some(newest) = newest {
            details["lastSyncAt"] = json!(newest.to_rfc3339_opts(SecondsFormat::Millis, true));
        }
        if !up {
            details["threshold"] = json!(self.threshold);
            details["failingTenants"] = json!(failing);
        }
        if !stuck.is_empty() {
            details["stuckTenants"] = json!(stuck.iter().map(|(t, _)| t).collect::<Vec<_>>());
            details["stuckAfterSeconds"] = json!(stuck_after.as_secs());
        }
        (up, details)
    }
}

/// What `/health` pings for one tenant.
#[derive(Debug)]
pub struct HealthTarget {
    pub tenant: String,
    /// `None` for deleted tenants: they have no Confluence entry (§11.1).
    pub confluence: Option<ConfluenceTarget>,
    /// The tenant's cycle, whose Unique adapter holds the credentials.
    pub cycle: Arc<TenantCycle>,
}

/// The Confluence URLs of an active tenant.
#[derive(Debug, Clone)]
pub struct ConfluenceTarget {
    /// `{apiGatewayUrl}/` of a Cloud tenant.
    pub gateway: Option<String>,
    /// The URL behind the tenant's `confluence` entry: `{baseUrl}/`, or for
    /// a Cloud tenant with a gateway override `{apiGatewayUrl}/` (§11.5).
    pub site: String,
}

impl ConfluenceTarget {
    pub fn of(tenant: &TenantConfig) -> Self {
        let site = format!("{}/", tenant.confluence.base_url.as_str());
        match &tenant.confluence.instance {
            ConfluenceInstance::Cloud {
                api_gateway_url, ..
            } => {
                let gateway = format!("{}/", api_gateway_url.as_str());
                let overridden = api_gateway_url.as_str() != DEFAULT_API_GATEWAY_URL;
                ConfluenceTarget {
                    site: if overridden { gateway.clone() } else { site },
                    gateway: Some(gateway),
                }
            }
            ConfluenceInstance::DataCenter => ConfluenceTarget {
                gateway: None,
                site,
            },
        }
    }
}

/// Everything `/health` needs.
#[derive(Debug)]
pub struct Health {
    pub history: SyncHistory,
    pub targets: Vec<HealthTarget>,
    /// The proxied client: Confluence pings always go through the proxy (§2.2).
    pub confluence_client: reqwest::Client,
    pub timeout: Duration,
    /// `SYNC_CYCLE_STUCK_AFTER_SECONDS`: an active tenant whose cycle has
    /// run longer is down in the `sync` check until the cycle ends.
    pub stuck_after: Duration,
}

/// The HTTP status and body of `/health`.
#[derive(Debug, Clone)]
pub struct HealthReport {
    pub healthy: bool,
    pub body: Json,
}

impl Health {
    /// Evaluates every check, concurrently.
    pub async fn evaluate(&self) -> HealthReport {
        let (sync, connectivity, unique) = tokio::join!(
            async { self.history.check(&self.stuck(), self.stuck_after) },
            self.connectivity(),
            self.unique_api()
        );
        let mut info = Map::new();
        let mut error = Map::new();
        let mut details = Map::new();
        for (name, (up, body)) in [
            ("sync", sync),
            ("connectivity", connectivity),
            ("uniqueApi", unique),
        ] {
            if up {
                info.insert(name.to_owned(), body.clone());
            } else {
                error.insert(name.to_owned(), body.clone());
            }
            details.insert(name.to_owned(), body);
        }
        let healthy = error.is_empty();
        HealthReport {
            healthy,
            body: json!({
                "status": if healthy { "ok" } else { "error" },
                "info": info,
                "error": error,
                "details": details,
            }),
        }
    }

    /// Active tenants whose running cycle has passed the stuck bound, with
    /// how long it has run.
    pub fn stuck(&self) -> Vec<(String, Duration)> {
        self.targets
            .iter()
            .filter(|target| target.confluence.is_some())
            .filter_map(|target| {
                let running_for = target.cycle.running_for()?;
                (running_for > self.stuck_after).then(|| (target.tenant.clone(), running_for))
            })
            .collect()
    }

    /// One unauthenticated GET per distinct URL; any HTTP answer means
    /// reachable.
    async fn ping(&self, url: &str) -> Result<(), &'static str> {
        match self
            .confluence_client
            .get(url)
            .timeout(self.timeout)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => Err(error_code(&err)),
        }
    }

    async fn connectivity(&self) -> (bool, Json) {
        let active: Vec<(&str, &ConfluenceTarget)> = self
            .targets
            .iter()
            .filter_map(|t| t.confluence.as_ref().map(|c| (t.tenant.as_str(), c)))
            .collect();
        let gateways: BTreeSet<&str> = active
            .iter()
            .filter_map(|(_, c)| c.gateway.as_deref())
            .collect();
        let urls: BTreeSet<&str> = gateways
            .iter()
            .copied()
            .chain(active.iter().map(|(_, c)| c.site.as_str()))
            .collect();
        let results: BTreeMap<&str, Result<(), &'static str>> = futures::future::join_all(
            urls.iter()
                .map(|url| async move { (*url, self.ping(url).await) }),
        )
        .await
        .into_iter()
        .collect();
        let mut up = true;
        let mut details = Map::new();
        if !gateways.is_empty() {
            let failure = gateways.iter().find_map(|g| results[g].err());
            details.insert(
                "atlassian".to_owned(),
                json!(if failure.is_none() {
                    "reachable"
                } else {
                    "unreachable"
                }),
            );
            if let Some(code) = failure {
                up = false;
                details.insert("atlassianError".to_owned(), json!(code));
            }
        }
        let entries: Vec<Json> = active
            .iter()
            .map(|(tenant, target)| match results[target.site.as_str()] {
                Ok(()) => json!({"tenant": tenant, "status": "reachable"}),
                Err(code) => {
                    up = false;
                    json!({"tenant": tenant, "status": "unreachable", "error": code})
                }
            })
            .collect();
        details.insert("confluence".to_owned(), json!(entries));
        let mut body = json!({"status": if up { "up" } else { "down" }});
        body.as_object_mut().expect("an object").extend(details);
        (up, body)
    }

    async fn unique_api(&self) -> (bool, Json) {
        let pings = futures::future::join_all(self.targets.iter().map(|t| async {
            (
                t.tenant.as_str(),
                t.cycle.knowledge_base().ping_graphql(self.timeout).await,
            )
        }))
        .await;
        let mut up = true;
        let mut entry = |tenant: &str, result: &Result<(), PingFailure>| match result {
            Ok(()) => json!({"tenant": tenant, "status": "reachable"}),
            Err(failure) => {
                up = false;
                json!({"tenant": tenant, "status": "unreachable", "error": failure.0})
            }
        };
        let mut ingestion = Vec::new();
        let mut scope_management = Vec::new();
        for (tenant, ping) in &pings {
            ingestion.push(entry(tenant, &ping.ingestion));
            scope_management.push(entry(tenant, &ping.scope_management));
        }
        (
            up,
            json!({
                "status": if up { "up" } else { "down" },
                "ingestion": ingestion,
                "scopeManagement": scope_management,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn history(size: u32, threshold: f64) -> SyncHistory {
        SyncHistory::new(&HealthSettings {
            sync_history_size: NonZeroU32::new(size).unwrap(),
            tenant_failure_threshold: threshold,
            connectivity_timeout: Duration::from_secs(1),
        })
    }

    const BOUND: Duration = Duration::from_secs(60);

    #[test]
    fn no_records_is_up_with_a_message() {
        let (up, body) = history(5, 0.5).check(&[], BOUND);
        assert!(up);
        assert_eq!(body["message"], "No sync records yet");
    }

    #[test]
    fn a_tenant_fails_only_above_the_threshold_within_the_window() {
        let h = history(4, 0.5);
        h.record("acme", true, None);
        h.record("acme", false, Some(0));
        // 1 of 2 = 0.5 is not strictly greater than 0.5.
        assert!(h.check(&[], BOUND).0);
        h.record("acme", true, None);
        let (up, body) = h.check(&[], BOUND);
        assert!(!up);
        assert_eq!(body["failingTenants"], json!(["acme"]));
        assert_eq!(body["threshold"], json!(0.5));
        assert_eq!(body["tenants"]["acme"], json!({"failures": 2, "total": 3}));
        // Successes push the failures out of the four-record window.
        for _ in 0..3 {
            h.record("acme", false, Some(0));
        }
        let (up, body) = h.check(&[], BOUND);
        assert!(up, "{body}");
        assert_eq!(body["tenants"]["acme"], json!({"failures": 1, "total": 4}));
        assert!(body.get("failingTenants").is_none());
    }

    #[test]
    fn held_deletions_are_shown_but_never_fail_the_check() {
        let h = history(4, 0.5);
        h.record("acme", false, Some(40));
        let (up, body) = h.check(&[], BOUND);
        assert!(up, "{body}");
        assert_eq!(
            body["tenants"]["acme"],
            json!({"failures": 0, "total": 1, "heldDeletions": 40})
        );
        // A failed cycle says nothing about the hold; the next success does.
        h.record("acme", true, None);
        let (up, body) = h.check(&[], BOUND);
        assert!(up, "{body}");
        assert_eq!(body["tenants"]["acme"]["heldDeletions"], json!(40));
        h.record("acme", false, Some(0));
        let (_, body) = h.check(&[], BOUND);
        assert_eq!(body["tenants"]["acme"], json!({"failures": 1, "total": 3}));
    }

    #[test]
    fn a_stuck_cycle_makes_its_tenant_down_until_it_ends() {
        let h = history(5, 0.5);
        let stuck = [("acme".to_owned(), Duration::from_secs(61))];
        // Even before its first record.
        let (up, body) = h.check(&stuck, BOUND);
        assert!(!up, "{body}");
        assert_eq!(body["failingTenants"], json!(["acme"]));
        assert_eq!(body["stuckTenants"], json!(["acme"]));
        assert_eq!(body["stuckAfterSeconds"], json!(60));
        assert_eq!(
            body["tenants"]["acme"],
            json!({"failures": 0, "total": 0, "stuck": true, "runningForSeconds": 61})
        );
        h.record("acme", false, None);
        h.record("other", false, None);
        let (up, body) = h.check(&stuck, BOUND);
        assert!(!up);
        assert_eq!(body["failingTenants"], json!(["acme"]), "{body}");
        assert_eq!(body["tenants"]["other"], json!({"failures": 0, "total": 1}));
        let (up, body) = h.check(&[], BOUND);
        assert!(up, "{body}");
        assert!(body.get("stuckTenants").is_none());
    }
}
