//! An embedded Confluence (Cloud or Data Center) on 127.0.0.1, for tests,
//! `demo`, `simulate` and benchmarks.
//!
//! It serves the requests of PROTOCOL §4–§5 from a [`Dataset`]: OAuth token
//! endpoints with expiring tokens, PAT and basic auth (Data Center), a real
//! parser for the CQL subset the connector sends, Cloud cursor and Data
//! Center offset pagination, 25 inline attachments with Cloud v2 and Data
//! Center continuation listings, streamed downloads generated on the fly
//! (any size costs one block of memory), and the applinks manifest.
//! Cloud downloads can redirect to a second listener, the media host,
//! which counts requests that arrive with an `Authorization` header.
//!
//! Tests steer it through [`SimHandle`]: quirks of real servers
//! ([`Quirk`], PROTOCOL §5.13), injected faults per [`Route`] (next N
//! requests or a seeded probability), a GCRA rate limit answering 429,
//! token revocation, and dataset changes while a client runs. Counters
//! ([`SimCounters`]) report requests by route and status, non-GET
//! requests, peak concurrency, requests over the limit and token issuances.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use confluence_connector::sim::confluence::*;
//!
//! let dataset = Dataset::new()
//!     .space(SimSpace::new("space-1", "SP", "Space One"))
//!     .page(SimPage::new("p1", "SP").labels(["ai-ingest"]));
//! let sim = ConfluenceSim::start(SimSettings::cloud(), dataset).await?;
//! sim.set_quirk(Quirk::DownloadRedirectToMediaHost, true);
//! // … point a client at sim.api_base() and sim.gateway_url() …
//! assert_eq!(sim.counters().non_get, 0);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod content;
mod control;
mod cql;
mod dataset;
mod server;

use std::{net::SocketAddr, sync::Arc};

pub use content::{AttachmentContent, BLOCK_SIZE};
pub use control::{
    EarlyEnd, EditTrigger, Fault, Flavor, PointsQuota, Quirk, RateLimit, Route, SimAuth,
    SimCounters, SimSettings,
};
pub use cql::{CqlError, Field, Query, parse as parse_cql};
pub use dataset::{
    DEFAULT_VERSION, Dataset, RandomTreeOptions, SimAttachment, SimPage, SimSpace, SpaceType,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use self::{
    control::Counters,
    server::{Shared, SimState},
};

/// Starts simulators.
#[derive(Debug)]
pub struct ConfluenceSim;

impl ConfluenceSim {
    /// Binds the API listener and the media host on `127.0.0.1:0` and
    /// serves `dataset` until [`SimHandle::shutdown`] (or the handle is
    /// dropped).
    ///
    /// # Errors
    /// When a listener cannot be bound.
    pub async fn start(settings: SimSettings, dataset: Dataset) -> std::io::Result<SimHandle> {
        ConfluenceSim::start_at(0, settings, dataset).await
    }

    /// Like [`start`](Self::start) with the API listener on a chosen port
    /// (`simulate --confluence-port`; 0 picks one); the media host always
    /// takes an ephemeral port.
    ///
    /// # Errors
    /// When a listener cannot be bound (e.g. the port is taken).
    pub async fn start_at(
        port: u16,
        settings: SimSettings,
        dataset: Dataset,
    ) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let media_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let media_addr = media_listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: std::sync::Mutex::new(SimState::new(dataset, settings.seed)),
            settings,
            media_origin: format!("http://{media_addr}"),
            origin: format!("http://{addr}"),
            counters: Counters::default(),
        });
        let (main, media) = server::routers(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            let media_task = tokio::spawn(axum::serve(media_listener, media).into_future());
            // A server error ends the simulator; tests then see refused
            // connections, which is the honest symptom.
            let _ = axum::serve(listener, main)
                .with_graceful_shutdown(stopped)
                .await;
            media_task.abort();
        });
        Ok(SimHandle {
            shared,
            addr,
            media_addr,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A running simulator. Dropping it stops the servers.
#[derive(Debug)]
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    media_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    pub fn flavor(&self) -> Flavor {
        self.shared.settings.flavor
    }

    /// `http://127.0.0.1:{port}`: the Cloud API gateway URL (token
    /// endpoint and `/ex/confluence/{cloudId}` below it).
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Data Center base URL, context path included.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, self.shared.settings.context_path)
    }

    /// Where API paths start: `{gateway}/ex/confluence/{cloudId}` (Cloud)
    /// or the base URL (Data Center).
    pub fn api_base(&self) -> String {
        match self.flavor() {
            Flavor::Cloud => format!(
                "{}/ex/confluence/{}",
                self.gateway_url(),
                self.shared.settings.cloud_id
            ),
            Flavor::DataCenter => self.base_url(),
        }
    }

    /// `http://127.0.0.1:{port}` of the media host.
    pub fn media_url(&self) -> String {
        format!("http://{}", self.media_addr)
    }

    pub fn settings(&self) -> &SimSettings {
        &self.shared.settings
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> SimCounters {
        self.shared.counters.snapshot()
    }

    /// Switches a quirk on or off.
    pub fn set_quirk(&self, quirk: Quirk, on: bool) {
        let mut state = self.shared.lock();
        if on {
            state.quirks.insert(quirk);
        } else {
            state.quirks.remove(&quirk);
        }
    }

    /// Makes discovery searches (those not expanding bodies) end early:
    /// only the first `cutoff` matches are served, and the listing ends as
    /// [`EarlyEnd`] says (PROTOCOL §9.3 step 7). `None` serves listings
    /// whole.
    pub fn end_listings_early(&self, cutoff: Option<(usize, EarlyEnd)>) {
        self.shared.lock().listing_cutoff = cutoff;
    }

    /// Answers the next `count` requests to `route` with `fault`, before any
    /// fault drawn at random.
    pub fn fail_next(&self, route: Route, count: usize, fault: Fault) {
        let mut state = self.shared.lock();
        let faults = state.faults.entry(route).or_default();
        faults.queued.extend(std::iter::repeat_n(fault, count));
    }

    /// Answers each request to `route` with `fault` with `probability`,
    /// drawn from the simulator's seeded RNG; `None` switches it off.
    pub fn fail_randomly(&self, route: Route, fault: Option<(f64, Fault)>) {
        self.shared.lock().faults.entry(route).or_default().random = fault;
    }

    /// Removes every queued and random fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Limits API requests (token endpoint and media host excluded); those
    /// above the rate get 429. `None` removes the limit.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.shared.lock().set_rate_limit(limit);
    }

    /// Invalidates every issued token: the next API request with one gets 401.
    pub fn revoke_tokens(&self) {
        self.shared.lock().revoke_tokens();
    }

    /// Revokes every issued token when the `n`-th API request (counted
    /// from start) arrives, so a token expires in the middle of a run.
    pub fn revoke_tokens_at_request(&self, n: u64) {
        self.shared.lock().revoke_tokens_at_api_request = Some(n);
    }

    /// While on, issued tokens are refused (401 even after a refresh).
    pub fn reject_tokens(&self, on: bool) {
        self.shared.lock().reject_tokens = on;
    }

    /// Changes the served content, e.g. deletes a page mid-cycle.
    pub fn update_dataset<R>(&self, change: impl FnOnce(&mut Dataset) -> R) -> R {
        change(&mut self.shared.lock().dataset)
    }

    /// Applies `change` to the served content once `trigger` happens (an
    /// edit or deletion between two requests of a cycle).
    pub fn edit_when(
        &self,
        trigger: EditTrigger,
        change: impl FnOnce(&mut Dataset) + Send + 'static,
    ) {
        self.shared
            .lock()
            .edits
            .push((trigger, server::DatasetChange(Box::new(change))));
    }

    /// A copy of the served content.
    pub fn dataset(&self) -> Dataset {
        self.shared.lock().dataset.clone()
    }

    /// Stops both listeners and waits for the server task.
    pub async fn shutdown(mut self) {
        self.stop_servers();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn stop_servers(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop_servers();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::adapters::http::transport::HttpClients;

    #[tokio::test]
    async fn counters_see_methods_concurrency_and_unknown_routes() {
        let sim = ConfluenceSim::start(SimSettings::data_center(), Dataset::new())
            .await
            .unwrap();
        let http = HttpClients::loopback().direct;
        let manifest = format!("{}/rest/applinks/1.0/manifest", sim.base_url());
        sim.fail_next(Route::Manifest, 2, Fault::Delay(Duration::from_millis(300)));
        let (a, b) = tokio::join!(http.get(&manifest).send(), http.get(&manifest).send());
        assert_eq!(a.unwrap().status(), 200);
        assert_eq!(b.unwrap().status(), 200);

        let search = format!("{}/rest/api/content/search?cql=id=1", sim.base_url());
        assert_eq!(http.post(&search).send().await.unwrap().status(), 405);
        let nowhere = format!("{}/nowhere", sim.base_url());
        assert_eq!(http.get(&nowhere).send().await.unwrap().status(), 404);
        assert_eq!(http.get(&search).send().await.unwrap().status(), 401);

        let counters = sim.counters();
        assert!(counters.peak_concurrency >= 2, "{counters:?}");
        assert_eq!(counters.non_get, 1);
        assert_eq!(counters.requests(Route::Unknown), 1);
        assert_eq!(counters.requests_with_status(Route::Search, 401), 1);
        assert_eq!(counters.requests_with_status(Route::Manifest, 200), 2);
        sim.shutdown().await;
    }
}
