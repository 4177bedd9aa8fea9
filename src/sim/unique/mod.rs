//! An embedded Unique on 127.0.0.1, for tests, `demo`, `simulate` and
//! benchmarks: both GraphQL services, the file-diff, blob storage and a
//! Zitadel-like token endpoint, with the semantics of PROTOCOL §7.
//!
//! * **Scopes**: a tree with grants. `generateScopesBasedOnPaths` walks
//!   and creates by name from the top level and returns the leaves in input
//!   order; `updateScope` keeps external ids unique (`null` never
//!   conflicts); `deleteFolder` removes a subtree with its content
//!   ([`UniqueSimSettings::strict_folder_delete`] refuses non-empty
//!   folders without `recursive`); `bulkMove` reparents.
//! * **Access**: a caller has an access on a scope when the scope or an
//!   ancestor grants it. Structure changes need `MANAGE`, content changes
//!   `WRITE`; reads and `createScopeAccesses` need nothing, so the service
//!   user gains access by self-granting as the connector does (§9.2).
//!   Creating a top-level scope is refused.
//! * **Content**: unique keys; `contentUpsert` upserts by key (same id,
//!   fields overwritten, `updatedAt = now`). Registering returns fresh
//!   `writeUrl`/`readUrl` whose `key` query parameter names a blob slot;
//!   the bytes land when a PUT reaches the `writeUrl` or the scoped upload
//!   (`{ingestion}/scoped/upload?key=`); finalizing needs a `fileUrl` whose
//!   slot received its bytes. `chatId`, `fileAccess` and `expiresAt` are
//!   refused (connectors never send them, §7.3).
//! * **File-diff**: new, updated (stored `updatedAt` earlier than the
//!   submitted one) and deleted per partial key, `movedFiles` always empty;
//!   it changes nothing.
//! * **Uploads** are hashed (SHA-256) while they stream in and need
//!   `Content-Length` and `x-ms-blob-type: BlockBlob`; bytes are kept only
//!   up to [`UniqueSimSettings::keep_bodies_up_to`].
//! * **Auth**: cluster-local required headers, or expiring bearer tokens
//!   from `POST /oauth/v2/token` (Basic client credentials, `scope` then
//!   `grant_type`). Uploads need no credentials.
//! * **Steering**: faults per [`Operation`] (next N requests, or a
//!   probability drawn from a seeded RNG), token revocation, a pinned
//!   clock; [`UniqueCounters`] count calls per operation, executed
//!   mutations, refusals, tokens, uploaded bytes and peak concurrency.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use confluence_connector::sim::unique::*;
//!
//! let sim = UniqueSim::start(UniqueSimSettings::cluster_local().keep_bodies_up_to(1 << 20)).await?;
//! sim.seed_scope(SeedScope::new("root-scope-id", "Confluence"));
//! sim.fail_next(Operation::ContentUpsert, 1, UniqueFault::status(503));
//! // … point a client at sim.ingestion_base_url() …
//! let state = sim.snapshot();
//! assert_eq!(state.scope_paths(), ["/Confluence"]);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod control;
mod model;
mod schema;
mod server;
mod state;

use std::{net::SocketAddr, sync::Arc};

pub use control::{Operation, UniqueCounters, UniqueFault, UniqueSimAuth, UniqueSimSettings};
pub use model::{
    AccessType, BlobSnapshot, ContentSnapshot, DEFAULT_UPDATED_AT, ScopeSnapshot, SeedContent,
    SeedScope, UniqueSnapshot, UploadRecord, UploadVia,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use self::server::Shared;

/// Starts simulators.
#[derive(Debug)]
pub struct UniqueSim;

impl UniqueSim {
    /// Binds `127.0.0.1` on an ephemeral port and serves an empty knowledge
    /// base until [`UniqueSimHandle::shutdown`] (or until the handle is
    /// dropped).
    ///
    /// # Errors
    /// When the listener cannot be bound.
    pub async fn start(settings: UniqueSimSettings) -> std::io::Result<UniqueSimHandle> {
        UniqueSim::start_at(0, settings).await
    }

    /// Like [`start`](Self::start) on a chosen port (`simulate
    /// --unique-port`); 0 picks an ephemeral one.
    ///
    /// # Errors
    /// When the listener cannot be bound (e.g. the port is taken).
    pub async fn start_at(
        port: u16,
        settings: UniqueSimSettings,
    ) -> std::io::Result<UniqueSimHandle> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(settings, format!("http://{addr}")));
        let router = server::router(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // A server error ends the simulator; clients then see refused
            // connections, which is the honest symptom.
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(UniqueSimHandle {
            shared,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct UniqueSimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl UniqueSimHandle {
    /// `http://127.0.0.1:{port}`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `unique.ingestionServiceBaseUrl`: `{origin}/ingestion`, a path
    /// prefix like an external gateway's.
    pub fn ingestion_base_url(&self) -> String {
        format!("{}/ingestion", self.origin())
    }

    /// `unique.scopeManagementServiceBaseUrl`: `{origin}/scope-management`.
    pub fn scope_management_base_url(&self) -> String {
        format!("{}/scope-management", self.origin())
    }

    /// `unique.zitadelOauthTokenUrl` (external mode).
    pub fn token_url(&self) -> String {
        format!("{}/oauth/v2/token", self.origin())
    }

    pub fn settings(&self) -> &UniqueSimSettings {
        &self.shared.settings
    }

    /// Adds a scope.
    ///
    /// # Panics
    /// When the id is taken or the parent does not exist.
    pub fn seed_scope(&self, scope: SeedScope) {
        self.shared.state().seed_scope(scope);
    }

    /// Sets a scope's external id directly (no access check), e.g. to mark
    /// the seeded root as owned before a run.
    ///
    /// # Panics
    /// When the scope does not exist.
    pub fn set_external_id(&self, scope_id: &str, external_id: Option<&str>) {
        self.shared
            .state()
            .seed_external_id(scope_id, external_id.map(str::to_owned));
    }

    /// Grants the service user `accesses` on a scope, as earlier cycles'
    /// self-grants would have (e.g. before a purge, which grants nothing).
    ///
    /// # Panics
    /// When the scope does not exist.
    pub fn grant_service_user(&self, scope_id: &str, accesses: &[AccessType]) {
        let user = self.shared.settings.service_user_id.clone();
        self.shared.state().seed_grants(scope_id, &user, accesses);
    }

    /// Adds finalized content with its bytes; returns its id.
    ///
    /// # Panics
    /// When the key is taken, the owner scope does not exist or
    /// `updated_at` is not RFC 3339.
    pub fn seed_content(&self, content: SeedContent) -> String {
        self.shared.state().seed_content(content)
    }

    /// Pins "now" (RFC 3339) for every later timestamp, e.g. so content
    /// upserted by a run is newer than the Confluence versions of a
    /// dataset; `None` returns to the wall clock.
    ///
    /// # Panics
    /// When `now` is not RFC 3339.
    pub fn set_now(&self, now: Option<&str>) {
        let pinned = now.map(|text| {
            chrono::DateTime::parse_from_rfc3339(text)
                .unwrap_or_else(|e| panic!("set_now: `{text}`: {e}"))
                .with_timezone(&chrono::Utc)
        });
        self.shared.state().pin_now(pinned);
    }

    /// Everything the simulator holds now.
    pub fn snapshot(&self) -> UniqueSnapshot {
        self.shared.state().snapshot()
    }

    pub fn counters(&self) -> UniqueCounters {
        self.shared.counters.snapshot()
    }

    /// Zeroes the counters, e.g. between two runs of a test.
    pub fn reset_counters(&self) {
        self.shared.counters.reset();
    }

    /// Answers the next `count` requests to `operation` with `fault`,
    /// before any fault drawn at random.
    pub fn fail_next(&self, operation: Operation, count: usize, fault: UniqueFault) {
        self.shared
            .faults
            .lock()
            .expect("not poisoned")
            .queue(operation, count, fault);
    }

    /// Answers each request to `operation` with `fault` with
    /// `probability`, drawn from the seeded RNG; `None` switches it off.
    pub fn fail_randomly(&self, operation: Operation, fault: Option<(f64, UniqueFault)>) {
        self.shared
            .faults
            .lock()
            .expect("not poisoned")
            .set_random(operation, fault);
    }

    /// Removes every queued and random fault.
    pub fn clear_faults(&self) {
        self.shared.faults.lock().expect("not poisoned").clear();
    }

    /// Invalidates every issued token: the next API request with one gets
    /// 401.
    pub fn revoke_tokens(&self) {
        self.shared
            .tokens
            .lock()
            .expect("not poisoned")
            .revoke_all();
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        self.shared.stopping.send_replace(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for UniqueSimHandle {
    fn drop(&mut self) {
        self.shared.stopping.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
