//! Shared set-up: a simulator, an adapter pointed at it, and builders.

use std::{collections::BTreeMap, num::NonZeroU32, num::NonZeroUsize, time::Duration};

use confluence_connector::{
    adapters::{
        http::transport::HttpClients,
        unique::{
            DEFAULT_MAX_CONCURRENT_CALLS, UniqueAuth, UniqueKnowledgeBase, UniqueRetries,
            UniqueSettings,
        },
    },
    ports::{
        KnowledgeBase,
        knowledge_base::{ContentUpsert, ScopeAccess},
    },
    sim::unique::{SeedScope, UniqueSim, UniqueSimAuth, UniqueSimHandle, UniqueSimSettings},
};
use serde_json::json;
use url::Url;

/// The §12 harness root scope.
pub const ROOT: &str = "root-scope-id";
/// The service user of the simulator's default settings.
pub const USER: &str = "test-user-id";

/// A simulator and an adapter talking to it.
pub struct Harness {
    pub sim: UniqueSimHandle,
    pub kb: UniqueKnowledgeBase,
}

impl Harness {
    /// Cluster-local auth, bodies kept, root `/Confluence` seeded without
    /// grants.
    pub async fn cluster_local() -> Harness {
        Harness::start(UniqueSimSettings::cluster_local()).await
    }

    /// External (Zitadel) auth, otherwise as [`cluster_local`](Self::cluster_local).
    pub async fn external() -> Harness {
        Harness::start(UniqueSimSettings::external()).await
    }

    pub async fn start(settings: UniqueSimSettings) -> Harness {
        Harness::start_with(settings, |_| {}).await
    }

    /// Like [`start`](Self::start), letting the test adjust the adapter's
    /// settings.
    pub async fn start_with(
        settings: UniqueSimSettings,
        adjust: impl FnOnce(&mut UniqueSettings),
    ) -> Harness {
        let sim = UniqueSim::start(settings.keep_bodies_up_to(1 << 20))
            .await
            .expect("simulator starts");
        sim.seed_scope(SeedScope::new(ROOT, "Confluence"));
        let mut settings = adapter_settings(&sim);
        adjust(&mut settings);
        let kb = adapter(settings);
        Harness { sim, kb }
    }

    /// The cycle's first steps (§9.2): fetch the user, self-grant on the
    /// root.
    pub async fn granted(self) -> Harness {
        let user = self.kb.current_user_id().await.expect("User query");
        self.kb
            .grant_scope_access(
                ROOT,
                &user,
                &[ScopeAccess::Manage, ScopeAccess::Read, ScopeAccess::Write],
            )
            .await
            .expect("self-grant");
        self.sim.reset_counters();
        self
    }
}

pub fn adapter(settings: UniqueSettings) -> UniqueKnowledgeBase {
    let clients = HttpClients::loopback();
    UniqueKnowledgeBase::new(settings, clients.direct, clients.direct_upload)
        .expect("valid settings")
}

/// Settings matching the simulator's auth mode.
pub fn adapter_settings(sim: &UniqueSimHandle) -> UniqueSettings {
    let auth = match &sim.settings().auth {
        UniqueSimAuth::ClusterLocal { required_headers } => UniqueAuth::ClusterLocal {
            // `x-service-id` is the adapter's default.
            service_extra_headers: required_headers
                .iter()
                .filter(|(name, _)| *name != "x-service-id")
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect::<BTreeMap<_, _>>(),
        },
        UniqueSimAuth::External {
            client_id,
            client_secret,
            project_id,
            ..
        } => UniqueAuth::External {
            token_url: Url::parse(&sim.token_url()).unwrap(),
            project_id: project_id.clone().into(),
            client_id: client_id.clone(),
            client_secret: client_secret.clone().into(),
        },
    };
    UniqueSettings {
        ingestion_base_url: Url::parse(&sim.ingestion_base_url()).unwrap(),
        scope_management_base_url: Url::parse(&sim.scope_management_base_url()).unwrap(),
        auth,
        // High enough never to wait: the reservoirs use the wall clock.
        rate_limit_per_minute: NonZeroU32::new(100_000).unwrap(),
        max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
        request_timeout: Duration::from_secs(30),
        upload_stall: Duration::from_secs(120),
        retries: UniqueRetries::PRODUCTION,
    }
}

pub fn concurrency(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

/// A page upsert as the sync builds it (§7.3).
pub fn page(key: &str, scope_id: &str, body_len: usize) -> ContentUpsert {
    ContentUpsert {
        key: key.to_owned(),
        title: format!("Title of {key}"),
        mime_type: "text/html".to_owned(),
        url: format!("https://tenant1.atlassian.net/wiki/spaces/SP/pages/{key}"),
        byte_size: body_len as u64,
        metadata: json!({"confluenceLabels": ["engineering"], "spaceKey": "SP", "spaceName": "Space One"}),
        ingestion_config: None,
        scope_id: scope_id.to_owned(),
        source_kind: "ATLASSIAN_CONFLUENCE_CLOUD".to_owned(),
        source_name: "https://tenant1.atlassian.net".to_owned(),
        store_internally: true,
    }
}
