//! Starting a simulator with an adapter pointed at it, and the oracle that
//! says what an enumeration must return.

use std::{
    collections::{BTreeMap, BTreeSet},
    num::NonZeroU32,
    time::Duration,
};

use confluence_connector::{
    adapters::{
        confluence::{
            ClientCredentials, ConfluenceAdapter, ConfluenceSettings, DataCenterAuth, Site,
            SyncLabels,
        },
        http::transport::HttpClients,
    },
    domain::{backoff::RetryPolicy, model::DiscoveredContent},
    ports::ConfluenceSource,
    sim::confluence::{ConfluenceSim, Dataset, Flavor, SimHandle, SimSettings, SpaceType},
};
use secrecy::SecretString;

pub const SINGLE: &str = "ai-ingest";
pub const ALL: &str = "ai-ingest-all";

/// Retries as in production, but milliseconds apart so tests stay fast;
/// `Retry-After` is honoured up to 2 s.
pub const FAST_RETRIES: RetryPolicy = RetryPolicy {
    max_retries: 5,
    base: Duration::from_millis(5),
    cap: Duration::from_millis(40),
    retry_after_cap: Duration::from_secs(2),
    jitter: 0.2,
};

/// How the adapter authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    OAuth,
    Pat,
    Basic,
}

/// A simulator and an adapter pointed at it.
pub struct Harness {
    pub sim: SimHandle,
    pub adapter: ConfluenceAdapter,
}

impl Harness {
    /// A simulator of `flavor` serving `dataset`, with an OAuth adapter
    /// (rate 6000/min, attachments on, fast retries).
    pub async fn start(flavor: Flavor, dataset: Dataset) -> Harness {
        Harness::start_with(flavor, dataset, Login::OAuth, |_| {}).await
    }

    pub async fn start_with(
        flavor: Flavor,
        dataset: Dataset,
        auth: Login,
        adjust: impl FnOnce(&mut ConfluenceSettings),
    ) -> Harness {
        let sim_settings = match flavor {
            Flavor::Cloud => SimSettings::cloud(),
            Flavor::DataCenter => SimSettings::data_center(),
        };
        Harness::start_on(sim_settings, dataset, auth, adjust).await
    }

    /// As [`start_with`](Self::start_with), with the simulator's settings.
    pub async fn start_on(
        sim_settings: SimSettings,
        dataset: Dataset,
        auth: Login,
        adjust: impl FnOnce(&mut ConfluenceSettings),
    ) -> Harness {
        let sim = ConfluenceSim::start(sim_settings, dataset)
            .await
            .expect("simulator starts");
        let mut settings = settings_for(&sim, auth);
        adjust(&mut settings);
        let adapter = ConfluenceAdapter::new(HttpClients::loopback().proxied, settings);
        Harness { sim, adapter }
    }

    /// A second adapter on the same simulator (e.g. other credentials).
    pub fn adapter_with(
        &self,
        auth: Login,
        adjust: impl FnOnce(&mut ConfluenceSettings),
    ) -> ConfluenceAdapter {
        let mut settings = settings_for(&self.sim, auth);
        adjust(&mut settings);
        ConfluenceAdapter::new(HttpClients::loopback().proxied, settings)
    }

    /// Every test ends here: the connector never writes to Confluence.
    pub async fn finish(self) {
        assert_eq!(
            self.sim.counters().non_get,
            0,
            "only GET requests (and token POSTs)"
        );
        self.sim.shutdown().await;
    }
}

pub fn settings_for(sim: &SimHandle, auth: Login) -> ConfluenceSettings {
    let credentials = ClientCredentials {
        client_id: "client".into(),
        client_secret: SecretString::from("secret"),
    };
    let site = match sim.flavor() {
        Flavor::Cloud => Site::Cloud {
            base_url: "https://tenant1.atlassian.net".into(),
            api_gateway_url: sim.gateway_url(),
            cloud_id: sim.settings().cloud_id.clone(),
            credentials,
        },
        Flavor::DataCenter => Site::DataCenter {
            base_url: sim.base_url(),
            auth: match auth {
                Login::OAuth => DataCenterAuth::OAuth2(credentials),
                Login::Pat => DataCenterAuth::PersonalAccessToken(SecretString::from("pat-token")),
                Login::Basic => DataCenterAuth::Basic {
                    username: SecretString::from("user"),
                    password: SecretString::from("password"),
                },
            },
        },
    };
    let mut settings = ConfluenceSettings::new(
        site,
        NonZeroU32::new(6000).unwrap(),
        SyncLabels {
            single: SINGLE.into(),
            all: ALL.into(),
        },
        true,
    );
    settings.retry_policy = FAST_RETRIES;
    settings.token_retry_policy = RetryPolicy {
        max_retries: 3,
        ..FAST_RETRIES
    };
    settings
}

/// Defines `$name::cloud` and `$name::data_center` running `$name(flavor)`.
#[macro_export]
macro_rules! both_flavors {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn cloud() {
                    super::$name(confluence_connector::sim::confluence::Flavor::Cloud).await;
                }

                #[tokio::test]
                async fn data_center() {
                    super::$name(confluence_connector::sim::confluence::Flavor::DataCenter).await;
                }
            }
        )*
    };
}

/// What the adapter returned, reduced to comparable facts: id → (space
/// key, labels, attachment ids with sizes).
pub type Summary = BTreeMap<String, (String, Vec<String>, Vec<(String, u64)>)>;

pub fn summarize(found: &[DiscoveredContent]) -> Summary {
    found
        .iter()
        .map(|c| {
            let attachments = c
                .attachments
                .iter()
                .map(|a| (a.id.clone(), a.file_size))
                .collect();
            (
                c.id.clone(),
                (c.space.key.clone(), c.labels.clone(), attachments),
            )
        })
        .collect()
}

/// The oracle: what C1 and C2 over `dataset` must return on `flavor`.
pub fn expected(dataset: &Dataset, flavor: Flavor) -> (Summary, Summary) {
    let indexed = |t: SpaceType| match flavor {
        Flavor::Cloud => matches!(t, SpaceType::Global | SpaceType::Collaboration),
        Flavor::DataCenter => t == SpaceType::Global,
    };
    let summary = |page: &confluence_connector::sim::confluence::SimPage| {
        let attachments = page
            .attachments
            .iter()
            .map(|a| (a.id.clone(), a.size))
            .collect();
        (
            page.id.clone(),
            (page.space_key.clone(), page.labels.clone(), attachments),
        )
    };
    let labelled: Summary = dataset
        .pages()
        .iter()
        .filter(|p| p.labels.iter().any(|l| l == SINGLE || l == ALL))
        .filter(|p| indexed(dataset.space_by_key(&p.space_key).unwrap().space_type))
        .map(summary)
        .collect();
    let roots: Vec<&String> = labelled
        .iter()
        .filter(|(_, (_, labels, _))| labels.iter().any(|l| l == ALL))
        .map(|(id, _)| id)
        .collect();
    let below: BTreeSet<String> = roots
        .iter()
        .flat_map(|r| dataset.descendants_of(r))
        .collect();
    let descendants = dataset
        .pages()
        .iter()
        .filter(|p| below.contains(&p.id))
        .map(summary)
        .collect();
    (labelled, descendants)
}

/// Runs C1 then C2 through the adapter, as the sync does.
pub async fn enumerate(adapter: &ConfluenceAdapter) -> (Summary, Summary) {
    let labelled = adapter.labeled_content().await.expect("label discovery");
    let roots: Vec<String> = labelled
        .iter()
        .filter(|c| c.labels.iter().any(|l| l == ALL))
        .map(|c| c.id.clone())
        .collect();
    let descendants = adapter
        .descendants(&roots)
        .await
        .expect("descendant discovery");
    (summarize(&labelled), summarize(&descendants))
}
