//! How tests steer the simulator: start-up settings, auth modes, injected
//! faults per operation, and the counters they read back.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    fmt,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rand::{RngExt, SeedableRng, rngs::StdRng};

/// What the simulator serves, by name: the GraphQL operations of PROTOCOL
/// §7.2 plus the REST routes. Faults and counters are keyed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    User,
    CreateScopeAccesses,
    PaginatedScope,
    UpdateScope,
    GenerateScopesBasedOnPaths,
    BulkMove,
    DeleteFolder,
    ContentUpsert,
    /// Both selections (full and ids-only) share this name.
    PaginatedContent,
    PaginatedContentCount,
    ContentDeleteByContentIds,
    /// A GraphQL request with another operation name, or an unparseable one.
    OtherGraphql,
    /// `POST {ingestion}/v2/content/file-diff`.
    FileDiff,
    /// A blob PUT, to the `writeUrl` or to the scoped upload.
    Upload,
    /// The Zitadel-like token endpoint.
    Token,
}

impl Operation {
    /// Every operation that changes something, except the self-grant
    /// (`CreateScopeAccesses`) that every cycle performs (§9.2): what a cycle
    /// with nothing to do must not call.
    pub const WRITES: [Operation; 7] = [
        Operation::ContentUpsert,
        Operation::Upload,
        Operation::ContentDeleteByContentIds,
        Operation::GenerateScopesBasedOnPaths,
        Operation::UpdateScope,
        Operation::DeleteFolder,
        Operation::BulkMove,
    ];

    /// The operation a GraphQL `operationName` stands for.
    pub fn from_graphql_name(name: &str) -> Operation {
        match name {
            "User" => Operation::User,
            "CreateScopeAccesses" => Operation::CreateScopeAccesses,
            "PaginatedScope" => Operation::PaginatedScope,
            "UpdateScope" => Operation::UpdateScope,
            "GenerateScopesBasedOnPaths" => Operation::GenerateScopesBasedOnPaths,
            "BulkMove" => Operation::BulkMove,
            "DeleteFolder" => Operation::DeleteFolder,
            "ContentUpsert" => Operation::ContentUpsert,
            "PaginatedContent" => Operation::PaginatedContent,
            "PaginatedContentCount" => Operation::PaginatedContentCount,
            "ContentDeleteByContentIds" => Operation::ContentDeleteByContentIds,
            _ => Operation::OtherGraphql,
        }
    }

    fn is_graphql(self) -> bool {
        !matches!(
            self,
            Operation::FileDiff | Operation::Upload | Operation::Token
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What an injected fault does to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UniqueFault {
    /// Answer with this HTTP status (and `Retry-After` seconds, if set)
    /// and a small JSON body that is no GraphQL or file-diff answer (so a
    /// 2xx status makes a well-formed but unusable answer); nothing is
    /// executed.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// GraphQL: answer 200 with `data: null` and one error carrying
    /// `extensions.code` and `extensions.response.statusCode`; nothing is
    /// executed.
    GraphqlError { code: String, status: u16 },
    /// GraphQL: execute the operation, then answer its data together with
    /// an error (partial success; the change is made).
    ErrorAfterData,
    /// Wait this long, then proceed normally.
    Delay(Duration),
    /// Stop: read no more of the request (a blob PUT's body stays unread)
    /// and never answer, until the simulator shuts down. A receiver that
    /// hangs, for the client's stall and request timeouts.
    Stall,
    /// Blob PUT only: read about half of the declared body, then drop the
    /// connection without answering (a reset mid-upload); nothing is
    /// stored. Other operations answer 503 at once.
    ResetMidUpload,
    /// Answer `302 Found` pointing elsewhere; nothing is executed.
    Redirect,
    /// File-diff only: answer as if `fileList` had been empty, so every
    /// stored key comes back `deleted` (a server that lost or mis-filtered
    /// the submission; what the deletion guards exist for). Changes nothing.
    DiffIgnoresSubmission,
    /// Execute the request (the change is committed, the blob stored),
    /// then answer `504 Gateway Timeout`, as a gateway does when it lost
    /// the upstream answer: the client cannot tell that it worked.
    AnswerLost,
    /// Execute the request, then wait this long before answering; a test
    /// kills the client in between (the server acted, the answer never
    /// arrives).
    AnswerAfter(Duration),
    /// `ContentDeleteByContentIds` only: answer that every requested id was
    /// deleted, and delete nothing (a server whose acknowledgement lies).
    DeletionAcknowledgedNotDone,
    /// No fault: queued before another fault so that it hits a later call
    /// (e.g. the finalize, the second `ContentUpsert` of an item).
    Proceed,
}

impl UniqueFault {
    /// A bare status without `Retry-After`.
    pub fn status(status: u16) -> Self {
        UniqueFault::Status {
            status,
            retry_after: None,
        }
    }
}

/// How API callers must authenticate.
#[derive(Debug, Clone)]
pub enum UniqueSimAuth {
    /// Every GraphQL and file-diff request must carry each of these headers
    /// with exactly this value.
    ClusterLocal {
        required_headers: BTreeMap<String, String>,
    },
    /// Bearer tokens from the simulator's token endpoint, which accepts one
    /// client (Basic auth) asking for the project's audience scope.
    External {
        client_id: String,
        client_secret: String,
        project_id: String,
        /// `expires_in` of issued tokens; they are refused afterwards.
        token_lifetime: Duration,
    },
}

impl UniqueSimAuth {
    /// `x-service-id: confluence-connector`, `x-company-id:
    /// test-company-id`, `x-user-id: header-user-id` (deliberately not the
    /// service user id, which clients must fetch with `User`, §6.2).
    pub fn cluster_local() -> Self {
        let headers = [
            ("x-service-id", "confluence-connector"),
            ("x-company-id", "test-company-id"),
            ("x-user-id", "header-user-id"),
        ];
        UniqueSimAuth::ClusterLocal {
            required_headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// Client `zitadel-client`/`zitadel-secret`, project `project-1`,
    /// one-hour tokens.
    pub fn external() -> Self {
        UniqueSimAuth::External {
            client_id: "zitadel-client".to_owned(),
            client_secret: "zitadel-secret".to_owned(),
            project_id: "project-1".to_owned(),
            token_lifetime: Duration::from_secs(3600),
        }
    }
}

/// Start-up settings.
#[derive(Debug, Clone)]
pub struct UniqueSimSettings {
    pub auth: UniqueSimAuth,
    /// The caller's identity: `me.user.id`, and whose grants access checks
    /// look for.
    pub service_user_id: String,
    /// Seed of the RNG behind probabilistic faults.
    pub seed: u64,
    /// Uploaded bodies up to this size are kept for the snapshot (tests
    /// comparing page HTML); larger ones are only hashed. 0 keeps none.
    pub keep_bodies_up_to: u64,
    /// `deleteFolder(recursive: false)` on a scope with children or content
    /// reports it in `failedFolders` instead of deleting it with everything
    /// below (the reference's fake deletes; real behaviour is unknown, §7.2).
    pub strict_folder_delete: bool,
}

impl UniqueSimSettings {
    /// Cluster-local auth, service user `test-user-id` (§12), no kept bodies.
    pub fn cluster_local() -> Self {
        UniqueSimSettings::new(UniqueSimAuth::cluster_local())
    }

    /// External (Zitadel) auth, otherwise as [`cluster_local`](Self::cluster_local).
    pub fn external() -> Self {
        UniqueSimSettings::new(UniqueSimAuth::external())
    }

    fn new(auth: UniqueSimAuth) -> Self {
        UniqueSimSettings {
            auth,
            service_user_id: "test-user-id".to_owned(),
            seed: 1,
            keep_bodies_up_to: 0,
            strict_folder_delete: false,
        }
    }

    /// Keeps uploaded bodies up to `limit` bytes.
    pub fn keep_bodies_up_to(mut self, limit: u64) -> Self {
        self.keep_bodies_up_to = limit;
        self
    }
}

/// Faults queued or drawn for one operation.
#[derive(Debug, Default)]
struct OperationFaults {
    queued: VecDeque<UniqueFault>,
    random: Option<(f64, UniqueFault)>,
}

/// The fault plan, with its seeded RNG.
#[derive(Debug)]
pub(super) struct Faults {
    by_operation: HashMap<Operation, OperationFaults>,
    rng: StdRng,
}

impl Faults {
    pub fn new(seed: u64) -> Self {
        Faults {
            by_operation: HashMap::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn queue(&mut self, operation: Operation, count: usize, fault: UniqueFault) {
        let faults = self.by_operation.entry(operation).or_default();
        faults.queued.extend(std::iter::repeat_n(fault, count));
    }

    pub fn set_random(&mut self, operation: Operation, fault: Option<(f64, UniqueFault)>) {
        self.by_operation.entry(operation).or_default().random = fault;
    }

    pub fn clear(&mut self) {
        self.by_operation.clear();
    }

    /// The fault for the next request to `operation`: queued ones first,
    /// then a random draw.
    pub fn take(&mut self, operation: Operation) -> Option<UniqueFault> {
        let faults = self.by_operation.get_mut(&operation)?;
        if let Some(fault) = faults.queued.pop_front() {
            return Some(fault);
        }
        let (probability, fault) = faults.random.as_ref()?;
        self.rng
            .random_bool(probability.clamp(0.0, 1.0))
            .then(|| fault.clone())
    }
}

/// What tests read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UniqueCounters {
    /// Requests per operation as they arrived (before auth and faults), so
    /// retries and re-sends each count.
    pub calls: BTreeMap<Operation, u64>,
    /// GraphQL mutations that were executed (faulted ones excluded).
    pub mutations: u64,
    /// API requests refused with 401.
    pub unauthorized: u64,
    /// Tokens issued by the token endpoint.
    pub tokens_issued: u64,
    /// Blob PUTs accepted, and their bytes.
    pub uploads: u64,
    pub upload_bytes: u64,
    /// Most GraphQL and file-diff requests in progress at once.
    pub peak_concurrency: u64,
}

impl UniqueCounters {
    /// Requests to `operation`.
    pub fn calls(&self, operation: Operation) -> u64 {
        self.calls.get(&operation).copied().unwrap_or(0)
    }

    /// GraphQL requests of any operation.
    pub fn graphql_calls(&self) -> u64 {
        self.calls
            .iter()
            .filter(|(operation, _)| operation.is_graphql())
            .map(|(_, n)| n)
            .sum()
    }
}

/// Counters updated by the handlers.
#[derive(Debug, Default)]
pub(super) struct Counters {
    calls: Mutex<BTreeMap<Operation, u64>>,
    mutations: AtomicU64,
    unauthorized: AtomicU64,
    tokens_issued: AtomicU64,
    uploads: AtomicU64,
    upload_bytes: AtomicU64,
    in_flight: AtomicU64,
    peak_concurrency: AtomicU64,
}

/// Marks one API request in progress until dropped.
#[derive(Debug)]
pub(super) struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Counters {
    pub fn call(&self, operation: Operation) {
        *self
            .calls
            .lock()
            .expect("not poisoned")
            .entry(operation)
            .or_default() += 1;
    }

    pub fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_concurrency.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }

    pub fn mutation(&self) {
        self.mutations.fetch_add(1, Ordering::SeqCst);
    }

    pub fn unauthorized(&self) {
        self.unauthorized.fetch_add(1, Ordering::SeqCst);
    }

    pub fn token_issued(&self) {
        self.tokens_issued.fetch_add(1, Ordering::SeqCst);
    }

    pub fn upload(&self, bytes: u64) {
        self.uploads.fetch_add(1, Ordering::SeqCst);
        self.upload_bytes.fetch_add(bytes, Ordering::SeqCst);
    }

    pub fn snapshot(&self) -> UniqueCounters {
        UniqueCounters {
            calls: self.calls.lock().expect("not poisoned").clone(),
            mutations: self.mutations.load(Ordering::SeqCst),
            unauthorized: self.unauthorized.load(Ordering::SeqCst),
            tokens_issued: self.tokens_issued.load(Ordering::SeqCst),
            uploads: self.uploads.load(Ordering::SeqCst),
            upload_bytes: self.upload_bytes.load(Ordering::SeqCst),
            peak_concurrency: self.peak_concurrency.load(Ordering::SeqCst),
        }
    }

    /// Zeroes everything but the requests now in progress.
    pub fn reset(&self) {
        self.calls.lock().expect("not poisoned").clear();
        for counter in [
            &self.mutations,
            &self.unauthorized,
            &self.tokens_issued,
            &self.uploads,
            &self.upload_bytes,
            &self.peak_concurrency,
        ] {
            counter.store(0, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_faults_come_first_then_seeded_draws_repeat_per_seed() {
        let draw = |seed| {
            let mut faults = Faults::new(seed);
            faults.queue(Operation::FileDiff, 2, UniqueFault::status(503));
            faults.set_random(Operation::FileDiff, Some((0.5, UniqueFault::status(500))));
            (0..40)
                .map(|_| faults.take(Operation::FileDiff))
                .collect::<Vec<_>>()
        };
        let first = draw(7);
        assert_eq!(
            first[..2],
            [
                Some(UniqueFault::status(503)),
                Some(UniqueFault::status(503))
            ]
        );
        let random = &first[2..];
        assert!(random.iter().any(Option::is_some) && random.iter().any(Option::is_none));
        assert_eq!(first, draw(7), "same seed, same faults");
        assert_eq!(Faults::new(7).take(Operation::User), None);
    }

    #[test]
    fn peak_concurrency_remembers_the_highest_overlap() {
        let counters = Counters::default();
        let a = counters.enter();
        let b = counters.enter();
        drop(a);
        let _c = counters.enter();
        drop(b);
        assert_eq!(counters.snapshot().peak_concurrency, 2);
    }
}
